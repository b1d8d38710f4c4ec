import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database, UsersTable } from './tables.js';
import { nowIso } from './time.js';

export type UserRow = Selectable<UsersTable>;

export async function findUser(db: Kysely<Database>, name: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
}

export async function findUserById(db: Kysely<Database>, id: number): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function countUsers(db: Kysely<Database>): Promise<number> {
  const row = await db.selectFrom('users').select((eb) => eb.fn.countAll<string | number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

export interface UserSort {
  field: 'id' | 'name' | 'last_activity';
  descending: boolean;
}

export type UserStateFilter = 'active' | 'inactive' | 'ready' | undefined;

/**
 * One page of users sorted by id, as JupyterHub lists them. `state` filters on servers:
 * active = any server pending or running, ready = any server running, inactive = none active.
 */
export async function listUsers(
  db: Kysely<Database>,
  options: { offset: number; limit: number; state?: UserStateFilter; names?: readonly string[]; nameContains?: string; sort?: UserSort },
): Promise<{ rows: UserRow[]; total: number }> {
  let query = db.selectFrom('users');
  if (options.names) query = query.where('name', 'in', options.names.length ? options.names : ['']);
  if (options.nameContains) {
    // case-insensitive on every backend, like JupyterHub's ILIKE (PostgreSQL's LIKE is case-sensitive, SQLite's is not)
    const pattern = `%${options.nameContains.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    query = query.where(sql<boolean>`lower(users.name) like ${pattern} escape '\\'`);
  }
  if (options.state) {
    const phases = options.state === 'ready' ? (['running'] as const) : (['pending', 'running', 'stopping'] as const);
    const active = db.selectFrom('servers').select('servers.user_id').where('phase', 'in', phases);
    query = options.state === 'inactive' ? query.where('users.id', 'not in', active) : query.where('users.id', 'in', active);
  }
  const [rows, count] = await Promise.all([
    query
      .selectAll('users')
      // never-active users first ascending and last descending on every backend, as JupyterHub does
      // (PostgreSQL sorts NULL last ascending, SQLite first)
      .$if(options.sort?.field === 'last_activity', (q) => q.orderBy(sql`users.last_activity is ${sql.raw(options.sort?.descending ? '' : 'not ')}null`))
      .orderBy(`users.${options.sort?.field ?? 'id'}`, options.sort?.descending ? 'desc' : 'asc')
      .orderBy('users.id')
      .limit(options.limit)
      .offset(options.offset)
      .execute(),
    query.select((eb) => eb.fn.countAll<string | number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows, total: Number(count.n) };
}

export async function createUser(db: Kysely<Database>, name: string, admin = false, passwordHash: string | null = null): Promise<UserRow> {
  return db
    .insertInto('users')
    .values({ name, admin: admin ? 1 : 0, password_hash: passwordHash, created: nowIso(), last_activity: null, preferences: '{}' })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function updateUser(
  db: Kysely<Database>,
  id: number,
  changes: Partial<Pick<UserRow, 'name' | 'admin' | 'password_hash' | 'last_activity' | 'preferences'>>,
): Promise<void> {
  if (Object.keys(changes).length === 0) return;
  await db.updateTable('users').set(changes).where('id', '=', id).execute();
}

export async function deleteUser(db: Kysely<Database>, id: number): Promise<void> {
  await db.deleteFrom('users').where('id', '=', id).execute();
}

/** Names of the groups each given user belongs to. */
export async function groupsOfUsers(db: Kysely<Database>, userIds: readonly number[]): Promise<Map<number, string[]>> {
  const map = new Map<number, string[]>(userIds.map((id) => [id, []]));
  if (userIds.length === 0) return map;
  const rows = await db
    .selectFrom('user_groups')
    .innerJoin('groups', 'groups.id', 'user_groups.group_id')
    .select(['user_groups.user_id', 'groups.name'])
    .where('user_groups.user_id', 'in', userIds)
    .orderBy('groups.name')
    .execute();
  for (const row of rows) map.get(row.user_id)?.push(row.name);
  return map;
}
