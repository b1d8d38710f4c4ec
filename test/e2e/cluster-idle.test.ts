// A cluster nobody uses is stopped after clusters.idle_timeout while its server keeps running, and the
// person can bring it back with a restart.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { json, launchRefinery, startServerAndWait, type RefineryProcess } from '../helpers/refinery.js';
import { killLeftovers, processesWithEnv } from '../helpers/processes.js';
import { waitFor } from '../helpers/tmp.js';

let hub: RefineryProcess;
let token: string;

before(async () => {
  hub = await launchRefinery({
    config: {
      profiles: [{ name: 'dask-cluster', images: ['dask'], clusters: [{ kind: 'dask', workers: 1, worker: { cores: 1, memory: '512M' } }] }],
      clusters: { idle_timeout: 4 },
      reconcile_interval: 1,
    },
  });
  await hub.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: ['carol'] }) });
  token = await hub.tokenFor('carol');
});

after(async () => {
  try {
    await hub?.cleanup();
  } finally {
    if (hub) assert.deepEqual(killLeftovers(hub.dataDir), []);
  }
});

test('an idle cluster is stopped, the server stays, and a restart brings the cluster back', async () => {
  await startServerAndWait(hub, token, 'carol', '', { image: 'dask' });
  await waitFor(async () => {
    const [cluster] = await json<{ state: string; last_error: string | null }[]>(hub.as(token, '/hub/api/users/carol/clusters'));
    return cluster?.state === 'stopped' && /without activity/.test(cluster.last_error ?? '');
  }, { timeoutMs: 30_000, message: 'the idle cluster to be stopped' });
  assert.deepEqual(processesWithEnv('REFINERY_CLUSTER_SCOPE', hub.dataDir), [], 'its processes are gone');
  const user = await json<{ server: string | null }>(hub.as(token, '/hub/api/users/carol'));
  assert.equal(user.server, '/user/carol/', 'the notebook server keeps running');
  const restarted = await hub.as(token, '/hub/api/users/carol/clusters/dask/restart', { method: 'POST' });
  assert.equal(restarted.status, 200, await restarted.clone().text());
  assert.equal(((await restarted.json()) as { state: string }).state, 'running');
});
