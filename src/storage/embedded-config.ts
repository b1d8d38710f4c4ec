/**
 * Whether Refinery runs its own object store, and what it gives everyone. On by default on one
 * machine: with no `storage.endpoints` configured, the hub runs versitygw on loopback and every
 * person gets their own key and a bucket named after them. `storage.embedded: false` turns it off;
 * any configured endpoint replaces it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { repoRoot } from '../host/repo-root.js';

/** The endpoint's name in plans, pages and the API. */
export const EMBEDDED_ENDPOINT = 'embedded';

/** The profile every person gets when the embedded store runs and no profile gives storage. */
export const EMBEDDED_STORAGE_PROFILE = {
  name: 'embedded-object-storage',
  storage: { endpoint: EMBEDDED_ENDPOINT, buckets: ['{user}'], credentials: { source: 'provisioned' } },
} as const;

/** The versitygw binary: REFINERY_VERSITYGW, else the one `scripts/setup.sh` builds. */
export function versitygwBinary(): string {
  return process.env.REFINERY_VERSITYGW ?? join(repoRoot(), '.tools', 'bin', 'versitygw');
}

export type EmbeddedStorageDecision = { on: true; binary: string } | { on: false; why: string };

/** Whether the embedded store runs with this configuration, and if not, why (for the start-up log). */
export function embeddedStorage(config: Pick<Config, 'storage' | 'spawner'>): EmbeddedStorageDecision {
  if (!config.storage.embedded) return { on: false, why: 'storage.embedded is false' };
  if (config.storage.endpoints.length) return { on: false, why: 'storage.endpoints are configured' };
  if (config.spawner.type !== 'local') return { on: false, why: 'servers run on Kubernetes, where a loopback store cannot be reached: configure storage.endpoints' };
  const binary = versitygwBinary();
  if (!existsSync(binary)) return { on: false, why: `versitygw is not at ${binary} (bash scripts/setup.sh builds it)` };
  return { on: true, binary };
}
