/**
 * LocalDaskBackend: a user's private Dask cluster as processes on this machine, from the `envs/dask`
 * environment (dask/distributed 2026.8): one `dask scheduler` and one `dask worker --nworkers 1` per
 * requested worker, all detached from the hub so that they outlive hub restarts, like the local
 * spawner's servers.
 *
 * ADDRESSES. `reserve()` picks two free loopback ports: the scheduler's comm port and its dashboard
 * (HTTP) port, and makes the cluster's TLS certificates (tls.ts). The notebook server gets
 *
 *   DASK_SCHEDULER_ADDRESS=tls://127.0.0.1:<comm port>
 *       Dask maps DASK_* variables onto its configuration (DASK_SCHEDULER_ADDRESS → `scheduler-address`,
 *       dask/config.py collect_env), and `distributed.Client()` without arguments connects to
 *       `scheduler-address` (distributed/client.py, `Client._start`). So `Client()` in any kernel of
 *       the server uses this cluster; `LocalCluster()` still makes a local one.
 *   DASK_DISTRIBUTED__COMM__TLS__CA_FILE, __CLIENT__CERT, __CLIENT__KEY
 *       The cluster's CA and client certificate: `Client()` builds its `Security()` from them. The
 *       scheduler and workers accept only peers with a certificate of this CA (mutual TLS).
 *   DASK_DISTRIBUTED__DASHBOARD__LINK={JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/status
 *       The template of `Client.dashboard_link` (distributed/utils.py format_dashboard_link fills it
 *       from the environment plus host/port). `{port}` is deliberately left for Dask to fill in: it
 *       is the dashboard port of the scheduler the client talks to, so a Client of this cluster gets
 *       `/user/<name>/proxy/<dashboard port>/status` (through jupyter-server-proxy in the user's
 *       server, so behind the user's own sign-in), and a LocalCluster started in a notebook still gets
 *       a link to ITS dashboard, not to this cluster's. It is the same value the dask image sets;
 *       the hub puts cluster env after the image's, so the cluster's wins should they ever differ.
 *   The dask JupyterLab panel finds a dashboard from its `defaultURL` setting or, with the search
 *   button (or autoStartClient), from `default_client().dashboard_link` in the active kernel — i.e.
 *   from the link above once the notebook made a Client. No environment variable sets `defaultURL`.
 *
 * PROCESSES. Every process gets marker variables (CLUSTER_MARKER_ENV: scope = the hub's data dir,
 * kind, cluster id, user, server, cluster name, role, worker index, and the cluster's non-secret
 * spec as JSON). Descendants inherit them (a worker's nanny starts the real worker as a child, plus
 * multiprocessing helpers), so `stop()` kills by marker and by cgroup, and `list()` finds clusters
 * after a hub restart. The markers are not the local spawner's (REFINERY_SPAWN_ID), so neither
 * backend mistakes the other's processes for its own. `/proc/<pid>/environ` is read: Linux, same
 * Unix user (or root).
 *
 * Scheduler and workers start at the same time: a worker retries connecting until the scheduler
 * listens. Readiness is asked over HTTP on the dashboard port (scheduler-api.ts: `/api/v1/get_workers`).
 * Workers are named `worker-<i>`, listen on the same interface as the scheduler, keep no dashboard of
 * their own unless conf asks, and exit by themselves 120 s after losing their scheduler
 * (`--death-timeout`, unless conf sets it), so a scheduler that dies while the hub is down leaves
 * no workers behind for long.
 *
 * Per-process cgroups (resources.ts, when writable): the scheduler gets head.cores / head.memory;
 * each worker worker.cores as a CPU limit and worker.memory (+ NANNY_MEMORY_ALLOWANCE when it runs
 * under a nanny: the nanny process lives in the same cgroup, and Dask's own limit, `--memory-limit
 * worker.memory`, applies to the worker process alone) as a hard memory limit. The cgroups live
 * under `<hub's cgroup>/refinery-dask/<cluster id>-s|-w<i>`, apart from the servers' `refinery/`.
 *
 * Files: logs in the owner's run directory (`<run dir>/<server or 'default'>.<cluster name>.scheduler.log`
 * and `.worker-<i>.log`, appended, one `[refinery] ...` header per start; the run dir is the
 * owner's `runDir`, else `<home>/.refinery`), the TLS files in `<run dir>/<server>.<name>/tls/`;
 * workers' scratch space (spilled data) in `<scratch>/<cluster id>/` (the owner's, 0700), removed by
 * stop(). Processes run as the owner's system account when it has one (`owner.runAs`).
 *
 * `conf` → worker flags / Dask configuration: see conf.ts. Extra environment (options.env, e.g.
 * object-storage credentials) reaches the processes through their environment only, and is never
 * written to the state; scale() copies it from the running scheduler's environment.
 *
 * Security note: the scheduler's comm port takes only holders of the cluster's certificates. Its
 * dashboard (HTTP, on loopback) has no authentication of its own: the owner reaches it through
 * their server's jupyter-server-proxy, which refuses other people's ports (python/jupyter-config),
 * but another local account can still connect to it directly and see the cluster's tasks.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { forwardProgress } from '../../util/progress.js';
import { freePort } from '../../util/ports.js';
import { readLogTail } from '../../host/log-tail.js';
import type { RunAs } from '../../host/accounts.js';
import { PASSAGE_DIR, PRIVATE_DIR, ensureDir, removeTree } from '../../host/files.js';
import { daskClientTlsEnv, daskClusterTlsEnv, daskTlsComplete, daskTlsFiles, makeDaskTls } from './tls.js';
import { bootId, HAS_PROC } from '../../host/process-info.js';
import {
  DEFAULT_CGROUP_PARENT,
  listServerCgroups,
  sweepEmptyServerCgroups,
  type EnforcedResources,
} from '../../host/cgroups.js';
import {
  ClusterError,
  type ClusterAddresses,
  type ClusterBackend,
  type ClusterOwner,
  type ClusterProgress,
  type ClusterRequest,
  type ClusterState,
  type ClusterStatus,
} from '../backend.js';
import {
  CLUSTER_MARKER_ENV,
  CLUSTER_NAME,
  UUID,
  checkSegment,
  describeExit,
  formatSeconds,
  isPort,
  mergeEnforced,
  processAlive,
  launchClusterProcess,
  markClusterEnv,
  parseRunAs,
  type LaunchRequest,
  type Launched,
  type MarkedProcess,
  type ProcRef,
} from '../local-processes.js';
import { daskConfProblems, daskWorkerOptions } from './conf.js';

export { CLUSTER_MARKER_ENV } from '../local-processes.js';
import { SCHEDULER_HTTP_ROUTES_ENV, dashboardBase, registeredWorkers, retireWorkers, schedulerIdentity } from './scheduler-api.js';
import { sleep } from '../../util/sleep.js';
import { LocalClusterBackend, type LocalClusterBackendOptions } from '../local-backend.js';

/** Memory added to a worker's cgroup limit for its nanny process (which Dask's memory limit does not count). */
export const NANNY_MEMORY_ALLOWANCE = 256 * 1024 ** 2;
/** Workers whose scheduler is gone for this long exit by themselves (unless conf sets death-timeout). */
const DEFAULT_DEATH_TIMEOUT = '120s';
const CGROUP_PARENT = `${DEFAULT_CGROUP_PARENT}-dask`;
const RETIRE_TIMEOUT_MS = 30_000;
const LOG_TAIL_LINES = 15;

/** Options of the local Dask backend: the common ones (environment default `<repo>/envs/dask`, stop grace 5000 ms, scratch for spilled data `<os tmpdir>/refinery-dask`). */
export type LocalDaskBackendOptions = LocalClusterBackendOptions;

/** The part of a cluster's definition that the processes carry in CLUSTER_MARKER_ENV.spec (nothing secret). */
export type ClusterSpec = {
  host: string;
  schedulerPort: number;
  dashboardPort: number;
  worker: { cores: number; memory: number };
  head: { cores: number; memory: number };
  conf: Record<string, string>;
  environment: string;
  homeDir: string;
  startedAt: string;
  /** 'tls' (tls.ts; absent in clusters started before TLS) */
  protocol?: 'tls' | 'tcp';
  /** Where the logs are (absent: `<homeDir>/.refinery`). */
  runDir?: string;
};

/** What launching the scheduler or a worker needs to know about the cluster. */
interface LaunchCommon {
  clusterId: string;
  spec: ClusterSpec;
  env: Record<string, string>;
  server: string;
  name: string;
  schedulerAddress: string;
  runDir: string;
  runAs: RunAs | null;
  onExit: () => void;
}

/** `tls://127.0.0.1:<port>` (`tcp://` for clusters started before TLS). */
function schedulerAddressOf(spec: Pick<ClusterSpec, 'host' | 'schedulerPort' | 'protocol'>): string {
  return `${spec.protocol ?? 'tcp'}://${spec.host.includes(':') ? `[${spec.host}]` : spec.host}:${spec.schedulerPort}`;
}

type WorkerRef = ProcRef & { index: number; name: string };

/** What start() returns (and list() reports): plain JSON, stored by the hub. */
export type LocalDaskState = {
  backend: 'local';
  kind: 'dask';
  clusterId: string;
  scope: string;
  user: string;
  /** '' for the default server. */
  server: string;
  name: string;
  schedulerAddress: string;
  dashboardPort: number;
  spec: ClusterSpec;
  /** The scheduler process (null when list() found a cluster whose scheduler is gone). */
  scheduler: ProcRef | null;
  /** The workers' `dask worker` processes (each runs a nanny, whose child is the worker proper). */
  workers: WorkerRef[];
  bootId: string | null;
  /** Cgroup directories of the cluster's processes; removed by stop(). */
  cgroups?: string[];
  /** How the resource limits are enforced ('none' wins when processes differ). */
  enforced?: EnforcedResources;
  /** The system account the processes run as (absent: the hub's own); workers added by scale() run as it too. */
  runAs?: RunAs;
};




/** A LocalDaskState read back from JSON, or null if it is not one. */
export function parseLocalDaskState(state: ClusterState | null | undefined): LocalDaskState | null {
  if (!state || typeof state !== 'object') return null;
  const s = state as Record<string, unknown>;
  if (s.kind !== 'dask' || s.backend !== 'local' || typeof s.clusterId !== 'string' || !UUID.test(s.clusterId)) return null;
  if (typeof s.scope !== 'string' || typeof s.user !== 'string' || typeof s.server !== 'string' || typeof s.name !== 'string') return null;
  if (typeof s.schedulerAddress !== 'string' || !isPort(s.dashboardPort) || !s.spec || typeof s.spec !== 'object') return null;
  const ref = (v: unknown): ProcRef | null => {
    const r = v as Record<string, unknown> | null;
    if (!r || typeof r.pid !== 'number' || !Number.isInteger(r.pid) || r.pid <= 1) return null;
    return { pid: r.pid, startTime: typeof r.startTime === 'number' ? r.startTime : null };
  };
  const workers: WorkerRef[] = [];
  for (const w of Array.isArray(s.workers) ? s.workers : []) {
    const r = ref(w);
    const index = (w as Record<string, unknown>).index;
    if (r && typeof index === 'number') workers.push({ ...r, index, name: `worker-${index}` });
  }
  return {
    backend: 'local',
    kind: 'dask',
    clusterId: s.clusterId,
    scope: s.scope,
    user: s.user,
    server: s.server,
    name: s.name,
    schedulerAddress: s.schedulerAddress,
    dashboardPort: s.dashboardPort,
    spec: s.spec as ClusterSpec,
    scheduler: ref(s.scheduler),
    workers,
    bootId: typeof s.bootId === 'string' ? s.bootId : null,
    ...(Array.isArray(s.cgroups) ? { cgroups: s.cgroups.filter((d): d is string => typeof d === 'string') } : {}),
    ...(s.enforced && typeof s.enforced === 'object' ? { enforced: s.enforced as EnforcedResources } : {}),
    ...(parseRunAs(s.runAs) ? { runAs: parseRunAs(s.runAs)! } : {}),
  };
}

export class LocalDaskBackend extends LocalClusterBackend implements ClusterBackend {
  readonly kind = 'dask' as const;
  protected readonly cgroupParent = CGROUP_PARENT;
  protected readonly signalsGroups = false;
  /** The scale() running per cluster id, so that two of them do not pick the same worker indices. */
  private readonly scaling = new Map<string, Promise<void>>();

  constructor(options: LocalDaskBackendOptions) {
    super('dask', options, 5000);
  }

  /** The cluster's TLS files (tls.ts), per server and cluster name: made at each reserve(), kept for restarts. */
  private tlsDirOf(runDir: string, server: string, name: string): string {
    return join(runDir, `${server || 'default'}.${name}`, 'tls');
  }

  /** Throws a ClusterError for anything about the request or owner that cannot work. */
  private checkRequest(owner: ClusterOwner, request: ClusterRequest): void {
    checkSegment('user', owner.user, false);
    checkSegment('server', owner.server, true);
    if (request.kind !== 'dask') throw new ClusterError(`The local Dask backend cannot run a ${String(request.kind)} cluster`);
    if (!CLUSTER_NAME.test(request.name)) throw new ClusterError(`Invalid cluster name: ${JSON.stringify(request.name)}`);
    if (!Number.isInteger(request.workers) || request.workers < 0) throw new ClusterError(`Invalid number of Dask workers: ${String(request.workers)}`);
    const problems = daskConfProblems(request.conf ?? {});
    if (problems.length) throw new ClusterError(`Invalid Dask cluster settings: ${problems.join('; ')}`);
  }

  private checkEnvironment(): void {
    if (!existsSync(this.python)) {
      throw new ClusterError(
        `The Dask environment is missing: ${this.python} does not exist (create it with \`bash scripts/setup-python.sh --only dask\`)`,
      );
    }
  }

  async reserve(owner: ClusterOwner, request: ClusterRequest): Promise<ClusterAddresses> {
    this.checkRequest(owner, request);
    this.checkEnvironment();
    const schedulerPort = await freePort(this.host);
    let dashboardPort = await freePort(this.host);
    while (dashboardPort === schedulerPort) dashboardPort = await freePort(this.host);
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    const runDir = this.runDirOf(owner);
    const tlsDir = this.tlsDirOf(runDir, owner.server, request.name);
    let tls;
    try {
      if (!owner.runAs) await mkdir(runDir, { recursive: true, mode: PRIVATE_DIR });
      await ensureDir(join(tlsDir, '..'), owner.runAs ? PASSAGE_DIR : PRIVATE_DIR);
      tls = await makeDaskTls(tlsDir, owner.runAs ?? null, `${owner.user}/${owner.server || 'default'}/${request.name}`);
    } catch (err) {
      if (err instanceof ClusterError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw new ClusterError(`Cannot prepare the Dask cluster's TLS files: ${e.code ?? e.message}${e.path ? ` (${e.path})` : ''}`);
    }
    return {
      env: {
        DASK_SCHEDULER_ADDRESS: `tls://${host}:${schedulerPort}`,
        ...daskClientTlsEnv(tls),
        DASK_DISTRIBUTED__DASHBOARD__LINK: '{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/status',
      },
      ui: { dashboard: { port: dashboardPort, path: '/status' } },
      reservation: { host: this.host, schedulerPort, dashboardPort, tlsDir },
    };
  }

  /** Environment shared by all processes of a cluster (markers for role and worker index are added per process). */
  private clusterEnv(c: { clusterId: string; user: string; server: string; name: string; spec: ClusterSpec; extra: Record<string, string>; configEnv: Record<string, string>; tlsEnv: Record<string, string> }): Record<string, string> {
    const env: Record<string, string> = {};
    for (const key of this.envKeep) {
      const value = process.env[key];
      if (value !== undefined) env[key] = value;
    }
    env.PATH = [join(this.environment, 'bin'), env.PATH || '/usr/local/bin:/usr/bin:/bin'].join(':');
    env.LANG ??= 'C.UTF-8';
    for (const [key, value] of Object.entries(c.extra)) {
      // Extra env may not pose as markers (ours or the local spawner's).
      if (!key.startsWith('REFINERY_') && typeof value === 'string') env[key] = value;
    }
    Object.assign(env, c.configEnv, SCHEDULER_HTTP_ROUTES_ENV, c.tlsEnv);
    env.HOME = c.spec.homeDir;
    // temporary files in the cluster's own scratch space, not in the /tmp every account shares
    env.TMPDIR = this.scratchOf(c.clusterId);
    markClusterEnv(env, { kind: 'dask', scope: this.dataDir, clusterId: c.clusterId, name: c.name, user: c.user, server: c.server, spec: c.spec });
    return env;
  }

  /** Start one detached process (in its own cgroups when limits are asked for and cgroups work). */
  private launch(p: Omit<LaunchRequest, 'cgroupParent'>): Promise<Launched> {
    return launchClusterProcess({ ...p, cgroupParent: CGROUP_PARENT }, {
      kind: 'dask', cgroupLayout: () => this.cgroupLayout(), log: this.log,
      warn: (setting, why) => this.warnOnce(`${setting}:${why}`, { setting, why }, `resource setting ${setting} is not enforced for local Dask clusters: ${why}`),
    });
  }

  private schedulerArgv(spec: ClusterSpec): string[] {
    return [
      this.python, '-m', 'distributed.cli.dask_scheduler',
      '--host', spec.host,
      '--port', String(spec.schedulerPort),
      '--dashboard-address', `${spec.host}:${spec.dashboardPort}`,
    ];
  }

  private workerArgv(spec: ClusterSpec, schedulerAddress: string, clusterId: string, index: number): { argv: string[]; nanny: boolean } {
    const options = daskWorkerOptions(spec);
    const argv = [
      this.python, '-m', 'distributed.cli.dask_worker', schedulerAddress,
      '--name', `worker-${index}`,
      '--nworkers', '1',
      '--nthreads', String(options.nthreads),
      '--memory-limit', String(Math.floor(spec.worker.memory)),
      '--host', spec.host,
      '--dashboard-address', `${spec.host}:0`,
      '--local-directory', this.scratchOf(clusterId),
      ...options.args,
    ];
    if (!options.args.includes('--death-timeout')) argv.push('--death-timeout', DEFAULT_DEATH_TIMEOUT);
    return { argv, nanny: options.nanny };
  }

  private launchScheduler(c: LaunchCommon): Promise<Launched> {
    return this.launch({
      what: 'Dask scheduler',
      argv: this.schedulerArgv(c.spec),
      env: { ...c.env, [CLUSTER_MARKER_ENV.role]: 'scheduler' },
      cwd: c.spec.homeDir,
      logPath: this.logPath(c.runDir, c.server, c.name, 'scheduler'),
      runAs: c.runAs,
      cgroupName: `${c.clusterId}-s`,
      resources: { memoryLimit: c.spec.head.memory, cpuLimit: c.spec.head.cores },
      onExit: c.onExit,
    });
  }

  private launchWorker(c: LaunchCommon, index: number): Promise<Launched> {
    const { argv, nanny } = this.workerArgv(c.spec, c.schedulerAddress, c.clusterId, index);
    const memory = c.spec.worker.memory > 0 ? c.spec.worker.memory + (nanny ? NANNY_MEMORY_ALLOWANCE : 0) : 0;
    return this.launch({
      what: `Dask worker ${index}`,
      argv,
      env: { ...c.env, [CLUSTER_MARKER_ENV.role]: 'worker', [CLUSTER_MARKER_ENV.worker]: String(index) },
      cwd: c.spec.homeDir,
      logPath: this.logPath(c.runDir, c.server, c.name, `worker-${index}`),
      runAs: c.runAs,
      cgroupName: `${c.clusterId}-w${index}`,
      resources: { ...(memory ? { memoryLimit: memory } : {}), cpuLimit: c.spec.worker.cores },
      onExit: c.onExit,
    });
  }

  async start(
    owner: ClusterOwner,
    request: ClusterRequest,
    addresses: ClusterAddresses,
    options: { timeoutMs: number; signal: AbortSignal; onProgress(event: ClusterProgress): void; env?: Record<string, string> },
  ): Promise<ClusterState> {
    const started = Date.now();
    const deadline = started + options.timeoutMs;
    const { signal } = options;
    this.checkRequest(owner, request);
    const r = addresses.reservation as Record<string, unknown>;
    if (!isPort(r.schedulerPort) || !isPort(r.dashboardPort) || typeof r.host !== 'string') {
      throw new ClusterError('The Dask cluster has no reserved addresses (reserve() was not called with this backend)');
    }
    const runDir = this.runDirOf(owner);
    // the TLS files of this reservation: derived from the owner, never taken from the stored reservation
    const tlsDir = this.tlsDirOf(runDir, owner.server, request.name);
    if (r.tlsDir !== tlsDir || !(await daskTlsComplete(tlsDir))) {
      throw new ClusterError('The Dask cluster\'s TLS certificates are missing; start the server again to make new ones');
    }
    const runAs = owner.runAs ?? null;
    this.checkEnvironment();
    const progress = forwardProgress((event) => options.onProgress(event), this.log);
    if (signal.aborted) throw new ClusterError('Dask cluster start was cancelled');

    const clusterId = randomUUID();
    const homeDir = this.homeDirOf(owner);
    try {
      if (!runAs) await mkdir(homeDir, { recursive: true, mode: PRIVATE_DIR });
      // the scratch root is the hub's; the cluster's own directory below it is the owner's
      await ensureDir(this.scratchDir, runAs ? PASSAGE_DIR : PRIVATE_DIR);
      await mkdir(this.scratchOf(clusterId), { mode: PRIVATE_DIR });
      if (runAs) await ensureDir(this.scratchOf(clusterId), PRIVATE_DIR, runAs);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new ClusterError(`Cannot prepare the Dask cluster's directories: ${e.code ?? e.message}${e.path ? ` (${e.path})` : ''}`);
    }
    const spec: ClusterSpec = {
      host: r.host,
      schedulerPort: r.schedulerPort,
      dashboardPort: r.dashboardPort,
      worker: { cores: request.worker.cores, memory: request.worker.memory },
      head: { cores: request.head.cores, memory: request.head.memory },
      conf: { ...request.conf },
      environment: this.environment,
      homeDir,
      startedAt: new Date(started).toISOString(),
      protocol: 'tls',
      runDir,
    };
    const schedulerAddress = schedulerAddressOf(spec);
    const env = this.clusterEnv({
      clusterId, user: owner.user, server: owner.server, name: request.name, spec,
      extra: options.env ?? {}, configEnv: daskWorkerOptions(request).env, tlsEnv: daskClusterTlsEnv(daskTlsFiles(tlsDir)),
    });
    const state: LocalDaskState = {
      backend: 'local', kind: 'dask', clusterId, scope: this.dataDir,
      user: owner.user, server: owner.server, name: request.name,
      schedulerAddress, dashboardPort: spec.dashboardPort, spec,
      scheduler: null, workers: [], bootId: bootId(),
      ...(runAs ? { runAs } : {}),
    };

    let wake: () => void = () => {};
    const onExit = () => wake();
    const onAbort = () => wake();
    signal.addEventListener('abort', onAbort);

    progress(5, 'Starting Dask scheduler');
    const common: LaunchCommon = { clusterId, spec, env, server: owner.server, name: request.name, schedulerAddress, runDir, runAs, onExit };
    const indices = Array.from({ length: request.workers }, (_, i) => i);
    const settled = await Promise.allSettled([this.launchScheduler(common), ...indices.map((i) => this.launchWorker(common, i))]);
    const launched: Launched[] = [];
    for (const s of settled) if (s.status === 'fulfilled') launched.push(s.value);
    const scheduler = settled[0]!.status === 'fulfilled' ? settled[0].value : null;
    if (scheduler) state.scheduler = { pid: scheduler.pid, startTime: scheduler.startTime };
    const workers = settled.slice(1).map((s) => (s.status === 'fulfilled' ? s.value : null));
    workers.forEach((w, i) => {
      if (w) state.workers.push({ pid: w.pid, startTime: w.startTime, index: i, name: `worker-${i}` });
    });
    state.cgroups = launched.flatMap((l) => l.cgroups);
    if (!state.cgroups.length) delete state.cgroups;
    const enforced = mergeEnforced(launched.map((l) => l.enforced));
    if (enforced) state.enforced = enforced;

    const tails = (which: (Launched | null)[]) => logExcerpts(which.filter((l): l is Launched => !!l).map((l) => l.logPath));
    const fail = async (message: string, detailFrom: (Launched | null)[]): Promise<never> => {
      signal.removeEventListener('abort', onAbort);
      await this.stop(state, { graceMs: 500 });
      const { detail, cause } = await tails(detailFrom);
      if (cause) message = `${message}: ${cause}`;
      this.log.warn({ user: owner.user, server: owner.server, cluster: request.name }, `local Dask cluster failed to start: ${message}`);
      throw new ClusterError(message, detail);
    };

    const failedLaunch = settled.find((s) => s.status === 'rejected') as PromiseRejectedResult | undefined;
    if (failedLaunch) {
      const reason = failedLaunch.reason as unknown;
      return fail(reason instanceof Error ? reason.message : String(reason), []);
    }
    this.log.info({ user: owner.user, server: owner.server, cluster: request.name, scheduler: scheduler!.pid, workers: state.workers.map((w) => w.pid) }, 'local Dask cluster processes started');

    const base = dashboardBase(spec.host, spec.dashboardPort);
    const wanted = new Set(indices.map((i) => `worker-${i}`));
    let schedulerUp = false;
    let registered = 0;
    let delay = 40;
    for (;;) {
      if (scheduler!.exited) {
        return fail(`The Dask scheduler ${describeExit(scheduler!.exited)} before ${schedulerUp ? 'all workers registered' : 'it answered'}`, [scheduler]);
      }
      const dead = workers.find((w) => w?.exited);
      if (dead) {
        const index = workers.indexOf(dead);
        return fail(`Dask worker ${index} ${describeExit(dead.exited!)} before it registered with the scheduler`, [dead]);
      }
      if (signal.aborted) return fail('Dask cluster start was cancelled', []);
      const now = Date.now();
      if (now >= deadline) {
        const waited = formatSeconds(options.timeoutMs);
        if (!schedulerUp) return fail(`The Dask scheduler did not answer within ${waited} seconds`, [scheduler]);
        return fail(`Only ${registered} of ${request.workers} Dask workers registered within ${waited} seconds`, [scheduler, ...workers]);
      }
      const list = await registeredWorkers(base, Math.min(2000, Math.max(100, deadline - now)));
      if (list && !schedulerUp) {
        // Make sure the scheduler on this port is ours (a reserved port can be taken before start).
        const identity = await schedulerIdentity(base, Math.min(2000, Math.max(100, deadline - Date.now())));
        if (identity && (identity.address !== schedulerAddress || identity.dashboardPort !== spec.dashboardPort)) {
          return fail(`Another program answers on the Dask dashboard port ${spec.dashboardPort}`, [scheduler]);
        }
        // No identity yet: our scheduler's HTTP routes can answer before its TCP listener is up (or
        // while it fails to bind); look again, and a scheduler that exits is reported as such above.
        if (identity) {
          schedulerUp = true;
          this.log.debug({ cluster: request.name, ms: Date.now() - started }, 'Dask scheduler up');
          progress(40, 'Scheduler up');
        }
      }
      if (list && schedulerUp) {
        const count = list.filter((w) => wanted.has(w.name)).length;
        // One event per worker, also when several registered between two looks.
        while (registered < count) {
          registered += 1;
          progress(40 + (55 * registered) / request.workers, `Workers registered ${registered}/${request.workers}`);
        }
        if (count >= request.workers) break;
      }
      await new Promise<void>((resolveWait) => {
        wake = resolveWait;
        setTimeout(resolveWait, Math.min(delay, Math.max(0, deadline - Date.now())));
      });
      wake = () => {};
      delay = Math.min(delay * 1.3, 150);
    }
    signal.removeEventListener('abort', onAbort);
    const took = Date.now() - started;
    this.log.info({ user: owner.user, server: owner.server, cluster: request.name, workers: request.workers, ms: took, ...(enforced ? { enforced } : {}) }, 'local Dask cluster is ready');
    progress(100, 'Dask cluster ready');
    return state;
  }

  async status(state: ClusterState): Promise<ClusterStatus> {
    const s = parseLocalDaskState(state);
    if (!s) return { running: false, workers: 0, reason: 'not a local Dask cluster state' };
    const scheduler = await processAlive(s.scheduler, s.bootId);
    if (!scheduler.alive) return { running: false, workers: 0, reason: `the Dask scheduler ${scheduler.reason}` };
    const list = await registeredWorkers(dashboardBase(s.spec.host, s.dashboardPort), 3000);
    // A scheduler busy with a huge graph may not answer in time: alive, not dead.
    if (!list) return { running: true, workers: 0, reason: 'the Dask scheduler does not answer' };
    return { running: true, workers: list.length };
  }

  /**
   * Stop everything of the cluster: scheduler, workers, their nannies' children and anything else
   * carrying the cluster's id; remove its cgroups and scratch directory. Idempotent.
   */
  async stop(state: ClusterState, options: { graceMs?: number } = {}): Promise<void> {
    const s = parseLocalDaskState(state);
    if (!s) {
      this.log.warn('stop() called with a state that is not a local Dask cluster state; nothing to stop');
      return;
    }
    if (s.scope !== this.dataDir) {
      this.log.warn({ cluster: s.name, scope: s.scope }, 'stop() called with a Dask cluster of another hub data directory; nothing to stop');
      return;
    }
    const refs = [...(s.scheduler ? [s.scheduler] : []), ...s.workers];
    await this.terminate(s, refs, () => true, undefined, Math.max(0, options.graceMs ?? this.stopGraceMs));
    await removeTree(this.scratchOf(s.clusterId)).catch((err: unknown) => this.log.warn({ cluster: s.name, err: String(err) }, 'could not remove a stopped Dask cluster\'s scratch directory'));
  }

  /** The `dask worker` processes (roots, not their nanny children) of a cluster, by index. */
  private static workerRoots(procs: MarkedProcess[]): Map<number, MarkedProcess> {
    const pids = new Set(procs.map((p) => p.pid));
    const roots = new Map<number, MarkedProcess>();
    for (const p of procs) {
      if (p.env.get(CLUSTER_MARKER_ENV.role) !== 'worker' || pids.has(p.stat.ppid)) continue;
      const index = Number(p.env.get(CLUSTER_MARKER_ENV.worker));
      if (!Number.isInteger(index) || index < 0) continue;
      const prev = roots.get(index);
      if (!prev || p.stat.startTime < prev.stat.startTime) roots.set(index, p);
    }
    return roots;
  }

  /**
   * Change the number of workers. New workers take the lowest free indices and get the scheduler's
   * environment; removed ones (the highest indices) are first retired through the scheduler, so that
   * their results move to the remaining workers, then stopped with their nanny children and cgroups.
   * Calls for the same cluster run one after the other.
   */
  scale(state: ClusterState, workers: number, options: { timeoutMs: number }): Promise<ClusterState> {
    const s = parseLocalDaskState(state);
    if (!s) return Promise.reject(new ClusterError('Not a local Dask cluster state'));
    const previous = this.scaling.get(s.clusterId) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(() => this.scaleNow(s, workers, options));
    const settled = next.then(() => undefined, () => undefined);
    this.scaling.set(s.clusterId, settled);
    void settled.then(() => {
      if (this.scaling.get(s.clusterId) === settled) this.scaling.delete(s.clusterId);
    });
    return next;
  }

  private async scaleNow(s: LocalDaskState, workers: number, options: { timeoutMs: number }): Promise<ClusterState> {
    if (!Number.isInteger(workers) || workers < 0 || workers > 1024) throw new ClusterError(`Invalid number of Dask workers: ${String(workers)}`);
    const deadline = Date.now() + options.timeoutMs;
    const scheduler = await processAlive(s.scheduler, s.bootId);
    if (!scheduler.alive) throw new ClusterError(`Cannot scale the Dask cluster: the scheduler ${scheduler.reason}`);
    const procs = await this.scan(s.clusterId);
    const schedulerProc = procs.find((p) => p.pid === s.scheduler!.pid);
    if (!schedulerProc) throw new ClusterError('Cannot scale the Dask cluster: the scheduler process cannot be inspected');
    // The environment new workers get: the scheduler's (it holds options.env, which the state must
    // not). It is the owner's to change (their code can run in the scheduler), so it only ever reaches
    // processes that run as the owner; what the hub itself acts on (spec, markers, account) comes
    // from the stored state.
    const spec = s.spec;
    const env = Object.fromEntries([...schedulerProc.env].filter(([k]) => !k.startsWith('REFINERY_')));
    markClusterEnv(env, { kind: 'dask', scope: this.dataDir, clusterId: s.clusterId, name: s.name, user: s.user, server: s.server, spec });
    const base = dashboardBase(spec.host, spec.dashboardPort);
    const roots = LocalDaskBackend.workerRoots(procs);
    const current = [...roots.keys()].sort((a, b) => a - b);

    if (workers > current.length) {
      const add: number[] = [];
      for (let i = 0; add.length < workers - current.length; i++) if (!roots.has(i)) add.push(i);
      let wake: () => void = () => {};
      const common: LaunchCommon = {
        clusterId: s.clusterId, spec, env, server: s.server, name: s.name, schedulerAddress: s.schedulerAddress,
        runDir: spec.runDir ?? join(spec.homeDir, '.refinery'),
        runAs: s.runAs ?? null, onExit: () => wake(),
      };
      const settled = await Promise.allSettled(add.map((i) => this.launchWorker(common, i)));
      const launched = settled.map((r) => (r.status === 'fulfilled' ? r.value : null));
      const undo = async (message: string, detailFrom: (Launched | null)[]): Promise<never> => {
        const addSet = new Set(add.map(String));
        await this.terminate(s, launched.filter((l): l is Launched => !!l), (e) => e.get(CLUSTER_MARKER_ENV.role) === 'worker' && addSet.has(e.get(CLUSTER_MARKER_ENV.worker) ?? ''), (leaf) => add.some((i) => leaf === `${s.clusterId}-w${i}`), 500);
        const { detail, cause } = await logExcerpts(detailFrom.filter((l): l is Launched => !!l).map((l) => l.logPath));
        throw new ClusterError(cause ? `${message}: ${cause}` : message, detail);
      };
      const failed = settled.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
      if (failed) return undo(failed.reason instanceof Error ? failed.reason.message : String(failed.reason), []);
      const wanted = new Set(add.map((i) => `worker-${i}`));
      let delay = 40;
      for (;;) {
        const dead = launched.find((l) => l?.exited);
        if (dead) return undo(`Dask worker ${add[launched.indexOf(dead)]} ${describeExit(dead.exited!)} before it registered with the scheduler`, [dead]);
        const list = await registeredWorkers(base, 2000);
        const count = list ? list.filter((w) => wanted.has(w.name)).length : 0;
        if (count >= wanted.size) break;
        if (Date.now() >= deadline) return undo(`Only ${count} of ${wanted.size} new Dask workers registered within ${formatSeconds(options.timeoutMs)} seconds`, launched);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now())));
        });
        wake = () => {};
        delay = Math.min(delay * 1.3, 150);
      }
      this.log.info({ user: s.user, server: s.server, cluster: s.name, workers }, 'local Dask cluster scaled up');
    } else if (workers < current.length) {
      const remove = current.slice(workers);
      const removeNames = new Set(remove.map((i) => `worker-${i}`));
      const list = await registeredWorkers(base, 3000);
      const addresses = (list ?? []).filter((w) => removeNames.has(w.name)).map((w) => w.address);
      if (addresses.length && workers > 0) {
        // Graceful: their results move to the remaining workers first (bounded; then they just stop).
        const retired = await retireWorkers(base, addresses, Math.max(1000, Math.min(RETIRE_TIMEOUT_MS, deadline - Date.now() - 2000)));
        if (!retired) this.log.info({ cluster: s.name }, 'Dask workers could not be retired gracefully; stopping them');
      }
      const removeSet = new Set(remove.map(String));
      await this.terminate(
        s,
        remove.map((i) => ({ pid: roots.get(i)!.pid, startTime: roots.get(i)!.stat.startTime })),
        (e) => e.get(CLUSTER_MARKER_ENV.role) === 'worker' && removeSet.has(e.get(CLUSTER_MARKER_ENV.worker) ?? ''),
        (leaf) => remove.some((i) => leaf === `${s.clusterId}-w${i}`),
        Math.min(this.stopGraceMs, 3000),
      );
      // The scheduler notices closed workers at once; wait until it no longer lists them.
      for (;;) {
        const now = await registeredWorkers(base, 2000);
        if (now && !now.some((w) => removeNames.has(w.name))) break;
        if (Date.now() >= deadline) throw new ClusterError(`The Dask scheduler still lists removed workers after ${formatSeconds(options.timeoutMs)} seconds`);
        await sleep(100);
      }
      this.log.info({ user: s.user, server: s.server, cluster: s.name, workers }, 'local Dask cluster scaled down');
    }

    const after = LocalDaskBackend.workerRoots(await this.scan(s.clusterId));
    const next: LocalDaskState = {
      ...s,
      spec,
      workers: [...after.entries()].sort(([a], [b]) => a - b).map(([index, p]) => ({ pid: p.pid, startTime: p.stat.startTime, index, name: `worker-${index}` })),
    };
    const cgroups = await this.clusterCgroups(s);
    if (cgroups.length) next.cgroups = cgroups;
    else delete next.cgroups;
    return next;
  }

  /**
   * Clusters of this backend (this data dir) with live processes, found by their markers (Linux;
   * elsewhere always empty). A cluster whose scheduler died but whose workers live on is listed with
   * `scheduler: null`, so that stop() on it kills the rest. Empty cgroups of clusters that are gone
   * are removed.
   */
  async list(): Promise<ClusterState[]> {
    if (!HAS_PROC) return [];
    const byCluster = new Map<string, MarkedProcess[]>();
    for (const p of await this.scan()) {
      const id = p.env.get(CLUSTER_MARKER_ENV.clusterId)!;
      byCluster.set(id, [...(byCluster.get(id) ?? []), p]);
    }
    const boot = bootId();
    const states: LocalDaskState[] = [];
    for (const [clusterId, procs] of byCluster) {
      if (!UUID.test(clusterId)) continue;
      const env = procs[0]!.env;
      let spec: ClusterSpec | null = null;
      try {
        spec = JSON.parse(env.get(CLUSTER_MARKER_ENV.spec) ?? '') as ClusterSpec;
      } catch {
        spec = null;
      }
      if (!spec || typeof spec !== 'object' || !isPort(spec.dashboardPort)) continue;
      const pids = new Set(procs.map((p) => p.pid));
      const sched = procs.find((p) => p.env.get(CLUSTER_MARKER_ENV.role) === 'scheduler' && !pids.has(p.stat.ppid));
      states.push({
        backend: 'local', kind: 'dask', clusterId, scope: this.dataDir,
        user: env.get(CLUSTER_MARKER_ENV.user) ?? '',
        server: env.get(CLUSTER_MARKER_ENV.server) ?? '',
        name: env.get(CLUSTER_MARKER_ENV.name) ?? 'dask',
        schedulerAddress: schedulerAddressOf(spec),
        dashboardPort: spec.dashboardPort,
        spec,
        scheduler: sched ? { pid: sched.pid, startTime: sched.stat.startTime } : null,
        workers: [...LocalDaskBackend.workerRoots(procs).entries()].sort(([a], [b]) => a - b)
          .map(([index, p]) => ({ pid: p.pid, startTime: p.stat.startTime, index, name: `worker-${index}` })),
        bootId: boot,
      });
    }
    if (this.cgroupRoot !== null) {
      const layout = await this.cgroupLayout();
      if (layout.memory || layout.cpu) {
        const existing = await listServerCgroups(layout, CGROUP_PARENT);
        const keep = new Set<string>();
        for (const st of states) {
          const dirs: string[] = [];
          for (const [leaf, found] of existing) {
            if (!leaf.startsWith(`${st.clusterId}-`)) continue;
            keep.add(leaf);
            dirs.push(...found);
          }
          if (dirs.length) st.cgroups = dirs;
        }
        const removed = await sweepEmptyServerCgroups(layout, CGROUP_PARENT, { minAgeMs: this.cgroupSweepAfterMs, keep });
        if (removed.length) this.log.info({ cgroups: removed }, 'removed empty cgroups of Dask clusters that are gone');
      }
    }
    return states;
  }
}

/** A Python exception line at the start of a line: `OSError: [Errno 98] ...`, `ModuleNotFoundError: No module named 'x'`. */
const EXCEPTION_LINE = /^([A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)|Exception)(: .*)?$/;

/**
 * The exception that ended a process: the first exception line of the last traceback chain (a
 * chained traceback names its root cause first). An earlier, separate traceback is not it: say,
 * one a request handler logged while the scheduler was still starting. Without tracebacks, the
 * first exception line.
 */
function rootCause(lines: string[]): string | undefined {
  const starts = lines.flatMap((l, i) => (l.startsWith('Traceback (most recent call last):') ? [i] : []));
  let k = starts.length - 1;
  while (k > 0 && /^(The above exception was the direct cause|During handling of the above exception)/.test(lines[starts[k]! - 1] ?? '')) k--;
  return lines.slice(k >= 0 ? starts[k] : 0).find((l) => EXCEPTION_LINE.test(l));
}

/**
 * What a failed start shows: per log file the exception lines of this run (a chained Python
 * traceback names the root cause first, far above its last lines) and the last lines, carets
 * dropped; and `cause`, the root cause of the first log that has one, for the message.
 */
async function logExcerpts(paths: string[]): Promise<{ detail?: string; cause?: string }> {
  const parts: string[] = [];
  let cause: string | undefined;
  for (const path of paths) {
    const lines = (await readLogTail(path, 400)).split('\n').filter((l) => l && !/^\s*[\^~]+\s*$/.test(l));
    if (!lines.length) continue;
    const exceptions = [...new Set(lines.filter((l) => EXCEPTION_LINE.test(l)))];
    cause ??= rootCause(lines);
    const last = lines.slice(-LOG_TAIL_LINES);
    const shown = exceptions.filter((e) => !last.includes(e));
    parts.push([`--- ${path}`, ...shown, ...(shown.length ? ['...'] : []), ...last].join('\n'));
  }
  return { ...(parts.length ? { detail: parts.join('\n') } : {}), ...(cause ? { cause: cause.length > 300 ? `${cause.slice(0, 300)}…` : cause } : {}) };
}

/** One summary of several processes' enforcement: a setting counts as enforced only where it is for all of them. */