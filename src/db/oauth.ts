import type { Kysely, Selectable } from 'kysely';
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

export async function deleteClient(db: Kysely<Database>, identifier: string): Promise<void> {
  await db.deleteFrom('oauth_clients').where('identifier', '=', identifier).execute();
}

export async function insertCode(db: Kysely<Database>, code: OAuthCodeRow): Promise<void> {
  await db.insertInto('oauth_codes').values(code).execute();
}

/**
 * Codes are single use: fetching one deletes it. One DELETE ... RETURNING statement, so that of two
 * simultaneous requests with the same code exactly one gets it (a select-then-delete transaction lets
 * both read the row under PostgreSQL's READ COMMITTED, and fails with SQLITE_BUSY on SQLite).
 */
export async function takeCode(db: Kysely<Database>, hash: string): Promise<OAuthCodeRow | undefined> {
  return db.deleteFrom('oauth_codes').where('hash', '=', hash).returningAll().executeTakeFirst();
}

export async function deleteExpiredCodes(db: Kysely<Database>, now: string): Promise<void> {
  await db.deleteFrom('oauth_codes').where('expires_at', '<', now).execute();
}
