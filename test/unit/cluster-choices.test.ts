// The built-in catalog's clusters (spark with Spark Connect, dask) and the person's sizing of them in
// user_options (cluster_workers, cluster_worker_cores, cluster_worker_memory): defaults, overrides,
// refusals beyond the schema's bounds or the quota naming the field, and the machine's default quota.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { catalogSchema, type Catalog } from '../../src/profiles/schema.js';
import { DEFAULT_CATALOG } from '../../src/profiles/defaults.js';
import { resolvePlan, SelectionError, type PlanSubject, type SelectionInput } from '../../src/profiles/resolve.js';
import { storedSelections } from '../../src/profiles/for-user.js';
import { machineQuota, quotasSchema, type QuotaLimits } from '../../src/clusters/quota.js';
import { parseClusterRequest } from '../../src/clusters/request.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

function builtIn(): Catalog {
  const parsed = catalogSchema.parse(DEFAULT_CATALOG);
  return { images: parsed.images ?? [], sizes: parsed.sizes ?? [], profiles: parsed.profiles ?? [], profile_list: parsed.profile_list ?? [] };
}

/** The quota of a 2-core, 24 GiB machine. */
const QUOTA: QuotaLimits = machineQuota(2, 24 * GiB);
const subject = (quota: QuotaLimits | undefined = QUOTA): PlanSubject => ({ user: 'ann', groups: [], server: '', quota });

function clusterOf(selections: SelectionInput, remembered: SelectionInput = {}, quota?: QuotaLimits) {
  const plan = resolvePlan(builtIn(), subject(quota), selections, remembered);
  const { source: _source, ...raw } = plan.clusters[0]!;
  return { plan, request: parseClusterRequest(raw) };
}

function refusal(selections: SelectionInput, quota?: QuotaLimits): SelectionError {
  try {
    resolvePlan(builtIn(), subject(quota), selections);
  } catch (error) {
    assert.ok(error instanceof SelectionError, String(error));
    return error;
  }
  assert.fail(`expected a refusal for ${JSON.stringify(selections)}`);
}

describe('the machine default quota', () => {
  test('derived from cores and memory: 2 CPUs and 24 GiB give 2 clusters, 4 workers, 6 cores, 12 GiB', () => {
    assert.deepEqual(machineQuota(2, 24 * GiB), { max_clusters: 2, max_workers: 4, max_cores: 6, max_memory: 12 * GiB });
    assert.deepEqual(machineQuota(1, 3 * GiB), { max_clusters: 2, max_workers: 2, max_cores: 3, max_memory: 2 * GiB });
    assert.equal(machineQuota(16, 129 * GiB).max_memory, 64.5 * GiB);
  });

  test('applies only when quotas.default sets nothing', () => {
    const derived = quotasSchema.parse(undefined);
    assert.deepEqual(derived.default, machineQuota());
    assert.deepEqual(quotasSchema.parse({ groups: { big: { max_workers: 9 } } }).default, machineQuota());
    assert.deepEqual(quotasSchema.parse({ default: { max_workers: 8 } }).default, { max_workers: 8 });
  });

  test('both built-in clusters fit in it at once', () => {
    const spark = clusterOf({ image: 'spark' }).request;
    const dask = clusterOf({ image: 'dask' }).request;
    assert.ok(spark.workers + dask.workers <= QUOTA.max_workers!);
    const cores = [spark, dask].reduce((n, r) => n + r.workers * r.worker.cores + r.head.cores, 0);
    const memory = [spark, dask].reduce((n, r) => n + r.workers * r.worker.memory + r.head.memory, 0);
    assert.ok(cores <= QUOTA.max_cores!, `${cores} cores`);
    assert.ok(memory <= QUOTA.max_memory!, `${memory} bytes`);
  });
});

describe('built-in clusters', () => {
  test('spark: 2 workers × 1 core × 1 GiB, a 512 MiB master, Spark Connect on', () => {
    const { plan, request } = clusterOf({ image: 'spark' });
    assert.deepEqual(request, { kind: 'spark', name: 'spark', workers: 2, worker: { cores: 1, memory: GiB }, head: { cores: 1, memory: 512 * MiB }, conf: {}, connect: true });
    assert.equal(plan.clusters.length, 1);
    assert.ok(plan.applied.includes('profile spark-cluster'));
    assert.deepEqual(plan.cluster?.max, { workers: 4, worker_cores: 2, worker_memory: 5.5 * GiB });
    assert.equal(plan.selections.cluster, undefined);
  });

  test('dask: 2 workers; python: no cluster', () => {
    assert.equal(clusterOf({ image: 'dask' }).request.workers, 2);
    assert.equal(clusterOf({ image: 'dask' }).request.kind, 'dask');
    const python = resolvePlan(builtIn(), subject(), { image: 'python' });
    assert.deepEqual(python.clusters, []);
    assert.equal(python.cluster, null);
  });
});

describe('sizing from user_options', () => {
  test('numbers or form text; memory as a size or a number of GiB', () => {
    const { plan, request } = clusterOf({ image: 'spark', cluster_workers: '1', cluster_worker_cores: 2, cluster_worker_memory: '1.5' });
    assert.deepEqual([request.workers, request.worker.cores, request.worker.memory], [1, 2, 1.5 * GiB]);
    assert.equal(request.connect, true, 'the rest of the profile stays');
    assert.deepEqual(storedSelections(plan), { image: 'spark', options: {}, env: {}, size: 'small', cluster_workers: 1, cluster_worker_cores: 2, cluster_worker_memory: '1536Mi' });
    assert.equal(clusterOf({ image: 'dask', cluster_worker_memory: '768Mi' }).request.worker.memory, 768 * MiB);
  });

  test('what was picked last time applies again; what is asked now wins', () => {
    const remembered = { image: 'spark', cluster_workers: 1, cluster_worker_memory: '2048Mi' };
    const { request } = clusterOf({ cluster_workers: 3 }, remembered);
    assert.deepEqual([request.workers, request.worker.memory], [3, 2 * GiB]);
  });

  test('values outside the schema are refused naming the field', () => {
    const cases: [SelectionInput, string, RegExp][] = [
      [{ image: 'spark', cluster_workers: 0 }, 'cluster_workers', /between 1 and 64, got 0/],
      [{ image: 'spark', cluster_workers: '2.5' }, 'cluster_workers', /whole number/],
      [{ image: 'spark', cluster_workers: 'many' }, 'cluster_workers', /whole number, got "many"/],
      [{ image: 'spark', cluster_worker_cores: 0 }, 'cluster_worker_cores', /between 1 and 256/],
      [{ image: 'spark', cluster_worker_memory: '100Mi' }, 'cluster_worker_memory', /between 512 MiB and 1024 GiB, got 100 MiB/],
      [{ image: 'spark', cluster_worker_memory: 'lots' }, 'cluster_worker_memory', /a size like 1Gi/],
    ];
    for (const [selections, field, message] of cases) {
      const error = refusal(selections, {});
      assert.equal(error.field, field, JSON.stringify(selections));
      assert.match(error.message, message);
    }
  });

  test('beyond the quota: refused naming the field and the limit', () => {
    let error = refusal({ image: 'spark', cluster_workers: 5 });
    assert.equal(error.field, 'cluster_workers');
    assert.match(error.message, /5 workers is more than your cluster quota allows: at most 4 \(max_workers\)/);
    error = refusal({ image: 'spark', cluster_worker_cores: 3 });
    assert.equal(error.field, 'cluster_worker_cores');
    assert.match(error.message, /2 workers × 3 cores plus 1 for the master is 7 cores; your cluster quota allows 6 \(max_cores\)/);
    error = refusal({ image: 'dask', cluster_worker_memory: '6Gi' });
    assert.equal(error.field, 'cluster_worker_memory');
    assert.match(error.message, /plus 512 MiB for the scheduler is 12.5 GiB; your cluster quota allows 12 GiB \(max_memory\)/);
    // a person's quota of their own (effectiveQuota) is what counts
    assert.equal(clusterOf({ image: 'spark', cluster_workers: 8 }, {}, { max_workers: 8 }).request.workers, 8);
  });

  test('an image without a cluster has nothing to size', () => {
    const error = refusal({ image: 'python', cluster_workers: 1 });
    assert.equal(error.field, 'cluster_workers');
    assert.match(error.message, /Python starts no cluster/);
  });

  test('a remembered size that no longer fits is dropped with a warning', () => {
    const { plan, request } = clusterOf({ image: 'spark' }, { image: 'spark', cluster_workers: 4, cluster_worker_cores: 2 });
    assert.equal(request.workers, 2);
    assert.match(plan.warnings.join(' '), /cluster size from last time no longer fits your quota/);
    assert.equal(plan.selections.cluster, undefined);
  });
});
