// A hub crash must not take users' work with it: servers and kernels outlive a SIGKILLed hub and are
// adopted when it comes back; a server that died while the hub was down is recorded as stopped (and its
// orphaned kernels cleaned up) instead of being routed to. Real jupyterhub-singleuser and ipykernel.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { launchRefinery, startServerAndWait, type RefineryProcess } from '../helpers/refinery.js';
import { waitFor } from '../helpers/tmp.js';

// ---------------------------------------------------------------------------------------------------
// helpers (the same as in hub.test.ts, so each file stands alone)

interface KernelMessage {
  channel: string;
  header: { msg_id: string; msg_type: string };
  parent_header: { msg_id?: string };
  content: Record<string, unknown>;
}

/** Connect to a kernel's channels through the proxy; rejects with the HTTP status when the upgrade is refused. */
function openKernelSocket(hub: RefineryProcess, token: string | null, prefix: string, kernelId: string): Promise<WebSocket> {
  const url = `${hub.url.replace(/^http/, 'ws')}${prefix}api/kernels/${kernelId}/channels?session_id=${randomUUID()}`;
  const ws = new WebSocket(url, { headers: token ? { Authorization: `token ${token}` } : {} });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      ws.terminate();
      reject(Object.assign(new Error(`WebSocket upgrade refused: ${res.statusCode}`), { status: res.statusCode }));
    });
    ws.once('error', reject);
  });
}

/** Run `code` in the kernel over the Jupyter messaging protocol; resolves with what it printed to stdout. */
async function execute(hub: RefineryProcess, token: string, prefix: string, kernelId: string, code: string, timeoutMs = 60_000): Promise<string> {
  const ws = await openKernelSocket(hub, token, prefix, kernelId);
  try {
    const msgId = randomUUID();
    const session = randomUUID();
    let stdout = '';
    let stderr = '';
    const done = new Promise<void>((resolve, reject) => {
      let idle = false;
      let replied = false;
      const timer = setTimeout(() => reject(new Error(`no reply to ${JSON.stringify(code)} within ${timeoutMs} ms (stdout so far: ${JSON.stringify(stdout)})`)), timeoutMs);
      ws.on('message', (data) => {
        const msg = JSON.parse(data.toString()) as KernelMessage;
        if (msg.parent_header?.msg_id !== msgId) return;
        if (msg.channel === 'iopub' && msg.header.msg_type === 'stream') {
          if (msg.content.name === 'stdout') stdout += String(msg.content.text);
          else stderr += String(msg.content.text);
        }
        if (msg.channel === 'iopub' && msg.header.msg_type === 'error') stderr += `${String(msg.content.ename)}: ${String(msg.content.evalue)}`;
        if (msg.channel === 'iopub' && msg.header.msg_type === 'status' && msg.content.execution_state === 'idle') idle = true;
        if (msg.channel === 'shell' && msg.header.msg_type === 'execute_reply') replied = true;
        if (idle && replied) {
          clearTimeout(timer);
          resolve();
        }
      });
      ws.once('close', () => reject(new Error('kernel WebSocket closed before the reply')));
    });
    ws.send(JSON.stringify({
      header: { msg_id: msgId, session, username: 'test', msg_type: 'execute_request', version: '5.3', date: new Date().toISOString() },
      parent_header: {},
      metadata: {},
      content: { code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true },
      channel: 'shell',
      buffers: [],
    }));
    await done;
    assert.equal(stderr, '', `the kernel reported an error for ${JSON.stringify(code)}`);
    return stdout;
  } finally {
    ws.close();
  }
}

/** Pids of live processes whose environment has NAME=value (a server and its kernels carry REFINERY_SPAWN_ID). */
function processesWithEnv(name: string, value: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0').includes(`${name}=${value}`)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      if (/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3))) continue; // zombies are dead
      found.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
  } catch {
    return false;
  }
}

/** Kill (by pid) whatever server processes of this hub's data dir are still alive; returns what it found. */
function killLeftovers(dataDir: string): number[] {
  const pids = processesWithEnv('REFINERY_SPAWNER_DATA_DIR', dataDir);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return pids;
}

/**
 * A top-level page load as a browser makes it (node:http: fetch always says `Sec-Fetch-Mode: cors`).
 * Resolves with the status and Location header.
 */
function browserGet(hub: RefineryProcess, path: string, headers: Record<string, string> = {}): Promise<{ status: number; location: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(`${hub.url}${path}`, { headers: { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8', ...headers } }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, location: res.headers.location });
    });
    req.on('error', reject);
    req.end();
  });
}

async function json<T>(res: Response | Promise<Response>): Promise<T> {
  const r = await res;
  const text = await r.text();
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`expected JSON, got ${r.status}: ${text.slice(0, 300)}`);
  }
}

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

    // a browser is offered to start it; an API client is told it is not running
    const page = await browserGet(hub, '/user/alice/lab');
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
