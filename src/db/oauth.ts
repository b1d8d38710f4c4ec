import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database, OAuthClientsTable, OAuthCodesTable } from './tables.js';

export type OAuthClientRow = Selectable<OAuthClientsTable>;
export type OAuthCodeRow = Selectable<OAuthCodesTable>;

/** Create or replace a client (a server gets a fresh secret every time it starts). */
export async function upsertClient(db: Kysely<Database>, client: OAuthClientRow): Promise<void> {
  await db
    .insertInto('oauth_clients')
    .values(client)
    .onConflict((oc) =>
      oc.column('identifier').doUpdateSet({
        description: client.description,
        secret_hash: client.secret_hash,
        redirect_uri: client.redirect_uri,
        allowed_scopes: client.allowed_scopes,
        server_key: client.server_key,
      }),
    )
    .execute();
}

export async function findClient(db: Kysely<Database>, identifier: string): Promise<OAuthClientRow | undefined> {
  return db.selectFrom('oauth_clients').selectAll().where('identifier', '=', identifier).executeTakeFirst();
}

/**
 * Remove the OAuth client of a server (`<user>/<name>`), with its pending codes and every token it
 * issued: a server's sign-ins end with the server.
 */
export async function deleteClientOfServer(db: Kysely<Database>, serverKey: string): Promise<void> {
  const clients = db.selectFrom('oauth_clients').select('identifier').where('server_key', '=', serverKey);
  await db.deleteFrom('api_tokens').where('oauth_client_id', 'in', clients).execute();
  await db.deleteFrom('oauth_codes').where('client_id', 'in', clients).execute();
  await db.deleteFrom('oauth_clients').where('server_key', '=', serverKey).execute();
}

/**
 * Remove the clients of servers that are not running (left by a crash, an older version, or a user
 * removed from the command line), then the tokens of clients that no longer exist. Each statement
 * re-checks the server, so a server starting meanwhile keeps the client it just registered.
 */
export async function deleteClientsWithoutServer(db: Kysely<Database>): Promise<number> {
  const live = db
    .selectFrom('servers')
    .innerJoin('users', 'users.id', 'servers.user_id')
    .select(sql<string>`users.name || '/' || servers.name`.as('server_key'))
    .where('servers.phase', 'in', ['pending', 'running', 'stopping']);
  const removed = await db
    .deleteFrom('oauth_clients')
    .where('server_key', 'is not', null)
    .where('server_key', 'not in', live)
    .executeTakeFirst();
  await db
    .deleteFrom('api_tokens')
    .where('oauth_client_id', '!=', 'jupyterhub')
    .where('oauth_client_id', 'not in', db.selectFrom('oauth_clients').select('identifier'))
    .execute();
  return Number(removed.numDeletedRows);
}

export async function insertCode(db: Kysely<Database>, code: Omit<OAuthCodeRow, 'used_at' | 'token_id'>): Promise<void> {
  await db.insertInto('oauth_codes').values({ ...code, used_at: null, token_id: null }).execute();
}

/**
 * Codes are single use: taking one marks it used. One UPDATE ... WHERE used_at IS NULL RETURNING
 * statement, so that of two simultaneous requests with the same code exactly one gets it (a
 * select-then-update transaction lets both read the row under PostgreSQL's READ COMMITTED, and fails
 * with SQLITE_BUSY on SQLite). The row stays, used, until it expires (usedCode, deleteExpiredCodes).
 */
export async function takeCode(db: Kysely<Database>, hash: string, now: string): Promise<OAuthCodeRow | undefined> {
  return db.updateTable('oauth_codes').set({ used_at: now }).where('hash', '=', hash).where('used_at', 'is', null).returningAll().executeTakeFirst();
}

/** The token a taken code gave, recorded right after its exchange. */
export async function recordCodeToken(db: Kysely<Database>, hash: string, tokenId: number): Promise<void> {
  await db.updateTable('oauth_codes').set({ token_id: tokenId }).where('hash', '=', hash).execute();
}

/** A code that was taken before (not one never issued or long expired), or undefined. */
export async function usedCode(db: Kysely<Database>, hash: string): Promise<OAuthCodeRow | undefined> {
  return db.selectFrom('oauth_codes').selectAll().where('hash', '=', hash).where('used_at', 'is not', null).executeTakeFirst();
}

export async function deleteExpiredCodes(db: Kysely<Database>, now: string): Promise<void> {
  await db.deleteFrom('oauth_codes').where('expires_at', '<', now).execute();
}
