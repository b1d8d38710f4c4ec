import type { Kysely, Selectable } from 'kysely';
import type { ApiTokensTable, Database } from './tables.js';
import { nowIso } from './time.js';

export type TokenRow = Selectable<ApiTokensTable>;
export type NewToken = Omit<TokenRow, 'id'>;

export async function insertToken(db: Kysely<Database>, token: NewToken): Promise<TokenRow> {
  return db.insertInto('api_tokens').values(token).returningAll().executeTakeFirstOrThrow();
}

export async function findTokenByHash(db: Kysely<Database>, hash: string): Promise<TokenRow | undefined> {
  return db.selectFrom('api_tokens').selectAll().where('hash', '=', hash).executeTakeFirst();
}

export async function findTokenById(db: Kysely<Database>, id: number): Promise<TokenRow | undefined> {
  return db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function tokensOfUser(db: Kysely<Database>, userId: number): Promise<TokenRow[]> {
  return db.selectFrom('api_tokens').selectAll().where('user_id', '=', userId).orderBy('id').execute();
}

export async function deleteToken(db: Kysely<Database>, id: number): Promise<void> {
  await db.deleteFrom('api_tokens').where('id', '=', id).execute();
}

export async function deleteTokensWhere(db: Kysely<Database>, where: { serverKey?: string; serviceName?: string; sessionId?: string; expiredBefore?: string }): Promise<number> {
  let query = db.deleteFrom('api_tokens');
  if (where.serverKey !== undefined) query = query.where('server_key', '=', where.serverKey);
  if (where.serviceName !== undefined) query = query.where('service_name', '=', where.serviceName);
  if (where.sessionId !== undefined) query = query.where('session_id', '=', where.sessionId);
  if (where.expiredBefore !== undefined) query = query.where('expires_at', 'is not', null).where('expires_at', '<', where.expiredBefore);
  const result = await query.executeTakeFirst();
  return Number(result.numDeletedRows);
}

export async function touchToken(db: Kysely<Database>, id: number, at: string): Promise<void> {
  await db.updateTable('api_tokens').set({ last_activity: at }).where('id', '=', id).execute();
}

/** Whether any of these hashes is a token of this user's that still works (not expired). */
export async function liveTokenAmong(db: Kysely<Database>, userId: number, hashes: readonly string[], now = nowIso()): Promise<boolean> {
  // in slices: SQLite and PostgreSQL both limit the parameters of one statement
  for (let i = 0; i < hashes.length; i += 500) {
    const row = await db
      .selectFrom('api_tokens')
      .select('id')
      .where('user_id', '=', userId)
      .where('hash', 'in', hashes.slice(i, i + 500))
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .executeTakeFirst();
    if (row) return true;
  }
  return false;
}
