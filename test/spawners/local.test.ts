// LocalSpawner against a REAL jupyterhub-singleuser from envs/base (made by scripts/setup-python.sh).
//
// jupyterhub-singleuser 5.5 GETs $JUPYTERHUB_API_URL once at start-up (check_hub_version) and exits
// after ~46 s of retries when nothing answers, so these tests run a minimal stand-in that answers only
// `GET /hub/api` with `X-JupyterHub-Version: 5.5.4`. That stand-in is for this unit test only; tests
// of the real hub talk to the real hub. Token checks need the hub, so kernels are not started through
// the server's REST API here: the "kernel" test uses processes started the way jupyter_client starts
// kernels (in a session of their own).
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { join, resolve } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../../src/log.js';
import { LocalSpawner, parseLocalState, type LocalServerState } from '../../src/spawners/local.js';
import { MARKER_ENV } from '../../src/host/markers.js';
import { parseProcStat, pidExists, readProcStat } from '../../src/host/process-info.js';
import { SpawnError, type SpawnProgress, type SpawnRequest, type SpawnerState } from '../../src/spawners/spawner.js';
import { freePort } from '../../src/util/ports.js';
import { tmpDir, type TmpDir } from '../helpers/tmp.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
/** Works from test/spawners (tsx) and dist/test/spawners (compiled). */
const REPO = resolve(HERE, HERE.includes('/dist/') ? '../../..' : '../..');
const SINGLEUSER = join(REPO, 'envs', 'base', 'bin', 'jupyterhub-singleuser');
const LOCAL_MODULE = new URL('../../src/spawners/local.js', import.meta.url).href;
const START_TIMEOUT_MS = 60_000;
const log = silentLogger();

// ---------------------------------------------------------------------------------------------------
// helpers

/** Minimal stand-in for the hub: answers only `GET /hub/api` (what singleuser checks at start). */
async function startFakeHub(): Promise<{ url: string; server: Server; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (req.method === 'GET' && /^\/hub\/api\/?$/.test(req.url ?? '')) {
      res.writeHead(200, { 'Content-Type': 'application/json', 'X-JupyterHub-Version': '5.5.4' });
      res.end(JSON.stringify({ version: '5.5.4' }));
    } else {
      res.writeHead(404).end();
    }
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}`, server, requests };
}

function hubEnv(hubUrl: string, user: string, server: string, token: string): Record<string, string> {
  const prefix = server ? `/user/${user}/${server}/` : `/user/${user}/`;
  return {
    JUPYTERHUB_API_TOKEN: token,
    JUPYTERHUB_CLIENT_ID: server ? `jupyterhub-user-${user}-${server}` : `jupyterhub-user-${user}`,
    JUPYTERHUB_API_URL: `${hubUrl}/hub/api`,
    JUPYTERHUB_BASE_URL: '/',
    JUPYTERHUB_SERVICE_PREFIX: prefix,
    JUPYTERHUB_USER: user,
    JUPYTERHUB_SERVER_NAME: server,
    JUPYTERHUB_OAUTH_CALLBACK_URL: `${prefix}oauth_callback`,
    JUPYTERHUB_OAUTH_ACCESS_SCOPES: JSON.stringify([`access:servers!server=${user}/${server}`, `access:servers!user=${user}`]),
    JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES: '[]',
    JUPYTERHUB_HOST: '',
  };
}

function makeRequest(
  hubUrl: string,
  user: string,
  server = '',
  overrides: Partial<SpawnRequest> = {},
): SpawnRequest & { events: SpawnProgress[]; token: string } {
  const token = randomBytes(16).toString('hex');
  const events: SpawnProgress[] = [];
  return {
    user,
    serverName: server,
    env: hubEnv(hubUrl, user, server, token),
    servicePrefix: server ? `/user/${user}/${server}/` : `/user/${user}/`,
    startTimeoutMs: START_TIMEOUT_MS,
    onProgress: (e) => events.push(e),
    signal: new AbortController().signal,
    ...overrides,
    events,
    token,
  };
}

function httpGet(url: string): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Alive and not a zombie (a killed process may linger as one until its parent reaps it). */
function isAlive(pid: number): boolean {
  try {
    const stat = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return !!stat && stat.state !== 'Z' && stat.state !== 'X';
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------

describe('LocalSpawner with a real jupyterhub-singleuser', { timeout: 240_000 }, () => {
  let hub: Awaited<ReturnType<typeof startFakeHub>>;
  let dir: TmpDir;
  let spawner: LocalSpawner;
  /** Every state a test produced; stopped after each test whatever happened. */
  const started: { spawner: LocalSpawner; state: SpawnerState }[] = [];
  /** Stray pids a test made itself (not through the spawner). */
  const strays: number[] = [];

  before(async () => {
    if (!existsSync(SINGLEUSER)) {
      execFileSync('bash', [join(REPO, 'scripts', 'setup-python.sh')], { stdio: 'inherit', env: { ...process.env, CI: 'true' } });
    }
    hub = await startFakeHub();
    dir = await tmpDir('spawner');
    spawner = new LocalSpawner({ dataDir: dir.path, log });
  });

  afterEach(async () => {
    for (const { spawner: s, state } of started.splice(0)) await s.stop(state, { graceMs: 2000 });
    for (const pid of strays.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });

  after(async () => {
    // Belt and braces: anything still carrying this test's data dir goes.
    for (const state of await spawner.list()) await spawner.stop(state, { graceMs: 0 });
    await new Promise<void>((r) => hub.server.close(() => r()));
    await dir.cleanup();
  });

  test('starts a server that answers at its prefix, in its own 0700 dir, with a clean environment', async (t) => {
    process.env.REFINERY_TEST_HUB_SECRET = 'hub-secret-must-not-leak';
    const req = makeRequest(hub.url, 'alice');
    const t0 = Date.now();
    let result;
    try {
      result = await spawner.start(req);
    } finally {
      delete process.env.REFINERY_TEST_HUB_SECRET;
    }
    t.diagnostic(`jupyterhub-singleuser answered ${Date.now() - t0} ms after start()`);
    started.push({ spawner, state: result.state });
    const { target, state } = result;
    assert.match(target, /^http:\/\/127\.0\.0\.1:\d+$/);

    // It answers at its prefix: the API without auth, the UI by sending the browser to the hub's OAuth.
    const api = await httpGet(`${target}/user/alice/api`);
    assert.equal(api.status, 200);
    assert.match(JSON.parse(api.body).version, /^2\./);
    assert.equal(api.headers['x-jupyterhub-version'], '5.5.4');
    const lab = await httpGet(`${target}/user/alice/lab`);
    assert.equal(lab.status, 302);
    assert.match(String(lab.headers.location), /^\/hub\/api\/oauth2\/authorize\?client_id=jupyterhub-user-alice&/);
    assert.ok(hub.requests.includes('GET /hub/api'), `singleuser checked the hub: ${hub.requests.join(', ')}`);
    // The default URL is JupyterLab.
    const root = await httpGet(`${target}/user/alice/`);
    assert.equal(root.status, 302);
    assert.match(String(root.headers.location), /\/user\/alice\/lab/);

    // Progress went up and ended with the server being up.
    assert.ok(req.events.length >= 3, JSON.stringify(req.events));
    for (let i = 1; i < req.events.length; i++) assert.ok(req.events[i]!.progress >= req.events[i - 1]!.progress);
    assert.match(req.events.at(-1)!.message, /Server is up/);

    // State survives JSON and poll says running.
    const roundTripped = JSON.parse(JSON.stringify(state)) as SpawnerState;
    assert.deepEqual(roundTripped, state);
    assert.deepEqual(await spawner.poll(roundTripped), { running: true });
    const s = parseLocalState(roundTripped)!;
    assert.equal(s.user, 'alice');
    assert.equal(s.server, '');
    assert.equal(s.pgid, s.pid, 'leads its own process group');
    assert.equal(s.startTime, (await readProcStat(s.pid))!.startTime);

    // Its own directory (0700) is cwd and HOME; its log goes to a file, not to the hub's output.
    const workDir = join(dir.path, 'users', 'alice');
    assert.equal(s.workDir, workDir);
    assert.equal(statSync(workDir).mode & 0o777, 0o700);
    assert.equal(readlinkSync(`/proc/${s.pid}/cwd`), workDir);
    assert.equal(s.logPath, join(workDir, '.refinery', 'default.log'));
    assert.match(await readFile(s.logPath, 'utf8'), /Jupyter Server .* is running at/);

    // Secrets: the API token is in the environment only, and none of the hub's own environment leaks in.
    const cmdline = readFileSync(`/proc/${s.pid}/cmdline`, 'utf8');
    assert.ok(!cmdline.includes(req.token), 'token is not in argv');
    const environ = readFileSync(`/proc/${s.pid}/environ`, 'utf8').split('\0');
    assert.ok(environ.includes(`JUPYTERHUB_API_TOKEN=${req.token}`));
    assert.ok(environ.includes(`HOME=${workDir}`));
    assert.ok(environ.some((e) => e.startsWith(`JUPYTERHUB_SERVICE_URL=http://127.0.0.1:${s.port}/user/alice/`)));
    assert.ok(environ.some((e) => e.startsWith(`PATH=${join(REPO, 'envs', 'base', 'bin')}:`)));
    assert.ok(!environ.some((e) => e.includes('hub-secret-must-not-leak')), 'hub env is not passed on');

    // stop: gone, poll says so, nothing answers.
    await spawner.stop(state);
    assert.equal(isAlive(s.pid), false);
    const polled = await spawner.poll(state);
    assert.equal(polled.running, false);
    await assert.rejects(httpGet(`${target}/user/alice/api`));
    await spawner.stop(state); // idempotent
  });

  test('the server outlives the process that started it (hub restart), and list() finds it', async () => {
    const req = makeRequest(hub.url, 'bob', 'lab2');
    // A separate node process plays the hub: it starts the server, prints the state and exits.
    const script = join(dir.path, 'start-and-exit.mjs');
    await writeFile(
      script,
      `import { LocalSpawner } from ${JSON.stringify(LOCAL_MODULE)};
       import { silentLogger } from ${JSON.stringify(new URL('../../src/log.js', import.meta.url).href)};
       const r = JSON.parse(process.env.SPAWN_REQUEST);
       const spawner = new LocalSpawner({ dataDir: process.env.DATA_DIR, log: silentLogger() });
       const res = await spawner.start({ ...r, onProgress() {}, signal: new AbortController().signal });
       process.stdout.write(JSON.stringify(res));\n`,
    );
    const { events: _e, token: _t, onProgress: _o, signal: _s, ...plain } = req;
    const out = await new Promise<string>((resolvePromise, reject) => {
      execFile(
        process.execPath,
        [script],
        { env: { ...process.env, SPAWN_REQUEST: JSON.stringify(plain), DATA_DIR: dir.path }, timeout: START_TIMEOUT_MS },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolvePromise(stdout)),
      );
    });
    const { target, state } = JSON.parse(out) as { target: string; state: LocalServerState };
    started.push({ spawner, state });

    // The "hub" is gone; the server is not (and its logs did not go to the hub's stdout).
    assert.deepEqual(await spawner.poll(state), { running: true });
    const api = await httpGet(`${target}/user/bob/lab2/api`);
    assert.equal(api.status, 200);
    assert.equal(existsSync(join(dir.path, 'users', 'bob', '.refinery', 'lab2.log')), true);

    // A new hub (this process) finds it by its markers, with the same identity.
    const listed = (await spawner.list()).map((x) => parseLocalState(x)!);
    const mine = listed.find((x) => x.spawnId === state.spawnId);
    assert.ok(mine, `list() found ${JSON.stringify(listed)}`);
    assert.equal(mine.pid, state.pid);
    assert.equal(mine.startTime, state.startTime);
    assert.equal(mine.port, state.port);
    assert.equal(mine.user, 'bob');
    assert.equal(mine.server, 'lab2');
    assert.equal(mine.logPath, state.logPath);
    // A spawner with another data dir does not claim it.
    const other = await tmpDir('spawner-other');
    try {
      const foreign = new LocalSpawner({ dataDir: other.path, log });
      assert.equal((await foreign.list()).some((x) => (x as LocalServerState).spawnId === state.spawnId), false);
    } finally {
      await other.cleanup();
    }

    await spawner.stop(state);
    assert.deepEqual(
      (await spawner.list()).filter((x) => (x as LocalServerState).spawnId === state.spawnId),
      [],
    );
  });

  test('stop kills the server and everything it started, including processes in their own session', async () => {
    // jupyter_client starts each kernel with start_new_session=True, outside the server's process
    // group. This wrapper starts one child in the server's group and one in a new session (as a
    // kernel is), writes their pids down, then becomes jupyterhub-singleuser.
    const pidsFile = join(dir.path, 'children.pids');
    const wrapped = new LocalSpawner({
      dataDir: dir.path,
      log,
      command: [
        'bash',
        '-c',
        `sleep 1000 & echo $! > ${pidsFile}; setsid sleep 1001 & echo $! >> ${pidsFile}; exec "$0" "$@"`,
        SINGLEUSER,
      ],
      binDir: join(REPO, 'envs', 'base', 'bin'),
    });
    const { target, state } = await wrapped.start(makeRequest(hub.url, 'carol'));
    started.push({ spawner: wrapped, state });
    const s = parseLocalState(state)!;
    assert.equal((await httpGet(`${target}/user/carol/api`)).status, 200);
    const [inGroup, ownSession] = readFileSync(pidsFile, 'utf8').trim().split('\n').map(Number) as [number, number];
    assert.ok(isAlive(inGroup) && isAlive(ownSession));
    assert.equal((await readProcStat(inGroup))!.pgrp, s.pgid);
    assert.notEqual((await readProcStat(ownSession))!.pgrp, s.pgid, 'the "kernel" is outside the process group');

    const t0 = Date.now();
    await wrapped.stop(state, { graceMs: 5000 });
    const tookMs = Date.now() - t0;
    assert.equal(isAlive(s.pid), false, 'server is gone');
    assert.equal(isAlive(inGroup), false, 'child in the group is gone');
    assert.equal(isAlive(ownSession), false, 'child in its own session is gone');
    assert.ok(tookMs < 5000, `Jupyter exits on SIGTERM well within the grace period (took ${tookMs} ms)`);
    assert.equal((await wrapped.poll(state)).running, false);
    assert.match(await readFile(s.logPath, 'utf8'), /Shutting down|received signal|Terminated|shutdown/i);
  });

  test('stop escalates to SIGKILL after the grace period', async () => {
    const stubborn = new LocalSpawner({
      dataDir: dir.path,
      log,
      allowRoot: false,
      // Ignores SIGTERM and answers HTTP (python's http.server) so that start() succeeds.
      command: ['bash', '-c', `trap '' TERM; exec ${join(REPO, 'envs', 'base', 'bin', 'python')} -c "import signal,http.server as h; signal.signal(signal.SIGTERM, signal.SIG_IGN); h.HTTPServer(('127.0.0.1', int(__import__('os').environ['JUPYTERHUB_SERVICE_URL'].split(':')[2].split('/')[0])), h.SimpleHTTPRequestHandler).serve_forever()"`],
    });
    const { state } = await stubborn.start(makeRequest(hub.url, 'dave'));
    started.push({ spawner: stubborn, state });
    const s = parseLocalState(state)!;
    const t0 = Date.now();
    await stubborn.stop(state, { graceMs: 700 });
    const took = Date.now() - t0;
    assert.equal(isAlive(s.pid), false);
    assert.ok(took >= 650, `waited for the grace period first (${took} ms)`);
    assert.ok(took < 5000, `then killed it (${took} ms)`);
  });

  test('a server that never answers fails with a SpawnError naming the timeout, with its log tail, and is killed', async () => {
    const silent = new LocalSpawner({
      dataDir: dir.path,
      log,
      allowRoot: false,
      command: ['bash', '-c', 'echo "warming up the flux capacitor"; exec sleep 600'],
    });
    const t0 = Date.now();
    const err = await silent.start(makeRequest(hub.url, 'erin', '', { startTimeoutMs: 1500 })).then(
      () => assert.fail('start() should have failed'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof SpawnError, String(err));
    assert.match(err.message, /did not answer within 1\.5 seconds/);
    assert.match(err.detail ?? '', /warming up the flux capacitor/);
    assert.ok(Date.now() - t0 < 5000);
    // Nothing of it is left running.
    const left = (await silent.list()).filter((x) => (x as LocalServerState).user === 'erin');
    assert.deepEqual(left, []);
  });

  test('a server that exits during start fails at once with its exit code and log tail', async () => {
    const bad = new LocalSpawner({ dataDir: dir.path, log, args: ['--no-such-flag'] });
    const t0 = Date.now();
    const err = await bad.start(makeRequest(hub.url, 'frank')).then(
      () => assert.fail('start() should have failed'),
      (e: unknown) => e,
    );
    const took = Date.now() - t0;
    assert.ok(err instanceof SpawnError, String(err));
    assert.match(err.message, /exited with code 2 before it answered/);
    assert.match(err.detail ?? '', /unrecognized arguments: --no-such-flag/);
    assert.ok(took < 15_000, `failed fast (${took} ms), not at the ${START_TIMEOUT_MS} ms timeout`);
    assert.ok((err.detail ?? '').split('\n').length <= 20);

    // A command that does not exist at all.
    const missing = new LocalSpawner({ dataDir: dir.path, log, command: [join(dir.path, 'no-such-program')] });
    await assert.rejects(missing.start(makeRequest(hub.url, 'frank')), (e: unknown) => e instanceof SpawnError && /no-such-program/.test(e.message));
  });

  test('with concurrentStarts 1, starts take turns oldest first, each sees its place, its timeout counts from its turn, and a queued start can be cancelled', async () => {
    const queued = new LocalSpawner({
      dataDir: dir.path, log, allowRoot: false, concurrentStarts: 1,
      command: ['bash', '-c', 'echo "never answering"; exec sleep 600'],
    });
    const t0 = Date.now();
    const requests = ['ivy', 'jack', 'kate'].map((user) => makeRequest(hub.url, user, '', { startTimeoutMs: 1500 }));
    const cancel = new AbortController();
    const cancelled = makeRequest(hub.url, 'liam', '', { signal: cancel.signal });
    const outcomes = requests.map((r) => queued.start(r).then(() => 'started', (e: unknown) => ({ error: e, at: Date.now() - t0 })));
    const cancelledOutcome = queued.start(cancelled).then(() => 'started', (e: unknown) => e);
    await new Promise((r) => setTimeout(r, 300));
    cancel.abort();
    const cancelError = await cancelledOutcome;
    assert.ok(cancelError instanceof SpawnError && /cancel/i.test(cancelError.message), String(cancelError));
    assert.ok(cancelled.events.some((e) => /Waiting to start: 2 starts ahead \(1 starting now, 1 at a time/.test(e.message)), JSON.stringify(cancelled.events));
    assert.ok(!cancelled.events.some((e) => /Starting server process/.test(e.message)), 'a cancelled start never ran');

    const results = await Promise.all(outcomes);
    for (const r of results) {
      assert.ok(typeof r === 'object' && r.error instanceof SpawnError, String(r));
      // the timeout of its own turn, not of the time spent waiting for it
      assert.match(r.error.message, /did not answer within 1\.5 seconds/);
    }
    const at = results.map((r) => (r as { at: number }).at);
    assert.ok(at[0]! < at[1]! && at[1]! < at[2]!, `oldest first: failed at ${at.join(', ')} ms`);
    assert.ok(at[2]! >= 4000, `the third waited for two turns of 1.5 s (${at[2]} ms)`);
    assert.equal(requests[0]!.events.find((e) => /Waiting to start/.test(e.message)), undefined, 'the first did not wait');
    assert.deepEqual(
      requests[2]!.events.filter((e) => /Waiting to start/.test(e.message)).map((e) => e.message.replace(/ \(.*/, '')),
      ['Waiting to start: 1 start ahead', 'Waiting to start: next in line'],
    );
    // the second's process started only once the first was gone
    assert.deepEqual((await queued.list()).filter((x) => ['ivy', 'jack', 'kate', 'liam'].includes((x as LocalServerState).user)), []);
  });

  test('aborting a pending start kills the process and rejects', async () => {
    const slow = new LocalSpawner({ dataDir: dir.path, log, allowRoot: false, command: ['sleep', '600'] });
    const controller = new AbortController();
    const req = makeRequest(hub.url, 'grace', '', { signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    const t0 = Date.now();
    await assert.rejects(slow.start(req), (e: unknown) => e instanceof SpawnError && /cancel/i.test(e.message));
    assert.ok(Date.now() - t0 < 3000);
    assert.deepEqual((await slow.list()).filter((x) => (x as LocalServerState).user === 'grace'), []);
  });

  test('poll guards against pid reuse, and stop never signals a process that is not the server', async () => {
    // A live process that is not ours: right pid, wrong start time (as after the pid was reused).
    const other = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
    other.unref();
    strays.push(other.pid!);
    const real = (await readProcStat(other.pid!))!;
    const reused: LocalServerState = {
      pid: other.pid!,
      pgid: other.pid!,
      startTime: real.startTime - 1,
      bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
      spawnId: 'not-a-real-spawn',
      host: '127.0.0.1',
      port: 1,
      user: 'henry',
      server: '',
      logPath: join(dir.path, 'x.log'),
      workDir: dir.path,
      startedAt: '',
    };
    const polled = await spawner.poll(reused);
    assert.equal(polled.running, false);
    assert.match((polled as { reason?: string }).reason ?? '', /another process/);
    await spawner.stop(reused, { graceMs: 100 });
    assert.equal(isAlive(other.pid!), true, 'stop() left the unrelated process alone');

    // Same pid and start time, but from another boot: not running either.
    assert.equal((await spawner.poll({ ...reused, startTime: real.startTime, bootId: 'another-boot' })).running, false);
    // The right identity is running.
    assert.deepEqual(await spawner.poll({ ...reused, startTime: real.startTime }), { running: true });
    // Garbage is not running and stopping it is a no-op.
    assert.equal((await spawner.poll({ pid: 'x' })).running, false);
    await spawner.stop({});
    assert.equal(pidExists(process.pid), true);
  });
});

describe('process-info', () => {
  test('parses /proc/<pid>/stat even when the command name holds spaces and parentheses', () => {
    const line = '4242 (evil) (name x) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100 18446744073709551615\n';
    assert.deepEqual(parseProcStat(line), { pid: 4242, state: 'S', ppid: 1, pgrp: 4242, session: 4242, startTime: 987654 });
  });

  test('reads this process', async () => {
    const me = await readProcStat(process.pid);
    assert.equal(me?.pid, process.pid);
    assert.equal(me?.ppid, process.ppid);
    assert.ok((me?.startTime ?? 0) > 0);
    assert.equal(await readProcStat(2 ** 30), null);
  });

  test('marker variable names are stable (the reconciler and old servers depend on them)', () => {
    assert.deepEqual(MARKER_ENV, {
      dataDir: 'REFINERY_SPAWNER_DATA_DIR',
      spawnId: 'REFINERY_SPAWN_ID',
      user: 'REFINERY_USER',
      server: 'REFINERY_SERVER_NAME',
    });
  });
});
