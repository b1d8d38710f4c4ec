import { z } from 'zod';
import { byteSize } from '../profiles/byte-size.js';
import type { ClusterRequest } from './backend.js';
import { daskConfProblems } from './dask/conf.js';

const amount = z.strictObject({ cores: z.number().positive().max(256).default(1), memory: byteSize.default(1024 ** 3) });

/**
 * A cluster request as profiles write it:
 *
 *   clusters:
 *     - kind: spark
 *       workers: 2
 *       worker: {cores: 1, memory: 1G}
 *       master: {cores: 1, memory: 512M}      # `scheduler` for Dask; `head` for either
 *       conf: {spark.sql.shuffle.partitions: "8"}
 *       connect: true                          # Spark Connect (sc:// in SPARK_REMOTE)
 */
export const clusterRequestSchema = z
  .strictObject({
    kind: z.enum(['spark', 'dask']),
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,30}$/, 'use lowercase letters, digits and "-" (at most 31)').optional(),
    workers: z.number().int().min(0).max(64).default(2),
    worker: amount.default({ cores: 1, memory: 1024 ** 3 }),
    head: amount.optional(),
    master: amount.optional(),
    scheduler: amount.optional(),
    conf: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String)).default({}),
    connect: z.boolean().default(false),
  })
  .superRefine((value, ctx) => {
    if (value.kind === 'dask' && value.master) ctx.addIssue({ code: 'custom', path: ['master'], message: 'Dask clusters have a scheduler, not a master: use `scheduler`' });
    if (value.kind === 'spark' && value.scheduler) ctx.addIssue({ code: 'custom', path: ['scheduler'], message: 'Spark clusters have a master, not a scheduler: use `master`' });
    if (value.kind === 'dask' && value.connect) ctx.addIssue({ code: 'custom', path: ['connect'], message: 'Spark Connect is for Spark clusters only' });
    // options the backend would refuse at start are refused when the profile is loaded
    if (value.kind === 'dask') for (const problem of daskConfProblems(value.conf)) ctx.addIssue({ code: 'custom', path: ['conf'], message: problem });
  });

export type ClusterRequestInput = z.input<typeof clusterRequestSchema>;

/** Parse one request from a profile; the error names the field inside the request. */
export function parseClusterRequest(raw: unknown): ClusterRequest {
  const value = clusterRequestSchema.parse(raw);
  const head = value.head ?? value.master ?? value.scheduler ?? { cores: 1, memory: 512 * 1024 ** 2 };
  return {
    kind: value.kind,
    name: value.name ?? value.kind,
    workers: value.workers,
    worker: value.worker,
    head,
    conf: value.conf,
    connect: value.connect,
  };
}

/** Everything a set of clusters uses, for quota checks. */
export function clusterTotals(requests: readonly Pick<ClusterRequest, 'workers' | 'worker' | 'head'>[]): { clusters: number; workers: number; cores: number; memory: number } {
  let workers = 0;
  let cores = 0;
  let memory = 0;
  for (const r of requests) {
    workers += r.workers;
    cores += r.workers * r.worker.cores + r.head.cores;
    memory += r.workers * r.worker.memory + r.head.memory;
  }
  return { clusters: requests.length, workers, cores, memory };
}
