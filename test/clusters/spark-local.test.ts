// LocalSparkBackend against REAL Spark (the pyspark package of envs/spark, made by
// scripts/setup-python.sh) on the machine's Java 17: a master and workers started detached, used from
// a separate Python process the way a notebook kernel would use them (`SparkSession.builder.getOrCreate()`
// with no arguments, in the environment reserve() gives the notebook server). No hub is needed.
// Timings are reported as diagnostics, never asserted.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join, resolve } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ClusterError, type ClusterAddresses, type ClusterOwner, type ClusterProgress, type ClusterRequest } from '../../src/clusters/backend.js';
import { parseSparkDefaults } from '../../src/clusters/spark/conf.js';
import { findJava, sparkJvm } from '../../src/clusters/spark/jvm.js';
import { LocalSparkBackend, SPARK_MARKER_ENV, parseLocalSparkState, type LocalSparkState } from '../../src/clusters/spark/local.js';
import { masterStatus, type MasterStatus } from '../../src/clusters/spark/master-api.js';
import { silentLogger } from '../../src/log.js';
import { processAlive, processesWithEnv } from '../helpers/processes.js';
import { tmpDir, waitFor, type TmpDir } from '../helpers/tmp.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const REPO = resolve(HERE, HERE.includes('/dist/') ? '../../..' : '../..');
const PYTHON = join(REPO, 'envs', 'spark', 'bin', 'python');
const START_TIMEOUT_MS = 120_000;
const JOB_TIMEOUT_MS = 180_000;
const MiB = 1024 ** 2;
const SKIP = !existsSync(PYTHON) && 'envs/spark is missing (bash scripts/setup-python.sh --only spark)';

let dir: TmpDir;
let backend: LocalSparkBackend;

function owner(user: string, server = ''): ClusterOwner {
  return { user, server, homeDir: join(dir.path, 'users', user) };
}

function sparkRequest(workers: number, overrides: Partial<ClusterRequest> = {}): ClusterRequest {
  return {
    kind: 'spark', name: 'spark', workers,
    worker: { cores: 1, memory: 512 * MiB },
    head: { cores: 1, memory: 512 * MiB },
    conf: {}, connect: false,
    ...overrides,
  };
}

interface Started {
  addresses: ClusterAddresses;
  state: LocalSparkState;
  events: ClusterProgress[];
  ms: number;
}

async function startCluster(o: ClusterOwner, request: ClusterRequest, b = backend, env?: Record<string, string>): Promise<Started> {
  const events: ClusterProgress[] = [];
  const t0 = Date.now();
  const addresses = await b.reserve(o, request);
  const raw = await b.start(o, request, addresses, { timeoutMs: START_TIMEOUT_MS, signal: new AbortController().signal, onProgress: (e) => events.push(e), ...(env ? { env } : {}) });
  const ms = Date.now() - t0;
  const state = parseLocalSparkState(raw);
  assert.ok(state, 'start() returns a local Spark state');
  return { addresses, state, events, ms };
}

/** Processes of one cluster, by marker. */
const clusterPids = (s: LocalSparkState) => processesWithEnv(SPARK_MARKER_ENV.clusterId, s.clusterId);
/** Every process of this test's backend (its data dir is the marker scope). */
const scopePids = () => processesWithEnv(SPARK_MARKER_ENV.scope, dir.path);

function environOf(pid: number): Map<string, string> {
  const env = new Map<string, string>();
  for (const e of readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0')) {
    const eq = e.indexOf('=');
    if (eq > 0) env.set(e.slice(0, eq), e.slice(eq + 1));
  }
  return env;
}
const cmdlineOf = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
const ppidOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
};

async function master(s: LocalSparkState): Promise<MasterStatus> {
  const status = await masterStatus(s.spec.host, s.masterWebPort, 5000);
  assert.ok(status, 'the master answers /json/');
  return status;
}

/** A page of a Spark UI as jupyter-server-proxy asks for it (it sends X-Forwarded-Context with its path prefix). */
async function proxiedPage(port: number, path: string, prefix: string): Promise<{ status: number; links: string[] }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { 'X-Forwarded-Context': prefix }, redirect: 'manual', signal: AbortSignal.timeout(10_000) });
  const html = await res.text();
  return { status: res.status, links: [...html.matchAll(/(?:href|src)="(\/[^"]*)"/g)].map((m) => m[1]!) };
}

interface Kernel {
  /** The first JSON line the script printed. */
  result: Promise<Record<string, unknown>>;
  /** Let the script finish (it waits on stdin when told to). */
  release(): void;
  done: Promise<{ code: number | null; stderr: string }>;
}

/**
 * Run Python from envs/spark the way a kernel of the notebook server runs: a clean environment with the
 * cluster's variables from reserve(), HOME and cwd in the user's home.
 */
function kernel(o: ClusterOwner, env: Record<string, string>, script: string, options: { wait?: boolean; unset?: string[] } = {}): Kernel {
  const full: Record<string, string> = {
    PATH: `${join(REPO, 'envs', 'spark', 'bin')}:/usr/local/bin:/usr/bin:/bin`,
    HOME: o.homeDir!,
    LANG: 'C.UTF-8',
    ...env,
    ...(options.wait ? { WAIT_STDIN: '1' } : {}),
  };
  for (const key of options.unset ?? []) delete full[key];
  mkdirSync(o.homeDir!, { recursive: true });
  const child = spawn(PYTHON, ['-c', script], { cwd: o.homeDir, env: full, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let resolveResult!: (v: Record<string, unknown>) => void;
  let rejectResult!: (e: Error) => void;
  const result = new Promise<Record<string, unknown>>((res, rej) => {
    resolveResult = res;
    rejectResult = rej;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), JOB_TIMEOUT_MS);
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    const line = stdout.split('\n').find((l) => l.startsWith('{'));
    if (line) resolveResult(JSON.parse(line) as Record<string, unknown>);
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const done = new Promise<{ code: number | null; stderr: string }>((res) => {
    child.on('exit', (code) => {
      clearTimeout(timer);
      rejectResult(new Error(`python exited with ${code} before printing a result:\n${stderr.slice(-3000)}`));
      res({ code, stderr });
    });
  });
  result.catch(() => undefined);
  return { result, release: () => child.stdin.end('\n'), done };
}

const CLASSIC_JOB = `
import json, os, sys, time
t0 = time.time()
from pyspark.sql import SparkSession
from pyspark.sql.functions import col
spark = SparkSession.builder.getOrCreate()
t1 = time.time()
rows = spark.range(100000).groupBy((col('id') % 7).alias('k')).count().collect()
t2 = time.time()
spark.range(100000).groupBy((col('id') % 7).alias('k')).count().collect()
t3 = time.time()
# Python on the executors (their Python workers): which interpreter, and what the cluster's environment gave them.
seen = spark.sparkContext.parallelize(range(4), 2).map(lambda _: (__import__('sys').executable, __import__('os').environ.get('TEST_S3_SECRET'))).distinct().collect()
print(json.dumps({"result": sorted([[r['k'], r['count']] for r in rows]), "appId": spark.sparkContext.applicationId,
  "master": spark.sparkContext.master, "session": type(spark).__module__, "executorPython": sorted(set(p for p, _ in seen)), "executorEnv": sorted(set(str(v) for _, v in seen)),
  "session_s": round(t1 - t0, 2), "first_job_s": round(t2 - t1, 2), "second_job_s": round(t3 - t2, 2)}), flush=True)
if os.environ.get('WAIT_STDIN'):
    sys.stdin.readline()
spark.stop()
`;

const CREDENTIAL = 'cred-5f1c0e2b9a';
const EXPECTED = [[0, 14286], [1, 14286], [2, 14286], [3, 14286], [4, 14286], [5, 14285], [6, 14285]];

function assertNoneLeft(pids: () => number[], what: string): Promise<unknown> {
  return waitFor(() => pids().length === 0, { timeoutMs: 15_000, message: `no process of ${what} left (left: ${pids().join(', ')})` });
}

function cgroupDirsExist(s: LocalSparkState): string[] {
  return (s.cgroups ?? []).filter((d) => existsSync(d));
}

describe('LocalSparkBackend (real Spark)', { skip: SKIP, timeout: 900_000 }, () => {
  before(async () => {
    dir = await tmpDir('spark-local');
    backend = new LocalSparkBackend({ dataDir: dir.path, log: silentLogger(), scratchDir: join(dir.path, 'scratch'), classArchives: { train: false } });
    // Class data sharing archives: made once per machine (kept in ~/.cache/refinery/spark-cds), so
    // that the timings below are those of a hub that has run a cluster before.
    const t0 = Date.now();
    const roles = await backend.prepareClassArchives();
    process.stdout.write(`# class archives ready (${roles.join(', ')}) after ${Date.now() - t0} ms\n`);
  });

  after(async () => {
    // Nothing of this file may outlive it, even after a failure.
    const left = await backend.list().catch(() => []);
    for (const s of left) await backend.stop(s).catch(() => undefined);
    await dir.cleanup();
  });

  describe('a 2-worker cluster', () => {
    let alice: ClusterOwner;
    let started: Started;

    before(async () => {
      alice = owner('alice');
      // Extra environment for the cluster (object-storage credentials, say): through the environment only.
      started = await startCluster(alice, sparkRequest(2), backend, { TEST_S3_SECRET: CREDENTIAL, REFINERY_CLUSTER_ID: 'not-a-marker' });
    });

    test('reserve() writes the configuration a kernel needs, and the environment points at it', (t: TestContext) => {
      const { env, ui, reservation } = started.addresses;
      const s = started.state;
      assert.equal(env.SPARK_MASTER_URL, s.masterUrl);
      assert.match(env.SPARK_MASTER_URL!, /^spark:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(env.SPARK_CONF_DIR, join(alice.homeDir!, '.refinery', 'default.spark', 'conf'));
      assert.equal(env.SPARK_LOCAL_IP, '127.0.0.1');
      assert.equal(env.PYSPARK_PYTHON, PYTHON);
      assert.equal(env.SPARK_REMOTE, undefined, 'classic unless the profile asks for Connect');
      assert.deepEqual(Object.keys(ui).sort(), ['app', 'master']);
      assert.deepEqual(ui.master, { port: s.masterWebPort, path: '/' });
      assert.deepEqual(ui.app, { port: s.spec.appUiPort, path: '/jobs/' });
      assert.equal(statSync(env.SPARK_CONF_DIR!).mode & 0o777, 0o700);
      const file = join(env.SPARK_CONF_DIR!, 'spark-defaults.conf');
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const conf = parseSparkDefaults(readFileSync(file, 'utf8'));
      assert.equal(conf.get('spark.master'), s.masterUrl);
      assert.equal(conf.get('spark.driver.host'), '127.0.0.1');
      assert.equal(conf.get('spark.executor.memory'), '512m');
      assert.equal(conf.get('spark.executor.cores'), '1');
      assert.equal(conf.get('spark.ui.port'), String(ui.app!.port));
      assert.equal(conf.get('spark.authenticate'), 'true');
      const secret = conf.get('spark.authenticate.secret')!;
      assert.ok(secret.length >= 32);
      assert.ok(!JSON.stringify(reservation).includes(secret) && !JSON.stringify(s).includes(secret), 'the secret is not in what the hub stores');
      t.diagnostic(`2 workers: reserve → ready ${started.ms} ms; progress: ${started.events.map((e) => `${e.progress} ${e.message}`).join(' | ')}`);
    });

    test('progress goes master, workers, ready', () => {
      const messages = started.events.map((e) => e.message);
      for (const m of ['Starting Spark master', 'Spark master up', 'Workers registered 1/2', 'Workers registered 2/2', 'Spark cluster ready']) {
        assert.ok(messages.includes(m), `progress has "${m}": ${messages.join(' | ')}`);
      }
      assert.ok(messages.indexOf('Starting Spark master') < messages.indexOf('Spark master up'));
      assert.ok(messages.indexOf('Workers registered 2/2') < messages.indexOf('Spark cluster ready'));
      assert.equal(started.events.at(-1)!.progress, 100);
      const values = started.events.map((e) => e.progress);
      assert.deepEqual(values, [...values].sort((a, b) => a - b), 'progress never goes back');
    });

    test('status says running with 2 workers, and the master lists both ALIVE', async () => {
      assert.deepEqual(await backend.status(started.state), { running: true, workers: 2 });
      const m = await master(started.state);
      assert.equal(m.url, started.state.masterUrl);
      assert.equal(m.status, 'ALIVE');
      const alive = m.workers.filter((w) => w.state === 'ALIVE');
      assert.equal(alive.length, 2);
      assert.deepEqual(alive.map((w) => w.port).sort(), started.state.workers.map((w) => w.port).sort());
      for (const w of alive) {
        assert.equal(w.cores, 1);
        assert.equal(w.memory, 512);
        assert.equal(w.host, '127.0.0.1');
      }
    });

    test('the master UI renders for /user/<name>/proxy/<port>/ (jupyter-server-proxy)', async () => {
      const prefix = `/user/alice/proxy/${started.state.masterWebPort}`;
      const page = await proxiedPage(started.state.masterWebPort, '/', prefix);
      assert.equal(page.status, 200);
      assert.ok(page.links.length > 3);
      for (const link of page.links) assert.ok(link.startsWith(`${prefix}/`), `${link} is under the proxy prefix`);
    });

    test('its processes carry the markers, listen on loopback only, and keep the secret out of argv', async () => {
      const pids = clusterPids(started.state);
      const recorded = [started.state.master!.pid, ...started.state.workers.map((w) => w.pid)];
      for (const pid of recorded) assert.ok(pids.includes(pid), `process ${pid} carries the cluster id`);
      const env = environOf(started.state.master!.pid);
      assert.equal(env.get(SPARK_MARKER_ENV.user), 'alice');
      assert.equal(env.get(SPARK_MARKER_ENV.server), '');
      assert.equal(env.get(SPARK_MARKER_ENV.name), 'spark');
      assert.equal(env.get(SPARK_MARKER_ENV.kind), 'spark');
      assert.equal(env.get(SPARK_MARKER_ENV.role), 'master');
      const secret = parseSparkDefaults(readFileSync(join(started.addresses.env.SPARK_CONF_DIR!, 'spark-defaults.conf'), 'utf8')).get('spark.authenticate.secret')!;
      for (const pid of pids) {
        assert.ok(!cmdlineOf(pid).join(' ').includes(secret), `the secret is not in the argv of ${pid}`);
        assert.ok(!cmdlineOf(pid).join(' ').includes(CREDENTIAL), `start()'s extra environment is not in the argv of ${pid}`);
        assert.equal(environOf(pid).get('TEST_S3_SECRET'), CREDENTIAL, `process ${pid} has start()'s extra environment`);
        assert.equal(environOf(pid).get(SPARK_MARKER_ENV.clusterId), started.state.clusterId, 'extra environment cannot replace a marker');
      }
      const masterLog = readFileSync(join(alice.homeDir!, '.refinery', 'default.spark.master.log'), 'utf8');
      assert.match(masterLog, /authentication enabled/);
      // Everything listens on 127.0.0.1 (Spark would bind its UIs to 0.0.0.0 without SPARK_LOCAL_IP).
      const tcp = readFileSync('/proc/net/tcp', 'utf8') + (existsSync('/proc/net/tcp6') ? readFileSync('/proc/net/tcp6', 'utf8') : '');
      for (const port of [started.state.spec.masterPort, started.state.masterWebPort, ...started.state.workers.flatMap((w) => [w.port, w.webPort])]) {
        const hex = port.toString(16).toUpperCase().padStart(4, '0');
        const listening = tcp.split('\n').filter((l) => l.includes(`:${hex} `) && / 0A /.test(l)).map((l) => l.trim().split(/\s+/)[1]!.split(':')[0]);
        assert.ok(listening.length > 0, `something listens on ${port}`);
        for (const addr of listening) assert.ok(addr === '0100007F' || addr === '0000000000000000FFFF00000100007F', `port ${port} listens on loopback only (${addr})`);
      }
    });

    test('the JVMs use the class data sharing archives, and live in their cgroups', async (t: TestContext) => {
      const archives = backend.archives!.available(await sparkJvm(findJava(process.env.JAVA_HOME, process.env.PATH), backend.sparkHome));
      if (archives.master) {
        assert.match(readFileSync(`/proc/${started.state.master!.pid}/maps`, 'utf8'), new RegExp(archives.master.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
        assert.match(readFileSync(`/proc/${started.state.workers[0]!.pid}/maps`, 'utf8'), new RegExp(archives.worker!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      } else t.diagnostic('no class archives (training failed?): not checked');
      const enforced = started.state.enforced;
      t.diagnostic(`resource limits: ${JSON.stringify(enforced)}`);
      if (enforced?.memoryLimit?.startsWith('cgroup')) {
        const dirs = cgroupDirsExist(started.state);
        assert.ok(dirs.length >= 3, 'one cgroup per process and controller');
        const memDir = dirs.find((d) => d.includes('/memory/') && d.endsWith(`${started.state.clusterId}-w0`));
        assert.ok(memDir, `worker 0 has a memory cgroup: ${dirs.join(', ')}`);
        assert.ok(readFileSync(join(memDir, 'cgroup.procs'), 'utf8').split('\n').includes(String(started.state.workers[0]!.pid)), 'worker 0 is in it');
        assert.equal(Number(readFileSync(join(memDir, 'memory.limit_in_bytes'), 'utf8')), (512 + 384 + 256 + 160) * MiB);
      }
    });

    test('a kernel runs a job on THIS cluster with getOrCreate() and no arguments; executors are the workers\' children', async (t: TestContext) => {
      const k = kernel(alice, started.addresses.env, CLASSIC_JOB, { wait: true });
      let out: Record<string, unknown>;
      try {
        out = await k.result;
      } catch (e) {
        k.release();
        throw e;
      }
      try {
        assert.deepEqual(out.result, EXPECTED);
        assert.equal(out.master, started.state.masterUrl);
        assert.equal(out.session, 'pyspark.sql.session', 'a classic session');
        assert.deepEqual(out.executorPython, [PYTHON], 'executors run Python from envs/spark (PYSPARK_PYTHON)');
        assert.deepEqual(out.executorEnv, [CREDENTIAL], 'start()\'s extra environment reaches the executors\' Python workers');
        // While the application runs: its executors are children of our workers, carry the cluster's
        // markers (so stop() finds them) and sit in the workers' cgroups.
        const workerPids = new Set(started.state.workers.map((w) => w.pid));
        const executors = clusterPids(started.state).filter((pid) => cmdlineOf(pid).includes('org.apache.spark.executor.CoarseGrainedExecutorBackend'));
        assert.equal(executors.length, 2, 'one executor per worker');
        for (const pid of executors) {
          assert.ok(workerPids.has(ppidOf(pid)), `executor ${pid} is a child of a worker`);
          assert.equal(environOf(pid).get(SPARK_MARKER_ENV.role), 'worker');
          assert.ok(!cmdlineOf(pid).join(' ').includes(parseSparkDefaults(readFileSync(join(started.addresses.env.SPARK_CONF_DIR!, 'spark-defaults.conf'), 'utf8')).get('spark.authenticate.secret')!));
        }
        // The driver's UI is at the reserved port, and renders for the proxy from the `app` link's path.
        const ui = started.addresses.ui.app!;
        const prefix = `/user/alice/proxy/${ui.port}`;
        const page = await proxiedPage(ui.port, ui.path, prefix);
        assert.equal(page.status, 200);
        assert.ok(page.links.some((l) => l === `${prefix}/executors/`), page.links.join(' '));
        for (const link of page.links) assert.ok(link.startsWith(`${prefix}/`), `${link} is under the proxy prefix`);
        const m = await master(started.state);
        const app = m.activeapps.find((a) => a.id === out.appId);
        assert.ok(app, `the master runs application ${String(out.appId)}`);
        assert.equal(app.cores, 2, 'with the cores of both workers');
        assert.ok(existsSync(join(backend.scratchDir, started.state.clusterId, 'work', String(out.appId))), 'the workers ran it in their work directory');
      } finally {
        k.release();
      }
      const done = await k.done;
      assert.equal(done.code, 0, done.stderr.slice(-2000));
      const m = await waitFor(async (): Promise<MasterStatus | null> => {
        const s = await master(started.state);
        return s.completedapps.some((a) => a.id === out.appId) ? s : null;
      }, { timeoutMs: 20_000, message: 'the application to finish' });
      const finished = m.completedapps.find((a) => a.id === out.appId)!;
      assert.equal(finished.state, 'FINISHED');
      assert.equal(finished.memoryperexecutor, 512);
      t.diagnostic(`kernel: session ${String(out.session_s)} s, first job ${String(out.first_job_s)} s, second job ${String(out.second_job_s)} s`);
    });

    test('scale 2 → 1 → 2', async (t: TestContext) => {
      const t0 = Date.now();
      const down = parseLocalSparkState(await backend.scale(started.state, 1, { timeoutMs: START_TIMEOUT_MS }))!;
      const downMs = Date.now() - t0;
      assert.deepEqual(down.workers.map((w) => w.index), [0]);
      assert.deepEqual(await backend.status(down), { running: true, workers: 1 });
      assert.equal((await master(down)).aliveworkers, 1);
      await assertNoneLeft(() => processesWithEnv(SPARK_MARKER_ENV.worker, '1').filter((pid) => environOf(pid).get(SPARK_MARKER_ENV.clusterId) === down.clusterId), 'worker 1');
      if (started.state.enforced?.memoryLimit?.startsWith('cgroup')) {
        assert.ok(!cgroupDirsExist(started.state).some((d) => d.endsWith(`${down.clusterId}-w1`)), 'worker 1\'s cgroups are removed');
      }
      const t1 = Date.now();
      const up = parseLocalSparkState(await backend.scale(down, 2, { timeoutMs: START_TIMEOUT_MS }))!;
      const upMs = Date.now() - t1;
      assert.deepEqual(up.workers.map((w) => w.index), [0, 1]);
      assert.equal(environOf(up.workers[1]!.pid).get('TEST_S3_SECRET'), CREDENTIAL, 'a worker added later gets the same extra environment');
      assert.deepEqual(await backend.status(up), { running: true, workers: 2 });
      const m = await master(up);
      assert.deepEqual(m.workers.filter((w) => w.state === 'ALIVE').map((w) => w.port).sort(), up.workers.map((w) => w.port).sort());
      started.state = up;
      t.diagnostic(`scale 2→1 ${downMs} ms, 1→2 ${upMs} ms`);
    });

    test('a restarted hub finds the cluster (list), and stop leaves nothing behind', async () => {
      const fresh = new LocalSparkBackend({ dataDir: dir.path, log: silentLogger(), scratchDir: backend.scratchDir, classArchives: false });
      const listed = (await fresh.list()).map((s) => parseLocalSparkState(s)!).filter((s) => s.clusterId === started.state.clusterId);
      assert.equal(listed.length, 1);
      const found = listed[0]!;
      assert.equal(found.user, 'alice');
      assert.equal(found.server, '');
      assert.equal(found.name, 'spark');
      assert.equal(found.master?.pid, started.state.master!.pid);
      assert.deepEqual(found.workers.map((w) => [w.index, w.pid, w.port]), started.state.workers.map((w) => [w.index, w.pid, w.port]));
      assert.deepEqual(await fresh.status(found), { running: true, workers: 2 });
      if (started.state.cgroups?.length) assert.deepEqual([...(found.cgroups ?? [])].sort(), cgroupDirsExist(started.state).sort());

      const pids = clusterPids(found);
      assert.ok(pids.length >= 3);
      await fresh.stop(found);
      await assertNoneLeft(() => clusterPids(found), 'the cluster');
      for (const pid of pids) assert.ok(!processAlive(pid), `process ${pid} is gone`);
      assert.deepEqual(cgroupDirsExist(started.state), [], 'its cgroups are removed');
      assert.ok(!existsSync(join(backend.scratchDir, found.clusterId)), 'its scratch directory is removed');
      assert.deepEqual(await backend.status(started.state), { running: false, workers: 0, reason: 'the Spark master is gone' });
      await backend.stop(started.state); // idempotent
      assert.equal((await backend.list()).filter((s) => s.clusterId === found.clusterId).length, 0);
    });
  });

  test('with connect: true, SPARK_REMOTE makes getOrCreate() a Spark Connect session that runs queries', async (t: TestContext) => {
    const bob = owner('bob', 'lab');
    const started = await startCluster(bob, sparkRequest(1, { connect: true }));
    try {
      const { env, ui } = started.addresses;
      assert.match(env.SPARK_REMOTE!, /^sc:\/\/localhost:\d+$/);
      assert.ok(env.SPARK_CONNECT_AUTHENTICATE_TOKEN && env.SPARK_CONNECT_AUTHENTICATE_TOKEN.length >= 32);
      assert.ok(ui.connect, 'the Connect server\'s UI is offered');
      assert.ok(started.events.some((e) => e.message === 'Spark Connect server up'));
      // ready once the Connect server's driver has its executor: the first query does not wait for its JVM
      assert.ok(started.events.some((e) => e.message === 'Spark Connect executors ready 1/1'), JSON.stringify(started.events.map((e) => e.message)));
      assert.equal(env.SPARK_CONF_DIR, join(bob.homeDir!, '.refinery', 'lab.spark', 'conf'));
      // and once a first query has run on it, so a notebook's first action pays for no cold JVM
      assert.ok(started.events.some((e) => e.message === 'Warming up Spark Connect with a first query'));
      const apps = (await (await fetch(`http://127.0.0.1:${ui.connect!.port}/api/v1/applications`)).json()) as { id: string }[];
      const jobs = (await (await fetch(`http://127.0.0.1:${ui.connect!.port}/api/v1/applications/${apps[0]!.id}/jobs`)).json()) as { status: string }[];
      assert.ok(jobs.length >= 2 && jobs.every((j) => j.status === 'SUCCEEDED'), `the warm-up's jobs ran on the Connect server before it was ready: ${JSON.stringify(jobs)}`);
      assert.match(readFileSync(join(bob.homeDir!, '.refinery', 'lab.spark.connect.log'), 'utf8'), /starting Spark Connect warm-up query/);
      const script = (how: string) => `
import json, os, time
t0 = time.time()
from pyspark.sql import SparkSession
from pyspark.sql.functions import col
spark = ${how}
rows = spark.range(100000).groupBy((col('id') % 7).alias('k')).count().collect()
print(json.dumps({"result": sorted([[r['k'], r['count']] for r in rows]), "session": type(spark).__module__, "s": round(time.time() - t0, 2)}), flush=True)
`;
      const plain = kernel(bob, env, script('SparkSession.builder.getOrCreate()'));
      const out = await plain.result;
      assert.deepEqual(out.result, EXPECTED);
      assert.equal(out.session, 'pyspark.sql.connect.session', 'plain getOrCreate() goes to Spark Connect when SPARK_REMOTE is set');
      assert.equal((await plain.done).code, 0);
      const explicit = kernel(bob, env, script("SparkSession.builder.remote(os.environ['SPARK_REMOTE']).getOrCreate()"));
      assert.deepEqual((await explicit.result).result, EXPECTED);
      await explicit.done;
      // The Connect server is this cluster's application and holds its executors.
      const m = await master(started.state);
      assert.ok(m.activeapps.some((a) => a.name === 'Spark Connect server' && a.cores === 1), JSON.stringify(m.activeapps));
      // Without the token, the Connect server refuses.
      const anonymous = kernel(bob, env, script('SparkSession.builder.getOrCreate()'), { unset: ['SPARK_CONNECT_AUTHENTICATE_TOKEN'] });
      const refused = await anonymous.done;
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /authentication token|UNAUTHENTICATED/i);
      t.diagnostic(`connect, 1 worker: reserve → ready ${started.ms} ms; first query from a new kernel ${String(out.s)} s; progress: ${started.events.map((e) => `${e.progress} ${e.message}`).join(' | ')}`);
    } finally {
      await backend.stop(started.state);
    }
    await assertNoneLeft(() => clusterPids(started.state), 'the Connect cluster');
  });

  test('two owners run side by side on separate ports and do not see each other\'s applications', async (t: TestContext) => {
    const carol = owner('carol');
    const dave = owner('dave', 'gpu');
    const [c, d] = await Promise.all([startCluster(carol, sparkRequest(1)), startCluster(dave, sparkRequest(1))]);
    try {
      const ports = (s: LocalSparkState) => [s.spec.masterPort, s.masterWebPort, s.spec.appUiPort, ...s.workers.flatMap((w) => [w.port, w.webPort])];
      assert.deepEqual(ports(c.state).filter((p) => ports(d.state).includes(p)), [], 'no port in common');
      assert.notEqual(c.addresses.env.SPARK_CONF_DIR, d.addresses.env.SPARK_CONF_DIR);
      // Application ids are "app-<second>-<counter>" per master, so two masters started together can
      // hand out the same id: tell the applications apart by name
      const job = (name: string) => `
import json
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("${name}").getOrCreate()
n = spark.range(1000).count()
print(json.dumps({"appId": spark.sparkContext.applicationId, "master": spark.sparkContext.master, "n": n}), flush=True)
spark.stop()
`;
      const [kc, kd] = [kernel(carol, c.addresses.env, job('job-of-carol')), kernel(dave, d.addresses.env, job('job-of-dave'))];
      const [oc, od] = await Promise.all([kc.result, kd.result]);
      await Promise.all([kc.done, kd.done]);
      assert.equal(oc.master, c.state.masterUrl);
      assert.equal(od.master, d.state.masterUrl);
      const apps = async (s: LocalSparkState) => {
        const m = await master(s);
        return [...m.activeapps, ...m.completedapps].map((a) => `${a.name} ${a.id}`);
      };
      const [appsC, appsD] = await Promise.all([apps(c.state), apps(d.state)]);
      assert.deepEqual(appsC, [`job-of-carol ${String(oc.appId)}`], "carol's master knows her application only");
      assert.deepEqual(appsD, [`job-of-dave ${String(od.appId)}`], "dave's master knows his application only");
      const listed = (await backend.list()).map((s) => parseLocalSparkState(s)!);
      assert.deepEqual(listed.map((s) => `${s.user}/${s.server}/${s.name}`).sort(), ['carol//spark', 'dave/gpu/spark']);
      t.diagnostic(`1 worker each, started at the same time: ${c.ms} ms and ${d.ms} ms`);
    } finally {
      await Promise.all([backend.stop(c.state), backend.stop(d.state)]);
    }
    await assertNoneLeft(scopePids, 'either cluster');
  });

  test('one worker, and a cold start without class archives (for the timings)', async (t: TestContext) => {
    const erin = owner('erin');
    const warm = await startCluster(erin, sparkRequest(1));
    await backend.stop(warm.state);
    const cold = new LocalSparkBackend({ dataDir: dir.path, log: silentLogger(), scratchDir: backend.scratchDir, classArchives: false });
    const c = await startCluster(erin, sparkRequest(1), cold);
    try {
      assert.deepEqual(await cold.status(c.state), { running: true, workers: 1 });
      assert.ok(!readFileSync(`/proc/${c.state.master!.pid}/maps`, 'utf8').includes('spark-master-'), 'no archive');
    } finally {
      await cold.stop(c.state);
    }
    await assertNoneLeft(scopePids, 'the clusters');
    t.diagnostic(`1 worker: reserve → ready ${warm.ms} ms with class archives, ${c.ms} ms without`);
  });

  describe('failures leave nothing running', () => {
    test('absurd worker memory is refused before anything starts, naming the cause', async () => {
      const before = scopePids().length;
      await assert.rejects(backend.reserve(owner('frank'), sparkRequest(2, { worker: { cores: 1, memory: 64 * 1024 ** 4 } })), (e: unknown) => {
        assert.ok(e instanceof ClusterError);
        assert.match(e.message, /each worker asks for 65536 GiB of memory .*more than this machine has/);
        return true;
      });
      assert.equal(scopePids().length, before);
    });

    test('JAVA_HOME pointing nowhere is refused, naming it', async () => {
      const nowhere = join(dir.path, 'no-java-here');
      const broken = new LocalSparkBackend({ dataDir: dir.path, log: silentLogger(), javaHome: nowhere, classArchives: false });
      await assert.rejects(broken.reserve(owner('frank'), sparkRequest(1)), (e: unknown) => e instanceof ClusterError && e.message.includes(`JAVA_HOME is ${nowhere}, which has no bin/java`));
      // The same through the cluster processes' environment (a profile's env), at start.
      const o = owner('frank');
      const addresses = await backend.reserve(o, sparkRequest(1));
      await assert.rejects(
        backend.start(o, sparkRequest(1), addresses, { timeoutMs: START_TIMEOUT_MS, signal: new AbortController().signal, onProgress: () => undefined, env: { JAVA_HOME: nowhere } }),
        (e: unknown) => e instanceof ClusterError && /Java was not found/.test(e.message),
      );
      assert.deepEqual(scopePids(), []);
    });

    test('a taken master port fails the start with the port in the message and the log in the detail', async () => {
      const o = owner('grace');
      const request = sparkRequest(2);
      const addresses = await backend.reserve(o, request);
      const port = (addresses.reservation as { masterPort: number }).masterPort;
      const squatter: Server = createServer(() => undefined);
      await new Promise<void>((r) => squatter.listen(port, '127.0.0.1', r));
      const events: ClusterProgress[] = [];
      try {
        await assert.rejects(backend.start(o, request, addresses, { timeoutMs: START_TIMEOUT_MS, signal: new AbortController().signal, onProgress: (e) => events.push(e) }), (e: unknown) => {
          assert.ok(e instanceof ClusterError);
          assert.match(e.message, new RegExp(`Spark master exited with code \\d+ before it was ready: port ${port} is already in use`));
          assert.match(e.detail ?? '', /BindException|Address already in use|bind/i);
          return true;
        });
      } finally {
        squatter.close();
      }
      await assertNoneLeft(scopePids, 'the failed cluster');
      assert.deepEqual(readdirSync(backend.scratchDir), [], 'no scratch directory left');
    });

    test('an abort during the start stops everything started so far', async () => {
      const o = owner('heidi');
      const request = sparkRequest(2);
      const addresses = await backend.reserve(o, request);
      const abort = new AbortController();
      const seen: string[] = [];
      const start = backend.start(o, request, addresses, {
        timeoutMs: START_TIMEOUT_MS, signal: abort.signal,
        onProgress: (e) => {
          seen.push(e.message);
          if (/Starting \d+ Spark workers/.test(e.message)) setTimeout(() => abort.abort(), 200);
        },
      });
      await assert.rejects(start, (e: unknown) => e instanceof ClusterError && /cancelled/.test(e.message));
      assert.ok(seen.some((m) => /Starting 2 Spark workers/.test(m)), `the workers were being started: ${seen.join(' | ')}`);
      await assertNoneLeft(scopePids, 'the aborted cluster');
    });

    test('a start that does not finish in time is stopped, naming what was missing', async () => {
      const o = owner('ivan');
      const request = sparkRequest(1);
      const addresses = await backend.reserve(o, request);
      await assert.rejects(
        backend.start(o, request, addresses, { timeoutMs: 300, signal: new AbortController().signal, onProgress: () => undefined }),
        (e: unknown) => e instanceof ClusterError && /not up within 0\.3 seconds|registered within 0\.3 seconds/.test(e.message),
      );
      await assertNoneLeft(scopePids, 'the timed-out cluster');
    });

    test('an unusable class archive costs speed, not the start', async () => {
      const archiveDir = join(dir.path, 'bad-archives');
      mkdirSync(archiveDir, { recursive: true });
      const b = new LocalSparkBackend({ dataDir: dir.path, log: silentLogger(), scratchDir: backend.scratchDir, classArchives: { dir: archiveDir, train: false } });
      const jvm = await sparkJvm(findJava(process.env.JAVA_HOME, process.env.PATH), b.sparkHome);
      for (const role of ['master', 'worker'] as const) writeFileSync(b.archives!.path(jvm, role), Buffer.alloc(2 * MiB, 7));
      const s = await startCluster(owner('judy'), sparkRequest(1), b);
      try {
        assert.deepEqual(await b.status(s.state), { running: true, workers: 1 });
      } finally {
        await b.stop(s.state);
      }
      await assertNoneLeft(scopePids, 'the cluster');
    });
  });
});
