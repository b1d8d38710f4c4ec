// The rules of a server's life, over the hub's real managers and database with stand-in backends
// (test/helpers/in-process-hub.ts): what a person sees when they start twice, stop while starting,
// hit the start timeout, when the spawner or a cluster fails, when the server dies on its own, and
// when the hub itself is killed in the middle of a start.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { findServer } from '../../src/db/servers.js';
import { clustersOfServer } from '../../src/db/clusters.js';
import { ServerRequestError } from '../../src/servers/errors.js';
import { gate, inProcessHub, planWithClusters, restartedHub, type InProcessHub } from '../helpers/in-process-hub.js';
import { waitFor } from '../helpers/tmp.js';

describe('a server’s lifecycle', () => {
  let hub: InProcessHub | undefined;
  afterEach(async () => {
    await hub?.close();
    hub = undefined;
  });

  const phaseOf = async (h: InProcessHub, userId: number, server = '') => (await findServer(h.db.kysely, userId, server))?.phase;
  const messages = (h: InProcessHub, user: string, server = '') => (h.servers.progressOf(user, server)?.events ?? []).map((e) => e.message);

  test('a second start while the first is starting joins it: one process, and both see it ready', async () => {
    hub = await inProcessHub();
    const alice = await hub.user('alice');
    const up = gate();
    hub.spawner.startGate = up;
    assert.equal(await hub.servers.start(alice, '', null, 0), 'pending');
    assert.equal(await hub.servers.start(alice, '', null, 0), 'pending', 'the second request is told it is pending');
    assert.equal(hub.servers.pending('alice', ''), 'spawn');
    up.open();
    await waitFor(async () => (await phaseOf(hub!, alice.id)) === 'running', { message: "alice's server to run" });
    assert.equal(hub.spawner.starts.length, 1, 'the spawner was asked once');
    assert.equal(hub.spawner.aliveOf('alice').length, 1);
    // and once it runs, starting again is refused as JupyterHub does (400 "already running")
    await assert.rejects(hub.servers.start(alice, ''), (e: unknown) => e instanceof ServerRequestError && e.kind === 'conflict' && /already running/.test(e.message));
    assert.equal(hub.spawner.starts.length, 1);
  });

  test('stopping a server that is still starting cancels the start and leaves nothing running', async () => {
    hub = await inProcessHub();
    const bob = await hub.user('bob');
    hub.spawner.startGate = gate(); // never opened: only the stop ends this start
    assert.equal(await hub.servers.start(bob, '', null, 0), 'pending');
    await waitFor(() => hub!.spawner.starts.length === 1, { message: 'the spawner to be asked' });
    assert.equal(await hub.servers.stop(bob, ''), 'stopped');

    assert.equal(hub.spawner.starts[0]!.signal.aborted, true, "the spawner's start was cancelled");
    assert.equal(await phaseOf(hub, bob.id), 'stopped');
    assert.equal(hub.servers.pending('bob', ''), null, 'nothing pending');
    assert.deepEqual(hub.spawner.aliveOf('bob'), [], 'no process left');
    assert.equal(hub.routes.get('/user/bob/'), undefined, 'no route');
    assert.match(messages(hub, 'bob').at(-1) ?? '', /^Spawn failed: Server start was cancelled/);
    // and it starts normally afterwards
    hub.spawner.startGate = undefined;
    assert.equal(await hub.servers.start(bob, ''), 'ready');
  });

  test('a start that never answers fails at the start timeout with that reason; the next start works', async () => {
    hub = await inProcessHub({ startTimeoutSeconds: 0.3 });
    const carol = await hub.user('carol');
    hub.spawner.behaviour = 'hang';
    await assert.rejects(hub.servers.start(carol, ''), (e: unknown) => e instanceof ServerRequestError && /did not answer within 0\.3 seconds/.test(e.message));
    assert.equal(hub.spawner.starts[0]!.startTimeoutMs, 300, 'the spawner was given spawner.start_timeout');
    const row = await findServer(hub.db.kysely, carol.id, '');
    assert.equal(row?.phase, 'stopped', 'not left starting');
    assert.match(row?.last_error ?? '', /did not answer within 0\.3 seconds/);
    assert.deepEqual(hub.spawner.aliveOf('carol'), []);
    assert.equal(hub.servers.pending('carol', ''), null);

    hub.spawner.behaviour = 'start';
    assert.equal(await hub.servers.start(carol, ''), 'ready');
    assert.equal((await findServer(hub.db.kysely, carol.id, ''))?.last_error, null, 'the old failure is cleared');
  });

  test("a spawner's failure reaches the progress stream and the server's record, and revokes its token", async () => {
    hub = await inProcessHub();
    const dan = await hub.user('dan');
    hub.spawner.behaviour = 'fail';
    hub.spawner.failMessage = 'jupyterhub-singleuser: No module named jupyterhub';
    await assert.rejects(hub.servers.start(dan, ''), /No module named jupyterhub/);
    const last = hub.servers.progressOf('dan', '')?.events.at(-1);
    assert.equal(last?.failed, true);
    assert.equal(last?.progress, 100);
    assert.equal(last?.message, 'Spawn failed: jupyterhub-singleuser: No module named jupyterhub');
    assert.equal((await findServer(hub.db.kysely, dan.id, ''))?.last_error, 'jupyterhub-singleuser: No module named jupyterhub');
    // the API token the failed server was given is gone with it
    const token = hub.spawner.starts[0]!.env.JUPYTERHUB_API_TOKEN!;
    assert.ok(token);
    const tokens = await hub.db.kysely.selectFrom('api_tokens').select('id').where('user_id', '=', dan.id).execute();
    assert.deepEqual(tokens, [], 'no token of the failed server is kept');
  });

  test('a cluster that fails to start fails the server start with its reason and stops the server', async () => {
    hub = await inProcessHub();
    const erin = await hub.user('erin');
    hub.backend.failMessage = 'Spark master did not come up: java: not found';
    await assert.rejects(hub.servers.start(erin, '', planWithClusters([{ kind: 'spark', workers: 1 }])), /Spark master did not come up: java: not found/);
    assert.equal(await phaseOf(hub, erin.id), 'stopped');
    assert.deepEqual(hub.spawner.aliveOf('erin'), [], 'the server that had started was stopped');
    assert.ok(hub.spawner.stops.length >= 1);
    assert.equal(hub.backend.aliveOf('erin'), 0);
  });

  test('stopping a server stops its clusters', async () => {
    hub = await inProcessHub();
    const fay = await hub.user('fay');
    assert.equal(await hub.servers.start(fay, '', planWithClusters([{ kind: 'spark', workers: 1 }])), 'ready');
    assert.equal(hub.backend.aliveOf('fay'), 1);
    assert.equal(await hub.servers.stop(fay, ''), 'stopped');
    assert.equal(hub.backend.aliveOf('fay'), 0);
    assert.ok((await clustersOfServer(hub.db.kysely, fay.id, '')).every((c) => c.phase === 'stopped'));
  });

  test('a server that dies on its own is found by the poll, recorded as stopped and unrouted', async () => {
    hub = await inProcessHub();
    const gus = await hub.user('gus');
    assert.equal(await hub.servers.start(gus, ''), 'ready');
    assert.ok(hub.routes.get('/user/gus/'));
    assert.equal(await hub.reconciler.pollRunning(), 0, 'a live server is left alone');
    hub.spawner.kill('gus');
    assert.equal(await hub.reconciler.pollRunning(), 1);
    const row = await findServer(hub.db.kysely, gus.id, '');
    assert.equal(row?.phase, 'stopped');
    assert.equal(row?.last_error, 'the server stopped unexpectedly');
    assert.equal(hub.routes.get('/user/gus/'), undefined);
    assert.equal(await hub.servers.start(gus, ''), 'ready', 'and it can be started again');
  });

  test('a hub killed in the middle of a start: the next hub records it as interrupted and removes the half-started process', async () => {
    hub = await inProcessHub();
    const hal = await hub.user('hal');
    const ivy = await hub.user('ivy');
    assert.equal(await hub.servers.start(ivy, ''), 'ready');
    hub.spawner.startGate = gate(); // hal's start is under way when the hub dies
    assert.equal(await hub.servers.start(hal, '', null, 0), 'pending');
    await waitFor(() => hub!.spawner.aliveOf('hal').length === 1, { message: "hal's process to exist" });
    assert.equal(await phaseOf(hub, hal.id), 'pending');

    hub.spawner.startGate = undefined;
    hub = restartedHub(hub);
    const report = await hub.reconciler.run();
    assert.equal(report.markedStopped, 1, "hal's start is recorded as ended");
    assert.equal(report.orphansStopped, 1, 'its process, which no record owns, is stopped');
    assert.equal(report.adopted, 1, "ivy's running server is adopted");
    const row = await findServer(hub.db.kysely, hal.id, '');
    assert.equal(row?.phase, 'stopped');
    assert.equal(row?.last_error, 'interrupted by a hub restart');
    assert.deepEqual(hub.spawner.aliveOf('hal'), []);
    assert.ok(hub.routes.get('/user/ivy/'), "ivy's route is back");
    assert.equal(hub.spawner.aliveOf('ivy').length, 1, "ivy's server was not touched");
    assert.equal(await hub.servers.start(hal, ''), 'ready', 'hal can start again');
  });
});
