import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/tables.js';
import type { Logger } from '../log.js';
import type { UserRow } from '../db/users.js';
import { nowIso } from '../db/time.js';
import {
  blobKeysOf, blobKeysOfUser, findPublicationBySlug, findVersion, insertPublication, insertVersion, markPublicationDeleted,
  publicationsOfUser, updatePublication, versionsOfPublications,
  type PublicationVersionRow, type PublicationWithOwner,
} from '../db/publications.js';
import type { PublicationStore } from './store.js';
import type { NotebookEngine } from './engine.js';
import { formatBytes } from '../web/format.js';

/** Why a publishing request was refused, in words for the person who sent it. */
export class PublicationError extends Error {
  constructor(readonly kind: 'invalid' | 'too-large' | 'not-found' | 'gone', message: string) {
    super(message);
    this.name = 'PublicationError';
  }
}

/** Who is looking at a page: nobody (signed out), or a hub user with their groups. */
export type Viewer = { name: string; admin: boolean; groups: ReadonlySet<string> } | null;

export interface PublishInput {
  /** The notebook file exactly as uploaded. */
  bytes: Uint8Array;
  title?: string | undefined;
  visibility?: string | undefined;
  /** Where the notebook lives in its owner's server, for the owner's reference. */
  path?: string | undefined;
}

const VISIBILITY = /^(public|users|group:[^\s]{1,255})$/;
const MAX_TITLE = 200;

/** Pages rendered recently, by version and what the page shows around it. Bounded by total size. */
class RenderCache {
  private readonly entries = new Map<string, string>();
  private bytes = 0;
  constructor(private readonly maxBytes: number) {}
  get(key: string): string | undefined {
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, hit); // most recently used last
    }
    return hit;
  }
  set(key: string, html: string): void {
    if (html.length > this.maxBytes) return;
    this.dropKey(key);
    this.entries.set(key, html);
    this.bytes += html.length;
    for (const [k] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.dropKey(k);
    }
  }
  /** Forget every page of these versions (unpublished). */
  dropVersions(ids: readonly number[]): void {
    const prefixes = ids.map((id) => `${id}\u0000`);
    for (const k of [...this.entries.keys()]) if (prefixes.some((p) => k.startsWith(p))) this.dropKey(k);
  }
  private dropKey(key: string): void {
    const old = this.entries.get(key);
    if (old === undefined) return;
    this.bytes -= old.length;
    this.entries.delete(key);
  }
}

/**
 * Publications: one unguessable link per published notebook, any number of versions under it (each
 * kept and reachable), and unpublishing, which keeps the record (the link answers 410 Gone) but
 * deletes every stored notebook. Knows nothing about HTTP; the API and the viewer call it.
 */
export class PublicationService {
  private readonly cache = new RenderCache(64 * 1024 * 1024);

  constructor(private readonly options: {
    db: Kysely<Database>;
    store: PublicationStore;
    engine: NotebookEngine;
    maxBytes: number;
    log: Logger;
    /**
     * Secrets a person's notebooks must not carry (their object-storage keys): a notebook holding
     * one is refused, since a published page can be read by people who must not have it.
     */
    secretsOf?: (owner: string) => Promise<string[]>;
  }) {}

  /** Refuse a notebook that contains one of its owner's secrets (say, keys printed by a cell). */
  private async checkNoSecrets(owner: string, bytes: Uint8Array): Promise<void> {
    if (!this.options.secretsOf) return;
    let secrets: string[];
    try {
      secrets = await this.options.secretsOf(owner);
    } catch (error) {
      // the store being down must not stop publishing; the check is a safety net, not a gate
      this.options.log.warn({ owner, err: error instanceof Error ? error.message : String(error) }, 'could not read the owner\'s secrets to check a notebook for them');
      return;
    }
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    if (secrets.some((secret) => secret.length >= 8 && text.includes(secret))) {
      throw new PublicationError('invalid', 'notebook: it contains your object-storage secret key (in a cell or an output): remove it, save, and publish again');
    }
  }

  get maxBytes(): number {
    return this.options.maxBytes;
  }

  /** The stylesheet rendered pages inline (the page policy allows exactly it), for the viewer's own pages. */
  get inlineCss(): string {
    return this.options.engine.inlineCss;
  }

  /** The Content-Security-Policy rendered pages need (the renderer's), for the viewer's headers. */
  get pagePolicy(): string {
    return this.options.engine.contentSecurityPolicy;
  }

  /** Check a notebook before anything is stored: size first (413), then what validateNotebook says (400). */
  private async check(bytes: Uint8Array): Promise<void> {
    const max = this.options.maxBytes;
    if (bytes.byteLength > max) {
      throw new PublicationError('too-large', `notebook: the notebook is ${formatBytes(bytes.byteLength)} (${bytes.byteLength} bytes); the limit is ${formatBytes(max)} (publish.max_size)`);
    }
    if (bytes.byteLength === 0) throw new PublicationError('invalid', 'notebook: the notebook is empty');
    await this.options.engine.validate(bytes, max);
  }

  private checkTitle(title: string | undefined, fallback?: string): string {
    const value = (title ?? '').replace(/\s+/g, ' ').trim() || fallback || '';
    if (!value) throw new PublicationError('invalid', 'title: give the publication a title');
    if (value.length > MAX_TITLE) throw new PublicationError('invalid', `title: at most ${MAX_TITLE} characters`);
    return value;
  }

  private async checkVisibility(visibility: string | undefined, fallback?: string): Promise<string> {
    const value = visibility ?? fallback ?? 'public';
    if (!VISIBILITY.test(value)) throw new PublicationError('invalid', `visibility: expected "public", "users" or "group:<name>", got ${JSON.stringify(value)}`);
    if (value.startsWith('group:')) {
      const name = value.slice('group:'.length);
      const group = await this.options.db.selectFrom('groups').select('id').where('name', '=', name).executeTakeFirst();
      if (!group) throw new PublicationError('invalid', `visibility: there is no group named ${JSON.stringify(name)}`);
    }
    return value;
  }

  private async storeBytes(slug: string, bytes: Uint8Array, path: string | undefined) {
    const key = `${slug}/${randomUUID()}.ipynb`;
    await this.options.store.put(key, bytes);
    return { blob_key: key, size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex'), source_path: (path ?? '').slice(0, 4096) };
  }

  /** A new publication (version 1) owned by `owner`. */
  async publish(owner: Pick<UserRow, 'id' | 'name'>, input: PublishInput): Promise<{ publication: PublicationWithOwner; version: PublicationVersionRow }> {
    const title = this.checkTitle(input.title, titleFromPath(input.path));
    const visibility = await this.checkVisibility(input.visibility);
    await this.check(input.bytes);
    await this.checkNoSecrets(owner.name, input.bytes);
    const slug = randomBytes(16).toString('base64url');
    const version = await this.storeBytes(slug, input.bytes, input.path);
    try {
      const created = await insertPublication(this.options.db, { slug, user_id: owner.id, title, visibility }, version, nowIso());
      this.options.log.info({ owner: owner.name, slug, size: version.size }, 'notebook published');
      return { publication: { ...created.publication, owner: owner.name }, version: created.version };
    } catch (error) {
      await this.options.store.delete(version.blob_key).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Change a publication: with a notebook, a new version under the same link (earlier ones stay
   * reachable); title and visibility may change with it or on their own.
   */
  async update(publication: PublicationWithOwner, input: Partial<PublishInput>): Promise<{ publication: PublicationWithOwner; version: PublicationVersionRow | undefined }> {
    if (publication.deleted_at) throw new PublicationError('gone', `publication ${publication.slug} was unpublished`);
    const changes: { title?: string; visibility?: string } = {};
    if (input.title !== undefined) changes.title = this.checkTitle(input.title);
    if (input.visibility !== undefined) changes.visibility = await this.checkVisibility(input.visibility);
    let version: PublicationVersionRow | undefined;
    const at = nowIso();
    if (input.bytes) {
      await this.check(input.bytes);
      await this.checkNoSecrets(publication.owner, input.bytes);
      // without a path, the new version comes from where the last one did
      const path = input.path ?? (await findVersion(this.options.db, publication.id))?.source_path;
      const stored = await this.storeBytes(publication.slug, input.bytes, path);
      try {
        version = await insertVersion(this.options.db, publication.id, stored, changes, at);
      } catch (error) {
        await this.options.store.delete(stored.blob_key).catch(() => undefined);
        throw error;
      }
      this.options.log.info({ owner: publication.owner, slug: publication.slug, version: version.version }, 'publication updated');
    } else {
      await updatePublication(this.options.db, publication.id, { ...changes, updated: at });
    }
    const fresh = await findPublicationBySlug(this.options.db, publication.slug);
    return { publication: fresh ?? publication, version };
  }

  /**
   * Unpublish: the link answers 410 Gone for everyone from now on. The record and its version list
   * stay (so the owner sees what was there and the link is never reused); every stored notebook is
   * deleted, and so are the rendered pages in memory.
   */
  async unpublish(publication: PublicationWithOwner): Promise<void> {
    await markPublicationDeleted(this.options.db, publication.id, nowIso());
    await this.dropBlobs(publication.id);
    this.options.log.info({ owner: publication.owner, slug: publication.slug }, 'notebook unpublished');
  }

  private async dropBlobs(publicationId: number): Promise<void> {
    const versions = (await versionsOfPublications(this.options.db, [publicationId])).get(publicationId) ?? [];
    this.cache.dropVersions(versions.map((v) => v.id));
    for (const key of await blobKeysOf(this.options.db, publicationId)) {
      await this.options.store.delete(key).catch((error: unknown) => this.options.log.warn({ key, err: String(error) }, 'could not delete an unpublished notebook'));
    }
  }

  /** Before an account is deleted (its rows go with it): delete its stored notebooks. */
  async forgetUser(userId: number): Promise<void> {
    await forgetUserBlobs(this.options.db, this.options.store, userId);
  }

  find(slug: string): Promise<PublicationWithOwner | undefined> {
    return findPublicationBySlug(this.options.db, slug);
  }

  listOf(userId: number, options: { includeDeleted?: boolean } = {}): Promise<PublicationWithOwner[]> {
    return publicationsOfUser(this.options.db, userId, options);
  }

  versionsOf(ids: readonly number[]): Promise<Map<number, PublicationVersionRow[]>> {
    return versionsOfPublications(this.options.db, ids);
  }

  /** Version `n`, or the latest. */
  version(publication: PublicationWithOwner, n?: number): Promise<PublicationVersionRow | undefined> {
    return findVersion(this.options.db, publication.id, n);
  }

  /** The exact bytes uploaded for a version (undefined when unpublished). */
  bytesOf(version: PublicationVersionRow): Promise<Buffer | undefined> {
    return this.options.store.get(version.blob_key);
  }

  /**
   * May `viewer` see this publication? The owner and admins always; otherwise by visibility:
   * `public` anyone, `users` anyone signed in, `group:<name>` that group's members.
   */
  canView(publication: PublicationWithOwner, viewer: Viewer): boolean {
    const visibility = publication.visibility;
    if (visibility === 'public') return true;
    if (!viewer) return false;
    if (viewer.name === publication.owner || viewer.admin) return true;
    if (visibility === 'users') return true;
    if (visibility.startsWith('group:')) return viewer.groups.has(visibility.slice('group:'.length));
    return false;
  }

  /** The full HTML page of a version, rendered once and kept (pages are immutable per version). */
  async page(publication: PublicationWithOwner, version: PublicationVersionRow, options: { downloadUrl: string; downloadName: string }): Promise<string | undefined> {
    const key = `${version.id}\u0000${publication.title}\u0000${options.downloadUrl}\u0000${options.downloadName}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    const bytes = await this.bytesOf(version);
    if (!bytes) return undefined;
    const html = await this.options.engine.renderPage(bytes, Math.max(this.options.maxBytes, bytes.byteLength), {
      title: publication.title, downloadUrl: options.downloadUrl, downloadName: options.downloadName,
      version: version.version, published: version.created, author: publication.owner,
    });
    this.cache.set(key, html);
    return html;
  }
}

/** "analysis/Report 2024.ipynb" -> "Report 2024". */
function titleFromPath(path: string | undefined): string | undefined {
  const base = (path ?? '').split('/').pop() ?? '';
  const title = base.replace(/\.ipynb$/i, '').trim();
  return title || undefined;
}

/** Delete the stored notebooks of a user who is being removed (the rows go with the user). */
export async function forgetUserBlobs(db: Kysely<Database>, store: PublicationStore, userId: number): Promise<void> {
  for (const key of await blobKeysOfUser(db, userId)) await store.delete(key).catch(() => undefined);
}
