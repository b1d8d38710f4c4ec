/**
 * Bursts of concurrent spawns, Refinery side by side with JupyterHub 5, next to a CPU-heavy neighbour:
 *
 *   node dist/bench/bursts.js [--sizes 32,64] [--rounds 1] [--neighbours 2] [--hubs refinery,jupyterhub]
 *
 * Both hubs run for the whole bench on loopback, each with its own temporary data directory:
 *   - Refinery: `refinery start` (test/helpers/refinery.ts), every server with the DEFAULT size of the
 *     catalog (small: CPU guarantee 0.5 limit 1, memory guarantee 1G limit 2G: a cgroup per server)
 *     and, as root, as a system account of its own (README "Who servers run as");
 *   - JupyterHub: envs/base/bin/jupyterhub with configurable-http-proxy from node_modules/.bin,
 *     SimpleLocalProcessSpawner (as the hub's own account: no system users needed), a service token
 *     for the API. start_timeout and http_timeout are 120 s, Refinery's default start timeout
 *     (JupyterHub's http_timeout of 30 s would fail bursts that merely queue for the CPU).
 * Both start the same single-user command, envs/base/bin/jupyterhub-singleuser.
 *
 * The neighbour: `--neighbours` busy-loop processes (default 2, one per core here), started before
 * the first round and killed at the end, in the bench's own cgroup, as a compiler job would be.
 *
 * Each round, for each burst size and each hub (the hubs alternate, first one then the other, so
 * machine noise lands on both): one spawn alone (the "single spawn"), stopped again; then N users
 * ask for a server at the same moment; the burst is over when each has answered ready or failed.
 * Then every server is stopped and the next hub's turn comes. Reported per hub and size: failures,
 * the time until all were ready (from the first request; with failures, "last ready" says when the
 * last spawn that succeeded was), the median of the spawns within the burst,
 * the median single spawn; and Refinery/JupyterHub ratios.
 *
 * Everything started is stopped at the end, also on failure or Ctrl-C: both hubs (which stop their
 * servers), then any server process left (found by a marker in its environment), then the neighbour.
 * Results: the terminal and bench/results/bursts-<time>.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './lib/stats.js';
import { launchRefinery, type RefineryProcess } from '../test/helpers/refinery.js';
import { freePort } from '../src/util/ports.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const repo = path.resolve(here, '..', '..');
const START_TIMEOUT_S = 120;
/** The people the bench makes: `warm`, `solo` and `b<burst>x<i>`. */
const BENCH_USER = /^(warm|solo|b\d+x\d+)$/;

type HubName = 'refinery' | 'jupyterhub';

function parseOptions(): { sizes: number[]; rounds: number; neighbours: number; hubs: HubName[] } {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '32,64' },
      rounds: { type: 'string', default: '1' },
      neighbours: { type: 'string', default: '2' },
      hubs: { type: 'string', default: 'refinery,jupyterhub' },
    },
  });
  const int = (name: string, text: string, min: number, max: number): number => {
    const n = Number(text);
    if (!/^\d+$/.test(text.trim()) || n < min || n > max) throw new Error(`--${name}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`);
    return n;
  };
  const sizes = values.sizes!.split(',').map((s) => int('sizes', s, 1, 256));
  const hubs = values.hubs!.split(',').map((h) => {
    if (h !== 'refinery' && h !== 'jupyterhub') throw new Error(`--hubs: expected refinery and/or jupyterhub, got ${JSON.stringify(h)}`);
    return h;
  });
  return { sizes, rounds: int('rounds', values.rounds!, 1, 100), neighbours: int('neighbours', values.neighbours!, 0, 64), hubs };
}

/** What the bench needs of a hub: its JupyterHub-compatible REST API with an admin token. */
interface Hub {
  name: HubName;
  api(pathname: string, init?: RequestInit): Promise<Response>;
  /** A string in every server's environment (to find leftovers). */
  marker: string;
  stop(): Promise<void>;
}

function refineryHub(p: RefineryProcess): Hub {
  return {
    name: 'refinery',
    api: (pathname, init) => p.api(pathname, init),
    marker: `REFINERY_SPAWNER_DATA_DIR=${p.dataDir}`,
    async stop() {
      // deleting a person also deletes the system account made for them (README "Who servers run as")
      try {
        const users = (await (await p.api('/hub/api/users')).json()) as { name: string }[];
        for (const u of users) {
          if (!BENCH_USER.test(u.name)) continue;
          for (let i = 0; i < 3; i++) {
            const res = await p.api(`/hub/api/users/${u.name}`, { method: 'DELETE' });
            await res.text();
            if (res.ok || res.status === 404) break;
            await new Promise((r) => setTimeout(r, 2000)); // a server still stopping
          }
        }
      } finally {
        await p.cleanup();
      }
    },
  };
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function startJupyterHub(runId: string): Promise<Hub> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bursts-jupyterhub-'));
  const [port, hubPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const token = randomBytes(24).toString('hex');
  const py = (v: unknown) => JSON.stringify(v);
  const config = [
    `c.JupyterHub.bind_url = ${py(`http://127.0.0.1:${port}`)}`,
    `c.JupyterHub.hub_bind_url = ${py(`http://127.0.0.1:${hubPort}`)}`,
    `c.ConfigurableHTTPProxy.api_url = ${py(`http://127.0.0.1:${apiPort}`)}`,
    `c.ConfigurableHTTPProxy.command = [${py(path.join(repo, 'node_modules', '.bin', 'configurable-http-proxy'))}]`,
    `c.ConfigurableHTTPProxy.pid_file = ${py(path.join(dir, 'proxy.pid'))}`,
    `c.JupyterHub.db_url = ${py(`sqlite:///${path.join(dir, 'jupyterhub.sqlite')}`)}`,
    `c.JupyterHub.cookie_secret_file = ${py(path.join(dir, 'cookie_secret'))}`,
    `c.JupyterHub.authenticator_class = 'dummy'`,
    `c.JupyterHub.spawner_class = 'jupyterhub.spawner.SimpleLocalProcessSpawner'`,
    `c.SimpleLocalProcessSpawner.home_dir_template = ${py(path.join(dir, 'home', '{username}'))}`,
    `c.Spawner.cmd = [${py(path.join(repo, 'envs', 'base', 'bin', 'jupyterhub-singleuser'))}]`,
    `c.Spawner.args = ['--allow-root']`,
    `c.Spawner.environment = {'BENCH_BURSTS_RUN': ${py(runId)}}`,
    `c.Spawner.start_timeout = ${START_TIMEOUT_S}`,
    `c.Spawner.http_timeout = ${START_TIMEOUT_S}`,
    `c.JupyterHub.cleanup_servers = True`,
    `c.JupyterHub.services = [{'name': 'bench', 'api_token': ${py(token)}}]`,
    `c.JupyterHub.load_roles = [{'name': 'bench', 'scopes': ['admin:users', 'admin:servers'], 'services': ['bench']}]`,
    `c.JupyterHub.log_level = 'WARN'`,
  ].join('\n');
  await writeFile(path.join(dir, 'jupyterhub_config.py'), `${config}\n`);
  let output = '';
  const child: ChildProcess = spawn(path.join(repo, 'envs', 'base', 'bin', 'jupyterhub'), ['-f', path.join(dir, 'jupyterhub_config.py')], {
    cwd: dir,
    env: { ...process.env, PATH: `${path.join(repo, 'envs', 'base', 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const base = `http://127.0.0.1:${port}`;
  const api = (pathname: string, init: RequestInit = {}) =>
    fetch(`${base}${pathname}`, { ...init, headers: { Authorization: `token ${token}`, ...(init.headers as Record<string, string> | undefined) } });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM'); // cleanup_servers: it stops its servers and its proxy first
      // unref: a hub that exits in time must not keep the bench waiting out the 60 s
      const killed = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 60_000).unref())]);
      if (!killed) child.kill('SIGKILL');
      await exited;
    }
    // the proxy outlives a killed hub: its pid file says where it is
    try {
      const pid = Number(readFileSync(path.join(dir, 'proxy.pid'), 'utf8'));
      if (pid > 1) process.kill(pid, 'SIGTERM');
    } catch {
      // gone with the hub
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await Promise.race([
      waitUntil(async () => (await api('/hub/api/')).ok, 60_000, `JupyterHub at ${base}`),
      exited.then(() => {
        throw new Error(`jupyterhub exited before answering:\n${output}`);
      }),
    ]);
  } catch (error) {
    await stop();
    throw error;
  }
  return { name: 'jupyterhub', api, marker: `BENCH_BURSTS_RUN=${runId}`, stop };
}

/** Follow a spawn's progress stream to its end; true when it ended ready. */
async function followProgress(hub: Hub, user: string): Promise<{ ready: boolean; message: string }> {
  const url = `/hub/api/users/${user}/server/progress`;
  for (;;) {
    const res = await hub.api(url, { headers: { Accept: 'text/event-stream' } });
    // the start may not have been taken up yet: no server (404) or nothing pending (400)
    if (res.status === 400 || res.status === 404) {
      await res.text();
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    const text = await res.text();
    const events = text.split('\n\n').filter((b) => b.startsWith('data: ')).map((b) => JSON.parse(b.slice(6)) as Record<string, unknown>);
    const last = events.at(-1);
    if (last?.ready) return { ready: true, message: String(last.message ?? '') };
    // a failure: the whole event, which may carry the end of the server's log
    return { ready: false, message: last ? JSON.stringify(last).slice(0, 4000) : `no progress (${res.status})` };
  }
}

interface SpawnResult {
  ok: boolean;
  seconds: number;
  message: string;
}

async function spawnOne(hub: Hub, user: string, t0: number): Promise<SpawnResult> {
  try {
    const res = await hub.api(`/hub/api/users/${user}/server`, { method: 'POST' });
    if (res.status !== 201 && res.status !== 202) return { ok: false, seconds: (performance.now() - t0) / 1000, message: `${res.status} ${(await res.text()).slice(0, 200)}` };
    await res.text();
    const end = await followProgress(hub, user);
    return { ok: end.ready, seconds: (performance.now() - t0) / 1000, message: end.message };
  } catch (error) {
    return { ok: false, seconds: (performance.now() - t0) / 1000, message: error instanceof Error ? error.message : String(error) };
  }
}

async function activeServers(hub: Hub): Promise<number> {
  const res = await hub.api('/hub/api/users?state=active');
  const users = (await res.json()) as { servers?: Record<string, unknown> }[];
  return users.reduce((n, u) => n + Object.keys(u.servers ?? {}).length, 0);
}

async function stopAll(hub: Hub, users: string[]): Promise<void> {
  await Promise.all(users.map(async (u) => (await hub.api(`/hub/api/users/${u}/server`, { method: 'DELETE' })).text().catch(() => '')));
  await waitUntil(async () => (await activeServers(hub)) === 0, 180_000, `${hub.name}'s servers to stop`);
}

async function ensureUsers(hub: Hub, users: string[]): Promise<void> {
  const res = await hub.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: users }), headers: { 'Content-Type': 'application/json' } });
  // 409: all exist already
  if (!res.ok && res.status !== 409) throw new Error(`${hub.name}: creating users: ${res.status} ${await res.text()}`);
}

interface Turn {
  hub: HubName;
  size: number;
  round: number;
  single: SpawnResult;
  spawns: SpawnResult[];
  failures: number;
  allReadySeconds: number | null;
  /** When the last spawn that succeeded was ready (with failures, all-ready has no value). */
  lastReadySeconds: number | null;
  load: number;
}

async function turn(hub: Hub, size: number, round: number): Promise<Turn> {
  const solo = 'solo';
  await ensureUsers(hub, [solo]);
  const single = await spawnOne(hub, solo, performance.now());
  await stopAll(hub, [solo]);
  const users = Array.from({ length: size }, (_, i) => `b${size}x${i}`);
  await ensureUsers(hub, users);
  const t0 = performance.now();
  const spawns = await Promise.all(users.map((u) => spawnOne(hub, u, t0)));
  const load = os.loadavg()[0]!;
  await stopAll(hub, users);
  const failures = spawns.filter((s) => !s.ok).length;
  const result: Turn = {
    hub: hub.name, size, round, single, spawns, failures, load,
    allReadySeconds: failures ? null : Math.max(...spawns.map((s) => s.seconds)),
    lastReadySeconds: failures === size ? null : Math.max(...spawns.filter((s) => s.ok).map((s) => s.seconds)),
  };
  const f = (v: number | null) => (v === null ? '     -' : v.toFixed(1).padStart(6));
  console.log(
    `round ${round} ${hub.name.padEnd(10)} burst ${String(size).padStart(3)}: failures ${String(failures).padStart(3)}  all ready ${f(result.allReadySeconds)} s  last ready ${f(result.lastReadySeconds)} s  median spawn ${f(spawns.some((s) => s.ok) ? median(spawns.filter((s) => s.ok).map((s) => s.seconds)) : null)} s  single ${single.ok ? f(single.seconds) : ' failed'} s | load ${load.toFixed(1)}`,
  );
  const firstFailure = spawns.find((s) => !s.ok);
  if (firstFailure) console.log(`  e.g. ${firstFailure.message.slice(0, 1500)}`);
  if (!single.ok) console.log(`  single: ${single.message.slice(0, 200)}`);
  return result;
}

function startNeighbours(n: number): ChildProcess[] {
  return Array.from({ length: n }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
}

/** Processes with `marker` (NAME=value) in their environment: servers a hub left behind. */
function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`, 'latin1').split('\0').includes(marker)) found.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

async function main(): Promise<void> {
  const options = parseOptions();
  const runId = randomBytes(8).toString('hex');
  const hubs: Hub[] = [];
  const neighbours: ChildProcess[] = [];
  let cleaned: Promise<void> | null = null;
  const cleanup = (): Promise<void> => (cleaned ??= (async () => {
    for (const hub of hubs) {
      await hub.stop().catch((error: unknown) => console.error(`stopping ${hub.name}: ${String(error)}`));
      for (const pid of processesWith(hub.marker)) {
        try {
          process.kill(pid, 'SIGKILL');
          console.error(`killed a leftover ${hub.name} server process ${pid}`);
        } catch {
          // gone meanwhile
        }
      }
    }
    for (const n of neighbours) n.kill('SIGKILL');
  })());
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      console.error(`${sig}: stopping everything the bench started`);
      void cleanup().finally(() => process.exit(130));
    });
  }

  const turns: Turn[] = [];
  try {
    for (const name of options.hubs) {
      if (name === 'refinery') {
        // log_level warn: 64 spawns' info lines would be most of the hub's own work
        hubs.push(refineryHub(await launchRefinery({ config: { log_level: 'warn' } })));
      } else hubs.push(await startJupyterHub(runId));
    }
    // warm-up on a quiet machine: first imports read from disk, later ones from the page cache
    for (const hub of hubs) {
      await ensureUsers(hub, ['warm']);
      const w = await spawnOne(hub, 'warm', performance.now());
      console.log(`warm-up ${hub.name}: ${w.ok ? `${w.seconds.toFixed(1)} s` : `failed: ${w.message}`}`);
      await stopAll(hub, ['warm']);
    }
    neighbours.push(...startNeighbours(options.neighbours));
    console.log(`${options.neighbours} busy-loop neighbour(s) running; ${os.cpus().length} cores`);
    for (let round = 1; round <= options.rounds; round++) {
      for (const size of options.sizes) {
        const order = (round + options.sizes.indexOf(size)) % 2 ? hubs : [...hubs].reverse();
        for (const hub of order) turns.push(await turn(hub, size, round));
      }
    }
  } finally {
    await cleanup();
  }

  const summary = options.sizes.map((size) => {
    const per = (hub: HubName) => {
      const mine = turns.filter((t) => t.hub === hub && t.size === size);
      const allReady = mine.map((t) => t.allReadySeconds).filter((v): v is number => v !== null);
      const lastReady = mine.map((t) => t.lastReadySeconds).filter((v): v is number => v !== null);
      const singles = mine.filter((t) => t.single.ok).map((t) => t.single.seconds);
      const spawns = mine.flatMap((t) => t.spawns.filter((s) => s.ok).map((s) => s.seconds));
      return {
        failures: mine.reduce((n, t) => n + t.failures, 0),
        spawns: mine.reduce((n, t) => n + t.spawns.length, 0),
        allReady: allReady.length === mine.length && mine.length ? median(allReady) : null,
        lastReady: lastReady.length ? median(lastReady) : null,
        medianSpawn: spawns.length ? median(spawns) : null,
        single: singles.length ? median(singles) : null,
      };
    };
    const r = per('refinery');
    const j = per('jupyterhub');
    const ratio = (a: number | null, b: number | null) => (a !== null && b !== null ? a / b : null);
    return { size, refinery: r, jupyterhub: j, ratios: { allReady: ratio(r.allReady, j.allReady), lastReady: ratio(r.lastReady, j.lastReady), medianSpawn: ratio(r.medianSpawn, j.medianSpawn), single: ratio(r.single, j.single) } };
  });
  const f = (v: number | null, unit: string) => (v === null ? '-' : `${v.toFixed(unit === '×' ? 2 : 1)}${unit}`);
  console.log(`\nmedians of ${options.rounds} round(s); ${options.neighbours} busy-loop neighbour(s); default size for Refinery`);
  console.log('burst  hub         failures  all ready  last ready  median spawn  single spawn');
  for (const s of summary) {
    for (const hub of ['refinery', 'jupyterhub'] as const) {
      const v = s[hub];
      if (!v.spawns) continue;
      console.log(`${String(s.size).padStart(5)}  ${hub.padEnd(10)}  ${`${v.failures}/${v.spawns}`.padStart(8)}  ${f(v.allReady, ' s').padStart(9)}  ${f(v.lastReady, ' s').padStart(10)}  ${f(v.medianSpawn, ' s').padStart(12)}  ${f(v.single, ' s').padStart(12)}`);
    }
    console.log(`${String(s.size).padStart(5)}  ratio R/J   ${''.padStart(8)}  ${f(s.ratios.allReady, '×').padStart(9)}  ${f(s.ratios.lastReady, '×').padStart(10)}  ${f(s.ratios.medianSpawn, '×').padStart(12)}  ${f(s.ratios.single, '×').padStart(12)}`);
  }
  const dir = path.join(repo, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `bursts-${new Date().toISOString().slice(0, 16).replace(':', '')}.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), options, cores: os.cpus().length, turns, summary }, null, 2));
  console.log(`wrote ${path.relative(repo, file)}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
