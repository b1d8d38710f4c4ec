// Private clusters that live and die with the user's server, end to end through the public port:
// profiles ask for them, the spawn starts them alongside the server, the kernel connects with no
// arguments, quotas refuse too much, and stopping (or a hub crash) leaves no cluster process behind.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { json, launchRefinery, startServerAndWait, type RefineryProcess } from '../helpers/refinery.js';
import { execute, openKernel } from '../helpers/kernel.js';
import { killLeftovers, processAlive, processesWithEnv } from '../helpers/processes.js';
import { waitFor } from '../helpers/tmp.js';

interface ClusterModel {
  name: string;
  kind: string;
  state: string;
  workers: { requested: number; registered: number };
  addresses: Record<string, string>;
  ui: Record<string, string>;
  server: string;
}

const PROFILES = [
  { name: 'spark-cluster', images: ['spark'], clusters: [{ kind: 'spark', workers: 2, worker: { cores: 1, memory: '512M' } }] },
  { name: 'dask-cluster', images: ['dask'], clusters: [{ kind: 'dask', workers: 2, worker: { cores: 1, memory: '512M' } }] },
];
const PROFILE_LIST = [
  { slug: 'standard', display_name: 'Standard', default: true, images: ['dask'] },
  // replaces the 2-worker cluster (same name, "dask") with a bigger one
  { slug: 'big', display_name: 'Big cluster', images: ['dask'], overrides: { clusters: [{ kind: 'dask', workers: 4, worker: { cores: 1, memory: '512M' } }] } },
];

/** Processes of this hub's clusters (every cluster process carries the hub's data dir as its scope). */
function clusterProcesses(hub: RefineryProcess): number[] {
  return processesWithEnv('REFINERY_CLUSTER_SCOPE', hub.dataDir);
}

describe('clusters that live and die with the server', () => {
  let hub: RefineryProcess;
  const tokens: Record<string, string> = {};

  before(async () => {
    hub = await launchRefinery({ config: { profiles: PROFILES, profile_list: PROFILE_LIST, quotas: { default: { max_workers: 3 } } } });
    const created = await hub.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: ['alice', 'bob'] }) });
    assert.equal(created.status, 201, await created.clone().text());
    tokens.alice = await hub.tokenFor('alice');
    tokens.bob = await hub.tokenFor('bob');
  });

  after(async () => {
    try {
      await hub?.cleanup();
    } finally {
      if (hub) assert.deepEqual(killLeftovers(hub.dataDir), [], 'no server, kernel or cluster process outlives the hub');
    }
  });

  test('Dask: the spawn starts a 2-worker cluster; Client() with no arguments computes on it', async () => {
    const events = await startServerAndWait(hub, tokens.alice!, 'alice', '', { image: 'dask' });
    const messages = events.map((e) => String(e.message));
    assert.ok(messages.some((m) => /dask cluster: .*2\/2/i.test(m)), `progress shows the workers registering: ${messages.join(' | ')}`);
    const [cluster] = await json<ClusterModel[]>(hub.as(tokens.alice!, '/hub/api/users/alice/clusters'));
    assert.equal(cluster?.kind, 'dask');
    assert.equal(cluster?.state, 'running');
    assert.deepEqual(cluster?.workers, { requested: 2, registered: 2 });
    assert.match(cluster?.addresses.DASK_SCHEDULER_ADDRESS ?? '', /^tls:\/\/127\.0\.0\.1:\d+$/);

    const kernel = await openKernel(hub, tokens.alice!, '/user/alice/');
    const out = await execute(hub, tokens.alice!, '/user/alice/', kernel, [
      'from distributed import Client',
      'import dask.array as da',
      'c = Client()',
      'print(c.scheduler.address)',
      'print(len(c.scheduler_info()["workers"]))',
      'print(int(da.ones(10_000, chunks=1_000).sum().compute()))',
    ].join('\n'), 120_000);
    assert.deepEqual(out.trim().split('\n'), [cluster!.addresses.DASK_SCHEDULER_ADDRESS, '2', '10000']);
  });

  test('the cluster can be resized and restarted while the server runs', async () => {
    const resized = await hub.as(tokens.alice!, '/hub/api/users/alice/clusters/dask', { method: 'PATCH', body: JSON.stringify({ workers: 1 }) });
    assert.equal(resized.status, 200, await resized.clone().text());
    assert.deepEqual(((await resized.json()) as ClusterModel).workers, { requested: 1, registered: 1 });
    const restarted = await hub.as(tokens.alice!, '/hub/api/users/alice/clusters/dask/restart', { method: 'POST' });
    assert.equal(restarted.status, 200, await restarted.clone().text());
    const model = (await restarted.json()) as ClusterModel;
    assert.equal(model.state, 'running');
    assert.equal(model.workers.registered, 1);
  });

  test('bob cannot see alice\'s clusters, nor open their dashboard through the proxy', async () => {
    const list = await hub.as(tokens.bob!, '/hub/api/users/alice/clusters');
    assert.equal(list.status, 404);
    const [cluster] = await json<ClusterModel[]>(hub.as(tokens.alice!, '/hub/api/users/alice/clusters'));
    const dashboard = cluster!.ui.dashboard!;
    assert.match(dashboard, /^\/user\/alice\/proxy\/\d+\/status$/);
    assert.equal((await hub.as(tokens.bob!, dashboard)).status, 403);
    const own = await hub.as(tokens.alice!, dashboard);
    assert.equal(own.status, 200, `alice opens her dashboard: ${own.status}`);
  });

  test('a spawn asking for more than the quota fails with a message naming the limit, and starts nothing', async () => {
    const res = await hub.as(tokens.bob!, '/hub/api/users/bob/server', {
      method: 'POST', body: JSON.stringify({ image: 'dask', profile: 'big' }), headers: { 'Content-Type': 'application/json' },
    });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { message: string };
    assert.match(body.message, /4 workers/);
    assert.match(body.message, /max_workers/);
    const bob = await json<{ servers: Record<string, unknown> }>(hub.api('/hub/api/users/bob'));
    assert.deepEqual(bob.servers, {}, 'no server was started');
    // resizing past the quota is refused the same way
    const tooMany = await hub.as(tokens.alice!, '/hub/api/users/alice/clusters/dask', { method: 'PATCH', body: JSON.stringify({ workers: 5 }) });
    assert.equal(tooMany.status, 400);
    assert.match(((await tooMany.json()) as { message: string }).message, /max_workers/);
  });

  test('stopping the server leaves no cluster process behind', async () => {
    const before = clusterProcesses(hub).filter((pid) => processAlive(pid));
    assert.ok(before.length >= 2, 'the scheduler and a worker run');
    const res = await hub.as(tokens.alice!, '/hub/api/users/alice/server', { method: 'DELETE' });
    assert.ok(res.status === 204 || res.status === 202);
    await waitFor(() => clusterProcesses(hub).length === 0, { timeoutMs: 30_000, message: 'every cluster process to end' });
    const [cluster] = await json<ClusterModel[]>(hub.as(tokens.alice!, '/hub/api/users/alice/clusters'));
    assert.equal(cluster?.state, 'stopped');
  });

  test('after a hub SIGKILL, a server that died meanwhile takes its cluster with it at the next start', async () => {
    await startServerAndWait(hub, tokens.alice!, 'alice', '', { image: 'dask' });
    const model = await json<{ servers: Record<string, { state: { pid: number; pgid: number } }> }>(hub.api('/hub/api/users/alice'));
    const serverPid = model.servers['']!.state.pid;
    assert.ok(clusterProcesses(hub).length >= 2);
    await hub.kill('SIGKILL');
    process.kill(-model.servers['']!.state.pgid, 'SIGKILL');
    await waitFor(() => !processAlive(serverPid), { timeoutMs: 10_000, message: 'the server to die' });
    assert.ok(clusterProcesses(hub).length >= 2, 'the cluster outlived the hub and its server');
    await hub.restart();
    await waitFor(() => clusterProcesses(hub).length === 0, { timeoutMs: 60_000, message: 'the reconciler to stop the orphaned cluster' });
  });
  test('Spark: SparkSession.builder.getOrCreate() with no arguments runs a job on the user\'s own workers', { timeout: 300_000 }, async () => {
    const events = await startServerAndWait(hub, tokens.alice!, 'alice', 'sp', { image: 'spark' });
    const messages = events.map((e) => String(e.message));
    assert.ok(messages.some((m) => /spark cluster: .*2\/2/i.test(m)), `progress shows the workers registering: ${messages.join(' | ')}`);
    const cluster = (await json<ClusterModel[]>(hub.as(tokens.alice!, '/hub/api/users/alice/clusters'))).find((c) => c.kind === 'spark' && c.state === 'running');
    assert.ok(cluster, 'the Spark cluster runs');
    assert.equal(cluster.server, 'sp');
    assert.deepEqual(cluster.workers, { requested: 2, registered: 2 });
    const kernel = await openKernel(hub, tokens.alice!, '/user/alice/sp/');
    const out = await execute(hub, tokens.alice!, '/user/alice/sp/', kernel, [
      'from pyspark.sql import SparkSession',
      'from pyspark.sql.functions import col',
      'spark = SparkSession.builder.getOrCreate()',
      'rows = spark.range(100000).groupBy((col("id") % 7).alias("k")).count().collect()',
      'print(sum(r["count"] for r in rows), len(rows))',
      'print(spark.sparkContext.applicationId)',
      'print(spark.sparkContext.master)',
    ].join('\n'), 240_000, { allowStderr: true });
    const [totals, appId, master] = out.trim().split('\n');
    assert.equal(totals, '100000 7');
    assert.equal(master, cluster.addresses.SPARK_MASTER_URL);
    // the master's own account of it: the application ran on this cluster's two workers
    const port = /\/proxy\/(\d+)\//.exec(cluster.ui.master ?? '')?.[1];
    assert.ok(port, `a master UI link: ${JSON.stringify(cluster.ui)}`);
    const status = (await (await fetch(`http://127.0.0.1:${port}/json/`)).json()) as { aliveworkers?: number; workers: { state: string }[]; activeapps: { id: string; cores: number }[]; completedapps: { id: string }[] };
    assert.equal(status.workers.filter((w) => w.state === 'ALIVE').length, 2);
    assert.ok([...status.activeapps, ...status.completedapps].some((a) => a.id === appId), `application ${appId} is known to the master`);
  });

  test('two users get separate Spark clusters; neither can open the other\'s cluster UI', { timeout: 300_000 }, async () => {
    await startServerAndWait(hub, tokens.bob!, 'bob', 'sp', { image: 'spark' });
    const alice = (await json<ClusterModel[]>(hub.as(tokens.alice!, '/hub/api/users/alice/clusters'))).find((c) => c.kind === 'spark' && c.state === 'running')!;
    const bob = (await json<ClusterModel[]>(hub.as(tokens.bob!, '/hub/api/users/bob/clusters'))).find((c) => c.kind === 'spark' && c.state === 'running')!;
    assert.notEqual(alice.addresses.SPARK_MASTER_URL, bob.addresses.SPARK_MASTER_URL);
    assert.match(alice.ui.master!, /^\/user\/alice\/sp\/proxy\/\d+\/$/);
    assert.equal((await hub.as(tokens.bob!, alice.ui.master!)).status, 403);
    assert.equal((await hub.as(tokens.alice!, bob.ui.master!)).status, 403);
    const own = await hub.as(tokens.alice!, alice.ui.master!);
    assert.equal(own.status, 200);
    assert.match(await own.text(), /Spark Master/);
    for (const user of ['alice', 'bob']) {
      const res = await hub.as(tokens[user]!, `/hub/api/users/${user}/servers/sp`, { method: 'DELETE' });
      assert.ok(res.status === 204 || res.status === 202);
    }
    await waitFor(() => clusterProcesses(hub).length === 0, { timeoutMs: 60_000, message: 'every Spark process to end' });
  });
});
