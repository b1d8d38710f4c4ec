import type { Kysely, SelectQueryBuilder } from 'kysely';
import type { Database } from './tables.js';
import { nowIso } from './time.js';

/** A share with the names it is about: whose server, which one, and who it is shared with. */
export interface ShareRecord {
  id: number;
  serverId: number;
  owner: string;
  server: string;
  /** Whether the server runs (what a share's `ready` says). */
  running: boolean;
  /** Set when shared with a person. */
  user: string | null;
  /** Set when shared with a group. */
  group: string | null;
  scopes: string[];
  created: string;
}

export interface ShareCodeRecord {
  id: number;
  serverId: number;
  owner: string;
  server: string;
  running: boolean;
  scopes: string[];
  created: string;
  expiresAt: string;
  lastExchangedAt: string | null;
  exchangeCount: number;
}

/** Who a share is with: exactly one person or one group. */
export type Grantee = { userId: number } | { groupId: number };

function sharesQuery(db: Kysely<Database>) {
  return db
    .selectFrom('shares')
    .innerJoin('servers', 'servers.id', 'shares.server_id')
    .innerJoin('users as owners', 'owners.id', 'servers.user_id')
    .leftJoin('users as grantees', 'grantees.id', 'shares.user_id')
    .leftJoin('groups', 'groups.id', 'shares.group_id')
    .select([
      'shares.id', 'shares.server_id', 'shares.scopes', 'shares.created', 'owners.name as owner', 'servers.name as server', 'servers.phase',
      'grantees.name as user', 'groups.name as group',
    ]);
}

type ShareRow = Awaited<ReturnType<ReturnType<typeof sharesQuery>['executeTakeFirstOrThrow']>>;

function toShare(row: ShareRow): ShareRecord {
  return {
    id: row.id, serverId: row.server_id, owner: row.owner, server: row.server, running: row.phase === 'running', user: row.user ?? null, group: row.group ?? null,
    scopes: JSON.parse(row.scopes) as string[], created: row.created,
  };
}

export interface Page {
  offset: number;
  limit: number;
}

/** Shares of one server (serverId) or of all of one person's servers (ownerId), oldest first. */
export async function listShares(db: Kysely<Database>, where: { serverId: number } | { ownerId: number }, page: Page): Promise<{ items: ShareRecord[]; total: number }> {
  const filter = 'serverId' in where ? (['shares.server_id', where.serverId] as const) : (['servers.user_id', where.ownerId] as const);
  const [rows, count] = await Promise.all([
    sharesQuery(db).where(filter[0], '=', filter[1]).orderBy('shares.id').limit(page.limit).offset(page.offset).execute(),
    db.selectFrom('shares').innerJoin('servers', 'servers.id', 'shares.server_id').where(filter[0], '=', filter[1])
      .select((eb) => eb.fn.countAll<string | number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { items: rows.map(toShare), total: Number(count.n) };
}

/** Shares granted to a person directly or to any of `groupIds` (what they were given), oldest first. */
export async function sharesWith(db: Kysely<Database>, who: { userId?: number; groupIds: readonly number[] }, page: Page): Promise<{ items: ShareRecord[]; total: number }> {
  const matches = <Q extends SelectQueryBuilder<Database, 'shares', object>>(q: Q): Q =>
    q.where((eb) => {
      const any = [];
      if (who.userId !== undefined) any.push(eb('shares.user_id', '=', who.userId));
      if (who.groupIds.length) any.push(eb('shares.group_id', 'in', who.groupIds));
      return any.length ? eb.or(any) : eb.val(false);
    }) as Q;
  const [rows, count] = await Promise.all([
    matches(sharesQuery(db)).orderBy('shares.id').limit(page.limit).offset(page.offset).execute(),
    matches(db.selectFrom('shares')).select((eb) => eb.fn.countAll<string | number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { items: rows.map(toShare), total: Number(count.n) };
}

export async function findShare(db: Kysely<Database>, serverId: number, grantee: Grantee): Promise<ShareRecord | undefined> {
  const row = await sharesQuery(db)
    .where('shares.server_id', '=', serverId)
    .where('userId' in grantee ? 'shares.user_id' : 'shares.group_id', '=', 'userId' in grantee ? grantee.userId : grantee.groupId)
    .executeTakeFirst();
  return row ? toShare(row) : undefined;
}

/** Every share, as (owner/server, scopes, user or group): what the identity resolver adds to people's scopes. */
export async function allShareGrants(db: Kysely<Database>): Promise<{ user: string | null; group: string | null; scopes: string[] }[]> {
  const rows = await sharesQuery(db).execute();
  return rows.map((row) => ({ user: row.user ?? null, group: row.group ?? null, scopes: JSON.parse(row.scopes) as string[] }));
}

/** Create the share, or set the scopes of the existing one. */
export async function saveShare(db: Kysely<Database>, serverId: number, grantee: Grantee, scopes: readonly string[]): Promise<void> {
  const existing = await findShare(db, serverId, grantee);
  if (existing) {
    await db.updateTable('shares').set({ scopes: JSON.stringify(scopes) }).where('id', '=', existing.id).execute();
    return;
  }
  await db.insertInto('shares').values({
    server_id: serverId,
    user_id: 'userId' in grantee ? grantee.userId : null,
    group_id: 'groupId' in grantee ? grantee.groupId : null,
    scopes: JSON.stringify(scopes),
    created: nowIso(),
  }).execute();
}

export async function deleteShare(db: Kysely<Database>, id: number): Promise<void> {
  await db.deleteFrom('shares').where('id', '=', id).execute();
}

export async function deleteSharesOfServer(db: Kysely<Database>, serverId: number): Promise<number> {
  const result = await db.deleteFrom('shares').where('server_id', '=', serverId).executeTakeFirst();
  return Number(result.numDeletedRows);
}

function codesQuery(db: Kysely<Database>) {
  return db
    .selectFrom('share_codes')
    .innerJoin('servers', 'servers.id', 'share_codes.server_id')
    .innerJoin('users as owners', 'owners.id', 'servers.user_id')
    .select([
      'share_codes.id', 'share_codes.server_id', 'share_codes.scopes', 'share_codes.created', 'share_codes.expires_at',
      'share_codes.last_exchanged_at', 'share_codes.exchange_count', 'owners.name as owner', 'servers.name as server', 'servers.phase',
    ]);
}

type CodeRow = Awaited<ReturnType<ReturnType<typeof codesQuery>['executeTakeFirstOrThrow']>>;

function toCode(row: CodeRow): ShareCodeRecord {
  return {
    id: row.id, serverId: row.server_id, owner: row.owner, server: row.server, running: row.phase === 'running', scopes: JSON.parse(row.scopes) as string[],
    created: row.created, expiresAt: row.expires_at, lastExchangedAt: row.last_exchanged_at, exchangeCount: row.exchange_count,
  };
}

/** Codes that have not expired, of one server or of all of one person's servers, oldest first. */
export async function listShareCodes(db: Kysely<Database>, where: { serverId: number } | { ownerId: number }, page: Page, now = nowIso()): Promise<{ items: ShareCodeRecord[]; total: number }> {
  const filter = 'serverId' in where ? (['share_codes.server_id', where.serverId] as const) : (['servers.user_id', where.ownerId] as const);
  const [rows, count] = await Promise.all([
    codesQuery(db).where(filter[0], '=', filter[1]).where('share_codes.expires_at', '>', now).orderBy('share_codes.id').limit(page.limit).offset(page.offset).execute(),
    db.selectFrom('share_codes').innerJoin('servers', 'servers.id', 'share_codes.server_id').where(filter[0], '=', filter[1])
      .where('share_codes.expires_at', '>', now).select((eb) => eb.fn.countAll<string | number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { items: rows.map(toCode), total: Number(count.n) };
}

/** The code with this hash, if it has not expired. */
export async function findShareCode(db: Kysely<Database>, hash: string, now = nowIso()): Promise<ShareCodeRecord | undefined> {
  const row = await codesQuery(db).where('share_codes.hash', '=', hash).where('share_codes.expires_at', '>', now).executeTakeFirst();
  return row ? toCode(row) : undefined;
}

export async function insertShareCode(db: Kysely<Database>, serverId: number, hash: string, scopes: readonly string[], expiresAt: string): Promise<ShareCodeRecord> {
  const { id } = await db.insertInto('share_codes').values({
    server_id: serverId, hash, scopes: JSON.stringify(scopes), created: nowIso(), expires_at: expiresAt, exchange_count: 0,
  }).returning('id').executeTakeFirstOrThrow();
  return toCode(await codesQuery(db).where('share_codes.id', '=', id).executeTakeFirstOrThrow());
}

export async function recordShareCodeExchange(db: Kysely<Database>, id: number): Promise<void> {
  await db.updateTable('share_codes')
    .set((eb) => ({ exchange_count: eb('exchange_count', '+', 1), last_exchanged_at: nowIso() }))
    .where('id', '=', id).execute();
}

/** Delete codes of a server: all, or the one with `id` or `hash`. Returns how many went. */
export async function deleteShareCodes(db: Kysely<Database>, serverId: number, which: { id?: number; hash?: string } = {}): Promise<number> {
  let query = db.deleteFrom('share_codes').where('server_id', '=', serverId);
  if (which.id !== undefined) query = query.where('id', '=', which.id);
  if (which.hash !== undefined) query = query.where('hash', '=', which.hash);
  const result = await query.executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Expired codes are of no use to anyone: dropped with the periodic clean-up. */
export async function deleteExpiredShareCodes(db: Kysely<Database>, now = nowIso()): Promise<number> {
  const result = await db.deleteFrom('share_codes').where('expires_at', '<=', now).executeTakeFirst();
  return Number(result.numDeletedRows);
}
