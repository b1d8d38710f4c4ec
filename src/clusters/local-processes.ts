/**
 * What the local Spark and Dask backends share about their processes: the marker variables every
 * cluster process carries (and its descendants inherit), finding a cluster's processes and cgroups
 * by them, telling whether a recorded process is still the same one, and stopping a cluster's
 * processes for sure (SIGTERM, grace, SIGKILL until none is left, then their cgroups).
 */
import type { ChildProcess } from 'node:child_process';
import type { Logger } from '../log.js';
import type { RunAs } from '../host/accounts.js';
import { openLog } from '../host/files.js';
import { spawnDetached } from '../host/launch.js';
import { MARKER_ENV } from '../host/markers.js';
import { HAS_PROC, bootId, listPids, readProcEnviron, readProcStat, sendSignal, type ProcStat } from '../host/process-info.js';
import {
  cgroupPids,
  createServerCgroups,
  isServerCgroupDir,
  listServerCgroups,
  removeServerCgroups,
  requestedSettings,
  type CgroupLayout,
  type EnforcedResources,
  type ResourceSpec,
} from '../host/cgroups.js';
import { ClusterError } from './backend.js';
import { sleep } from '../util/sleep.js';

/** Environment variables that mark a process as part of a local cluster (inherited by all its descendants). */
export const CLUSTER_MARKER_ENV = {
  /** The hub's data dir: clusters of another hub on the same machine are not this backend's. */
  scope: 'REFINERY_CLUSTER_SCOPE',
  /** 'spark' or 'dask' */
  kind: 'REFINERY_CLUSTER_KIND',
  clusterId: 'REFINERY_CLUSTER_ID',
  name: 'REFINERY_CLUSTER_NAME',
  user: MARKER_ENV.user,
  server: MARKER_ENV.server,
  /** Dask: 'scheduler' or 'worker'. Spark: 'master', 'worker', 'connect' or 'connect-warmup' (its first query; executors inherit their worker's). */
  role: 'REFINERY_CLUSTER_ROLE',
  /** The worker's index (worker-<i>). */
  worker: 'REFINERY_CLUSTER_WORKER',
  /** JSON of the backend's cluster spec: what list() and scale() need to know about a cluster they did not start. */
  spec: 'REFINERY_CLUSTER_SPEC',
} as const;

export const KILL_WAIT_MS = 5000;
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const CLUSTER_NAME = /^[a-z0-9][a-z0-9-]{0,30}$/;
export const isPort = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0 && v < 65536;

/** A process a state recorded: its pid and start time (so a reused pid is not mistaken for it). */
export type ProcRef = { pid: number; startTime: number | null };

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface MarkedProcess {
  pid: number;
  stat: ProcStat;
  env: Map<string, string>;
}

/** The account of a stored cluster state (who its processes run as), or undefined when it names none. */
export function parseRunAs(v: unknown): RunAs | undefined {
  const r = v as Partial<RunAs> | null;
  const id = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n > 0;
  if (!r || typeof r !== 'object' || typeof r.account !== 'string' || !id(r.uid) || !id(r.gid) || !Array.isArray(r.groups) || !r.groups.every((g) => Number.isInteger(g) && g >= 0)) return undefined;
  return { account: r.account, uid: r.uid, gid: r.gid, groups: r.groups };
}

/** Stamp the marker variables on a cluster process's environment. */
export function markClusterEnv(env: Record<string, string>, m: { kind: 'spark' | 'dask'; scope: string; clusterId: string; name: string; user: string; server: string; spec: unknown }): void {
  env[CLUSTER_MARKER_ENV.scope] = m.scope;
  env[CLUSTER_MARKER_ENV.kind] = m.kind;
  env[CLUSTER_MARKER_ENV.clusterId] = m.clusterId;
  env[CLUSTER_MARKER_ENV.name] = m.name;
  env[CLUSTER_MARKER_ENV.user] = m.user;
  env[CLUSTER_MARKER_ENV.server] = m.server;
  env[CLUSTER_MARKER_ENV.spec] = JSON.stringify(m.spec);
}

/** A cluster process started by launchClusterProcess. */
export interface Launched extends ProcRef {
  child: ChildProcess;
  exited: ExitInfo | null;
  cgroups: string[];
  enforced: EnforcedResources | undefined;
  logPath: string;
  /** Where this run's output starts in the (appended) log. */
  logOffset: number;
}

export interface LaunchRequest {
  what: string;
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  logPath: string;
  /** Under `cgroupParent`; made only when `resources` ask for something. */
  cgroupParent: string;
  cgroupName: string;
  resources: ResourceSpec;
  /** The system account to run as (host/launch.ts); null or absent: the hub's own. */
  runAs?: RunAs | null;
  onExit: () => void;
}

/**
 * Start one detached cluster process (in its own cgroups when limits are asked for and cgroups
 * work), its output appended to its log after a `[refinery] … starting` line. A setting that cannot
 * be enforced is reported through `warn` (the caller says it once).
 */
export async function launchClusterProcess(
  p: LaunchRequest,
  env: { kind: 'spark' | 'dask'; cgroupLayout: () => Promise<CgroupLayout>; warn: (setting: string, why: string) => void; log: Logger },
): Promise<Launched> {
  let cgroups: string[] = [];
  let enforced: EnforcedResources | undefined;
  let procsFiles: string[] = [];
  if (requestedSettings(p.resources).length) {
    const made = await createServerCgroups(await env.cgroupLayout(), p.cgroupParent, p.cgroupName, p.resources);
    cgroups = made.dirs;
    enforced = made.enforced;
    for (const [setting, how] of Object.entries(made.enforced)) {
      if (how !== 'none') continue;
      env.warn(setting, made.problems.join('; ') || 'control groups are not available');
    }
    procsFiles = made.procsFiles;
  }
  const undoCgroups = async () => {
    if (cgroups.length) await removeServerCgroups(cgroups);
  };
  let file;
  try {
    file = await openLog(p.logPath, p.runAs);
  } catch (error) {
    await undoCgroups();
    throw new ClusterError(`Could not open the log of the ${p.what} (${p.logPath}): ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  let child: ChildProcess;
  let spawnError: Promise<Error>;
  let logOffset = 0;
  try {
    await file.write(`\n[refinery] ${new Date().toISOString()} starting ${p.what}${p.runAs ? ` as ${p.runAs.account}` : ''}: ${p.argv.join(' ')}\n`);
    logOffset = (await file.stat()).size;
    try {
      child = spawnDetached({ argv: p.argv, env: p.env, cwd: p.cwd, outputFd: file.fd, procsFiles, runAs: p.runAs ?? null });
    } catch (error) {
      await undoCgroups();
      throw new ClusterError(`Could not start the ${p.what}: ${error instanceof Error ? error.message : String(error)}`);
    }
    spawnError = new Promise<Error>((r) => child.once('error', r));
    child.on('error', (err) => env.log.debug({ err, what: p.what }, `${env.kind} process error`));
  } finally {
    await file.close();
  }
  if (child.pid === undefined) {
    const err = await spawnError;
    await undoCgroups();
    throw new ClusterError(`Could not start the ${p.what}: ${err.message}`);
  }
  child.unref();
  const launched: Launched = { pid: child.pid, startTime: null, child, exited: null, cgroups, enforced, logPath: p.logPath, logOffset };
  child.once('exit', (code, signal) => {
    launched.exited = { code, signal };
    p.onExit();
  });
  launched.startTime = (await readProcStat(child.pid))?.startTime ?? null;
  return launched;
}

export function formatSeconds(ms: number): string {
  const s = ms / 1000;
  return Number.isInteger(s) ? String(s) : s.toFixed(1);
}

export function describeExit(e: ExitInfo): string {
  return e.signal ? `was killed by ${e.signal}` : `exited with code ${e.code ?? 'unknown'}`;
}

/** A user, server or cluster name that becomes part of a path: no separators, no dot names. */
export function checkSegment(kind: string, value: unknown, allowEmpty: boolean): void {
  if (typeof value !== 'string' || (!allowEmpty && value === '') || value === '.' || value === '..' || /[/\\\0]/.test(value) || value.length > 255) {
    throw new ClusterError(`Invalid ${kind} name: ${JSON.stringify(value)}`);
  }
}

/** What the cluster's processes got, together: a limit is reported only if every process got it. */
export function mergeEnforced(all: (EnforcedResources | undefined)[]): EnforcedResources | undefined {
  let out: EnforcedResources | undefined;
  for (const e of all) {
    if (!e) continue;
    out ??= {};
    for (const [k, v] of Object.entries(e) as [keyof EnforcedResources, NonNullable<EnforcedResources[keyof EnforcedResources]>][]) {
      if (out[k] === undefined || v === 'none') out[k] = v;
    }
  }
  return out;
}

/** Is a process still the one a state recorded? */
export async function processAlive(ref: ProcRef | null, boot: string | null): Promise<{ alive: boolean; reason?: string }> {
  if (!ref) return { alive: false, reason: 'is not running' };
  if (boot && HAS_PROC && boot !== bootId()) return { alive: false, reason: 'is gone (the machine was restarted)' };
  const stat = await readProcStat(ref.pid);
  if (!stat) return { alive: false, reason: 'is gone' };
  if (ref.startTime !== null && stat.startTime !== ref.startTime) return { alive: false, reason: 'is gone (its pid now belongs to another process)' };
  if (stat.state === 'Z' || stat.state === 'X') return { alive: false, reason: 'has exited' };
  return { alive: true };
}

/** Live processes of one kind of cluster of one hub (of one cluster, with `clusterId`), found by their markers. */
export async function scanClusterProcesses(kind: 'spark' | 'dask', scope: string, clusterId?: string): Promise<MarkedProcess[]> {
  const found: MarkedProcess[] = [];
  for (const pid of await listPids()) {
    if (pid === process.pid) continue;
    const env = await readProcEnviron(pid);
    if (!env || env.get(CLUSTER_MARKER_ENV.kind) !== kind || env.get(CLUSTER_MARKER_ENV.scope) !== scope) continue;
    const id = env.get(CLUSTER_MARKER_ENV.clusterId);
    if (!id || (clusterId !== undefined && id !== clusterId)) continue;
    const stat = await readProcStat(pid);
    if (!stat || stat.state === 'Z' || stat.state === 'X') continue;
    found.push({ pid, stat, env });
  }
  return found;
}

/** The cgroup directories of a cluster (leaves `<clusterId>-…` under `parent`): those its state names and any found by its id. */
export async function clusterCgroupDirs(layout: CgroupLayout, parent: string, clusterId: string, recorded: readonly string[] | undefined, only?: (leaf: string) => boolean): Promise<string[]> {
  const mine = (dir: string) => {
    const leaf = dir.slice(dir.lastIndexOf('/') + 1);
    return leaf.startsWith(`${clusterId}-`) && (!only || only(leaf));
  };
  const dirs = new Set((recorded ?? []).filter((d) => isServerCgroupDir(layout, parent, d) && mine(d)));
  for (const [leaf, found] of await listServerCgroups(layout, parent)) {
    if (leaf.startsWith(`${clusterId}-`)) for (const d of found) if (mine(d)) dirs.add(d);
  }
  return [...dirs];
}

export interface TerminateOptions {
  kind: 'spark' | 'dask';
  scope: string;
  clusterId: string;
  bootId: string | null;
  /** Processes the state recorded; with `signalGroups`, their process groups are signalled too. */
  refs: readonly ProcRef[];
  signalGroups: boolean;
  /** Which marked processes of the cluster to stop. */
  select: (env: Map<string, string>) => boolean;
  /** Cgroup directories whose processes are stopped too (and which are removed afterwards when `removeCgroups`). */
  cgroups: readonly string[];
  removeCgroups: boolean;
  /** Between SIGTERM and SIGKILL; 0 = SIGKILL at once. */
  graceMs: number;
  log: Logger;
  /** For the log: user, server and cluster name. */
  who: { user: string; server: string; cluster: string };
}

/**
 * SIGTERM the chosen processes of a cluster (by marker, by recorded pid and process group, by
 * cgroup), wait up to `graceMs`, then SIGKILL until none is left (or KILL_WAIT_MS passed, logged).
 * Then remove the cgroups.
 */
export async function terminateClusterProcesses(o: TerminateOptions): Promise<void> {
  const label = o.kind === 'spark' ? 'Spark' : 'Dask';
  const live = async (): Promise<number[]> => {
    const pids = new Set((await scanClusterProcesses(o.kind, o.scope, o.clusterId)).filter((p) => o.select(p.env)).map((p) => p.pid));
    for (const ref of o.refs) if ((await processAlive(ref, o.bootId)).alive) pids.add(ref.pid);
    for (const dir of o.cgroups) {
      for (const pid of await cgroupPids(dir)) {
        const st = pid === process.pid ? null : await readProcStat(pid);
        if (st && st.state !== 'Z' && st.state !== 'X') pids.add(pid);
      }
    }
    return [...pids];
  };
  // only groups whose leaders are provably the recorded processes
  const groups: number[] = [];
  if (o.signalGroups) for (const ref of o.refs) if ((await processAlive(ref, o.bootId)).alive) groups.push(ref.pid);
  let rest = await live();
  if (rest.length) {
    const sig: NodeJS.Signals = o.graceMs > 0 ? 'SIGTERM' : 'SIGKILL';
    for (const pgid of groups) sendSignal(-pgid, sig);
    for (const pid of rest) sendSignal(pid, sig);
    const until = Date.now() + o.graceMs;
    while (rest.length && Date.now() < until) {
      await sleep(Math.min(100, until - Date.now()));
      rest = await live();
    }
  }
  const killUntil = Date.now() + KILL_WAIT_MS;
  let first = true;
  while (rest.length) {
    if (Date.now() >= killUntil) {
      o.log.warn({ ...o.who, pids: rest }, `processes of a stopped ${label} cluster are still there after SIGKILL`);
      break;
    }
    if (first) for (const pgid of groups) sendSignal(-pgid, 'SIGKILL');
    first = false;
    for (const pid of rest) sendSignal(pid, 'SIGKILL');
    await sleep(50);
    rest = await live();
  }
  if (o.removeCgroups && o.cgroups.length) {
    let left = await removeServerCgroups([...o.cgroups]);
    for (let i = 0; left.length && i < 20; i++) {
      await sleep(100);
      left = await removeServerCgroups(left);
    }
    if (left.length) o.log.warn({ ...o.who, cgroups: left }, `could not remove the cgroups of a stopped ${label} cluster`);
  }
}
