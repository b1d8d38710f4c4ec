import type { StorageOfUser } from '../storage/for-user.js';

/** A person's storage as the API shows it: where and which buckets, never a key. */
export function presentStorage(entry: StorageOfUser): Record<string, unknown> {
  const s = entry.summary;
  return {
    servers: entry.servers,
    endpoint: s?.endpoint ?? null,
    url: s?.url ?? null,
    region: s?.region ?? null,
    path_style: s?.path_style ?? null,
    buckets: s?.buckets ?? [],
    credentials: s?.credentials ?? null,
    provisioned: s?.provisioned ?? false,
    error: entry.error,
  };
}
