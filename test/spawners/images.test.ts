// The local images (envs/base, envs/spark, envs/dask from scripts/setup-python.sh) under LocalSpawner,
// and resource limits on real servers.
//
// Each image runs a REAL jupyterhub-singleuser from its own python (`<env>/bin/python -m
// jupyterhub.singleuser`, what the hub passes as request.command); a kernel is started through the
// server's REST API with the server's own token and code runs over the kernel WebSocket, exactly as a
// browser's JupyterLab does (without the hub's proxy in between). The server checks that token with
// the hub (GET /hub/api/user), so the stand-in hub below answers that, and the version check, and
// nothing else; tests of the real hub live in test/e2e.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { after, afterEach, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { createLogger, silentLogger } from '../../src/log.js';
import { LocalSpawner, parseLocalState, type LocalServerState } from '../../src/spawners/local.js';
import { detectCgroups, serverCgroupDir, type CgroupLayout } from '../../src/host/cgroups.js';
import type { SpawnRequest, SpawnerState } from '../../src/spawners/spawner.js';
import { freePort } from '../../src/util/ports.js';
import { tmpDir, type TmpDir } from '../helpers/tmp.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
/** Works from test/spawners (tsx) and dist/test/spawners (compiled). */
const REPO = resolve(HERE, HERE.includes('/dist/') ? '../../..' : '../..');
const ENVS = join(REPO, 'envs');
const START_TIMEOUT_MS = 90_000;
const MiB = 2 ** 20;

const python = (env: string) => join(ENVS, env, 'bin', 'python');
const singleuser = (env: string) => [python(env), '-m', 'jupyterhub.singleuser'];

// ---------------------------------------------------------------------------------------------------
// a stand-in hub, and a small Jupyter client

interface FakeHub {
  url: string;
  server: Server;
  /** token -> user name: what GET /hub/api/user answers. */
  tokens: Map<string, string>;
}

async function startFakeHub(): Promise<FakeHub> {
  const tokens = new Map<string, string>();
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && /^\/hub\/api\/?$/.test(path ?? '')) {
      res.writeHead(200, { 'Content-Type': 'application/json', 'X-JupyterHub-Version': '5.5.4' });
      res.end(JSON.stringify({ version: '5.5.4' }));
      return;
    }
    if (req.method === 'GET' && path === '/hub/api/user') {
      const token = /^token\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
      const name = tokens.get(token);
      if (!name) {
        res.writeHead(403, { 'Content-Type': 'application/json' }).end(JSON.stringify({ status: 403, message: 'bad token' }));
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json', 'X-JupyterHub-Version': '5.5.4' });
      res.end(JSON.stringify({ kind: 'user', name, admin: false, groups: [], scopes: [`access:servers!user=${name}`] }));
      return;
    }
    res.writeHead(404).end();
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}`, server, tokens };
}

function makeRequest(hub: FakeHub, user: string, overrides: Partial<SpawnRequest> = {}): SpawnRequest & { token: string; prefix: string } {
  const token = randomBytes(16).toString('hex');
  hub.tokens.set(token, user);
  const prefix = `/user/${user}/`;
  return {
    user,
    serverName: '',
    env: {
      JUPYTERHUB_API_TOKEN: token,
      JUPYTERHUB_CLIENT_ID: `jupyterhub-user-${user}`,
      JUPYTERHUB_API_URL: `${hub.url}/hub/api`,
      JUPYTERHUB_BASE_URL: '/',
      JUPYTERHUB_SERVICE_PREFIX: prefix,
      JUPYTERHUB_USER: user,
      JUPYTERHUB_SERVER_NAME: '',
      JUPYTERHUB_OAUTH_CALLBACK_URL: `${prefix}oauth_callback`,
      JUPYTERHUB_OAUTH_ACCESS_SCOPES: JSON.stringify([`access:servers!server=${user}/`, `access:servers!user=${user}`]),
      JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES: '[]',
      JUPYTERHUB_HOST: '',
    },
    servicePrefix: prefix,
    startTimeoutMs: START_TIMEOUT_MS,
    onProgress: () => {},
    signal: new AbortController().signal,
    ...overrides,
    token,
    prefix,
  };
}

function http(method: string, url: string, token: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(url, {
      method,
      agent: false,
      timeout: 30_000,
      headers: { Authorization: `token ${token}`, ...(data ? { 'Content-Type': 'application/json' } : {}) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${url}`)));
    req.on('error', reject);
    req.end(data);
  });
}

async function startKernel(target: string, prefix: string, token: string): Promise<string> {
  const res = await http('POST', `${target}${prefix}api/kernels`, token, { name: 'python3' });
  assert.equal(res.status, 201, `POST api/kernels: ${res.status} ${res.body.slice(0, 300)}`);
  return (JSON.parse(res.body) as { id: string }).id;
}

interface RunResult {
  /** 'ok' (execute_reply ok), 'error' (an exception in the code), 'died' (the kernel died: restarting/dead). */
  outcome: 'ok' | 'error' | 'died';
  stdout: string;
  error: string;
}

/** Run `code` in the kernel over its WebSocket, as JupyterLab does. */
async function run(target: string, prefix: string, token: string, kernelId: string, code: string, timeoutMs = 90_000): Promise<RunResult> {
  const ws = new WebSocket(`${target.replace(/^http/, 'ws')}${prefix}api/kernels/${kernelId}/channels?session_id=${randomUUID()}`, {
    headers: { Authorization: `token ${token}` },
  });
  await new Promise<void>((r, j) => {
    ws.once('open', () => r());
    ws.once('unexpected-response', (_q, res) => j(new Error(`WebSocket refused: ${res.statusCode}`)));
    ws.once('error', j);
  });
  try {
    const msgId = randomUUID();
    const result: RunResult = { outcome: 'ok', stdout: '', error: '' };
    const done = new Promise<RunResult>((resolvePromise, reject) => {
      let idle = false;
      let replied = false;
      const timer = setTimeout(() => reject(new Error(`no reply within ${timeoutMs} ms to ${code.slice(0, 80)} (stdout: ${result.stdout})`)), timeoutMs);
      ws.on('message', (raw) => {
        const msg = JSON.parse(raw.toString()) as { channel: string; header: { msg_type: string }; parent_header: { msg_id?: string }; content: Record<string, unknown> };
        // The server reports a kernel's death to every connection, without a parent.
        if (msg.channel === 'iopub' && msg.header.msg_type === 'status' && ['restarting', 'dead'].includes(String(msg.content.execution_state))) {
          clearTimeout(timer);
          resolvePromise({ ...result, outcome: 'died' });
          return;
        }
        if (msg.parent_header?.msg_id !== msgId) return;
        if (msg.channel === 'iopub' && msg.header.msg_type === 'stream' && msg.content.name === 'stdout') result.stdout += String(msg.content.text);
        if (msg.channel === 'iopub' && msg.header.msg_type === 'error') {
          result.outcome = 'error';
          result.error = `${String(msg.content.ename)}: ${String(msg.content.evalue)}`;
        }
        if (msg.channel === 'iopub' && msg.header.msg_type === 'status' && msg.content.execution_state === 'idle') idle = true;
        if (msg.channel === 'shell' && msg.header.msg_type === 'execute_reply') replied = true;
        if (idle && replied) {
          clearTimeout(timer);
          resolvePromise(result);
        }
      });
      ws.once('close', () => {
        clearTimeout(timer);
        resolvePromise({ ...result, outcome: 'died' });
      });
    });
    ws.send(JSON.stringify({
      header: { msg_id: msgId, session: randomUUID(), username: 'test', msg_type: 'execute_request', version: '5.3', date: new Date().toISOString() },
      parent_header: {},
      metadata: {},
      content: { code, silent: false, store_history: false, user_expressions: {}, allow_stdin: false, stop_on_error: true },
      channel: 'shell',
      buffers: [],
    }));
    return await done;
  } finally {
    ws.terminate();
  }
}

/** Run code that must succeed; returns its stdout. */
async function ok(target: string, prefix: string, token: string, kernelId: string, code: string, timeoutMs?: number): Promise<string> {
  const r = await run(target, prefix, token, kernelId, code, timeoutMs);
  assert.equal(r.outcome, 'ok', `${code}\n-> ${r.outcome}: ${r.error}`);
  return r.stdout;
}

function environOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
}

function readNumber(path: string): number {
  return Number(readFileSync(path, 'utf8').trim());
}

// ---------------------------------------------------------------------------------------------------

let hub: FakeHub;
let dir: TmpDir;
const started: { spawner: LocalSpawner; state: SpawnerState }[] = [];

before(async () => {
  const missing = ['base', 'spark', 'dask'].filter((e) => !existsSync(python(e)));
  if (missing.length) {
    execFileSync('bash', [join(REPO, 'scripts', 'setup-python.sh'), '--only', missing.join(',')], { stdio: 'inherit', env: { ...process.env, CI: 'true' } });
  }
  hub = await startFakeHub();
  dir = await tmpDir('images');
});

afterEach(async () => {
  for (const { spawner, state } of started.splice(0)) await spawner.stop(state, { graceMs: 2000 });
});

after(async () => {
  const spawner = new LocalSpawner({ dataDir: dir.path, log: silentLogger() });
  for (const state of await spawner.list()) await spawner.stop(state, { graceMs: 0 });
  await new Promise<void>((r) => hub.server.close(() => r()));
  await dir.cleanup();
});

describe('local images: each runs from its own python, and its kernel sees what the image promises', { timeout: 600_000 }, () => {
  let spawner: LocalSpawner;
  before(() => {
    spawner = new LocalSpawner({ dataDir: dir.path, log: silentLogger() });
  });

  async function startImage(env: string, user: string) {
    const req = makeRequest(hub, user, { command: singleuser(env) });
    const t0 = Date.now();
    const { target, state } = await spawner.start(req);
    started.push({ spawner, state });
    const s = parseLocalState(state)!;
    const kernelId = await startKernel(target, req.prefix, req.token);
    return { req, target, s, kernelId, startMs: Date.now() - t0 };
  }

  test('base: the server and its kernel run envs/base python, and pyspark/dask are NOT there', async (t) => {
    const { req, target, s, kernelId, startMs } = await startImage('base', 'ann');
    t.diagnostic(`base server answered after ${startMs} ms`);
    // The server process runs the env's python, with the env's bin first on PATH.
    assert.equal(readFileSync(`/proc/${s.pid}/cmdline`, 'utf8').split('\0')[0], python('base'));
    assert.ok(environOf(s.pid).some((e) => e.startsWith(`PATH=${join(ENVS, 'base', 'bin')}:`)), 'the env bin dir is first on PATH');
    const out = await ok(target, req.prefix, req.token, kernelId, [
      'import sys, importlib.util as u',
      'print(sys.executable)',
      "print(u.find_spec('pyspark') is None, u.find_spec('dask') is None, u.find_spec('pandas') is None)",
    ].join('\n'));
    assert.deepEqual(out.trim().split('\n'), [python('base'), 'True True True']);
    const r = await run(target, req.prefix, req.token, kernelId, 'import pyspark');
    assert.equal(r.outcome, 'error');
    assert.match(r.error, /ModuleNotFoundError: No module named 'pyspark'/);
  });

  test('spark: the kernel runs envs/spark python, imports pyspark, and runs a real local Spark job on Java', async (t) => {
    const { req, target, s, kernelId, startMs } = await startImage('spark', 'ben');
    t.diagnostic(`spark server answered after ${startMs} ms`);
    assert.equal(readFileSync(`/proc/${s.pid}/cmdline`, 'utf8').split('\0')[0], python('spark'));
    assert.ok(environOf(s.pid).some((e) => e.startsWith(`PATH=${join(ENVS, 'spark', 'bin')}:`)), 'the env bin dir is first on PATH');
    const out = await ok(target, req.prefix, req.token, kernelId, [
      'import sys, pyspark, pandas, pyarrow, jupyterlab',
      'print(sys.executable)',
      'print(pyspark.__file__)',
      'print(jupyterlab.__file__)',
    ].join('\n'));
    const [exe, pysparkFile, labFile] = out.trim().split('\n');
    assert.equal(exe, python('spark'));
    assert.ok(pysparkFile!.startsWith(join(ENVS, 'spark', 'lib')), `pyspark comes from the layer: ${pysparkFile}`);
    assert.ok(labFile!.startsWith(join(ENVS, 'base', 'lib')), `jupyterlab is shared from base: ${labFile}`);
    const t0 = Date.now();
    const job = await ok(target, req.prefix, req.token, kernelId, [
      'from pyspark.sql import SparkSession',
      "spark = SparkSession.builder.master('local[1]').appName('refinery-test').config('spark.ui.enabled', 'false').getOrCreate()",
      "print(spark.range(1000).selectExpr('sum(id) AS s').collect()[0]['s'], spark.version)",
      'print(len(spark.range(5).toPandas()))',
      'spark.stop()',
    ].join('\n'), 180_000);
    t.diagnostic(`Spark session + job took ${Date.now() - t0} ms`);
    const [sumLine, pandasLen] = job.trim().split('\n').filter((l) => !/WARN|warn/.test(l));
    assert.match(sumLine!, /^499500 4\./);
    assert.equal(pandasLen, '5');
    // The dask image's packages are not here.
    const r = await run(target, req.prefix, req.token, kernelId, 'import dask');
    assert.match(r.error, /No module named 'dask'/);
  });

  test('dask: the kernel runs envs/dask python and computes on a distributed Client; the Dask lab extension is served', async (t) => {
    const { req, target, s, kernelId, startMs } = await startImage('dask', 'cat');
    t.diagnostic(`dask server answered after ${startMs} ms`);
    assert.equal(readFileSync(`/proc/${s.pid}/cmdline`, 'utf8').split('\0')[0], python('dask'));
    const out = await ok(target, req.prefix, req.token, kernelId, [
      'import sys',
      'import dask, dask.array as da, dask.dataframe as dd, pandas as pd',
      'from dask.distributed import Client, LocalCluster',
      "cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address='127.0.0.1:0')",
      'client = Client(cluster)',
      'print(sys.executable)',
      'print(int(da.ones((1000, 1000), chunks=250).sum().compute()))',
      "print(int(dd.from_pandas(pd.DataFrame({'x': range(100)}), npartitions=4).x.sum().compute()))",
      "print('dashboard', client.dashboard_link.startswith('http'))",
      'client.close(); cluster.close()',
    ].join('\n'), 120_000);
    assert.deepEqual(out.trim().split('\n'), [python('dask'), '1000000', '4950', 'dashboard True']);
    // pyspark is not in this image.
    const r = await run(target, req.prefix, req.token, kernelId, 'import pyspark');
    assert.match(r.error, /No module named 'pyspark'/);
    // JupyterLab (from base, through the layer's share/jupyter) lists the layer's own lab extensions
    // next to base's: the page config of /lab names both.
    const lab = await http('GET', `${target}${req.prefix}lab`, req.token);
    assert.equal(lab.status, 200, lab.body.slice(0, 300));
    assert.match(lab.body, /dask-labextension/);
    assert.match(lab.body, /jupyterlab_pygments/);
  });
});

describe('resource limits on a real server', { timeout: 600_000 }, () => {
  let layout: CgroupLayout;
  before(async () => {
    layout = await detectCgroups();
  });

  test('a memory limit stops a kernel that allocates past it, the server stays up; a CPU limit throttles; cgroups go after stop', async (t) => {
    if (!layout.memory || !layout.cpu || process.getuid?.() !== 0) {
      t.skip(`no writable memory+cpu cgroups on this machine: ${layout.problems.join('; ')}`);
      return;
    }
    const spawner = new LocalSpawner({ dataDir: dir.path, log: silentLogger() });
    const limit = 256 * MiB;
    const req = makeRequest(hub, 'dora', { resources: { memoryLimit: limit, memoryGuarantee: 128 * MiB, cpuLimit: 0.5, cpuGuarantee: 0.25 } });
    const { target, state } = await spawner.start(req);
    started.push({ spawner, state });
    const s = parseLocalState(state)! as LocalServerState;
    const v = `cgroup-v${layout.memory.version}`;
    assert.deepEqual(s.enforced, { memoryLimit: v, memoryGuarantee: v, cpuLimit: v, cpuGuarantee: v });
    const mem = serverCgroupDir(layout.memory, 'refinery', s.spawnId);
    const cpu = serverCgroupDir(layout.cpu, 'refinery', s.spawnId);
    assert.deepEqual([...(s.cgroups ?? [])].sort(), [mem, cpu].sort());
    const procs = (d: string) => readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    assert.ok(procs(mem).includes(s.pid), 'the server process is in its memory cgroup');
    assert.ok(procs(cpu).includes(s.pid), 'the server process is in its cpu cgroup');
    if (layout.memory.version === 1) {
      assert.equal(readNumber(join(mem, 'memory.limit_in_bytes')), limit);
      assert.equal(readNumber(join(cpu, 'cpu.cfs_quota_us')), 50_000);
      assert.equal(readNumber(join(cpu, 'cpu.cfs_period_us')), 100_000);
    } else {
      assert.equal(readNumber(join(mem, 'memory.max')), limit);
      assert.equal(readFileSync(join(cpu, 'cpu.max'), 'utf8').trim(), '50000 100000');
    }
    // What JupyterHub tells a server about its resources.
    const environ = environOf(s.pid);
    for (const kv of [`MEM_LIMIT=${limit}`, `MEM_GUARANTEE=${128 * MiB}`, 'CPU_LIMIT=0.5', 'CPU_GUARANTEE=0.25']) assert.ok(environ.includes(kv), kv);

    // A kernel (its own session, as jupyter_client starts it) is inside too, and can use memory below the limit.
    const kernelId = await startKernel(target, req.prefix, req.token);
    const kpid = Number(await ok(target, req.prefix, req.token, kernelId, 'import os; print(os.getpid())'));
    assert.ok(procs(mem).includes(kpid), 'the kernel inherited the cgroup');
    const usage = layout.memory.version === 1 ? readNumber(join(mem, 'memory.usage_in_bytes')) : readNumber(join(mem, 'memory.current'));
    t.diagnostic(`server + idle kernel use ${Math.round(usage / MiB)} MiB of ${limit / MiB} MiB`);
    assert.equal((await ok(target, req.prefix, req.token, kernelId, "x = b'x' * (48 << 20); print(len(x) >> 20); del x")).trim(), '48');

    // CPU: a busy loop gets about half a core (without the limit it would get a whole one).
    const ratio = Number(await ok(target, req.prefix, req.token, kernelId, [
      'import time',
      'w0, c0 = time.perf_counter(), time.process_time()',
      'while time.perf_counter() - w0 < 2: pass',
      'print(round((time.process_time() - c0) / (time.perf_counter() - w0), 3))',
    ].join('\n')));
    t.diagnostic(`busy loop got ${ratio} of a core under a 0.5 limit`);
    assert.ok(ratio > 0.05 && ratio < 0.75, `CPU share ${ratio}`);
    // At the cap, the kernel throttled it (on a machine busy with other tests it may get less than its
    // quota anyway, and then there is nothing to throttle).
    const throttled = Number(/nr_throttled (\d+)/.exec(readFileSync(join(cpu, 'cpu.stat'), 'utf8'))?.[1] ?? 0);
    assert.ok(throttled > 0 || ratio < 0.45, `a busy loop at ${ratio} of a core was never throttled`);

    // Memory: 400 MiB in a 256 MiB cgroup. The kernel is OOM-killed (the server restarts it); the server lives on.
    const big = await run(target, req.prefix, req.token, kernelId, "x = b'x' * (400 << 20); print('allocated')", 60_000);
    assert.notEqual(big.outcome, 'ok', `allocating 400 MiB under a 256 MiB limit must fail (got: ${big.stdout})`);
    assert.doesNotMatch(big.stdout, /allocated/);
    if (big.outcome === 'error') assert.match(big.error, /MemoryError/);
    if (layout.memory.version === 1) {
      const oom = /oom_kill (\d+)/.exec(readFileSync(join(mem, 'memory.oom_control'), 'utf8'));
      assert.ok(big.outcome === 'error' || (oom && Number(oom[1]) >= 1) || readNumber(join(mem, 'memory.failcnt')) > 0, 'the kernel hit the cgroup limit');
    }
    t.diagnostic(`400 MiB allocation: ${big.outcome}`);
    assert.deepEqual(await spawner.poll(state), { running: true }, 'the server survived its kernel');
    assert.equal((await http('GET', `${target}${req.prefix}api/status`, req.token)).status, 200);

    await spawner.stop(state);
    assert.equal(existsSync(mem), false, 'memory cgroup removed after stop');
    assert.equal(existsSync(cpu), false, 'cpu cgroup removed after stop');
  });

  test('the server pid and a limit show in the cgroup also for an image started with its own command; list() cleans up leftovers', async (t) => {
    if (!layout.memory || process.getuid?.() !== 0) {
      t.skip(`no writable memory cgroup here: ${layout.problems.join('; ')}`);
      return;
    }
    const spawner = new LocalSpawner({ dataDir: dir.path, log: silentLogger(), cgroups: { sweepAfterMs: 0 } });
    const req = makeRequest(hub, 'eve', { command: singleuser('spark'), resources: { memoryLimit: 200 * MiB } });
    const { state } = await spawner.start(req);
    started.push({ spawner, state });
    const s = parseLocalState(state)!;
    const mem = serverCgroupDir(layout.memory, 'refinery', s.spawnId);
    assert.equal(s.enforced?.memoryLimit, `cgroup-v${layout.memory.version}`);
    assert.equal(s.enforced?.cpuLimit, undefined, 'not asked for, not reported');
    assert.ok(readFileSync(join(mem, 'cgroup.procs'), 'utf8').split('\n').map(Number).includes(s.pid));
    assert.equal(readNumber(join(mem, layout.memory.version === 1 ? 'memory.limit_in_bytes' : 'memory.max')), 200 * MiB);

    // A leftover: an empty server cgroup whose server is long gone (a hub that crashed before stop()).
    const leftover = serverCgroupDir(layout.memory, 'refinery', randomUUID());
    await mkdir(leftover);
    const listed = (await spawner.list()).map((x) => parseLocalState(x)!);
    const mine = listed.find((x) => x.spawnId === s.spawnId);
    assert.deepEqual(mine?.cgroups, [mem], 'list() reports a live server with its cgroup (a restarted hub can remove it at stop)');
    assert.equal(existsSync(leftover), false, 'the empty leftover was removed');
    assert.equal(existsSync(mem), true, 'the live server keeps its cgroup');

    // A hub that restarted knows only what list() says: stop() from that state removes the cgroup too.
    await spawner.stop(mine as unknown as SpawnerState);
    assert.equal(existsSync(mem), false);
  });

  test('without usable cgroups the server still starts, state.enforced says none, and one warning is logged', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        cb();
      },
    });
    const log = createLogger({ level: 'warn', destination: sink });
    const spawner = new LocalSpawner({ dataDir: dir.path, log, cgroups: { root: join(dir.path, 'no-cgroups-here') } });
    for (const user of ['fay', 'gil']) {
      const req = makeRequest(hub, user, { resources: { memoryLimit: 512 * MiB, cpuLimit: 1 } });
      const { target, state } = await spawner.start(req);
      started.push({ spawner, state });
      const s = parseLocalState(state)!;
      assert.deepEqual(s.enforced, { memoryLimit: 'none', cpuLimit: 'none' });
      assert.equal(s.cgroups, undefined);
      assert.equal((await http('GET', `${target}${req.prefix}api/status`, req.token)).status, 200);
      assert.ok(environOf(s.pid).includes(`MEM_LIMIT=${512 * MiB}`), 'the variables are set even when the limit is not enforced');
      assert.match(readFileSync(`/proc/${s.pid}/limits`, 'utf8'), /Max data size\s+unlimited/, 'no rlimit unless asked for');
    }
    const warnings = lines.map((l) => JSON.parse(l) as { msg: string; setting?: string }).filter((l) => /not enforced/.test(l.msg));
    assert.deepEqual(warnings.map((w) => w.setting).sort(), ['cpuLimit', 'memoryLimit'], 'one warning per setting, not one per server');
    assert.match(warnings[0]!.msg, /no-cgroups-here does not exist/);
  });

  test('the opt-in rlimit fallback: RLIMIT_DATA on the server (and so on its kernels), reported as such', async () => {
    const spawner = new LocalSpawner({ dataDir: dir.path, log: silentLogger(), cgroups: false, memoryLimitFallback: 'rlimit-data' });
    const req = makeRequest(hub, 'hal', { resources: { memoryLimit: 1024 * MiB, cpuLimit: 0.5 } });
    const { target, state } = await spawner.start(req);
    started.push({ spawner, state });
    const s = parseLocalState(state)!;
    assert.deepEqual(s.enforced, { memoryLimit: 'rlimit-data', cpuLimit: 'none' });
    assert.match(readFileSync(`/proc/${s.pid}/limits`, 'utf8'), new RegExp(`Max data size\\s+${1024 * MiB}\\s+${1024 * MiB}\\s+bytes`));
    const kernelId = await startKernel(target, req.prefix, req.token);
    const r = await run(target, req.prefix, req.token, kernelId, "x = b'x' * (1200 << 20)");
    assert.equal(r.outcome, 'error');
    assert.match(r.error, /MemoryError/, 'past RLIMIT_DATA, malloc fails and Python raises MemoryError');
    assert.match(await readFile(s.logPath, 'utf8'), /memoryLimit rlimit-data, cpuLimit none/);
  });
});
