// A reconcile pass reads the database first and looks at what runs afterwards; servers start and
// stop in between. These tests hold a pass open at that point (the fake spawner waits on a gate) and
// start or restart servers meanwhile: the pass must not take what started for an orphan, stop the
// clusters of a start it did not see, drop a route added meanwhile, or record a restarted server as
// stopped because the process it polled is gone.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { gate, inProcessHub, planWithClusters, type InProcessHub } from '../helpers/in-process-hub.js';
import { findServer } from '../../src/db/servers.js';
import { clustersOfServer } from '../../src/db/clusters.js';
import { waitFor } from '../helpers/tmp.js';

describe('reconciling while servers start and stop', () => {
  let hub: InProcessHub;
  beforeEach(async () => {
    hub = await inProcessHub();
  });
  afterEach(() => hub?.close());

  /** Start a pass and resolve once it is held at `which` (after it read the servers' rows). */
  const holdPass = async (which: 'list' | 'poll') => {
    const held = gate();
    const reached = new Promise<void>((resolve) => (hub.spawner.onGateReached = (at) => at === which && resolve()));
    if (which === 'list') hub.spawner.listGate = held;
    else hub.spawner.pollGate = held;
    const pass = hub.reconciler.run();
    await reached;
    return { release: () => held.open(), pass };
  };

  test('a burst of servers that become ready while a pass runs are not taken for orphans', async () => {
    const users = await Promise.all(Array.from({ length: 8 }, (_, i) => hub.user(`user${i}`)));
    const { release, pass } = await holdPass('list');
    // the pass has read the rows (none running); now everyone starts, and each is ready
    const results = await Promise.all(users.map((u) => hub.servers.start(u, '')));
    assert.deepEqual(results, Array(8).fill('ready'));
    release();
    const report = await pass;

    assert.equal(report.orphansStopped, 0, 'nothing stopped as an orphan');
    assert.equal(report.routesRemoved, 0, 'no route dropped');
    for (const u of users) {
      assert.equal(hub.spawner.aliveOf(u.name).length, 1, `${u.name}'s server still runs`);
      assert.ok(hub.routes.get(`/user/${u.name}/`), `${u.name}'s route is still there`);
      assert.equal((await findServer(hub.db.kysely, u.id, ''))?.phase, 'running');
    }
    assert.ok(!hub.logged().some((l) => l.msg === 'stopped a server process with no owner in the database'));
    // and a pass that sees them from the start keeps them too
    const next = await hub.reconciler.run();
    assert.equal(next.orphansStopped + next.markedStopped + next.routesRemoved, 0);
  });

  test('the clusters of a start that begins during a pass are left alone', async () => {
    const bob = await hub.user('bob');
    const { release, pass } = await holdPass('list');
    const serverUp = gate();
    hub.spawner.startGate = serverUp;
    assert.equal(await hub.servers.start(bob, '', planWithClusters([{ kind: 'spark', workers: 1 }]), 0), 'pending');
    // the cluster is up; the server is still starting
    await waitFor(async () => (await clustersOfServer(hub.db.kysely, bob.id, '')).some((c) => c.phase === 'running'), { message: "bob's cluster to run" });
    release();
    const report = await pass;
    hub.spawner.startGate = undefined;
    serverUp.open();
    await waitFor(async () => (await findServer(hub.db.kysely, bob.id, ''))?.phase === 'running', { message: "bob's server to run" });

    assert.equal(report.orphansStopped, 0);
    assert.equal(hub.backend.aliveOf('bob'), 1, "bob's cluster still runs");
    assert.deepEqual((await clustersOfServer(hub.db.kysely, bob.id, '')).map((c) => c.phase), ['running']);
  });

  test('a server stopped and started again while the pass polled it is not recorded as stopped', async () => {
    const carol = await hub.user('carol');
    assert.equal(await hub.servers.start(carol, ''), 'ready');
    const [firstPid] = hub.spawner.aliveOf('carol');
    const { release, pass } = await holdPass('poll');
    // the pass read carol's row (running, first process) and is asking whether that process lives
    assert.equal(await hub.servers.stop(carol, ''), 'stopped');
    assert.equal(await hub.servers.start(carol, ''), 'ready');
    const [secondPid] = hub.spawner.aliveOf('carol');
    assert.notEqual(secondPid, firstPid);
    release(); // the first process is gone, as the pass will find
    const report = await pass;

    assert.equal(report.markedStopped, 0, 'the new server is not recorded as stopped');
    const row = await findServer(hub.db.kysely, carol.id, '');
    assert.equal(row?.phase, 'running');
    assert.ok(hub.routes.get('/user/carol/'), 'its route is still there');
    assert.deepEqual(hub.spawner.aliveOf('carol'), [secondPid], 'and it still runs');
  });
});
