// After a hub restart, a server that was running but whose process died while the hub was down: the
// next hub must not route to it, must record why it ended, must tell the spawner to clean up what its
// stored state names, and must let the person start it again (complements lifecycle.test.ts, which
// covers a restart in the middle of a start).
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { findServer } from '../../src/db/servers.js';
import { inProcessHub, restartedHub, type InProcessHub } from '../helpers/in-process-hub.js';

let hub: InProcessHub | undefined;
afterEach(async () => {
  await hub?.close();
  hub = undefined;
});

test('a running server whose process died while the hub was down is recorded stopped, unrouted, and can start again', async () => {
  hub = await inProcessHub();
  const jo = await hub.user('jo');
  assert.equal(await hub.servers.start(jo, ''), 'ready');
  const before = await findServer(hub.db.kysely, jo.id, '');
  assert.equal(before?.phase, 'running');
  const stateBefore = JSON.parse(before!.spawner_state!) as Record<string, unknown>;

  hub.spawner.kill('jo'); // dies while no hub is watching
  hub = restartedHub(hub);
  const stopsBefore = hub.spawner.stops.length;
  const report = await hub.reconciler.run();
  assert.equal(report.adopted, 0, 'a dead server is not adopted');
  assert.equal(report.markedStopped, 1);
  const row = await findServer(hub.db.kysely, jo.id, '');
  assert.equal(row?.phase, 'stopped');
  assert.equal(row?.last_error, 'the server stopped unexpectedly');
  assert.equal(hub.routes.get('/user/jo/'), undefined, 'no route to a dead server');
  assert.deepEqual(hub.spawner.stops.slice(stopsBefore).map((s) => s.pid), [stateBefore.pid], 'the spawner is told to clean up exactly what the record named');

  assert.equal(await hub.servers.start(jo, ''), 'ready', 'and it can be started again');
  assert.ok(hub.routes.get('/user/jo/'));
  assert.equal(hub.spawner.aliveOf('jo').length, 1);
});
