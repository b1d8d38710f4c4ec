// LocalDaskBackend against REAL Dask processes from envs/dask (made by scripts/setup-python.sh): a
// scheduler and workers started detached, used from a separate Python process the way a notebook
// kernel would use them (`Client()` with no arguments, from the environment reserve() gives the
// notebook server). No hub is needed. Timings are reported as diagnostics, never asserted.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ClusterError, type ClusterAddresses, type ClusterOwner, type ClusterProgress, type ClusterRequest } from '../../src/clusters/backend.js';
import { CLUSTER_MARKER_ENV, LocalDaskBackend, NANNY_MEMORY_ALLOWANCE, parseLocalDaskState, type LocalDaskState } from '../../src/clusters/dask/local.js';
import { silentLogger } from '../../src/log.js';
import { processAlive, processesWithEnv } from '../helpers/processes.js';
import { tmpDir, waitFor, type TmpDir } from '../helpers/tmp.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const REPO = resolve(HERE, HERE.includes('/dist/') ? '../../..' : '../..');
const PYTHON = join(REPO, 'envs', 'dask', 'bin', 'python');
const START_TIMEOUT_MS = 90_000;
const MiB = 1024 ** 2;
/** Stands in for object-storage credentials: extra env for the cluster's processes. */
const SECRET = 'not-in-argv-or-state-7f3a';
const SKIP = !existsSync(PYTHON) && 'envs/dask is missing (bash scripts/setup-python.sh --only dask)';

let dir: TmpDir;
let backend: LocalDaskBackend;

function owner(user: string, server = ''): ClusterOwner {
  return { user, server, homeDir: join(dir.path, 'users', user) };
}

function daskRequest(workers: number, overrides: Partial<ClusterRequest> = {}): ClusterRequest {
  return {
    kind: 'dask', name: 'dask', workers,
    worker: { cores: 1, memory: 512 * MiB },
    head: { cores: 1, memory: 512 * MiB },
    conf: {}, connect: false,
    ...overrides,
  };
}

interface Started {
  addresses: ClusterAddresses;
  state: LocalDaskState;
  events: ClusterProgress[];
  ms: number;
}

async function startCluster(o: ClusterOwner, request: ClusterRequest, env?: Record<string, string>): Promise<Started> {
  const events: ClusterProgress[] = [];
  const t0 = Date.now();
  const addresses = await backend.reserve(o, request);
  const raw = await backend.start(o, request, addresses, {
    timeoutMs: START_TIMEOUT_MS, signal: new AbortController().signal, onProgress: (e) => events.push(e), ...(env ? { env } : {}),
  });
  const ms = Date.now() - t0;
  const state = parseLocalDaskState(raw);
  assert.ok(state, 'start() returns a local Dask state');
  return { addresses, state, events, ms };
}

/** Run Python from envs/dask with the notebook server's cluster environment, like a kernel; resolves with parsed JSON from its last stdout line. */
function kernel(env: Record<string, string>, code: string, timeoutMs = 120_000): Promise<any> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      PYTHON, ['-c', code],
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', HOME: dir.path, ...env }, cwd: dir.path, timeout: timeoutMs, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`python failed: ${error.message}\n${stderr}`));
        try {
          resolvePromise(JSON.parse(stdout.trim().split('\n').pop() ?? ''));
        } catch {
          reject(new Error(`python printed no JSON: ${stdout}\n${stderr}`));
        }
      },
    );
  });
}

const marked = (clusterId: string) => processesWithEnv(CLUSTER_MARKER_ENV.clusterId, clusterId);
const markedInScope = () => processesWithEnv(CLUSTER_MARKER_ENV.scope, dir.path);

/** Cgroup dirs (any hierarchy) whose name starts with the cluster id, under refinery-dask/. */
function cgroupDirsOf(clusterId: string): string[] {
  const found: string[] = [];
  const walk = (d: string, depth: number) => {
    if (depth > 8) return;
    let entries: string[] = [];
    try {
      entries = readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return;
    }
    for (const e of entries) {
      if (d.endsWith('/refinery-dask') && e.startsWith(clusterId)) found.push(join(d, e));
      else if (e === 'refinery-dask' || depth < 4) walk(join(d, e), depth + 1);
    }
  };
  for (const h of ['/sys/fs/cgroup/memory', '/sys/fs/cgroup/cpu', '/sys/fs/cgroup']) walk(h, 0);
  return [...new Set(found)];
}

async function assertNothingLeft(clusterId: string): Promise<void> {
  assert.deepEqual(marked(clusterId), [], 'no process carries the cluster id');
  assert.deepEqual(cgroupDirsOf(clusterId), [], 'no cgroup of the cluster is left');
  assert.equal(existsSync(join(backend.scratchDir, clusterId)), false, 'the scratch directory is removed');
}

function report(t: TestContext, what: string, ms: number): void {
  t.diagnostic(`timing: ${what}: ${ms} ms`);
}

describe('LocalDaskBackend', { skip: SKIP, timeout: 600_000 }, () => {
  before(async () => {
    dir = await tmpDir('dask');
    backend = new LocalDaskBackend({ dataDir: dir.path, log: silentLogger(), scratchDir: join(dir.path, 'scratch') });
  });

  after(async () => {
    const left = markedInScope();
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await dir?.cleanup();
    assert.deepEqual(left, [], 'the tests left no Dask process behind');
  });

  describe('a cluster of two workers', () => {
    let c: Started;
    const alice = () => owner('alice');

    before(async () => {
      c = await startCluster(alice(), daskRequest(2), { STORAGE_SECRET_KEY: SECRET });
    });
    after(async () => {
      if (c) await backend.stop(c.state);
    });

    test('reserve gives the notebook the scheduler address, its TLS client files, the dashboard link template and the dashboard port', (t) => {
      const port = c.state.spec.schedulerPort;
      assert.equal(c.addresses.env.DASK_SCHEDULER_ADDRESS, `tls://127.0.0.1:${port}`);
      const tls = join(dir.path, 'users', 'alice', '.refinery', 'default.dask', 'tls');
      assert.deepEqual(
        [c.addresses.env.DASK_DISTRIBUTED__COMM__TLS__CA_FILE, c.addresses.env.DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT, c.addresses.env.DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY],
        [join(tls, 'ca.pem'), join(tls, 'client.pem'), join(tls, 'client.key')],
      );
      for (const file of readdirSync(tls)) assert.equal(statSync(join(tls, file)).mode & 0o777, 0o600, `${file} is private`);
      assert.ok(!readdirSync(tls).some((f) => f.startsWith('ca.key')), 'the CA key is thrown away once the certificates are signed');
      assert.equal(c.addresses.env.DASK_DISTRIBUTED__DASHBOARD__LINK, '{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/status');
      assert.deepEqual(c.addresses.ui, { dashboard: { port: c.state.dashboardPort, path: '/status' } });
      assert.notEqual(c.state.dashboardPort, port);
      report(t, 'reserve→ready, 2 workers', c.ms);
    });

    test('progress goes from the scheduler to each worker to ready', () => {
      assert.deepEqual(c.events.map((e) => e.message), ['Starting Dask scheduler', 'Scheduler up', 'Workers registered 1/2', 'Workers registered 2/2', 'Dask cluster ready']);
      const values = c.events.map((e) => e.progress);
      assert.deepEqual(values, [...values].sort((a, b) => a - b), 'progress never goes back');
      assert.equal(values.at(-1), 100);
    });

    test('status: running with 2 workers', async () => {
      assert.deepEqual(await backend.status(c.state), { running: true, workers: 2 });
    });

    test('Client() with no arguments computes on this cluster; each worker has 1 thread and the memory asked for', async () => {
      const result = await kernel(c.addresses.env, `
import json, os
import dask, dask.array as da, dask.dataframe as dd, pandas as pd
from distributed import Client
c = Client()
total = da.ones((1000, 1000), chunks=(250, 250)).sum().compute()
df = dd.from_pandas(pd.DataFrame({"k": [i % 3 for i in range(300)], "v": list(range(300))}), npartitions=6)
groups = df.groupby("k").v.sum().compute().sort_index().tolist()
info = c.scheduler_info()
workers = list(info["workers"].values())
print(json.dumps({
  "config": dask.config.get("scheduler-address"),
  "address": c.scheduler.address,
  "total": float(total),
  "groups": groups,
  "n": len(info["workers"]),
  "limits": sorted(w["memory_limit"] for w in workers),
  "threads": sorted(w["nthreads"] for w in workers),
  "names": sorted(str(w["name"]) for w in workers),
  "pids": sorted(c.run(os.getpid).values()),
}))
`);
      assert.equal(result.config, c.addresses.env.DASK_SCHEDULER_ADDRESS, 'DASK_SCHEDULER_ADDRESS is Dask config scheduler-address');
      assert.equal(result.address, c.state.schedulerAddress);
      assert.equal(result.total, 1_000_000);
      assert.deepEqual(result.groups, [14850, 14950, 15050]);
      assert.equal(result.n, 2);
      assert.deepEqual(result.limits, [512 * MiB, 512 * MiB]);
      assert.deepEqual(result.threads, [1, 1]);
      assert.deepEqual(result.names, ['worker-0', 'worker-1']);
      // The code ran in processes of THIS cluster (the nannies' children carry its markers).
      const ours = marked(c.state.clusterId);
      for (const pid of result.pids as number[]) assert.ok(ours.includes(pid), `worker pid ${pid} carries the cluster's markers`);
    });

    test('extra env reaches the workers\' tasks through the environment only: not in argv, not in the state', async () => {
      const seen = await kernel(c.addresses.env, `
import json, os
from distributed import Client
c = Client()
print(json.dumps(sorted(c.run(lambda: os.environ.get("STORAGE_SECRET_KEY")).values())))
`);
      assert.deepEqual(seen, [SECRET, SECRET]);
      assert.ok(!JSON.stringify(c.state).includes(SECRET), 'the state (stored by the hub) holds no secret');
      for (const pid of marked(c.state.clusterId)) {
        assert.ok(!readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(SECRET), `argv of ${pid} holds no secret`);
      }
    });

    test('each worker is in its own cgroup with the memory asked for plus the nanny allowance (where cgroups work)', async (t) => {
      const how = c.state.enforced?.memoryLimit;
      if (!how || !how.startsWith('cgroup')) return t.skip(`memory limits are not enforced here (${how ?? 'none'})`);
      const dirs = cgroupDirsOf(c.state.clusterId);
      const w0 = dirs.find((d) => d.endsWith(`${c.state.clusterId}-w0`) && existsSync(join(d, how === 'cgroup-v1' ? 'memory.limit_in_bytes' : 'memory.max')));
      assert.ok(w0, `worker 0 has a memory cgroup (found ${dirs.join(', ')})`);
      const limit = Number(readFileSync(join(w0, how === 'cgroup-v1' ? 'memory.limit_in_bytes' : 'memory.max'), 'utf8'));
      assert.equal(limit, 512 * MiB + NANNY_MEMORY_ALLOWANCE);
      const procs = readFileSync(join(w0, 'cgroup.procs'), 'utf8').trim().split('\n').map(Number);
      assert.ok(procs.includes(c.state.workers[0]!.pid), 'the worker process is in it');
      assert.ok(procs.length >= 2, 'so is the nanny\'s child (the worker proper)');
    });

    test('the dashboard answers, and a kernel of the server gets a link through the server\'s proxy to the cluster\'s dashboard', async () => {
      const res = await fetch(`http://127.0.0.1:${c.state.dashboardPort}/status`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /<html|bokeh/i);
      const result = await kernel({ ...c.addresses.env, JUPYTERHUB_SERVICE_PREFIX: '/user/alice/' }, `
import json
from distributed import Client
c = Client()
print(json.dumps({"link": c.dashboard_link}))
`);
      assert.equal(result.link, `/user/alice/proxy/${c.state.dashboardPort}/status`);
    });

    test('list() finds the cluster by its markers, with owner, name, scheduler and workers', async () => {
      const listed = (await backend.list()).map((s) => parseLocalDaskState(s)).filter((s) => s?.clusterId === c.state.clusterId);
      assert.equal(listed.length, 1);
      const s = listed[0]!;
      assert.equal(s.user, 'alice');
      assert.equal(s.server, '');
      assert.equal(s.name, 'dask');
      assert.deepEqual(s.scheduler, c.state.scheduler);
      assert.deepEqual(s.workers.map((w) => w.pid), c.state.workers.map((w) => w.pid));
      assert.equal(s.schedulerAddress, c.state.schedulerAddress);
      assert.deepEqual(await backend.status(s), { running: true, workers: 2 });
    });

    test('scale 2 → 3 → 1: workers start and register, then retire gracefully and stop', async (t) => {
      let t0 = Date.now();
      // Two calls at once (a double click): one worker is added, not two, and both say 3.
      const [up, again] = (await Promise.all([
        backend.scale(c.state, 3, { timeoutMs: START_TIMEOUT_MS }),
        backend.scale(c.state, 3, { timeoutMs: START_TIMEOUT_MS }),
      ])).map((s) => parseLocalDaskState(s)!) as [LocalDaskState, LocalDaskState];
      report(t, 'scale 2→3', Date.now() - t0);
      assert.deepEqual(up.workers.map((w) => w.index), [0, 1, 2]);
      assert.deepEqual(again.workers.map((w) => w.pid), up.workers.map((w) => w.pid));
      assert.deepEqual(await backend.status(up), { running: true, workers: 3 });
      const seen3 = await kernel(c.addresses.env, `
import json, os
from distributed import Client
c = Client()
print(json.dumps({
  "names": sorted(str(w["name"]) for w in c.scheduler_info()["workers"].values()),
  "secrets": sorted(c.run(lambda: os.environ.get("STORAGE_SECRET_KEY")).values()),
}))
`);
      assert.deepEqual(seen3.names, ['worker-0', 'worker-1', 'worker-2']);
      assert.deepEqual(seen3.secrets, [SECRET, SECRET, SECRET], 'the new worker got the cluster\'s extra env too');
      const third = up.workers[2]!.pid;

      t0 = Date.now();
      const down = parseLocalDaskState(await backend.scale(up, 1, { timeoutMs: START_TIMEOUT_MS }))!;
      report(t, 'scale 3→1', Date.now() - t0);
      assert.deepEqual(down.workers.map((w) => w.index), [0]);
      assert.deepEqual(await backend.status(down), { running: true, workers: 1 });
      assert.equal(processAlive(third), false, 'the removed worker process is gone');
      const workerProcs = marked(c.state.clusterId).filter((pid) => {
        const env = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
        return env.includes(`${CLUSTER_MARKER_ENV.role}=worker`) && !env.includes(`${CLUSTER_MARKER_ENV.worker}=0`);
      });
      assert.deepEqual(workerProcs, [], 'no process of a removed worker (nanny children included) is left');
      assert.deepEqual(cgroupDirsOf(c.state.clusterId).filter((d) => /-w[12]$/.test(d)), [], 'the removed workers\' cgroups are gone');
      const events = await kernel(c.addresses.env, `
import json
from distributed import Client
c = Client()
retired = [e for _, e in c.get_events("all") if isinstance(e, dict) and e.get("action") == "retire-workers"]
print(json.dumps({"retired": sum(len(e["retired"]) for e in retired), "n": len(c.scheduler_info()["workers"])}))
`);
      assert.deepEqual(events, { retired: 2, n: 1 }, 'the scheduler retired the two workers (their data moved) before they stopped');
      c = { ...c, state: down };
    });

    test('stop leaves nothing: no marked process (nanny children included), no cgroup, no scratch directory', async (t) => {
      const id = c.state.clusterId;
      assert.ok(marked(id).length >= 3, 'before: scheduler, worker and its nanny child carry the markers');
      const t0 = Date.now();
      await backend.stop(c.state);
      report(t, 'stop (1 worker)', Date.now() - t0);
      await assertNothingLeft(id);
      // killed, the scheduler is a zombie ("has exited") until its parent reaps it ("is gone"): either is the truth
      const status = await backend.status(c.state);
      assert.equal(status.running, false);
      assert.equal(status.workers, 0);
      assert.match(status.reason ?? '', /^the Dask scheduler (is gone|has exited)$/);
      await backend.stop(c.state); // idempotent
      await assert.rejects(backend.scale(c.state, 2, { timeoutMs: START_TIMEOUT_MS }), (e: unknown) => e instanceof ClusterError && e.message === 'Cannot scale the Dask cluster: the scheduler is gone');
    });
  });

  test('one worker: reserve→ready timing', async (t) => {
    const c = await startCluster(owner('carol'), daskRequest(1));
    try {
      report(t, 'reserve→ready, 1 worker', c.ms);
      assert.deepEqual(await backend.status(c.state), { running: true, workers: 1 });
    } finally {
      await backend.stop(c.state);
    }
    await assertNothingLeft(c.state.clusterId);
  });

  test('a scheduler that dies: status says so, its workers leave by themselves (death-timeout), stop() cleans up', async () => {
    // death-timeout is also how long a starting worker may take to join the scheduler (its TLS
    // handshake included): 6 s proved too tight on a busy machine
    const c = await startCluster(owner('kim'), daskRequest(1, { conf: { 'death-timeout': '15s' } }));
    try {
      process.kill(c.state.scheduler!.pid, 'SIGKILL');
      await waitFor(async () => !(await backend.status(c.state)).running, { timeoutMs: 10_000, message: 'status to notice' });
      // killed, the scheduler is a zombie ("has exited") until its parent reaps it ("is gone"): either is the truth
      const status = await backend.status(c.state);
      assert.equal(status.running, false);
      assert.equal(status.workers, 0);
      assert.match(status.reason ?? '', /^the Dask scheduler (is gone|has exited)$/);
      await waitFor(() => marked(c.state.clusterId).length === 0, { timeoutMs: 60_000, message: 'the orphaned worker to exit' });
    } finally {
      await backend.stop(c.state);
    }
    await assertNothingLeft(c.state.clusterId);
  });

  test('two owners\' clusters are separate: each Client sees only its own workers', async () => {
    const [a, b] = await Promise.all([startCluster(owner('alice', 'work'), daskRequest(1)), startCluster(owner('bob'), daskRequest(2))]);
    try {
      assert.notEqual(a.addresses.env.DASK_SCHEDULER_ADDRESS, b.addresses.env.DASK_SCHEDULER_ADDRESS);
      const code = `
import json, os
from distributed import Client
c = Client()
print(json.dumps({"n": len(c.scheduler_info()["workers"]), "pids": sorted(c.run(os.getpid).values())}))
`;
      const [seenA, seenB] = await Promise.all([kernel(a.addresses.env, code), kernel(b.addresses.env, code)]);
      assert.equal(seenA.n, 1);
      assert.equal(seenB.n, 2);
      const ownA = marked(a.state.clusterId);
      const ownB = marked(b.state.clusterId);
      for (const pid of seenA.pids) assert.ok(ownA.includes(pid) && !ownB.includes(pid));
      for (const pid of seenB.pids) assert.ok(ownB.includes(pid) && !ownA.includes(pid));
      // a Client holding the other cluster's certificate is refused at the TLS handshake
      const crossed = await kernel({ ...b.addresses.env, DASK_SCHEDULER_ADDRESS: a.addresses.env.DASK_SCHEDULER_ADDRESS! }, `
import json
from distributed import Client
try:
    Client(timeout=10)
    print(json.dumps("connected"))
except Exception as e:
    print(json.dumps(type(e).__name__ + ": " + str(e)))
`);
      assert.match(String(crossed), /TLS|SSL|certificate/, `bob's Client on alice's scheduler: ${String(crossed)}`);
      const listed = (await backend.list()).map((s) => parseLocalDaskState(s)!);
      assert.deepEqual(
        listed.filter((s) => [a.state.clusterId, b.state.clusterId].includes(s.clusterId)).map((s) => `${s.user}/${s.server}/${s.name}`).sort(),
        ['alice/work/dask', 'bob//dask'],
      );
      assert.ok(existsSync(join(dir.path, 'users', 'alice', '.refinery', 'work.dask.scheduler.log')), 'logs go to the owner\'s .refinery/');
      assert.ok(existsSync(join(dir.path, 'users', 'bob', '.refinery', 'default.dask.worker-1.log')));
      // Stopping one leaves the other running.
      await backend.stop(a.state);
      await assertNothingLeft(a.state.clusterId);
      assert.deepEqual(await backend.status(b.state), { running: true, workers: 2 });
      // A cluster found by list() (as after a hub restart) can be stopped from that state.
      const adopted = (await backend.list()).find((s) => parseLocalDaskState(s)?.clusterId === b.state.clusterId);
      assert.ok(adopted);
      await backend.stop(adopted);
      await assertNothingLeft(b.state.clusterId);
    } finally {
      await backend.stop(a.state);
      await backend.stop(b.state);
    }
  });

  describe('failures reject with a ClusterError and leave nothing', () => {
    test('an unknown or managed worker option is refused before anything runs', async () => {
      const bad = daskRequest(1, { conf: { nthread: '2', 'memory-limit': '4G' } });
      await assert.rejects(backend.reserve(owner('dave'), bad), (e: unknown) => {
        assert.ok(e instanceof ClusterError);
        assert.match(e.message, /Invalid Dask cluster settings: conf\.nthread: unknown Dask worker option.*; conf\.memory-limit: cannot be set here/);
        return true;
      });
      const addresses = await backend.reserve(owner('dave'), daskRequest(1));
      await assert.rejects(
        backend.start(owner('dave'), bad, addresses, { timeoutMs: START_TIMEOUT_MS, signal: new AbortController().signal, onProgress: () => {} }),
        (e: unknown) => e instanceof ClusterError && /conf\.nthread/.test(e.message),
      );
      assert.deepEqual(markedInScope(), []);
    });

    test('a worker option Dask refuses at start: the worker\'s exit and its log are reported', async () => {
      const request = daskRequest(2, { conf: { 'worker-class': 'no_such_module.Worker' } });
      const addresses = await backend.reserve(owner('erin'), request);
      const events: ClusterProgress[] = [];
      await assert.rejects(
        backend.start(owner('erin'), request, addresses, { timeoutMs: START_TIMEOUT_MS, signal: new AbortController().signal, onProgress: (e) => events.push(e) }),
        (e: unknown) => {
          assert.ok(e instanceof ClusterError);
          assert.match(e.message, /^Dask worker [01] exited with code \d+ before it registered with the scheduler: ModuleNotFoundError: No module named 'no_such_module'$/);
          assert.match(e.detail ?? '', /no_such_module/);
          assert.match(e.detail ?? '', /worker-[01]\.log/);
          return true;
        },
      );
      assert.deepEqual(markedInScope(), [], 'the scheduler and the other worker were stopped');
    });

    test('a missing Dask environment is named, at reserve and at start', async () => {
      const broken = new LocalDaskBackend({ dataDir: dir.path, log: silentLogger(), environment: join(dir.path, 'no-such-env') });
      await assert.rejects(broken.reserve(owner('frank'), daskRequest(1)), (e: unknown) => e instanceof ClusterError && /The Dask environment is missing: .*no-such-env\/bin\/python does not exist/.test(e.message));
      const addresses = await backend.reserve(owner('frank'), daskRequest(1));
      await assert.rejects(
        broken.start(owner('frank'), daskRequest(1), addresses, { timeoutMs: START_TIMEOUT_MS, signal: new AbortController().signal, onProgress: () => {} }),
        (e: unknown) => e instanceof ClusterError && /The Dask environment is missing/.test(e.message),
      );
      assert.deepEqual(markedInScope(), []);
    });

    test('the scheduler port taken between reserve and start: the scheduler\'s exit and log are reported', async () => {
      const addresses = await backend.reserve(owner('gina'), daskRequest(1));
      const port = (addresses.reservation as { schedulerPort: number }).schedulerPort;
      // Something else listens there (a plain TCP server; the worker connects to it, in vain).
      const sockets = new Set<Socket>();
      const squatter: Server = createServer((socket) => {
        sockets.add(socket);
        socket.on('error', () => {});
      });
      await new Promise<void>((r) => squatter.listen(port, '127.0.0.1', r));
      try {
        await assert.rejects(
          backend.start(owner('gina'), daskRequest(1), addresses, { timeoutMs: START_TIMEOUT_MS, signal: new AbortController().signal, onProgress: () => {} }),
          (e: unknown) => {
            assert.ok(e instanceof ClusterError);
            assert.match(e.message, /^The Dask scheduler exited with code \d+ before it answered: OSError: \[Errno 98\] Address already in use$/);
            assert.match(e.detail ?? '', /scheduler\.log\n(.*\n)*RuntimeError: Scheduler failed to start\.$/);
            return true;
          },
        );
      } finally {
        for (const socket of sockets) socket.destroy();
        await new Promise((r) => squatter.close(r));
      }
      assert.deepEqual(markedInScope(), []);
    });

    test('a start that takes longer than its timeout', async () => {
      const addresses = await backend.reserve(owner('hank'), daskRequest(1));
      await assert.rejects(
        backend.start(owner('hank'), daskRequest(1), addresses, { timeoutMs: 300, signal: new AbortController().signal, onProgress: () => {} }),
        (e: unknown) => e instanceof ClusterError && /^The Dask scheduler did not answer within 0\.3 seconds$/.test(e.message),
      );
      assert.deepEqual(markedInScope(), []);
    });

    test('abort while workers are registering cleans up', async () => {
      const request = daskRequest(2);
      const addresses = await backend.reserve(owner('ivy'), request);
      const abort = new AbortController();
      const events: ClusterProgress[] = [];
      const started = backend.start(owner('ivy'), request, addresses, {
        timeoutMs: START_TIMEOUT_MS,
        signal: abort.signal,
        onProgress: (e) => {
          events.push(e);
          if (e.message === 'Scheduler up') abort.abort();
        },
      });
      await assert.rejects(started, (e: unknown) => e instanceof ClusterError && e.message === 'Dask cluster start was cancelled');
      assert.ok(events.some((e) => e.message === 'Scheduler up'));
      assert.deepEqual(markedInScope(), []);
      const leftovers = readdirSync(backend.scratchDir);
      assert.deepEqual(leftovers, [], 'no scratch directory is left');
    });

    test('an already aborted start starts nothing', async () => {
      const addresses = await backend.reserve(owner('jo'), daskRequest(1));
      const abort = new AbortController();
      abort.abort();
      await assert.rejects(
        backend.start(owner('jo'), daskRequest(1), addresses, { timeoutMs: START_TIMEOUT_MS, signal: abort.signal, onProgress: () => {} }),
        (e: unknown) => e instanceof ClusterError && /cancelled/.test(e.message),
      );
      assert.deepEqual(markedInScope(), []);
    });
  });
});
