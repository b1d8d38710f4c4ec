import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { byteSize } from '../profiles/byte-size.js';
import { secretRef } from '../config/secret-ref.js';

/** An origin only: `https://pub.example.org` (no path, query or credentials). */
const origin = z
  .string()
  .url()
  .refine((value) => {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && !url.username && !url.password && !url.search && !url.hash && (url.pathname === '/' || url.pathname === '');
  }, 'expected an origin such as "https://pub.example.org" (http or https, no path)')
  .transform((value) => new URL(value).origin);

const filesStore = z.strictObject({
  type: z.literal('files'),
  /** Directory for the uploaded notebooks; default `<data_dir>/publications`. Relative: against data_dir. */
  path: z.string().optional(),
});

/** An S3 bucket (at one of `storage.endpoints`), with a key pair that may read, write and delete in it. */
const s3Store = z.strictObject({
  type: z.literal('s3'),
  /** The name of an entry in `storage.endpoints`. */
  endpoint: z.string().min(1),
  /** An existing bucket. */
  bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'a bucket name: 3–63 lowercase letters, digits, "." and "-"'),
  /** Prepended to every object key. */
  prefix: z.string().regex(/^(?:[A-Za-z0-9_.-]+\/)*$/, 'empty, or path segments each ending in "/", e.g. "refinery/publications/"').default('publications/'),
  access_key: secretRef,
  secret_key: secretRef,
});

/** `publish:` in the configuration: where published notebooks live and where their pages are served. */
export const publishSchema = z.strictObject({
  /**
   * A separate origin for published pages, e.g. `https://pub.example.org`, pointing at the same
   * listen address as the hub. When set, pages are served only there (the hub's own address
   * redirects), so a published document never shares an origin, or cookies, with the hub.
   */
  public_url: origin.optional(),
  /** Largest notebook accepted, e.g. "25M" (decimal) or "16Mi". */
  max_size: byteSize.default(25_000_000),
  /** Where the uploaded bytes are kept: files under data_dir (default), or an S3 bucket. */
  store: z.discriminatedUnion('type', [filesStore, s3Store]).default({ type: 'files' }),
  /**
   * Notebooks checked or rendered at once, each in its own thread (one may need a few hundred MB).
   * Default: one less than the CPUs, at least 1, at most 4.
   */
  render_workers: z.number().int().min(1).max(64).optional(),
  /** Further notebooks that may wait for a render thread; past that, readers get 503 with Retry-After. */
  render_queue: z.number().int().min(0).max(10_000).default(16),
});

export type PublishConfig = z.output<typeof publishSchema>;

export const PUBLISH_DEFAULTS: PublishConfig = publishSchema.parse({});

/** The files store's directory, absolute. */
export function filesStoreDir(config: PublishConfig, dataDir: string): string {
  const path = (config.store.type === 'files' ? config.store.path : undefined) ?? 'publications';
  return isAbsolute(path) ? path : resolve(dataDir, path);
}
