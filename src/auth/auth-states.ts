/**
 * People's auth states in the database, encrypted (auth-state.ts), refreshed through their provider
 * when a start needs them and they are about to expire.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/tables.js';
import { encryptedAuthStateOf, saveEncryptedAuthState } from '../db/auth-states.js';
import type { Logger } from '../log.js';
import type { AuthState, AuthStateCrypt } from './auth-state.js';

/** Refresh this long before expiry, so the token a server starts with does not run out at once. */
const REFRESH_MARGIN_S = 300;

export class AuthStates {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly crypt: AuthStateCrypt,
    /** The provider's refresh (OIDC refresh tokens); undefined when it has none. */
    private readonly refresher: ((state: AuthState) => Promise<AuthState>) | undefined,
    private readonly log: Logger,
  ) {}

  async save(userId: number, state: AuthState): Promise<void> {
    await saveEncryptedAuthState(this.db, userId, this.crypt.encrypt(state));
  }

  /** As stored (undefined: none, or under a key no longer configured). */
  async read(userId: number): Promise<AuthState | undefined> {
    const encrypted = await encryptedAuthStateOf(this.db, userId);
    return encrypted === undefined ? undefined : this.crypt.decrypt(encrypted);
  }

  /** For a server's start: refreshed first when it expires soon and the provider can refresh it. */
  async current(userId: number, user: string): Promise<AuthState | undefined> {
    const state = await this.read(userId);
    const expiresAt = typeof state?.expires_at === 'number' ? state.expires_at : undefined;
    if (!state || !this.refresher || expiresAt === undefined || expiresAt - Date.now() / 1000 > REFRESH_MARGIN_S || typeof state.refresh_token !== 'string') return state;
    try {
      const fresh = await this.refresher(state);
      await this.save(userId, fresh);
      return fresh;
    } catch (error) {
      // the old token may still work for a while; the server starts with it
      this.log.warn({ user, err: error instanceof Error ? error.message : String(error) }, 'could not refresh the sign-in\'s tokens');
      return state;
    }
  }
}
