import type { Kysely } from 'kysely';
import type { Database } from '../db/tables.js';
import { createUser, deleteUser, findUser, updateUser, type UserRow } from '../db/users.js';
import { serversOfUsers } from '../db/servers.js';
import { deleteSessionsOfUser } from '../db/sessions.js';
import { checkUsername, NameError, normalizeUsername, usernameProblem } from '../auth/names.js';
import { hashPassword } from '../auth/passwords.js';
import type { IdentityResolver } from '../auth/identity.js';
import type { ServerManager } from '../servers/manager.js';

/** A user-management request that cannot be done, with the reason. */
export class UserRequestError extends Error {
  constructor(message: string, readonly kind: 'invalid' | 'conflict' | 'not-found') {
    super(message);
    this.name = 'UserRequestError';
  }
}

export interface UserServiceDeps {
  db: Kysely<Database>;
  identities: IdentityResolver;
  /** Absent in the CLI, which does not run servers. */
  servers?: ServerManager;
  /** Deletes a removed user's published notebooks from the blob store. */
  publications?: { forgetUser(userId: number): Promise<void> };
  /** Deletes a removed user's provisioned object-storage accounts and buckets. */
  storage?: { forgetUser(person: { name: string }): Promise<void> };
  /** Moves a removed user's home out of reach and deletes the system account made for them. */
  people?: { forget(name: string): Promise<string | null> };
}

/**
 * Create several users at once, all or nothing, as JupyterHub's POST /users does: names are
 * normalized, invalid names are all reported together, and existing names are a conflict.
 */
export async function createUsers(deps: UserServiceDeps, rawNames: readonly string[], admin: boolean): Promise<UserRow[]> {
  const names = [...new Set(rawNames.map((n) => normalizeUsername(n)))];
  const invalid = names.map((n) => [n, usernameProblem(n)] as const).filter(([, p]) => p);
  if (invalid.length) throw new UserRequestError(`Invalid usernames: ${invalid.map(([, p]) => p).join('; ')}`, 'invalid');
  const existing: string[] = [];
  for (const name of names) if (await findUser(deps.db, name)) existing.push(name);
  if (existing.length === names.length && names.length) throw new UserRequestError(`All ${names.length} users already exist`, 'conflict');
  const created: UserRow[] = [];
  await deps.db.transaction().execute(async (trx) => {
    for (const name of names) if (!existing.includes(name)) created.push(await createUser(trx, name, admin));
  });
  deps.identities.invalidate();
  return created;
}

export async function createOneUser(deps: UserServiceDeps, rawName: string, options: { admin?: boolean; password?: string } = {}): Promise<UserRow> {
  let name: string;
  try {
    name = checkUsername(rawName);
  } catch (error) {
    if (error instanceof NameError) throw new UserRequestError(`Invalid username: ${error.message}`, 'invalid');
    throw error;
  }
  if (await findUser(deps.db, name)) throw new UserRequestError(`User ${name} already exists`, 'conflict');
  const hash = options.password ? await hashPassword(options.password) : null;
  const user = await createUser(deps.db, name, options.admin ?? false, hash);
  deps.identities.invalidate();
  return user;
}

/** Rename and/or change admin. Renaming a user with active servers is refused, as it would orphan them. */
export async function changeUser(deps: UserServiceDeps, user: UserRow, changes: { name?: string; admin?: boolean }): Promise<UserRow> {
  const update: { name?: string; admin?: number } = {};
  if (changes.name !== undefined && changes.name !== user.name) {
    let name: string;
    try {
      name = checkUsername(changes.name);
    } catch (error) {
      if (error instanceof NameError) throw new UserRequestError(`Invalid username: ${error.message}`, 'invalid');
      throw error;
    }
    if (await findUser(deps.db, name)) throw new UserRequestError(`User ${name} already exists, username must be unique`, 'conflict');
    const servers = (await serversOfUsers(deps.db, [user.id])).get(user.id) ?? [];
    if (servers.some((s) => s.phase !== 'stopped')) throw new UserRequestError(`Cannot rename ${user.name} while they have servers running; stop them first`, 'conflict');
    update.name = name;
  }
  if (changes.admin !== undefined) update.admin = changes.admin ? 1 : 0;
  await updateUser(deps.db, user.id, update);
  deps.identities.invalidate();
  return { ...user, ...update };
}

/** Stop the user's servers, then remove the user with their tokens, sessions and group memberships. */
export async function removeUser(deps: UserServiceDeps, user: UserRow): Promise<void> {
  const servers = (await serversOfUsers(deps.db, [user.id])).get(user.id) ?? [];
  if (servers.some((s) => s.phase !== 'stopped')) {
    if (!deps.servers) throw new UserRequestError(`${user.name} has servers running; stop them (or delete the user through the hub) first`, 'conflict');
    await deps.servers.removeAll(user, servers);
  }
  await deleteSessionsOfUser(deps.db, user.id);
  // Everything a new person of the same name could inherit goes before the row does: if a step
  // fails the user stays, so the removal can be retried (each step is idempotent), rather than
  // leaving a home, a system account or a working key that no account in Refinery accounts for.
  if (deps.people) {
    try {
      await deps.people.forget(user.name);
    } catch (error) {
      throw new UserRequestError(`${user.name} was not removed: ${error instanceof Error ? error.message : String(error)}`, 'conflict');
    }
  }
  if (deps.storage) {
    try {
      await deps.storage.forgetUser(user);
    } catch (error) {
      throw new UserRequestError(`${user.name} was not removed: ${error instanceof Error ? error.message : String(error)}; try again once the object store answers`, 'conflict');
    }
  }
  // blobs first: their keys are found through the rows that go with the user
  await deps.publications?.forgetUser(user.id);
  await deleteUser(deps.db, user.id);
  deps.identities.invalidate();
}

export async function setPassword(deps: UserServiceDeps, user: UserRow, password: string): Promise<void> {
  await updateUser(deps.db, user.id, { password_hash: await hashPassword(password) });
  deps.identities.invalidate();
}
