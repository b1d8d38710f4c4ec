/**
 * The rendered pages of a publication: what each shows around the notebook, and where it is kept.
 *
 * A version has two pages: `latest` (at `/p/<id>`, downloading `/p/<id>.ipynb`) and `version` (at
 * `/p/<id>/v/<n>`, downloading `/p/<id>/v/<n>.ipynb`). Each is stored in the publication store next
 * to the notebook (`<id>/<uuid>.ipynb` → `<id>/<uuid>.latest.html`, `<id>/<uuid>.version.html`),
 * headed by a fingerprint of the options it was rendered with, so a page rendered for an older title
 * is noticed and rendered again rather than served.
 */
import { createHash } from 'node:crypto';
import type { PublicationVersionRow, PublicationWithOwner } from '../db/publications.js';
import type { RenderOptions } from './engine.js';
import { publicationLinks } from './links.js';

export type PageKind = 'latest' | 'version';
export const PAGE_KINDS: readonly PageKind[] = ['latest', 'version'];

/** The file name a download suggests: the title, plus the version for a version's own page. */
export function downloadName(title: string, version?: number): string {
  const base = title.replace(/[\\/:*?"<>|\u0000-\u001f]+/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 120) || 'notebook';
  return `${base}${version ? ` (v${version})` : ''}.ipynb`;
}

/** Everything a page shows besides the notebook itself. */
export function pageOptions(publication: Pick<PublicationWithOwner, 'slug' | 'title' | 'owner'>, version: Pick<PublicationVersionRow, 'version' | 'created'>, kind: PageKind): RenderOptions {
  const latest = kind === 'latest';
  const links = publicationLinks('', publication.slug);
  return {
    title: publication.title,
    downloadUrl: latest ? links.download_url : `${links.version(version.version)}.ipynb`,
    downloadName: downloadName(publication.title, latest ? undefined : version.version),
    version: version.version,
    published: version.created,
    author: publication.owner,
  };
}

/** A short digest of the options: equal options, equal page (for the same notebook bytes). */
export function pageFingerprint(options: RenderOptions): string {
  const fields = [options.title, options.downloadUrl, options.downloadName, String(options.version), options.published, options.author];
  return createHash('sha256').update(fields.join('\u0000')).digest('hex').slice(0, 32);
}

/** Where a version's page of this kind is stored, beside its notebook. */
export function pageKey(blobKey: string, kind: PageKind): string {
  return `${blobKey.replace(/\.ipynb$/, '')}.${kind}.html`;
}

const HEADER = /^<!-- refinery-page ([0-9a-f]{32}) -->\n/;

/** The stored form: the fingerprint line, then the page. */
export function storedPage(fingerprint: string, html: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`<!-- refinery-page ${fingerprint} -->\n`, 'latin1'), html]);
}

/** The page (UTF-8) inside a stored file when it was rendered with these options, else undefined. */
export function pageFromStored(stored: Buffer, fingerprint: string): Buffer | undefined {
  const head = HEADER.exec(stored.subarray(0, 64).toString('latin1'));
  if (!head || head[1] !== fingerprint) return undefined;
  return stored.subarray(head[0].length);
}
