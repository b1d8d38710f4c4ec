import type { Kysely, Selectable } from 'kysely';
import type { ClusterPhase, ClustersTable, Database } from './tables.js';
import { nowIso } from './time.js';

export type ClusterRow = Selectable<ClustersTable>;
export type ClusterWithUser = ClusterRow & { user_name: string };

export async function clustersOfServer(db: Kysely<Database>, userId: number, server: string): Promise<ClusterRow[]> {
  return db.selectFrom('clusters').selectAll().where('user_id', '=', userId).where('server_name', '=', server).orderBy('name').execute();
}

export async function clustersOfUser(db: Kysely<Database>, userId: number): Promise<ClusterRow[]> {
  return db.selectFrom('clusters').selectAll().where('user_id', '=', userId).orderBy('server_name').orderBy('name').execute();
}

export async function clustersInPhase(db: Kysely<Database>, phases: readonly ClusterPhase[]): Promise<ClusterWithUser[]> {
  return db
    .selectFrom('clusters')
    .innerJoin('users', 'users.id', 'clusters.user_id')
    .selectAll('clusters')
    .select('users.name as user_name')
    .where('clusters.phase', 'in', phases)
    .execute();
}

/** Create or reset the row of a server's cluster for a new start. */
export async function upsertCluster(db: Kysely<Database>, row: Pick<ClusterRow, 'user_id' | 'server_name' | 'name' | 'kind' | 'request' | 'addresses'>): Promise<ClusterRow> {
  const values = { ...row, phase: 'starting' as const, state: null, created: nowIso(), started: null, last_error: null };
  await db
    .insertInto('clusters')
    .values(values)
    .onConflict((oc) => oc.columns(['user_id', 'server_name', 'name']).doUpdateSet({ kind: row.kind, request: row.request, addresses: row.addresses, phase: 'starting', state: null, started: null, last_error: null }))
    .execute();
  return db.selectFrom('clusters').selectAll().where('user_id', '=', row.user_id).where('server_name', '=', row.server_name).where('name', '=', row.name).executeTakeFirstOrThrow();
}

export async function updateCluster(db: Kysely<Database>, id: number, changes: Partial<Omit<ClusterRow, 'id' | 'user_id' | 'server_name' | 'name' | 'created'>>): Promise<void> {
  await db.updateTable('clusters').set(changes).where('id', '=', id).execute();
}

export async function deleteClustersOfServer(db: Kysely<Database>, userId: number, server: string, keep: readonly string[]): Promise<void> {
  let query = db.deleteFrom('clusters').where('user_id', '=', userId).where('server_name', '=', server);
  if (keep.length) query = query.where('name', 'not in', keep);
  await query.execute();
}

/** The row of one cluster by its owner's name, when it is in one of `phases`. */
export async function findClusterInPhase(db: Kysely<Database>, user: string, server: string, name: string, phases: readonly ClusterPhase[]): Promise<ClusterRow | undefined> {
  return db
    .selectFrom('clusters')
    .innerJoin('users', 'users.id', 'clusters.user_id')
    .selectAll('clusters')
    .where('users.name', '=', user)
    .where('clusters.server_name', '=', server)
    .where('clusters.name', '=', name)
    .where('clusters.phase', 'in', phases)
    .executeTakeFirst();
}
