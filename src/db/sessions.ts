import type { Kysely, Selectable } from 'kysely';
import type { Database, SessionsTable } from './tables.js';

export type SessionRow = Selectable<SessionsTable>;

export async function insertSession(db: Kysely<Database>, session: SessionRow): Promise<void> {
  await db.insertInto('sessions').values(session).execute();
}

export async function findSessionByHash(db: Kysely<Database>, hash: string): Promise<SessionRow | undefined> {
  return db.selectFrom('sessions').selectAll().where('hash', '=', hash).executeTakeFirst();
}

export async function deleteSession(db: Kysely<Database>, hash: string): Promise<SessionRow | undefined> {
  const row = await findSessionByHash(db, hash);
  if (row) await db.deleteFrom('sessions').where('hash', '=', hash).execute();
  return row;
}

export async function deleteSessionsOfUser(db: Kysely<Database>, userId: number): Promise<void> {
  await db.deleteFrom('sessions').where('user_id', '=', userId).execute();
}

export async function deleteExpiredSessions(db: Kysely<Database>, now: string): Promise<void> {
  await db.deleteFrom('sessions').where('expires_at', '<', now).execute();
}

export async function touchSession(db: Kysely<Database>, hash: string, at: string): Promise<void> {
  await db.updateTable('sessions').set({ last_seen: at }).where('hash', '=', hash).execute();
}
