import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { byteSize } from '../profiles/byte-size.js';

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
  /** Where the uploaded bytes are kept. Only `files` exists today; an S3 store comes later. */
  store: z.discriminatedUnion('type', [filesStore]).default({ type: 'files' }),
});

export type PublishConfig = z.output<typeof publishSchema>;

export const PUBLISH_DEFAULTS: PublishConfig = publishSchema.parse({});

/** The files store's directory, absolute. */
export function filesStoreDir(config: PublishConfig, dataDir: string): string {
  const path = config.store.path ?? 'publications';
  return isAbsolute(path) ? path : resolve(dataDir, path);
}
