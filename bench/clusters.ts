/**
 * How long a spawn with a private cluster takes on the local backend, and what the cluster adds:
 *
 *   node dist/bench/clusters.js [--rounds 3]
 *
 * For each round and each flavour — a plain Python server, a Spark image with a 2-worker cluster,
 * a Dask image with a 2-worker cluster — it starts a server through the REST API and records, from
 * the moment the request was sent: when the notebook server answered, when the cluster reported ready,
 * when the whole spawn was ready, and (Spark, Dask) when a first job finished in a kernel. Flavours
 * alternate within a round so machine noise lands on all of them. Goal: the cluster is ready no later
 * than the notebook server itself (ratio cluster/server ≤ 1).
 *
 *   node dist/bench/clusters.js --first-action [--rounds 3]
 *
 * The first Spark action in a NEW kernel after the server is ready, three ways, alternating in the
 * same run: classic (connect: false: the kernel starts a driver JVM that registers with the master
 * and gets executors), Spark Connect without the warm-up (`clusters.connect_warm_up: false`: the
 * driver runs in the Connect server already, cold), and Spark Connect as shipped (the server has run
 * a first query before the cluster counts as ready). The warm-up is a hub setting, so two hubs run
 * side by side: one with it off (classic and cold Connect), one with the defaults. Goal:
 * `spark.range(10).count()` answers in under 2 s after ready.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './lib/stats.js';
import { launchRefinery, type RefineryProcess } from '../test/helpers/refinery.js';
import { execute, openKernel } from '../test/helpers/kernel.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, 'first-action': { type: 'boolean', default: false } } });
const rounds = Math.max(1, Number(args.rounds));

const PROFILES = [
  { name: 'spark-cluster', images: ['spark'], clusters: [{ kind: 'spark', workers: 2, worker: { cores: 1, memory: '512M' } }] },
  { name: 'dask-cluster', images: ['dask'], clusters: [{ kind: 'dask', workers: 2, worker: { cores: 1, memory: '512M' } }] },
];

type Flavour = 'python' | 'spark' | 'dask';
interface Sample {
  flavour: Flavour;
  serverUp: number;
  clusterReady: number | null;
  ready: number;
  firstJob: number | null;
}

const JOBS: Record<Flavour, string | null> = {
  python: null,
  spark: 'from pyspark.sql import SparkSession\nspark = SparkSession.builder.getOrCreate()\nprint(spark.range(100000).selectExpr("id % 7 as k").groupBy("k").count().count())',
  dask: 'from distributed import Client\nimport dask.array as da\nc = Client()\nprint(int(da.ones(100000, chunks=10000).sum().compute()))',
};

/** Follow a spawn's progress stream as it happens, stamping each event with the time since `t0`. */
async function follow(hub: RefineryProcess, token: string, base: string, t0: number): Promise<{ at: number; event: Record<string, unknown> }[]> {
  for (;;) {
    const res = await hub.as(token, `${base}/progress`, { headers: { Accept: 'text/event-stream' } });
    // the start request may not have reached the hub yet: no server (404) or nothing pending (400)
    if (res.status === 400 || res.status === 404) {
      await new Promise((r) => setTimeout(r, 20));
      continue;
    }
    const out: { at: number; event: Record<string, unknown> }[] = [];
    const reader = res.body!.getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return out;
      buffer += Buffer.from(value).toString();
      let cut;
      while ((cut = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        if (block.startsWith('data: ')) out.push({ at: performance.now() - t0, event: JSON.parse(block.slice(6)) as Record<string, unknown> });
      }
    }
  }
}

/** Start a named server with `userOptions` and follow its progress to the end. */
async function spawn(hub: RefineryProcess, token: string, server: string, userOptions: Record<string, unknown>): Promise<{ t0: number; events: { at: number; event: Record<string, unknown> }[] }> {
  const flavour = server;
  const base = `/hub/api/users/bench/servers/${server}`;
  const t0 = performance.now();
  const start = hub.as(token, base, { method: 'POST', body: JSON.stringify(userOptions), headers: { 'Content-Type': 'application/json' } });
  // a refused start (400, 409) has no progress to follow: look at the answer first
  const early = await Promise.race([start, new Promise<null>((r) => setTimeout(() => r(null), 200))]);
  if (early && early.status !== 201 && early.status !== 202) {
    // the failed spawn's progress still says why, with the end of the server's log
    const log = await hub.as(token, `${base}/progress`, { headers: { Accept: 'text/event-stream' } }).then((r) => r.text()).catch(() => '');
    throw new Error(`${flavour}: ${early.status} ${await early.text()}\n${log.split('\n').filter((l) => l.includes('"failed"')).join('\n')}`);
  }
  const events = await follow(hub, token, base, t0);
  const response = await start;
  if (response.status !== 201 && response.status !== 202) throw new Error(`${flavour}: ${response.status} ${await response.text()}`);
  const last = events.at(-1);
  if (!last?.event.ready) throw new Error(`${flavour} did not start: ${JSON.stringify(events.map((e) => e.event.message))}`);
  return { t0, events };
}

async function sample(hub: RefineryProcess, token: string, flavour: Flavour, round: number): Promise<Sample> {
  const server = `${flavour}${round}`;
  const base = `/hub/api/users/bench/servers/${server}`;
  const { t0, events } = await spawn(hub, token, server, { image: flavour });
  const last = events.at(-1)!;
  const serverUp = events.find((e) => /Server is up/.test(String(e.event.message)))?.at ?? last.at;
  const clusterReady = events.find((e) => /cluster ready/i.test(String(e.event.message)))?.at ?? null;
  let firstJob: number | null = null;
  const job = JOBS[flavour];
  if (job) {
    const kernel = await openKernel(hub, token, `/user/bench/${server}/`);
    await execute(hub, token, `/user/bench/${server}/`, kernel, job, 300_000, { allowStderr: true });
    firstJob = performance.now() - t0;
  }
  await hub.as(token, base, { method: 'DELETE' });
  return { flavour, serverUp, clusterReady, ready: last.at, firstJob };
}

type Variant = 'classic' | 'connect-cold' | 'connect';
const VARIANTS: readonly Variant[] = ['classic', 'connect-cold', 'connect'];
interface ActionSample {
  variant: Variant;
  /** From the spawn's `ready` to a kernel started (ms). */
  kernel: number;
  /** `getOrCreate()` and `spark.range(10).count()` in that kernel (ms). */
  action: number;
  /** Both: ready to the answer (ms). */
  total: number;
  /** The spawn itself: request to ready (ms), what the warm-up costs. */
  spawn: number;
}

/** The cluster both variants get: the built-in Spark cluster's size. */
const sparkCluster = (connect: boolean) => ({ kind: 'spark', workers: 2, worker: { cores: 1, memory: '1Gi' }, master: { cores: 1, memory: '512Mi' }, connect });
const FIRST_ACTION_CONFIG = {
  profiles: [],
  profile_list: VARIANTS.map((slug) => ({ slug, display_name: slug, images: ['spark'], overrides: { clusters: [sparkCluster(slug !== 'classic')] } })),
};
const ACTION = 'from pyspark.sql import SparkSession\nspark = SparkSession.builder.getOrCreate()\nprint(spark.range(10).count())';

async function actionSample(hub: RefineryProcess, token: string, variant: Variant, round: number): Promise<ActionSample> {
  const server = `${variant}${round}`;
  const asked = performance.now();
  await spawn(hub, token, server, { image: 'spark', profile: variant });
  const ready = performance.now();
  const prefix = `/user/bench/${server}/`;
  const kernel = await openKernel(hub, token, prefix);
  const kernelAt = performance.now();
  const out = await execute(hub, token, prefix, kernel, ACTION, 300_000, { allowStderr: true });
  const done = performance.now();
  if (out.trim() !== '10') throw new Error(`${variant}: the count printed ${JSON.stringify(out)}`);
  await hub.as(token, `/hub/api/users/bench/servers/${server}`, { method: 'DELETE' });
  return { variant, kernel: kernelAt - ready, action: done - kernelAt, total: done - ready, spawn: ready - asked };
}

async function firstActionMain(): Promise<void> {
  const config = { ...FIRST_ACTION_CONFIG, named_servers: { enabled: true, limit_per_user: 0 }, log_level: 'warn' };
  const shipped = await launchRefinery({ config });
  const noWarmUp = await launchRefinery({ config: { ...config, clusters: { connect_warm_up: false } } });
  const hubOf = (variant: Variant) => (variant === 'connect' ? shipped : noWarmUp);
  const samples: ActionSample[] = [];
  try {
    const tokens = new Map<RefineryProcess, string>();
    for (const hub of [shipped, noWarmUp]) {
      await hub.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: ['bench'] }) });
      tokens.set(hub, await hub.tokenFor('bench'));
    }
    const sample = (variant: Variant, round: number) => actionSample(hubOf(variant), tokens.get(hubOf(variant))!, variant, round);
    for (const variant of VARIANTS) {
      await sample(variant, 0).catch((error: unknown) => {
        // a failed warm-up round says why in the hub's log
        console.error(hubOf(variant).output().split('\n').filter((l) => /"level":(40|50|60)/.test(l)).slice(-20).join('\n'));
        throw error;
      });
    }
    for (let round = 1; round <= rounds; round++) {
      const order: Variant[] = round % 2 ? [...VARIANTS] : [...VARIANTS].reverse();
      for (const variant of order) {
        const s = await sample(variant, round);
        samples.push(s);
        console.log(`round ${round} ${variant.padEnd(12)} kernel ${(s.kernel / 1000).toFixed(2)} s  getOrCreate + count ${(s.action / 1000).toFixed(2)} s  ready → answer ${(s.total / 1000).toFixed(2)} s  (spawn ${(s.spawn / 1000).toFixed(2)} s) | load ${os.loadavg()[0]!.toFixed(1)}`);
      }
    }
  } finally {
    await Promise.all([shipped.cleanup(), noWarmUp.cleanup()]);
  }
  const med = (variant: Variant, key: 'kernel' | 'action' | 'total' | 'spawn') => median(samples.filter((s) => s.variant === variant).map((s) => s[key])) / 1000;
  console.log(`\nmedians of ${rounds} rounds (seconds after the spawn is ready; ${os.cpus().length} cores)`);
  console.log('spark          new kernel  getOrCreate + count  ready → answer  spawn');
  for (const variant of VARIANTS) {
    console.log(`${variant.padEnd(14)} ${med(variant, 'kernel').toFixed(2).padStart(9)}s  ${med(variant, 'action').toFixed(2).padStart(18)}s  ${med(variant, 'total').toFixed(2).padStart(13)}s  ${med(variant, 'spawn').toFixed(2).padStart(5)}s`);
  }
  const dir = path.join(repo, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `clusters-first-action-${new Date().toISOString().slice(0, 16).replace(':', '')}.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), rounds, samples }, null, 2));
  console.log(`wrote ${path.relative(repo, file)}`);
}

async function main(): Promise<void> {
  if (args['first-action']) return firstActionMain();
  const hub = await launchRefinery({ config: { profiles: PROFILES, named_servers: { enabled: true, limit_per_user: 0 }, log_level: 'warn' } });
  const samples: Sample[] = [];
  try {
    await hub.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: ['bench'] }) });
    const token = await hub.tokenFor('bench');
    // warm-up: first JVM and Python starts pay for cold caches
    for (const flavour of ['python', 'spark', 'dask'] as const) await sample(hub, token, flavour, 0);
    for (let round = 1; round <= rounds; round++) {
      const order: Flavour[] = round % 2 ? ['python', 'spark', 'dask'] : ['dask', 'spark', 'python'];
      for (const flavour of order) {
        const s = await sample(hub, token, flavour, round);
        samples.push(s);
        const f = (v: number | null) => (v === null ? '     -' : `${(v / 1000).toFixed(2).padStart(6)}`);
        console.log(`round ${round} ${flavour.padEnd(6)} server up ${f(s.serverUp)} s  cluster ready ${f(s.clusterReady)} s  spawn ready ${f(s.ready)} s  first job ${f(s.firstJob)} s | load ${os.loadavg()[0]!.toFixed(1)}`);
      }
    }
  } finally {
    await hub.cleanup();
  }

  const med = (flavour: Flavour, key: keyof Omit<Sample, 'flavour'>) => {
    const values = samples.filter((s) => s.flavour === flavour).map((s) => s[key]).filter((v): v is number => typeof v === 'number');
    return values.length ? median(values) / 1000 : null;
  };
  const plainReady = med('python', 'ready')!;
  const rows = (['python', 'spark', 'dask'] as const).map((flavour) => {
    const serverUp = med(flavour, 'serverUp')!;
    const clusterReady = med(flavour, 'clusterReady');
    const ready = med(flavour, 'ready')!;
    return {
      flavour, serverUp, clusterReady, ready, firstJob: med(flavour, 'firstJob'),
      clusterVsServer: clusterReady === null ? null : clusterReady / serverUp,
      addedToPlain: ready - plainReady,
    };
  });
  const f = (v: number | null, unit = 's') => (v === null ? '-' : `${v.toFixed(2)}${unit}`);
  console.log(`\nmedians of ${rounds} rounds (seconds from the spawn request; ${os.cpus().length} cores)`);
  console.log('flavour   server up  cluster ready  spawn ready  first job  cluster/server  added vs plain');
  for (const r of rows) {
    console.log(`${r.flavour.padEnd(9)} ${f(r.serverUp).padStart(9)}  ${f(r.clusterReady).padStart(13)}  ${f(r.ready).padStart(11)}  ${f(r.firstJob).padStart(9)}  ${(r.clusterVsServer === null ? '-' : `${r.clusterVsServer.toFixed(2)}×`).padStart(14)}  ${f(r.addedToPlain).padStart(14)}`);
  }
  const dir = path.join(repo, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `clusters-${new Date().toISOString().slice(0, 16).replace(':', '')}.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), rounds, samples, medians: rows }, null, 2));
  console.log(`wrote ${path.relative(repo, file)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
