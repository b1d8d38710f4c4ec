import type { Kysely, Selectable } from 'kysely';
import type { Database, ServerPhase, ServersTable } from './tables.js';
import { nowIso } from './time.js';

export type ServerRow = Selectable<ServersTable>;
export type ServerWithUser = ServerRow & { user_name: string };

export async function findServer(db: Kysely<Database>, userId: number, name: string): Promise<ServerRow | undefined> {
  return db.selectFrom('servers').selectAll().where('user_id', '=', userId).where('name', '=', name).executeTakeFirst();
}

export async function serversOfUsers(db: Kysely<Database>, userIds: readonly number[]): Promise<Map<number, ServerRow[]>> {
  const map = new Map<number, ServerRow[]>(userIds.map((id) => [id, []]));
  if (userIds.length === 0) return map;
  const rows = await db.selectFrom('servers').selectAll().where('user_id', 'in', userIds).orderBy('name').execute();
  for (const row of rows) map.get(row.user_id)?.push(row);
  return map;
}

/** Servers in any of the given phases, with their owner's name. */
export async function serversInPhase(db: Kysely<Database>, phases: readonly ServerPhase[]): Promise<ServerWithUser[]> {
  return db
    .selectFrom('servers')
    .innerJoin('users', 'users.id', 'servers.user_id')
    .selectAll('servers')
    .select('users.name as user_name')
    .where('servers.phase', 'in', phases)
    .execute();
}

/** Create the server row if needed; returns it. */
export async function ensureServer(db: Kysely<Database>, userId: number, name: string): Promise<ServerRow> {
  const existing = await findServer(db, userId, name);
  if (existing) return existing;
  await db
    .insertInto('servers')
    .values({ user_id: userId, name, phase: 'stopped', user_options: '{}', created: nowIso() })
    .onConflict((oc) => oc.columns(['user_id', 'name']).doNothing())
    .execute();
  const row = await findServer(db, userId, name);
  if (!row) throw new Error(`server ${name} of user ${userId} vanished while being created`);
  return row;
}

/**
 * Move a server to `to` only if it is currently in one of `from`: the compare-and-set that keeps
 * two simultaneous start requests from both starting it. Returns whether it moved.
 */
export async function transitionServer(
  db: Kysely<Database>,
  id: number,
  from: readonly ServerPhase[],
  to: ServerPhase,
  changes: Partial<Omit<ServerRow, 'id' | 'user_id' | 'name' | 'phase' | 'created'>> = {},
): Promise<boolean> {
  const result = await db.updateTable('servers').set({ ...changes, phase: to }).where('id', '=', id).where('phase', 'in', from).executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function updateServer(
  db: Kysely<Database>,
  id: number,
  changes: Partial<Omit<ServerRow, 'id' | 'user_id' | 'name' | 'created'>>,
): Promise<void> {
  if (Object.keys(changes).length === 0) return;
  await db.updateTable('servers').set(changes).where('id', '=', id).execute();
}

export async function deleteServer(db: Kysely<Database>, id: number): Promise<void> {
  await db.deleteFrom('servers').where('id', '=', id).execute();
}

export async function countNamedServers(db: Kysely<Database>, userId: number): Promise<number> {
  const row = await db
    .selectFrom('servers')
    .select((eb) => eb.fn.countAll<string | number>().as('n'))
    .where('user_id', '=', userId)
    .where('name', '!=', '')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
