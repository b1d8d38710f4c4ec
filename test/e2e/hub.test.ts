// The whole hub through its public port, as users and API clients see it: real jupyterhub-singleuser
// servers (envs/base), a real ipykernel executing code over the proxied kernel WebSocket.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { browserGet, json, launchRefinery, startServerAndWait, type RefineryProcess } from '../helpers/refinery.js';
import { execute, upgradeStatus } from '../helpers/kernel.js';
import { killLeftovers, processAlive, processesWithEnv } from '../helpers/processes.js';
import { waitFor } from '../helpers/tmp.js';

// ---------------------------------------------------------------------------------------------------
// helpers

const PAGINATION = 'application/jupyterhub-pagination+json';

interface ServerModel {
  name: string;
  ready: boolean;
  pending: string | null;
  url: string;
  state?: { pid: number; pgid: number; spawnId: string };
}
interface UserModel {
  name: string;
  admin: boolean;
  server: string | null;
  servers?: Record<string, ServerModel>;
}

// ---------------------------------------------------------------------------------------------------

describe('the hub end to end', () => {
  let hub: RefineryProcess;
  let aliceToken: string;
  let bobToken: string;
  let kernelId: string;

  const names = async (state: string) => (await json<UserModel[]>(hub.api(`/hub/api/users?state=${state}`))).map((u) => u.name).sort();
  const metric = async (name: string) => {
    const text = await (await hub.api('/hub/metrics')).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    assert.ok(line, `${name} is exported`);
    return Number(line.split(' ')[1]);
  };

  before(async () => {
    hub = await launchRefinery({ config: { named_servers: { enabled: true, limit_per_user: 1 } } });
  });
  after(async () => {
    try {
      await hub?.cleanup();
    } finally {
      if (hub) {
        const leftovers = killLeftovers(hub.dataDir);
        assert.deepEqual(leftovers, [], 'no server or kernel process outlives the hub\'s cleanup');
      }
    }
  });

  test('/hub/health answers without credentials', async () => {
    const res = await fetch(`${hub.url}/hub/health`);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { status: string }).status, 'ok');
  });

  test('the service token creates users', async () => {
    const res = await hub.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: ['alice', 'bob', 'carol', 'dave'] }) });
    assert.equal(res.status, 201);
    const created = (await res.json()) as UserModel[];
    assert.deepEqual(created.map((u) => u.name).sort(), ['alice', 'bob', 'carol', 'dave']);
    assert.ok(created.every((u) => u.admin === false && u.server === null));
    aliceToken = await hub.tokenFor('alice');
    bobToken = await hub.tokenFor('bob');
    assert.equal((await json<UserModel>(hub.as(aliceToken, '/hub/api/user'))).name, 'alice');
  });

  test('alice\'s server starts through the API; the progress stream ends with ready and the URL', async () => {
    const starting = hub.api('/hub/api/users/alice/server', { method: 'POST' });
    // follow the progress while it starts, as the spawn-pending page does
    const progress = await waitFor(
      async () => {
        const res = await hub.as(aliceToken, '/hub/api/users/alice/server/progress', { headers: { Accept: 'text/event-stream' } });
        if (res.status === 200) return res;
        await res.arrayBuffer();
        return undefined;
      },
      { timeoutMs: 10_000, intervalMs: 50, message: 'the progress stream to open' },
    );
    assert.match(progress.headers.get('content-type') ?? '', /^text\/event-stream/);
    const text = await progress.text();
    const events = text.split('\n\n').filter((b) => b.startsWith('data: ')).map((b) => JSON.parse(b.slice(6)) as { progress: number; message: string; ready?: boolean; url?: string; failed?: boolean });
    assert.ok(events.length >= 2, `more than the final event was streamed: ${text}`);
    for (let i = 1; i < events.length; i++) assert.ok(events[i]!.progress >= events[i - 1]!.progress, 'progress never goes back');
    const last = events.at(-1)!;
    assert.equal(last.ready, true, JSON.stringify(last));
    assert.equal(last.progress, 100);
    assert.equal(last.url, '/user/alice/');
    assert.ok(events.slice(0, -1).every((e) => !e.ready && !e.failed));
    const started = await starting;
    assert.ok([201, 202].includes(started.status), `start answered ${started.status}`);

    const model = await json<UserModel>(hub.as(aliceToken, '/hub/api/users/alice'));
    assert.equal(model.server, '/user/alice/');
    assert.equal(model.servers?.['']?.ready, true);
    // alice's own token does not see the spawner state; the admin service does
    assert.equal(model.servers?.['']?.state, undefined);
    const admin = await json<UserModel>(hub.api('/hub/api/users/alice'));
    assert.ok(processAlive(admin.servers![''].state!.pid));
  });

  test('alice reaches her server with her token and runs code in a kernel over the WebSocket', async () => {
    const status = await hub.as(aliceToken, '/user/alice/api/status');
    assert.equal(status.status, 200);
    assert.ok('kernels' in ((await status.json()) as object));
    const res = await hub.as(aliceToken, '/user/alice/api/kernels', { method: 'POST', body: JSON.stringify({ name: 'python3' }), headers: { 'Content-Type': 'application/json' } });
    assert.equal(res.status, 201, await res.clone().text());
    kernelId = ((await res.json()) as { id: string }).id;
    assert.equal(await execute(hub, aliceToken, '/user/alice/', kernelId, 'print(6*7)'), '42\n');
  });

  test('bob is refused at alice\'s server, on HTTP and on the WebSocket upgrade', async () => {
    const res = await hub.as(bobToken, '/user/alice/api/status');
    assert.equal(res.status, 403);
    assert.doesNotMatch(await res.text(), /kernels/);
    assert.equal((await hub.as(bobToken, '/user/alice/api/kernels')).status, 403);
    assert.equal(await upgradeStatus(hub, bobToken, '/user/alice/', kernelId), 403);
    assert.equal(await upgradeStatus(hub, null, '/user/alice/', kernelId), 403);
    assert.equal(await upgradeStatus(hub, 'not-a-real-token', '/user/alice/', kernelId), 403);
    assert.equal(await upgradeStatus(hub, aliceToken, '/user/alice/', kernelId), 101, 'alice herself gets in');
    // nor can bob start, stop or inspect alice's server through the API
    assert.equal((await hub.as(bobToken, '/hub/api/users/alice/server', { method: 'DELETE' })).status, 404);
    assert.equal((await hub.as(bobToken, '/hub/api/users/alice/server/progress')).status, 404);
  });

  test('an anonymous browser visiting alice\'s server is sent to sign in', async () => {
    const expected = `/hub/login?next=${encodeURIComponent('/user/alice/lab')}`;
    // a browser of today (Sec-Fetch-Mode), and an older one that only says it wants HTML
    assert.deepEqual(await browserGet(hub, '/user/alice/lab', { 'Sec-Fetch-Mode': 'navigate', 'Sec-Fetch-Dest': 'document' }), { status: 302, location: expected });
    assert.deepEqual(await browserGet(hub, '/user/alice/lab'), { status: 302, location: expected });
    // bob's browser is refused rather than sent to sign in again
    assert.equal((await browserGet(hub, '/user/alice/lab', { Authorization: `token ${bobToken}` })).status, 403);
    // an API client without credentials gets a plain refusal, not a redirect
    assert.equal((await hub.as(null, '/user/alice/api/status')).status, 403);
  });

  test('a shareable /hub/user-redirect/ link opens the path in the visitor\'s own server', async () => {
    const res = await hub.as(bobToken, '/hub/user-redirect/lab/tree/analysis.ipynb?kernel=python3');
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), '/user/bob/lab/tree/analysis.ipynb?kernel=python3');
    const anonymous = await hub.as(null, '/hub/user-redirect/lab');
    assert.equal(anonymous.status, 302);
    assert.match(anonymous.headers.get('location') ?? '', /^\/hub\/login\?next=/);
  });

  test('state=active|ready|inactive filter users by their servers', async () => {
    assert.deepEqual(await names('active'), ['alice']);
    assert.deepEqual(await names('ready'), ['alice']);
    assert.deepEqual(await names('inactive'), ['admin', 'bob', 'carol', 'dave']);
    // while bob's server is starting he is active but not ready
    const starting = hub.api('/hub/api/users/bob/server', { method: 'POST' });
    await waitFor(async () => (await names('active')).includes('bob'), { timeoutMs: 10_000, intervalMs: 50, message: 'bob to be active' });
    assert.deepEqual(await names('ready'), ['alice'], 'bob is not ready yet');
    assert.ok(!(await names('inactive')).includes('bob'));
    assert.ok([201, 202].includes((await starting).status));
    await waitFor(async () => (await names('ready')).includes('bob'), { timeoutMs: 120_000, message: 'bob to be ready' });
    const stop = await hub.api('/hub/api/users/bob/server', { method: 'DELETE' });
    assert.equal(stop.status, 204);
    assert.deepEqual(await names('active'), ['alice']);
    assert.ok((await names('inactive')).includes('bob'));
    assert.equal((await hub.api('/hub/api/users?state=running')).status, 400);
  });

  test('named servers: lab2 runs beside the default server; the per-user limit is a clear 400', async () => {
    const events = await startServerAndWait(hub, aliceToken, 'alice', 'lab2');
    assert.equal(events.at(-1)!.url, '/user/alice/lab2/');
    const status = await hub.as(aliceToken, '/user/alice/lab2/api/status');
    assert.equal(status.status, 200);
    // a different server: the default one has alice's kernel, lab2 has none
    const kernels = async (prefix: string) => ((await json<{ id: string }[]>(hub.as(aliceToken, `${prefix}api/kernels`))).map((k) => k.id));
    assert.deepEqual(await kernels('/user/alice/'), [kernelId]);
    assert.deepEqual(await kernels('/user/alice/lab2/'), []);
    assert.equal((await hub.as(bobToken, '/user/alice/lab2/api/status')).status, 403);

    const model = await json<UserModel>(hub.as(aliceToken, '/hub/api/users/alice'));
    assert.deepEqual(Object.keys(model.servers ?? {}).sort(), ['', 'lab2']);

    const over = await hub.as(aliceToken, '/hub/api/users/alice/servers/lab3', { method: 'POST' });
    assert.equal(over.status, 400);
    const body = (await over.json()) as { status: number; message: string };
    assert.equal(body.status, 400);
    assert.match(body.message, /maximum of 1 named server/);
    const after = await json<UserModel>(hub.as(aliceToken, '/hub/api/users/alice?include_stopped_servers=1'));
    assert.deepEqual(Object.keys(after.servers ?? {}).sort(), ['', 'lab2'], 'nothing was created for lab3');
    // /user/alice/lab3/ is not a server: it falls to alice's default server, which has no such page
    assert.equal((await hub.as(aliceToken, '/user/alice/lab3/api/status')).status, 404);
    for (const bad of ['bad%20name', '-lead', 'a%2Fb']) {
      const res = await hub.as(aliceToken, `/hub/api/users/alice/servers/${bad}`, { method: 'POST' });
      assert.equal(res.status, 400, `server name ${decodeURIComponent(bad)}`);
      assert.match(((await res.json()) as { message: string }).message, /is not allowed/);
    }
  });

  test('/hub/metrics needs read:metrics and counts users and running servers', async () => {
    const denied = await hub.as(aliceToken, '/hub/metrics');
    assert.equal(denied.status, 403);
    assert.doesNotMatch(await denied.text(), /jupyterhub_/);
    assert.equal((await hub.as(null, '/hub/metrics')).status, 403);
    const res = await hub.api('/hub/metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(await metric('jupyterhub_running_servers'), 2); // alice's default server and lab2
    // every histogram has exactly one +Inf bucket per label set (a second, le="Infinity", breaks Prometheus' le normalization)
    const text = await (await hub.api('/hub/metrics')).text();
    assert.doesNotMatch(text, /le="Infinity"/);
    const infBuckets = text.split('\n').filter((l) => l.includes('le="+Inf"')).map((l) => l.replace(/le="\+Inf",?/, '').split(' ')[0]);
    assert.ok(infBuckets.some((l) => l.startsWith('jupyterhub_server_spawn_duration_seconds_bucket')), 'spawns were measured');
    assert.equal(new Set(infBuckets).size, infBuckets.length);
    assert.equal(await metric('jupyterhub_total_users'), 5); // admin, alice, bob, carol, dave
  });

  test('GET /hub/api/users pages with the pagination media type', async () => {
    type Page = { items: UserModel[]; _pagination: { offset: number; limit: number; total: number; next: { offset: number; limit: number; url: string } | null } };
    const first = await json<Page>(hub.api('/hub/api/users?limit=2', { headers: { Accept: PAGINATION } }));
    assert.deepEqual(first.items.map((u) => u.name), ['admin', 'alice']);
    assert.deepEqual({ ...first._pagination, next: first._pagination.next && { offset: first._pagination.next.offset, limit: first._pagination.next.limit } }, { offset: 0, limit: 2, total: 5, next: { offset: 2, limit: 2 } });
    const nextUrl = new URL(first._pagination.next!.url);
    assert.equal(nextUrl.origin, hub.url);
    const second = await json<Page>(hub.api(`${nextUrl.pathname}${nextUrl.search}`, { headers: { Accept: PAGINATION } }));
    assert.deepEqual(second.items.map((u) => u.name), ['bob', 'carol']);
    assert.equal(second._pagination.next?.offset, 4);
    const last = await json<Page>(hub.api('/hub/api/users?limit=2&offset=4', { headers: { Accept: PAGINATION } }));
    assert.deepEqual(last.items.map((u) => u.name), ['dave']);
    assert.equal(last._pagination.next, null);
    // with a filter, the total is the filtered count
    const active = await json<Page>(hub.api('/hub/api/users?state=active', { headers: { Accept: PAGINATION } }));
    assert.deepEqual(active.items.map((u) => u.name), ['alice']);
    assert.equal(active._pagination.total, 1);
    // without the media type: a plain list
    const plain = await json<UserModel[]>(hub.api('/hub/api/users?limit=2'));
    assert.deepEqual(plain.map((u) => u.name), ['admin', 'alice']);
  });

  test('stopping lab2: DELETE answers 204 and the server and its processes are gone', async () => {
    const admin = await json<UserModel>(hub.api('/hub/api/users/alice'));
    const state = admin.servers!.lab2!.state!;
    assert.ok(processAlive(state.pid));
    const res = await hub.as(aliceToken, '/hub/api/users/alice/servers/lab2', { method: 'DELETE' });
    assert.equal(res.status, 204);
    assert.equal(processAlive(state.pid), false, 'the lab2 server process is gone');
    assert.deepEqual(processesWithEnv('REFINERY_SPAWN_ID', state.spawnId), []);
    // the lab2 route is gone: the path now falls to alice's default server, which has no such page
    assert.equal((await hub.as(aliceToken, '/user/alice/lab2/api/status')).status, 404);
    const model = await json<UserModel>(hub.as(aliceToken, '/hub/api/users/alice'));
    assert.deepEqual(Object.keys(model.servers ?? {}), ['']);
    assert.equal(await metric('jupyterhub_running_servers'), 1);
    // the default server is untouched
    assert.equal(await execute(hub, aliceToken, '/user/alice/', kernelId, 'print("still here")'), 'still here\n');
  });

  test('stopping the default server ends its kernel too', async () => {
    const state = (await json<UserModel>(hub.api('/hub/api/users/alice'))).servers![''].state!;
    const kernels = processesWithEnv('REFINERY_SPAWN_ID', state.spawnId).filter((pid) => pid !== state.pid);
    assert.ok(kernels.length >= 1, 'the kernel runs as a process of its own');
    const res = await hub.as(aliceToken, '/hub/api/users/alice/server', { method: 'DELETE' });
    assert.equal(res.status, 204);
    assert.equal(processAlive(state.pid), false);
    for (const pid of kernels) assert.equal(processAlive(pid), false, `kernel process ${pid} is gone`);
    const model = await json<UserModel>(hub.as(aliceToken, '/hub/api/users/alice'));
    assert.equal(model.server, null);
    assert.deepEqual(model.servers, {});
    assert.equal(await metric('jupyterhub_running_servers'), 0);
  });
});
