import type { Kysely, Selectable } from 'kysely';
import type { Database, PublicationVersionsTable, PublicationsTable } from './tables.js';

export type PublicationRow = Selectable<PublicationsTable>;
export type PublicationVersionRow = Selectable<PublicationVersionsTable>;
/** A publication with its owner's name, as most readers need it. */
export type PublicationWithOwner = PublicationRow & { owner: string };

export interface NewVersion {
  blob_key: string;
  size: number;
  sha256: string;
  source_path: string;
}

function withOwner(db: Kysely<Database>) {
  return db.selectFrom('publications').innerJoin('users', 'users.id', 'publications.user_id').selectAll('publications').select('users.name as owner');
}

export async function findPublicationBySlug(db: Kysely<Database>, slug: string): Promise<PublicationWithOwner | undefined> {
  return withOwner(db).where('publications.slug', '=', slug).executeTakeFirst();
}

/** A user's publications, newest first; unpublished ones only when asked. */
export async function publicationsOfUser(db: Kysely<Database>, userId: number, options: { includeDeleted?: boolean } = {}): Promise<PublicationWithOwner[]> {
  let query = withOwner(db).where('publications.user_id', '=', userId);
  if (!options.includeDeleted) query = query.where('publications.deleted_at', 'is', null);
  return query.orderBy('publications.updated', 'desc').orderBy('publications.id', 'desc').execute();
}

/** Every version of these publications, oldest first, by publication id. */
export async function versionsOfPublications(db: Kysely<Database>, ids: readonly number[]): Promise<Map<number, PublicationVersionRow[]>> {
  const out = new Map<number, PublicationVersionRow[]>();
  if (ids.length === 0) return out;
  const rows = await db.selectFrom('publication_versions').selectAll().where('publication_id', 'in', [...ids]).orderBy('version').execute();
  for (const row of rows) {
    const list = out.get(row.publication_id);
    if (list) list.push(row);
    else out.set(row.publication_id, [row]);
  }
  return out;
}

/** Version `n`, or the latest when `n` is undefined. */
export async function findVersion(db: Kysely<Database>, publicationId: number, n?: number): Promise<PublicationVersionRow | undefined> {
  let query = db.selectFrom('publication_versions').selectAll().where('publication_id', '=', publicationId);
  query = n === undefined ? query.orderBy('version', 'desc').limit(1) : query.where('version', '=', n);
  return query.executeTakeFirst();
}

/** A new publication with its first version, in one transaction. */
export async function insertPublication(
  db: Kysely<Database>,
  publication: Pick<PublicationRow, 'slug' | 'user_id' | 'title' | 'visibility'>,
  version: NewVersion,
  at: string,
): Promise<{ publication: PublicationRow; version: PublicationVersionRow }> {
  return db.transaction().execute(async (trx) => {
    const row = await trx.insertInto('publications').values({ ...publication, created: at, updated: at, deleted_at: null }).returningAll().executeTakeFirstOrThrow();
    const v = await trx.insertInto('publication_versions').values({ ...version, publication_id: row.id, version: 1, created: at }).returningAll().executeTakeFirstOrThrow();
    return { publication: row, version: v };
  });
}

/**
 * The next version of a publication (numbered after the highest so far) and, optionally, a new title
 * or visibility. Two concurrent updates cannot take the same number: the second one's insert hits the
 * (publication_id, version) unique constraint and is retried with the next number.
 */
export async function insertVersion(
  db: Kysely<Database>,
  publicationId: number,
  version: NewVersion,
  changes: Partial<Pick<PublicationRow, 'title' | 'visibility'>>,
  at: string,
): Promise<PublicationVersionRow> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await db.transaction().execute(async (trx) => {
        const top = await trx.selectFrom('publication_versions').select((eb) => eb.fn.max('version').as('n')).where('publication_id', '=', publicationId).executeTakeFirst();
        const next = Number(top?.n ?? 0) + 1;
        const row = await trx.insertInto('publication_versions').values({ ...version, publication_id: publicationId, version: next, created: at }).returningAll().executeTakeFirstOrThrow();
        await trx.updateTable('publications').set({ ...changes, updated: at }).where('id', '=', publicationId).execute();
        return row;
      });
    } catch (error) {
      if (attempt >= 4 || !/unique|duplicate/i.test(String((error as Error).message))) throw error;
    }
  }
}

export async function updatePublication(db: Kysely<Database>, id: number, changes: Partial<Pick<PublicationRow, 'title' | 'visibility' | 'updated'>>): Promise<void> {
  if (Object.keys(changes).length === 0) return;
  await db.updateTable('publications').set(changes).where('id', '=', id).execute();
}

/** Unpublish: the row stays (the link answers 410), marked with when. False when it already was. */
export async function markPublicationDeleted(db: Kysely<Database>, id: number, at: string): Promise<boolean> {
  const result = await db.updateTable('publications').set({ deleted_at: at }).where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Blob keys of every version of a publication (to delete them). */
export async function blobKeysOf(db: Kysely<Database>, publicationId: number): Promise<string[]> {
  const rows = await db.selectFrom('publication_versions').select('blob_key').where('publication_id', '=', publicationId).execute();
  return rows.map((r) => r.blob_key);
}

/** Blob keys of every publication of a user, for removing them with the account. */
export async function blobKeysOfUser(db: Kysely<Database>, userId: number): Promise<string[]> {
  const rows = await db
    .selectFrom('publication_versions')
    .innerJoin('publications', 'publications.id', 'publication_versions.publication_id')
    .select('publication_versions.blob_key')
    .where('publications.user_id', '=', userId)
    .execute();
  return rows.map((r) => r.blob_key);
}
