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
import type { CheckedNotebook, NotebookEngine, RenderOptions } from './engine.js';
import { formatBytes } from '../util/units.js';
import { liveTokenAmong } from '../db/tokens.js';
import { QueueFullError } from '../util/work-queue.js';
import { PAGE_KINDS, pageFingerprint, pageFromStored, pageKey, pageOptions, storedPage, type PageKind } from './pages.js';
import { PublicationError } from './errors.js';

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

/** Pages served recently, by version and what the page shows around it. Bounded by total size. */
class RenderCache {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;
  constructor(private readonly maxBytes: number) {}
  get(key: string): Buffer | undefined {
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, hit); // most recently used last
    }
    return hit;
  }
  set(key: string, html: Buffer): void {
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
 *
 * A page is rendered when its version is published and stored beside the notebook, so readers are
 * served a file, not a render. Pages nobody has needed yet (a version's own page, a page after a
 * title change, versions published before pages were stored) are rendered once, when first asked
 * for, by one render however many readers ask at once, and stored too.
 */
export class PublicationService {
  private readonly cache = new RenderCache(64 * 1024 * 1024);
  /** Pages being read or rendered now, by version and fingerprint: readers of the same page share one. */
  private readonly inFlight = new Map<string, Promise<Buffer | undefined>>();

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
    /** Told of every page rendered: at publishing, or for a reader. */
    onRender?: (when: 'publish' | 'view') => void;
    /** Told when a check or render was refused because the render queue was full. */
    onBusy?: () => void;
  }) {}

  /** The owner's secrets a notebook must not carry; none when they cannot be read right now. */
  private async ownerSecrets(owner: string): Promise<string[]> {
    if (!this.options.secretsOf) return [];
    try {
      return await this.options.secretsOf(owner);
    } catch (error) {
      // the store being down must not stop publishing; the check is a safety net, not a gate
      this.options.log.warn({ owner, err: error instanceof Error ? error.message : String(error) }, 'could not read the owner\'s secrets to check a notebook for them');
      return [];
    }
  }

  /**
   * Check an upload before anything is stored: size (413), what validateNotebook says (400), and
   * that it carries none of its owner's secrets: their object-storage keys, or one of their live hub
   * API tokens (a server's JUPYTERHUB_API_TOKEN printed by a cell, say), found by hashing every
   * token-shaped string and looking the hashes up. Renders the page on the way when `page` is given.
   */
  private async inspect(owner: { id: number; name: string }, bytes: Uint8Array, page?: RenderOptions): Promise<CheckedNotebook> {
    const max = this.options.maxBytes;
    if (bytes.byteLength > max) {
      throw new PublicationError('too-large', `notebook: the notebook is ${formatBytes(bytes.byteLength)} (${bytes.byteLength} bytes); the limit is ${formatBytes(max)} (publish.max_size)`);
    }
    if (bytes.byteLength === 0) throw new PublicationError('invalid', 'notebook: the notebook is empty');
    const secrets = await this.ownerSecrets(owner.name);
    const checked = await this.options.engine.check(bytes, max, { secrets, ...(page ? { page } : {}) }).catch((error: unknown) => this.busy(error));
    if (checked.html) this.options.onRender?.('publish');
    if (checked.scan.secretFound) {
      throw new PublicationError('invalid', 'notebook: it contains your object-storage secret key (in a cell or an output): remove it, save, and publish again');
    }
    if (await liveTokenAmong(this.options.db, owner.id, checked.scan.tokenHashes)) {
      throw new PublicationError('invalid', 'notebook: it contains one of your hub API tokens (in a cell or an output, e.g. JUPYTERHUB_API_TOKEN): remove it, save, and publish again');
    }
    return checked;
  }

  /** Count a refusal for a full render queue, then pass the error on. */
  private busy(error: unknown): never {
    if (error instanceof QueueFullError) this.options.onBusy?.();
    throw error;
  }

  /** Keep a rendered page beside its notebook; a store that fails only costs a render later. */
  private async keepPage(blobKey: string, kind: PageKind, fingerprint: string, html: Buffer): Promise<void> {
    await this.options.store.put(pageKey(blobKey, kind), storedPage(fingerprint, html)).catch((error: unknown) =>
      this.options.log.warn({ err: error instanceof Error ? error.message : String(error) }, 'could not store a rendered page'));
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
    const slug = randomBytes(16).toString('base64url');
    const at = nowIso();
    const page = pageOptions({ slug, title, owner: owner.name }, { version: 1, created: at }, 'latest');
    const { html } = await this.inspect(owner, input.bytes, page);
    const version = await this.storeBytes(slug, input.bytes, input.path);
    let created: Awaited<ReturnType<typeof insertPublication>>;
    try {
      created = await insertPublication(this.options.db, { slug, user_id: owner.id, title, visibility }, version, at);
    } catch (error) {
      await this.options.store.delete(version.blob_key).catch(() => undefined);
      throw error;
    }
    if (html !== null) await this.keepPage(version.blob_key, 'latest', pageFingerprint(page), html);
    this.options.log.info({ owner: owner.name, slug, size: version.size }, 'notebook published');
    return { publication: { ...created.publication, owner: owner.name }, version: created.version };
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
      const previous = await findVersion(this.options.db, publication.id);
      // rendered for the number this version will most likely get; if another update takes it first,
      // the fingerprint differs and the page is rendered again when first asked for
      const page = pageOptions({ ...publication, title: changes.title ?? publication.title }, { version: (previous?.version ?? 0) + 1, created: at }, 'latest');
      const { html } = await this.inspect({ id: publication.user_id, name: publication.owner }, input.bytes, page);
      // without a path, the new version comes from where the last one did
      const path = input.path ?? previous?.source_path;
      const stored = await this.storeBytes(publication.slug, input.bytes, path);
      try {
        version = await insertVersion(this.options.db, publication.id, stored, changes, at);
      } catch (error) {
        await this.options.store.delete(stored.blob_key).catch(() => undefined);
        throw error;
      }
      if (html !== null) await this.keepPage(stored.blob_key, 'latest', pageFingerprint(page), html);
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
      for (const stored of storedKeysOf(key)) {
        await this.options.store.delete(stored).catch((error: unknown) => this.options.log.warn({ key: stored, err: String(error) }, 'could not delete an unpublished notebook'));
      }
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

  /**
   * The full HTML page of a version: from memory, else from the store, else rendered (once, however
   * many readers ask at the same time) and stored. Undefined when the notebook is no longer stored.
   * Throws QueueFullError when the renderer is too busy to take it.
   */
  async page(publication: PublicationWithOwner, version: PublicationVersionRow, kind: PageKind): Promise<Buffer | undefined> {
    const options = pageOptions(publication, version, kind);
    const fingerprint = pageFingerprint(options);
    const memoryKey = `${version.id}\u0000${fingerprint}`;
    const hit = this.cache.get(memoryKey);
    if (hit !== undefined) return hit;
    let pending = this.inFlight.get(memoryKey);
    if (!pending) {
      pending = this.loadPage(publication, version, kind, options, fingerprint).finally(() => this.inFlight.delete(memoryKey));
      this.inFlight.set(memoryKey, pending);
    }
    const html = await pending;
    if (html !== undefined) this.cache.set(memoryKey, html);
    return html;
  }

  private async loadPage(publication: PublicationWithOwner, version: PublicationVersionRow, kind: PageKind, options: RenderOptions, fingerprint: string): Promise<Buffer | undefined> {
    const key = pageKey(version.blob_key, kind);
    const stored = await this.options.store.get(key).catch((error: unknown) => {
      this.options.log.warn({ err: error instanceof Error ? error.message : String(error) }, 'could not read a stored page; rendering it');
      return undefined;
    });
    const kept = stored && pageFromStored(stored, fingerprint);
    if (kept !== undefined) return kept;
    const bytes = await this.bytesOf(version);
    if (!bytes) return undefined;
    const html = await this.options.engine.renderPage(bytes, Math.max(this.options.maxBytes, bytes.byteLength), options).catch((error: unknown) => this.busy(error));
    this.options.onRender?.('view');
    await this.keepPage(version.blob_key, kind, fingerprint, html);
    // unpublished while rendering: the page must not outlive the notebook
    if ((await findPublicationBySlug(this.options.db, publication.slug))?.deleted_at) {
      await this.options.store.delete(key).catch(() => undefined);
      return undefined;
    }
    return html;
  }
}

/** "analysis/Report 2024.ipynb" -> "Report 2024". */
function titleFromPath(path: string | undefined): string | undefined {
  const base = (path ?? '').split('/').pop() ?? '';
  const title = base.replace(/\.ipynb$/i, '').trim();
  return title || undefined;
}

/** Delete the stored notebooks (and their pages) of a user who is being removed (the rows go with the user). */
export async function forgetUserBlobs(db: Kysely<Database>, store: PublicationStore, userId: number): Promise<void> {
  for (const key of await blobKeysOfUser(db, userId)) {
    for (const stored of storedKeysOf(key)) await store.delete(stored).catch(() => undefined);
  }
}

/** A version's notebook and its rendered pages: everything stored for it (pages first, so the folder empties last). */
function storedKeysOf(blobKey: string): string[] {
  return [...PAGE_KINDS.map((kind) => pageKey(blobKey, kind)), blobKey];
}
