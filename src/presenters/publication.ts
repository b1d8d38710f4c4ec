import type { PublicationVersionRow, PublicationWithOwner } from '../db/publications.js';
import { publicationLinks } from '../publish/links.js';

/**
 * The publication model. Never includes where the notebook is stored (blob keys, paths on the hub's
 * machine). `source_path` is the notebook's path in its owner's server, which the owner chose.
 */
export function presentPublication(row: PublicationWithOwner, versions: readonly PublicationVersionRow[], base: string): Record<string, unknown> {
  const links = publicationLinks(base, row.slug);
  const latest = versions.at(-1);
  const gone = row.deleted_at !== null;
  return {
    kind: 'publication',
    id: row.slug,
    owner: row.owner,
    title: row.title,
    visibility: row.visibility,
    url: links.url,
    download_url: gone ? null : links.download_url,
    created: row.created,
    updated: row.updated,
    unpublished: row.deleted_at,
    latest_version: latest?.version ?? null,
    source_path: latest?.source_path ?? '',
    versions: versions.map((v) => ({
      version: v.version,
      created: v.created,
      size: v.size,
      sha256: v.sha256,
      source_path: v.source_path,
      url: links.version(v.version),
    })),
  };
}
