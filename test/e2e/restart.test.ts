// A hub crash must not take users' work with it: servers and kernels outlive a SIGKILLed hub and are
// adopted when it comes back; a server that died while the hub was down is recorded as stopped (and its
// orphaned kernels cleaned up) instead of being routed to. Real jupyterhub-singleuser and ipykernel.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { browserGet, json, launchRefinery, startServerAndWait, type RefineryProcess } from '../helpers/refinery.js';
import { execute } from '../helpers/kernel.js';
import { killLeftovers, processAlive, processesWithEnv } from '../helpers/processes.js';
import { waitFor } from '../helpers/tmp.js';

// ---------------------------------------------------------------------------------------------------
// helpers

interface ServerModel {
  name: string;
  ready: boolean;
  url: string;
  state?: { pid: number; pgid: number; spawnId: string };
}
interface UserModel {
  name: string;
  server: string | null;
  servers?: Record<string, ServerModel>;
}

async function hubAnswers(hub: RefineryProcess): Promise<boolean> {
  try {
    return (await fetch(`${hub.url}/hub/health`)).ok;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------

describe('hub restarts', () => {
  let hub: RefineryProcess;
  let aliceToken: string;
  let kernelId: string;

  /** alice's default server as the admin service sees it (with the spawner state). */
  const aliceServer = async () => (await json<UserModel>(hub.api('/hub/api/users/alice'))).servers?.[''];

  before(async () => {
    hub = await launchRefinery();
    assert.equal((await hub.api('/hub/api/users/alice', { method: 'POST' })).status, 201);
    aliceToken = await hub.tokenFor('alice');
    await startServerAndWait(hub, aliceToken, 'alice');
    const res = await hub.as(aliceToken, '/user/alice/api/kernels', { method: 'POST', body: JSON.stringify({ name: 'python3' }), headers: { 'Content-Type': 'application/json' } });
    assert.equal(res.status, 201);
    kernelId = ((await res.json()) as { id: string }).id;
    assert.equal(await execute(hub, aliceToken, '/user/alice/', kernelId, 'x = 12345\nprint("set")'), 'set\n');
  });

  after(async () => {
    try {
      // a failed test may have left the hub down: bring it back so it stops what it started
      if (hub && !(await hubAnswers(hub))) await hub.restart().catch(() => undefined);
      await hub?.cleanup();
    } finally {
      if (hub) {
        const leftovers = killLeftovers(hub.dataDir);
        assert.deepEqual(leftovers, [], 'no server or kernel process outlives the hub\'s cleanup');
      }
    }
  });

  test('after a SIGKILL of the hub, alice\'s server and kernel live on and are adopted on restart', async () => {
    const before = await aliceServer();
    assert.ok(before?.state);
    const { pid, spawnId } = before.state;
    const kernelPids = processesWithEnv('REFINERY_SPAWN_ID', spawnId).filter((p) => p !== pid);
    assert.ok(kernelPids.length >= 1, 'the kernel is a process of its own');

    await hub.kill('SIGKILL');
    assert.equal(await hubAnswers(hub), false, 'the hub is down');
    assert.equal(processAlive(pid), true, 'the server outlived the hub');
    for (const kernel of kernelPids) assert.equal(processAlive(kernel), true, 'the kernel outlived the hub');

    await hub.restart();
    // same kernel, same variables, reached through the restarted hub's proxy
    const kernels = await json<{ id: string }[]>(hub.as(aliceToken, '/user/alice/api/kernels'));
    assert.deepEqual(kernels.map((k) => k.id), [kernelId]);
    assert.equal(await execute(hub, aliceToken, '/user/alice/', kernelId, 'print(x)'), '12345\n');

    const model = await json<UserModel>(hub.as(aliceToken, '/hub/api/users/alice'));
    assert.equal(model.server, '/user/alice/');
    assert.equal(model.servers?.['']?.ready, true);
    assert.equal((await aliceServer())?.state?.pid, pid, 'the same process, not a new one');
    const metrics = await (await hub.api('/hub/metrics')).text();
    assert.match(metrics, /^jupyterhub_running_servers 1$/m);
  });

  test('a server that died while the hub was down is reported stopped, its orphaned kernel is cleaned up, and it can start again', async () => {
    const { pid, pgid, spawnId } = (await aliceServer())!.state!;
    await hub.kill('SIGKILL');
    // the server dies while nobody watches; its kernel, in a session of its own, is orphaned
    process.kill(-pgid, 'SIGKILL');
    await waitFor(() => !processAlive(pid), { timeoutMs: 10_000, message: 'the server process to die' });
    const orphans = processesWithEnv('REFINERY_SPAWN_ID', spawnId);
    assert.ok(orphans.length >= 1, 'the kernel survived its server (so the clean-up below is tested)');

    await hub.restart();
    const model = await json<UserModel>(hub.as(aliceToken, '/hub/api/users/alice'));
    assert.equal(model.server, null);
    assert.deepEqual(model.servers, {});
    assert.deepEqual((await json<UserModel[]>(hub.api('/hub/api/users?state=active'))).map((u) => u.name), []);
    const metrics = await (await hub.api('/hub/metrics')).text();
    assert.match(metrics, /^jupyterhub_running_servers 0$/m);

    // its owner's browser is offered to start it (a signed-out one is sent to sign in first, as for a
    // running server); an API client is told it is not running
    const page = await browserGet(hub, '/user/alice/lab', { Authorization: `token ${aliceToken}` });
    assert.equal(page.status, 302);
    assert.match(page.location ?? '', /^\/hub\/spawn\/alice(\?|$)/);
    assert.equal(new URL(page.location!, hub.url).searchParams.get('next'), '/user/alice/lab');
    const api = await hub.as(aliceToken, '/user/alice/api/status');
    assert.equal(api.status, 424);

    await waitFor(() => processesWithEnv('REFINERY_SPAWN_ID', spawnId).length === 0, { timeoutMs: 15_000, message: 'the orphaned kernel to be stopped' });

    // and she can start it again
    await startServerAndWait(hub, aliceToken, 'alice');
    assert.equal((await hub.as(aliceToken, '/user/alice/api/status')).status, 200);
    const fresh = (await aliceServer())!.state!;
    assert.notEqual(fresh.pid, pid);
  });
});
