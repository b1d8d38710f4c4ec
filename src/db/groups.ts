import type { Kysely, Selectable } from 'kysely';
import type { Database, GroupsTable } from './tables.js';

export type GroupRow = Selectable<GroupsTable>;

export async function findGroup(db: Kysely<Database>, name: string): Promise<GroupRow | undefined> {
  return db.selectFrom('groups').selectAll().where('name', '=', name).executeTakeFirst();
}

export async function listGroups(db: Kysely<Database>, options: { offset: number; limit: number }): Promise<{ rows: GroupRow[]; total: number }> {
  const [rows, count] = await Promise.all([
    db.selectFrom('groups').selectAll().orderBy('id').limit(options.limit).offset(options.offset).execute(),
    db.selectFrom('groups').select((eb) => eb.fn.countAll<string | number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows, total: Number(count.n) };
}

export async function createGroup(db: Kysely<Database>, name: string, properties: Record<string, unknown> = {}): Promise<GroupRow> {
  return db.insertInto('groups').values({ name, properties: JSON.stringify(properties) }).returningAll().executeTakeFirstOrThrow();
}

export async function deleteGroup(db: Kysely<Database>, id: number): Promise<void> {
  await db.deleteFrom('groups').where('id', '=', id).execute();
}

export async function setGroupProperties(db: Kysely<Database>, id: number, properties: Record<string, unknown>): Promise<void> {
  await db.updateTable('groups').set({ properties: JSON.stringify(properties) }).where('id', '=', id).execute();
}

export async function groupMembers(db: Kysely<Database>, groupIds: readonly number[]): Promise<Map<number, string[]>> {
  const map = new Map<number, string[]>(groupIds.map((id) => [id, []]));
  if (groupIds.length === 0) return map;
  const rows = await db
    .selectFrom('user_groups')
    .innerJoin('users', 'users.id', 'user_groups.user_id')
    .select(['user_groups.group_id', 'users.name'])
    .where('user_groups.group_id', 'in', groupIds)
    .orderBy('users.name')
    .execute();
  for (const row of rows) map.get(row.group_id)?.push(row.name);
  return map;
}

export async function addMembers(db: Kysely<Database>, groupId: number, userIds: readonly number[]): Promise<void> {
  if (userIds.length === 0) return;
  await db
    .insertInto('user_groups')
    .values(userIds.map((user_id) => ({ user_id, group_id: groupId })))
    .onConflict((oc) => oc.doNothing())
    .execute();
}

export async function removeMembers(db: Kysely<Database>, groupId: number, userIds: readonly number[]): Promise<void> {
  if (userIds.length === 0) return;
  await db.deleteFrom('user_groups').where('group_id', '=', groupId).where('user_id', 'in', userIds).execute();
}

export async function setUserGroups(db: Kysely<Database>, userId: number, groupIds: readonly number[]): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('user_groups').where('user_id', '=', userId).execute();
    if (groupIds.length) await trx.insertInto('user_groups').values(groupIds.map((group_id) => ({ user_id: userId, group_id }))).execute();
  });
}

export async function groupsOfUser(db: Kysely<Database>, userId: number): Promise<GroupRow[]> {
  return db.selectFrom('user_groups').innerJoin('groups', 'groups.id', 'user_groups.group_id').selectAll('groups').where('user_groups.user_id', '=', userId).orderBy('groups.id').execute();
}
