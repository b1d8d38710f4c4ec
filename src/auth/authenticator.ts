import type { Kysely } from 'kysely';
import type { Database } from '../db/tables.js';
import { findUser } from '../db/users.js';
import { decoyPasswordHash, verifyPassword } from './passwords.js';
import { normalizeUsername } from './names.js';

/** Decides whether credentials belong to a user. Other sign-in methods (OIDC, GitHub) implement this seam. */
export interface Authenticator {
  readonly kind: string;
  /** The normalized user name when the credentials are right, otherwise null. Never says which part was wrong. */
  authenticate(username: string, password: string): Promise<string | null>;
}

/** Accounts with argon2 password hashes in Refinery's own database. */
export class LocalAuthenticator implements Authenticator {
  readonly kind = 'local';

  constructor(private readonly db: Kysely<Database>) {}

  async authenticate(username: string, password: string): Promise<string | null> {
    const user = await findUser(this.db, normalizeUsername(username.trim()));
    // verify against a decoy when there is no such user, so both cases take equally long
    const hash = user?.password_hash ?? (await decoyPasswordHash());
    const ok = await verifyPassword(hash, password);
    return ok && user?.password_hash ? user.name : null;
  }
}
