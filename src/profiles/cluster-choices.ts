// The person's own sizing of the cluster their plan starts: how many workers, cores and memory per
// worker, from `user_options` (`cluster_workers`, `cluster_worker_cores`, `cluster_worker_memory`,
// the same keys from the spawn form and the REST API), within the schema's bounds and their quota.
import { parseClusterRequest, clusterTotals } from '../clusters/request.js';
import type { QuotaLimits } from '../clusters/quota.js';
import type { ClusterChoices, ClusterSizing, SpawnPlan } from './plan.js';
import { byteSize } from './byte-size.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** What a person may pick, whatever their quota: the cluster request schema's bounds (workers ≥ 1: a cluster without workers runs nothing). */
export const CLUSTER_BOUNDS = {
  workers: { min: 1, max: 64 },
  worker_cores: { min: 1, max: 256 },
  worker_memory: { min: 512 * MiB, max: 1024 * GiB },
} as const;

export type ClusterField = 'cluster_workers' | 'cluster_worker_cores' | 'cluster_worker_memory';
export const CLUSTER_FIELDS: readonly ClusterField[] = ['cluster_workers', 'cluster_worker_cores', 'cluster_worker_memory'];

/** As `user_options` carry them: numbers, or text from a form. */
export type ClusterChoiceInput = Partial<Record<ClusterField, number | string | undefined>>;

/** Thrown with the `user_options` field at fault; resolve.ts turns it into a SelectionError. */
export class ClusterChoiceError extends Error {
  constructor(readonly field: ClusterField, message: string) {
    super(message);
  }
}

/** "1.5 GiB", "512 MiB". */
export function describeMemory(bytes: number): string {
  return bytes >= GiB ? `${Number((bytes / GiB).toFixed(2))} GiB` : `${Math.round(bytes / MiB)} MiB`;
}

/** How a chosen memory size is stored and sent: whole MiB, e.g. "1536Mi". */
export function memoryOption(bytes: number): string {
  return `${Math.round(bytes / MiB)}Mi`;
}

function parseCount(field: ClusterField, raw: number | string, what: string, bounds: { min: number; max: number }): number {
  const value = typeof raw === 'number' ? raw : raw.trim() === '' ? NaN : Number(raw.trim());
  if (!Number.isInteger(value)) throw new ClusterChoiceError(field, `${what} must be a whole number, got ${JSON.stringify(raw)}`);
  if (value < bounds.min || value > bounds.max) throw new ClusterChoiceError(field, `${what} must be between ${bounds.min} and ${bounds.max}, got ${value}`);
  return value;
}

/**
 * A size as configuration writes it ("2Gi", "1536Mi"; "2G" is 2×1000³ as everywhere else) or a plain
 * number of GiB (what the form's controls send).
 */
function parseMemory(raw: number | string): number {
  const field = 'cluster_worker_memory';
  const text = String(raw).trim();
  const plain = /^\d+(?:\.\d+)?$/.test(text);
  const parsed = plain ? { success: true as const, data: Math.round(Number(text) * GiB) } : byteSize.safeParse(text);
  if (!parsed.success) throw new ClusterChoiceError(field, `memory per worker must be a size like 1Gi or 1536Mi, or a number of GiB, got ${JSON.stringify(raw)}`);
  const bytes = parsed.data;
  const { min, max } = CLUSTER_BOUNDS.worker_memory;
  if (bytes < min || bytes > max) throw new ClusterChoiceError(field, `memory per worker must be between ${describeMemory(min)} and ${describeMemory(max)}, got ${describeMemory(bytes)}`);
  return bytes;
}

/** Read the choices from user_options; only the fields given are in the result. */
export function parseClusterChoices(input: ClusterChoiceInput): ClusterChoices {
  const out: ClusterChoices = {};
  const { cluster_workers: w, cluster_worker_cores: c, cluster_worker_memory: m } = input;
  if (w !== undefined && w !== '') out.workers = parseCount('cluster_workers', w, 'the number of workers', CLUSTER_BOUNDS.workers);
  if (c !== undefined && c !== '') out.worker_cores = parseCount('cluster_worker_cores', c, 'cores per worker', CLUSTER_BOUNDS.worker_cores);
  if (m !== undefined && m !== '') out.worker_memory = parseMemory(m);
  return out;
}

export function hasChoices(choices: ClusterChoices): boolean {
  return choices.workers !== undefined || choices.worker_cores !== undefined || choices.worker_memory !== undefined;
}

/** The choices as `user_options` keep them (what the form pre-selects next time). */
export function choicesAsOptions(choices: ClusterChoices): ClusterChoiceInput {
  return {
    ...(choices.workers !== undefined ? { cluster_workers: choices.workers } : {}),
    ...(choices.worker_cores !== undefined ? { cluster_worker_cores: choices.worker_cores } : {}),
    ...(choices.worker_memory !== undefined ? { cluster_worker_memory: memoryOption(choices.worker_memory) } : {}),
  };
}

type PlanCluster = SpawnPlan['clusters'][number];

/** The request as the backend will see it, or undefined for one the catalog check let through but cannot be read. */
function requestOf(cluster: PlanCluster): ReturnType<typeof parseClusterRequest> | undefined {
  const { source: _source, ...raw } = cluster;
  try {
    return parseClusterRequest(raw);
  } catch {
    return undefined;
  }
}

/** The plan's first cluster with the choices written in (the one the form's controls size). */
export function applyChoices(cluster: PlanCluster, choices: ClusterChoices): PlanCluster {
  const worker = (cluster.worker && typeof cluster.worker === 'object' ? cluster.worker : {}) as Record<string, unknown>;
  return {
    ...cluster,
    ...(choices.workers !== undefined ? { workers: choices.workers } : {}),
    ...(choices.worker_cores !== undefined || choices.worker_memory !== undefined
      ? { worker: { ...worker, ...(choices.worker_cores !== undefined ? { cores: choices.worker_cores } : {}), ...(choices.worker_memory !== undefined ? { memory: choices.worker_memory } : {}) } }
      : {}),
  };
}

/**
 * Whether the plan's clusters, as sized, fit in the quota on their own (what other servers' clusters
 * use is checked when the server starts). Names the field to change: the one asked for that makes
 * the total too big, else the number of workers.
 */
export function quotaRefusal(clusters: readonly PlanCluster[], quota: QuotaLimits, asked: ClusterChoices): ClusterChoiceError | undefined {
  const requests = clusters.map(requestOf);
  if (requests.some((r) => r === undefined)) return undefined;
  const sized = requests as NonNullable<(typeof requests)[number]>[];
  const first = sized[0];
  if (!first) return undefined;
  const total = clusterTotals(sized);
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const head = first.kind === 'spark' ? 'master' : 'scheduler';
  if (quota.max_workers !== undefined && total.workers > quota.max_workers) {
    return new ClusterChoiceError('cluster_workers', `${plural(total.workers, 'worker')} is more than your cluster quota allows: at most ${quota.max_workers} (max_workers)`);
  }
  if (quota.max_cores !== undefined && total.cores > quota.max_cores) {
    const field = asked.worker_cores !== undefined ? 'cluster_worker_cores' : 'cluster_workers';
    return new ClusterChoiceError(field, `${plural(first.workers, 'worker')} × ${plural(first.worker.cores, 'core')} plus ${first.head.cores} for the ${head} is ${total.cores} cores; your cluster quota allows ${quota.max_cores} (max_cores)`);
  }
  if (quota.max_memory !== undefined && total.memory > quota.max_memory) {
    const field = asked.worker_memory !== undefined ? 'cluster_worker_memory' : 'cluster_workers';
    return new ClusterChoiceError(field, `${plural(first.workers, 'worker')} × ${describeMemory(first.worker.memory)} plus ${describeMemory(first.head.memory)} for the ${head} is ${describeMemory(total.memory)}; your cluster quota allows ${describeMemory(quota.max_memory)} (max_memory)`);
  }
  return undefined;
}

/** The first cluster's current size and what each control may go up to, for the form. */
export function clusterSizing(clusters: readonly PlanCluster[], quota: QuotaLimits): ClusterSizing | null {
  const first = clusters[0] && requestOf(clusters[0]);
  if (!first) return null;
  // other clusters of the same plan take their share first
  const others = clusterTotals(clusters.slice(1).map(requestOf).filter((r) => r !== undefined));
  const room = (limit: number | undefined, used: number) => (limit === undefined ? Infinity : Math.max(0, limit - used));
  const workersRoom = room(quota.max_workers, others.workers);
  const coresRoom = room(quota.max_cores, others.cores + first.head.cores);
  const memoryRoom = room(quota.max_memory, others.memory + first.head.memory);
  const halfGiB = GiB / 2;
  const finite = (n: number) => (Number.isFinite(n) ? n : null);
  const B = CLUSTER_BOUNDS;
  return {
    name: first.name,
    kind: first.kind,
    workers: first.workers,
    worker_cores: first.worker.cores,
    worker_memory: first.worker.memory,
    head: { cores: first.head.cores, memory: first.head.memory },
    max: {
      workers: Math.min(B.workers.max, workersRoom, Math.floor(coresRoom / first.worker.cores), Math.floor(memoryRoom / first.worker.memory)),
      worker_cores: Math.min(B.worker_cores.max, Math.floor(coresRoom / Math.max(1, first.workers))),
      worker_memory: Math.min(B.worker_memory.max, Math.floor(memoryRoom / Math.max(1, first.workers) / halfGiB) * halfGiB),
    },
    room: { workers: finite(workersRoom), cores: finite(coresRoom), memory: finite(memoryRoom) },
    quota,
  };
}
