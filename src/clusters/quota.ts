import os from 'node:os';
import { z } from 'zod';
import { byteSize } from '../profiles/byte-size.js';
import { clusterTotals } from './request.js';
import type { ClusterRequest } from './backend.js';

const limits = z.strictObject({
  max_clusters: z.number().int().min(0).optional(),
  max_workers: z.number().int().min(0).optional(),
  max_cores: z.number().min(0).optional(),
  max_memory: byteSize.optional(),
});
export type QuotaLimits = z.output<typeof limits>;

/**
 * Limits on what one person's clusters may use at once, across all their servers:
 *
 *   quotas:
 *     default: {max_clusters: 2, max_workers: 8, max_cores: 8, max_memory: 16G}
 *     groups: {data-eng: {max_workers: 16}}
 *     users: {alice: {max_memory: 64G}}
 *
 * A person gets the default, raised by the most generous of their groups, and their own entry last.
 * A limit left out is no limit.
 */
const quotasObject = z.strictObject({
  default: limits.default({}),
  groups: z.record(z.string(), limits).default({}),
  users: z.record(z.string(), limits).default({}),
});
export type QuotasConfig = z.output<typeof quotasObject>;

const GiB = 1024 ** 3;

/**
 * The default quota when `quotas.default` sets no limit at all: what this machine can hold, so the
 * shipped Spark and Dask clusters (2 workers each) fit together and nobody can ask for more than
 * the machine has. Cluster cores are shares of the machine, not pinned CPUs, and masters and
 * schedulers idle most of the time, so each CPU counts three times for cores and twice for workers;
 * memory is real, so half of it (the rest is for notebook servers and the hub).
 *
 *   max_clusters 2 · max_workers 2 × CPUs (at least 2) · max_cores 3 × CPUs (at least 3)
 *   max_memory half the machine's memory, rounded down to 0.5 GiB (at least 2 GiB)
 */
export function machineQuota(cpus = os.availableParallelism(), memory = os.totalmem()): QuotaLimits {
  return {
    max_clusters: 2,
    max_workers: Math.max(2, 2 * cpus),
    max_cores: Math.max(3, 3 * cpus),
    max_memory: Math.max(2 * GiB, Math.floor(memory / 2 / (GiB / 2)) * (GiB / 2)),
  };
}

/** The configured quotas, with the machine's default when `quotas.default` sets nothing. */
export function withMachineDefault(quotas: QuotasConfig, machine: () => QuotaLimits = machineQuota): QuotasConfig {
  const setsSomething = Object.values(quotas.default).some((v) => v !== undefined);
  return setsSomething ? quotas : { ...quotas, default: machine() };
}

export const quotasSchema = quotasObject.default({ default: {}, groups: {}, users: {} }).transform((q) => withMachineDefault(q));

const FIELDS = ['max_clusters', 'max_workers', 'max_cores', 'max_memory'] as const;

export function effectiveQuota(quotas: QuotasConfig, user: string, groups: readonly string[]): QuotaLimits {
  const out: QuotaLimits = { ...quotas.default };
  for (const field of FIELDS) {
    for (const group of groups) {
      const value = quotas.groups[group]?.[field];
      if (value === undefined) continue;
      const current = out[field];
      // a group can only raise a limit; "no limit" beats any number
      if (current !== undefined && value > current) out[field] = value;
    }
    const own = quotas.users[user]?.[field];
    if (own !== undefined) out[field] = own;
  }
  return out;
}

function describe(field: (typeof FIELDS)[number], value: number): string {
  if (field === 'max_memory') return `${(value / 1024 ** 3).toFixed(value % 1024 ** 3 ? 1 : 0)} GiB of memory`;
  if (field === 'max_cores') return `${value} cores`;
  if (field === 'max_workers') return `${value} workers`;
  return `${value} cluster${value === 1 ? '' : 's'}`;
}

/**
 * The first limit that running `requested` next to `running` would break, as a sentence naming the
 * limit, or undefined when it fits.
 */
export function quotaProblem(limit: QuotaLimits, running: readonly ClusterRequest[], requested: readonly ClusterRequest[]): string | undefined {
  if (requested.length === 0) return undefined;
  const now = clusterTotals(running);
  const after = clusterTotals([...running, ...requested]);
  const checks: [(typeof FIELDS)[number], number, number][] = [
    ['max_clusters', after.clusters, now.clusters],
    ['max_workers', after.workers, now.workers],
    ['max_cores', after.cores, now.cores],
    ['max_memory', after.memory, now.memory],
  ];
  for (const [field, total, inUse] of checks) {
    const max = limit[field];
    if (max === undefined || total <= max) continue;
    const wanted = describe(field, total - inUse);
    return `Your cluster quota allows ${describe(field, max)} at once (${field}); this start asks for ${wanted}${inUse ? ` on top of ${describe(field, inUse)} already in use` : ''}. Pick a smaller profile, stop another server, or ask an administrator to raise the limit.`;
  }
  return undefined;
}
