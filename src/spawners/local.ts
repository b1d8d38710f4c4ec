/**
 * LocalSpawner: each single-user server is a local process (`jupyterhub-singleuser` from envs/base by
 * default), detached from the hub so that it outlives hub restarts and crashes.
 *
 * Who a server runs as and where its files are is decided by `people` (host/people.ts): as root,
 * by default, each person's servers run as a system account of their own (started through
 * host/launch.ts: cgroups joined and the account taken on before the program runs); otherwise as the
 * hub's own account. Per user:
 *
 *   <dataDir>/users/<name>/                     mode 0700; HOME, cwd and notebook root of every server of <name>
 *   <run dir>/<server>.log                      stdout+stderr of one server ('default' for the default server), appended;
 *                                               the run dir is <dataDir>/run/<name>/ per-user, <home>/.refinery/ otherwise
 *
 * Finding servers again: every server is started with marker variables in its environment
 * (REFINERY_SPAWNER_DATA_DIR, REFINERY_SPAWN_ID, REFINERY_USER, REFINERY_SERVER_NAME). Everything the
 * server starts inherits them: kernels, terminals and whatever those start. Kernels matter here:
 * jupyter_client starts every kernel in a NEW session (`start_new_session=True`,
 * jupyter_client/launcher.py:151), so they are not in the server's process group and a group kill
 * alone would miss them. `stop()` therefore kills the process group AND every process carrying the
 * server's spawn id, and `list()` finds servers (and their orphans) by the markers. Both read
 * /proc/<pid>/environ, which needs Linux and the same Unix user (or root, as with per-user accounts).
 *
 * On systems without Linux's /proc: `poll()` falls back to `kill(pid, 0)` (no pid-reuse guard),
 * `stop()` signals the process group only, and `list()` returns nothing.
 *
 * Per-spawn choices: `request.command` runs another program (an image's environment, e.g.
 * `envs/spark/bin/python -m jupyterhub.singleuser`; its bin directory goes first on PATH), and
 * `request.resources` sets CPU and memory limits. Limits are enforced with a control group per server
 * (resources.ts: created before the server runs, inherited by its kernels, removed after it stops;
 * `stop()` also kills whatever is still in it, and `list()` removes empty leftovers). Where cgroups
 * cannot be used the server starts anyway, `state.enforced` says 'none' for what was not enforced,
 * and a warning is logged once per kind of problem.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, symlink, unlink } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import type { Logger } from '../log.js';
import { forwardProgress } from '../util/progress.js';
import { freePort } from '../util/ports.js';
import { openLog } from '../host/files.js';
import { readLogTail, RUN_HEADER } from '../host/log-tail.js';
import { MARKER_ENV } from '../host/markers.js';
import { repoRoot } from '../host/repo-root.js';
import { spawnDetached } from '../host/launch.js';
import { LocalPeople } from '../host/people.js';
import {
  HAS_PROC,
  bootId,
  isPid,
  listPids,
  pidExists,
  readProcEnviron,
  readProcStat,
  sendSignal,
  startTimeToDate,
  type ProcStat,
} from '../host/process-info.js';
import {
  DEFAULT_CGROUP_PARENT,
  cgroupPids,
  checkResources,
  createServerCgroups,
  detectCgroups,
  isServerCgroupDir,
  listServerCgroups,
  processInCgroup,
  removeServerCgroups,
  requestedSettings,
  resourceEnv,
  serverCgroupDir,
  settleServerCgroups,
  sweepEmptyServerCgroups,
  type CgroupLayout,
  type EnforcedResources,
  type ResourceSpec,
} from '../host/cgroups.js';
import {
  SpawnError,
  type PollResult,
  type SpawnRequest,
  type Spawner,
  type SpawnerState,
  type StartedServer,
} from './spawner.js';
import { sleep } from '../util/sleep.js';
import { StartSlots, defaultConcurrentStarts } from './start-slots.js';

export interface LocalSpawnerOptions {
  /** Root of the spawner's files; users' directories go to `<dataDir>/users/<name>/`. Made absolute. */
  dataDir: string;
  /**
   * Program and leading arguments of the server. Default `[<repo>/envs/base/bin/jupyterhub-singleuser]`
   * (created by scripts/setup-python.sh). Secrets never go here: they travel in the environment.
   */
  command?: string[];
  /** Extra arguments appended after `command` (e.g. `['--ServerApp.terminals_enabled=False']`). Default none. */
  args?: string[];
  /**
   * Append `--allow-root`. Jupyter Server refuses to run as uid 0 without it. Default: true exactly
   * when the hub runs as root. Set false for commands that are not Jupyter servers.
   */
  allowRoot?: boolean;
  /**
   * Default page of the server, passed as JUPYTERHUB_DEFAULT_URL (jupyterhub 5.5's singleuser honours
   * it, extension.py:576) unless the request's env already sets it. Default `/lab`.
   */
  defaultUrl?: string;
  /** Interface the servers listen on. Default `127.0.0.1`. */
  host?: string;
  /**
   * People's homes and system accounts (host/people.ts). Default: everything as the hub's own
   * account, homes in `<dataDir>/users/<name>`, logs in `<home>/.refinery/`.
   */
  people?: LocalPeople;
  /** Directory put first on PATH. Default: the directory of `command[0]` when it is an absolute path (the venv's bin). */
  binDir?: string;
  /**
   * Variables copied from the hub's own environment; nothing else of it is passed on, since it may hold
   * secrets. Default `['PATH', 'LANG', 'LC_ALL', 'TZ']`. The request's env is added on top.
   */
  envKeep?: string[];
  /** Default grace period of `stop()` between SIGTERM and SIGKILL. Default 5000 ms. */
  stopGraceMs?: number;
  /**
   * Control groups for `request.resources` (see resources.ts). `root`: where the hierarchies are
   * mounted (default `/sys/fs/cgroup`); `parent`: the directory under the hub's own cgroup that holds
   * one cgroup per server (default `refinery`); `sweepAfterMs`: `list()` removes empty server cgroups
   * older than this (default 60 000). `false`: never use cgroups (limits are then not enforced, or
   * by the rlimit fallback).
   */
  cgroups?: { root?: string; parent?: string; sweepAfterMs?: number } | false;
  /**
   * A memory limit that cgroups cannot enforce: 'none' (default: not enforced, reported and logged)
   * or 'rlimit-data' (RLIMIT_DATA of that size on the server and, inherited, on each of its processes
   * separately: not a limit for the server as a whole; resources.ts says why RLIMIT_AS is never used).
   */
  memoryLimitFallback?: 'none' | 'rlimit-data';
  /** Servers that start at once; more wait their turn, oldest first (start-slots.ts). 0: no limit. Default: defaultConcurrentStarts(). */
  concurrentStarts?: number;
  log: Logger;
}

/**
 * What `start()` returns as `state` (and `list()` reports): plain JSON, stored by the hub and handed back
 * to `poll()` and `stop()`.
 */
export type LocalServerState = {
  /** Main process of the server (leader of its own process group and session). */
  pid: number;
  /** Its process group (= pid, since it is started detached). */
  pgid: number;
  /** Start time of `pid` from /proc/<pid>/stat field 22 (clock ticks since boot); null off Linux. Guards against pid reuse. */
  startTime: number | null;
  /** /proc/sys/kernel/random/boot_id at start; null off Linux. A state from an earlier boot is never running. */
  bootId: string | null;
  /** Random id, also in the server's environment as REFINERY_SPAWN_ID; finds its kernels and other descendants. */
  spawnId: string;
  host: string;
  port: number;
  user: string;
  /** '' for the default server. */
  server: string;
  /** The server's log file (append-only, shared by successive starts of the same server). */
  logPath: string;
  /** The user's directory: cwd, HOME and notebook root. */
  workDir: string;
  /** ISO time the process started. */
  startedAt: string;
  /** The server's cgroup directories (one per controller used); removed after it stops. Absent when none were made. */
  cgroups?: string[];
  /**
   * How each resource setting the spawn asked for is enforced: 'cgroup-v1', 'cgroup-v2',
   * 'rlimit-data' or 'none'. Absent when the spawn asked for no resources.
   */
  enforced?: EnforcedResources;
};

const DEFAULT_ENV_KEEP = ['PATH', 'LANG', 'LC_ALL', 'TZ'];
/** Time given to leftovers to disappear after SIGKILL before stop() gives up waiting. */
const KILL_WAIT_MS = 5000;

/**
 * Jupyter configuration every server gets first on JUPYTER_CONFIG_PATH: it loads
 * python/jupyter-config/refinery_proxy_guard.py, which lets jupyter-server-proxy's /proxy/<port>/
 * reach only services of the server's own account.
 */
export function proxyGuardConfigDir(): string {
  return join(repoRoot(), 'python', 'jupyter-config');
}

/** The default server command: jupyterhub-singleuser from the project's base environment. */
export function defaultCommand(): string[] {
  return [join(repoRoot(), 'envs', 'base', 'bin', 'jupyterhub-singleuser')];
}


/** A name that can safely be one path segment (the hub validates names too; this is the spawner's own guard). */
function checkSegment(kind: string, value: string, allowEmpty: boolean): void {
  if (typeof value !== 'string' || (!allowEmpty && value === '')) throw new SpawnError(`Invalid ${kind} name`);
  if (value === '.' || value === '..' || /[/\\\0]/.test(value) || value.length > 255) {
    throw new SpawnError(`Invalid ${kind} name: ${JSON.stringify(value)}`);
  }
}

function formatSeconds(ms: number): string {
  const s = ms / 1000;
  return Number.isInteger(s) ? String(s) : s.toFixed(1);
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return `was killed by ${signal}`;
  return `exited with code ${code ?? 'unknown'}`;
}

/**
 * Local stand-in for mounts: each volume with a host path becomes a symbolic link in the home
 * directory, named after the last part of its mount path (`/data/shared` → `~/shared`). Links are
 * refreshed on every start; a real file or directory of the user's with that name is left alone.
 * Read-only cannot be enforced this way (documented).
 */
async function linkVolumes(workDir: string, volumes: NonNullable<SpawnRequest['volumes']>, log: Logger): Promise<void> {
  for (const volume of volumes) {
    if (!volume.hostPath) continue;
    const name = basename(volume.mountPath.replace(/\/+$/, ''));
    if (!name || name === '.' || name === '..') continue;
    const link = join(workDir, name);
    try {
      const existing = await lstat(link).catch(() => undefined);
      if (existing && !existing.isSymbolicLink()) {
        log.warn({ volume: volume.name, path: link }, 'not linking a volume over an existing file in the home directory');
        continue;
      }
      if (existing) await unlink(link);
      await symlink(volume.hostPath, link);
    } catch (error) {
      throw new SpawnError(`Cannot make volume ${volume.name} available at ~/${name}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  }
}

/** Read a LocalServerState back from JSON, or null if it is not one. */
export function parseLocalState(state: SpawnerState | null | undefined): LocalServerState | null {
  if (!state || typeof state !== 'object') return null;
  const s = state as Record<string, unknown>;
  const str = (v: unknown) => typeof v === 'string';
  const numOrNull = (v: unknown) => v === null || (typeof v === 'number' && Number.isFinite(v));
  if (!isPid(s.pid) || !isPid(s.pgid) || !numOrNull(s.startTime) || !str(s.spawnId)) return null;
  if (!(s.bootId === null || str(s.bootId)) || typeof s.port !== 'number') return null;
  if (!str(s.user) || !str(s.server) || !str(s.logPath) || !str(s.workDir) || !str(s.host)) return null;
  const cgroups = Array.isArray(s.cgroups) && s.cgroups.every(str) ? (s.cgroups as string[]) : undefined;
  const enforced = s.enforced && typeof s.enforced === 'object' && !Array.isArray(s.enforced) ? (s.enforced as EnforcedResources) : undefined;
  return {
    pid: s.pid,
    pgid: s.pgid,
    startTime: s.startTime as number | null,
    bootId: s.bootId as string | null,
    spawnId: s.spawnId as string,
    host: s.host as string,
    port: s.port,
    user: s.user as string,
    server: s.server as string,
    logPath: s.logPath as string,
    workDir: s.workDir as string,
    startedAt: str(s.startedAt) ? (s.startedAt as string) : '',
    ...(cgroups ? { cgroups } : {}),
    ...(enforced ? { enforced } : {}),
  };
}

/** GET url; true on any HTTP response, false when nothing answers (refused, reset, timeout). */
function answersHttp(url: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    let done = false;
    const finish = (value: boolean) => {
      if (!done) {
        done = true;
        resolvePromise(value);
      }
    };
    const req = httpRequest(url, { method: 'GET', agent: false, timeout: Math.max(100, timeoutMs) }, (res) => {
      res.resume();
      finish(true);
      req.destroy();
    });
    req.on('timeout', () => {
      req.destroy();
      finish(false);
    });
    req.on('error', () => finish(false));
    req.end();
  });
}

interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class LocalSpawner implements Spawner {
  readonly kind = 'local';
  readonly dataDir: string;
  readonly command: string[];
  readonly args: string[];
  readonly allowRoot: boolean;
  readonly defaultUrl: string;
  readonly host: string;
  readonly binDir: string | undefined;
  readonly envKeep: string[];
  readonly stopGraceMs: number;
  readonly cgroupRoot: string | null;
  readonly cgroupParent: string;
  readonly cgroupSweepAfterMs: number;
  readonly memoryLimitFallback: 'none' | 'rlimit-data';
  readonly people: LocalPeople;
  private readonly log: Logger;
  private layoutPromise: Promise<CgroupLayout> | null = null;
  /** Problems already logged as warnings (each kind once per spawner). */
  private readonly warned = new Set<string>();
  /**
   * Spawn ids of the starts under way in this hub. Their cgroups are empty until the start wrapper
   * joins them, and the wrapper's environment carries no marker, so list() cannot see them: its sweep
   * must leave them alone. Under a burst next to busy processes, the hub and the wrappers wait for the
   * CPU long enough (measured: over 60 s for 64 at once) that the sweep otherwise removed cgroups of
   * servers about to join them ("could not move the server into the control group").
   */
  private readonly starting = new Set<string>();
  private readonly slots: StartSlots;
  /** Exit statuses of servers this hub process started and saw die, keyed by `pid:startTime`, for poll(). */
  private readonly exits = new Map<string, ExitInfo>();

  constructor(options: LocalSpawnerOptions) {
    this.dataDir = resolve(options.dataDir);
    this.command = options.command?.length ? [...options.command] : defaultCommand();
    this.args = [...(options.args ?? [])];
    this.allowRoot = options.allowRoot ?? process.getuid?.() === 0;
    this.defaultUrl = options.defaultUrl ?? '/lab';
    this.host = options.host ?? '127.0.0.1';
    const cmd0 = this.command[0]!;
    this.binDir = options.binDir ?? (isAbsolute(cmd0) ? dirname(cmd0) : undefined);
    this.envKeep = options.envKeep ?? DEFAULT_ENV_KEEP;
    this.stopGraceMs = options.stopGraceMs ?? 5000;
    this.cgroupRoot = options.cgroups === false ? null : (options.cgroups?.root ?? '/sys/fs/cgroup');
    this.cgroupParent = (options.cgroups && options.cgroups.parent) || DEFAULT_CGROUP_PARENT;
    this.cgroupSweepAfterMs = (options.cgroups ? options.cgroups.sweepAfterMs : undefined) ?? 60_000;
    this.memoryLimitFallback = options.memoryLimitFallback ?? 'none';
    this.log = options.log;
    this.slots = new StartSlots(options.concurrentStarts ?? defaultConcurrentStarts());
    this.people = options.people ?? new LocalPeople({ dataDir: this.dataDir, mode: 'hub', log: options.log });
  }

  /** Where this spawner's cgroups go (detected once; `null` root = cgroups disabled). */
  cgroupLayout(): Promise<CgroupLayout> {
    if (!this.layoutPromise) {
      this.layoutPromise = this.cgroupRoot === null
        ? Promise.resolve({ memory: null, cpu: null, problems: ['control groups are disabled in the spawner options'] })
        : detectCgroups({ root: this.cgroupRoot });
    }
    return this.layoutPromise;
  }

  private warnOnce(key: string, fields: Record<string, unknown>, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.log.warn(fields, message);
  }

  /** The cgroup directories of a server: those its state names (if they are server cgroups) and any found by its spawn id. */
  private async serverCgroups(s: LocalServerState): Promise<string[]> {
    const layout = await this.cgroupLayout();
    const dirs = new Set((s.cgroups ?? []).filter((d) => isServerCgroupDir(layout, this.cgroupParent, d)));
    for (const h of [layout.memory, layout.cpu]) {
      if (!h) continue;
      const dir = serverCgroupDir(h, this.cgroupParent, s.spawnId);
      if (existsSync(dir)) dirs.add(dir);
    }
    return [...dirs];
  }

  /** `<dataDir>/users/<name>` */
  userDir(user: string): string {
    return this.people.homeOf(user);
  }

  /** `<person's run directory>/<server or 'default'>.log` (host/people.ts says where that is) */
  logPath(user: string, server: string): string {
    return join(this.people.runDirOf(user), `${server || 'default'}.log`);
  }

  private hostForUrl(): string {
    return this.host.includes(':') ? `[${this.host}]` : this.host;
  }

  private buildEnv(
    request: SpawnRequest,
    extra: { workDir: string; serviceUrl: string; prefix: string; spawnId: string; binDir: string | undefined; account: string | null },
  ): Record<string, string> {
    const env: Record<string, string> = {};
    for (const key of this.envKeep) {
      const value = process.env[key];
      if (value !== undefined) env[key] = value;
    }
    env.PATH = [extra.binDir, env.PATH || '/usr/local/bin:/usr/bin:/bin'].filter(Boolean).join(':');
    env.LANG ??= 'C.UTF-8';
    env.SHELL = existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh';
    env.JUPYTERHUB_SERVICE_PREFIX = extra.prefix;
    env.JUPYTERHUB_ROOT_DIR = extra.workDir;
    env.JUPYTERHUB_DEFAULT_URL = this.defaultUrl;
    // What JupyterHub tells a server about its resources (jupyter-resource-usage reads these).
    Object.assign(env, resourceEnv(request.resources));
    // The request's env (the JupyterHub variables plus whatever the profile adds) wins over the defaults above...
    Object.assign(env, request.env);
    // ...but not over what the spawner itself decides.
    env.HOME = extra.workDir;
    if (extra.account) {
      env.USER = extra.account;
      env.LOGNAME = extra.account;
    }
    // jupyter-server-proxy reaches only this account's own services (python/jupyter-config)
    env.JUPYTER_CONFIG_PATH = [proxyGuardConfigDir(), env.JUPYTER_CONFIG_PATH].filter(Boolean).join(':');
    env.JUPYTERHUB_SERVICE_URL = extra.serviceUrl;
    env[MARKER_ENV.dataDir] = this.dataDir;
    env[MARKER_ENV.spawnId] = extra.spawnId;
    env[MARKER_ENV.user] = request.user;
    env[MARKER_ENV.server] = request.serverName;
    return env;
  }

  async start(request: SpawnRequest): Promise<StartedServer> {
    const spawnId = randomUUID();
    this.starting.add(spawnId);
    try {
      // the start timeout counts from the slot on: waiting in the queue is not the server's fault
      const release = await this.slots.acquire(
        request.signal,
        ({ ahead, running, limit }) => request.onProgress({
          progress: 1,
          message: `Waiting to start: ${ahead === 0 ? 'next in line' : `${ahead} ${ahead === 1 ? 'start' : 'starts'} ahead`} (${running} starting now, ${limit} at a time on this machine)`,
        }),
        () => new SpawnError('Server start was cancelled'),
      );
      try {
        return await this.startWithId(request, spawnId);
      } finally {
        release();
      }
    } finally {
      this.starting.delete(spawnId);
    }
  }

  private async startWithId(request: SpawnRequest, spawnId: string): Promise<StartedServer> {
    const started = Date.now();
    const deadline = started + request.startTimeoutMs;
    const { user, serverName: server, signal } = request;
    checkSegment('user', user, false);
    checkSegment('server', server, true);
    const progress = forwardProgress((event) => request.onProgress(event), this.log);
    if (signal.aborted) throw new SpawnError('Server start was cancelled');
    const resourceProblem = checkResources(request.resources);
    if (resourceProblem) throw new SpawnError(`Invalid resources: ${resourceProblem}`);
    const command = request.command?.length ? request.command : this.command;
    if (!command.every((a) => typeof a === 'string') || !command[0]) throw new SpawnError('Invalid server command');
    const binDir = request.command?.length ? (isAbsolute(command[0]) ? dirname(command[0]) : undefined) : this.binDir;

    progress(5, 'Preparing the working directory');
    let place;
    try {
      place = await this.people.prepare(user);
    } catch (error) {
      throw new SpawnError(`Could not prepare ${user}'s account and home directory: ${error instanceof Error ? error.message : String(error)}`);
    }
    const { home: workDir, runAs } = place;
    await linkVolumes(workDir, request.volumes ?? [], this.log);
    const logPath = this.logPath(user, server);
    const port = await freePort(this.host);
    let prefix = request.servicePrefix || '/';
    if (!prefix.startsWith('/')) prefix = `/${prefix}`;
    if (!prefix.endsWith('/')) prefix = `${prefix}/`;
    const serviceUrl = `http://${this.hostForUrl()}:${port}${prefix}`;
    const env = this.buildEnv(request, { workDir, serviceUrl, prefix, spawnId, binDir, account: runAs?.account ?? null });
    const [cmd, ...cmdArgs] = command as [string, ...string[]];
    const argv = [...cmdArgs, ...this.args, ...(this.allowRoot && !runAs ? ['--allow-root'] : [])];

    // Resources: a cgroup per server, joined before the server runs (host/launch.ts).
    let cgroupDirs: string[] = [];
    let enforced: EnforcedResources | undefined;
    let procsFiles: string[] = [];
    let rlimitDataBytes: number | undefined;
    if (requestedSettings(request.resources).length) {
      const spec = request.resources as ResourceSpec;
      const layout = await this.cgroupLayout();
      // startup: at least an ordinary process's CPU weight until it answers (host/cgroups.ts, START-UP WEIGHT)
      const made = await createServerCgroups(layout, this.cgroupParent, spawnId, spec, { startup: true });
      cgroupDirs = made.dirs;
      enforced = made.enforced;
      if (enforced.memoryLimit === 'none' && this.memoryLimitFallback === 'rlimit-data' && spec.memoryLimit) {
        rlimitDataBytes = spec.memoryLimit;
        enforced.memoryLimit = 'rlimit-data';
      }
      for (const [setting, how] of Object.entries(enforced)) {
        if (how !== 'none') continue;
        const why = made.problems.join('; ') || 'control groups are not available';
        this.warnOnce(`${setting}:${why}`, { user, server, setting, why }, `resource setting ${setting} is not enforced for local servers: ${why}`);
      }
      procsFiles = made.procsFiles;
    }
    const removeCgroups = async () => {
      if (cgroupDirs.length) await removeServerCgroups(cgroupDirs);
    };

    progress(10, 'Starting server process');
    let logFile;
    try {
      logFile = await openLog(logPath, runAs);
    } catch (error) {
      await removeCgroups();
      throw new SpawnError(`Could not open the server's log ${logPath}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
    let child: ChildProcess;
    let spawnFailure: Promise<Error>;
    try {
      const limits = enforced ? ` (resources: ${Object.entries(enforced).map(([k, v]) => `${k} ${v}`).join(', ')})` : '';
      const who = runAs ? ` as ${runAs.account}` : '';
      await logFile.write(
        `\n${RUN_HEADER}${new Date().toISOString()} starting server ${JSON.stringify(server)} of ${user}${who} on ${this.host}:${port}: ${[cmd, ...argv].join(' ')}${limits}\n`,
      );
      try {
        child = spawnDetached({ argv: [cmd, ...argv], env, cwd: workDir, outputFd: logFile.fd, procsFiles, ...(rlimitDataBytes ? { rlimitDataBytes } : {}), runAs });
      } catch (error) {
        await removeCgroups();
        throw new SpawnError(`Could not start the server: ${error instanceof Error ? error.message : String(error)}`);
      }
      // 'error' comes on a later tick (e.g. ENOENT): listen before awaiting anything, and for good, so
      // that a late one cannot crash the hub.
      spawnFailure = new Promise<Error>((r) => child.once('error', r));
      child.on('error', (err) => this.log.debug({ err, user, server }, 'server child process error'));
    } finally {
      await logFile.close();
    }
    if (child.pid === undefined) {
      const err = await spawnFailure;
      await removeCgroups();
      throw new SpawnError(`Could not start the server: ${cmd}: ${err.message}`);
    }
    const pid = child.pid;
    child.unref();

    let exited: ExitInfo | null = null;
    let wake: () => void = () => {};
    // The exit may come before `state` exists (during the await below): remember it once both are known.
    let exitKey: string | null = null;
    child.once('exit', (code, sig) => {
      exited = { code, signal: sig };
      if (exitKey) this.rememberExit(exitKey, exited);
      wake();
    });
    const onAbort = () => wake();
    signal.addEventListener('abort', onAbort);

    const stat = await readProcStat(pid);
    const state: LocalServerState = {
      pid,
      pgid: stat?.pgrp ?? pid,
      startTime: stat?.startTime ?? null,
      bootId: bootId(),
      spawnId,
      host: this.host,
      port,
      user,
      server,
      logPath,
      workDir,
      startedAt: new Date().toISOString(),
      ...(cgroupDirs.length ? { cgroups: cgroupDirs } : {}),
      ...(enforced ? { enforced } : {}),
    };
    exitKey = `${pid}:${state.startTime}`;
    if (exited) this.rememberExit(exitKey, exited);
    this.log.info({ user, server, pid, port }, 'local server process started');
    progress(20, `Started server process (pid ${pid})`);

    const fail = async (message: string, grace: number): Promise<never> => {
      signal.removeEventListener('abort', onAbort);
      await this.stop(state, { graceMs: grace });
      const detail = await readLogTail(logPath);
      this.log.warn({ user, server, pid, port }, `local server failed to start: ${message}`);
      throw new SpawnError(message, detail || undefined);
    };

    const url = `http://${this.hostForUrl()}:${port}${prefix}api`;
    let delay = 50;
    let lastReport = 0;
    for (;;) {
      if (exited) {
        const { code, signal: sig } = exited as ExitInfo;
        return fail(`Server process ${describeExit(code, sig)} before it answered`, 0);
      }
      if (signal.aborted) return fail('Server start was cancelled', 1000);
      const now = Date.now();
      if (now >= deadline) {
        return fail(`Server did not answer within ${formatSeconds(request.startTimeoutMs)} seconds`, 1000);
      }
      if (await answersHttp(url, Math.min(2000, deadline - now))) break;
      const elapsed = Date.now() - started;
      if (elapsed - lastReport >= 1000) {
        lastReport = elapsed;
        progress(20 + (70 * elapsed) / request.startTimeoutMs, `Waiting for server to answer (${Math.round(elapsed / 1000)}s)…`);
      }
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now())));
      });
      wake = () => {};
      // a refused connection on loopback costs next to nothing: look often, so a server is seen
      // up within ~0.15 s of listening (at most 500 ms it cost a spawn 0.25 s on average)
      delay = Math.min(delay * 1.5, 150);
    }
    signal.removeEventListener('abort', onAbort);
    if (exited) {
      const { code, signal: sig } = exited as ExitInfo;
      return fail(`Server process ${describeExit(code, sig)} before it answered`, 0);
    }
    if (cgroupDirs.length && enforced) {
      await settleServerCgroups(await this.cgroupLayout(), this.cgroupParent, spawnId, request.resources as ResourceSpec);
      await this.verifyCgroups(state, enforced);
    }
    const took = Date.now() - started;
    this.log.info({ user, server, pid, port, ms: took, ...(enforced ? { enforced } : {}) }, 'local server is up');
    progress(90, `Server is up (${formatSeconds(Math.round(took / 100) * 100)}s)`);
    return { target: `http://${this.hostForUrl()}:${port}`, state };
  }

  /** The server answers, so its wrapper ran: make sure it really is in its cgroups, and say 'none' where it is not. */
  private async verifyCgroups(state: LocalServerState, enforced: EnforcedResources): Promise<void> {
    const layout = await this.cgroupLayout();
    for (const h of [layout.memory, layout.cpu]) {
      if (!h) continue;
      const dir = serverCgroupDir(h, this.cgroupParent, state.spawnId);
      if (!state.cgroups?.includes(dir) || (await processInCgroup(state.pid, h, dir))) continue;
      for (const key of Object.keys(enforced) as (keyof EnforcedResources)[]) {
        if (key.startsWith(h.controller) && enforced[key]?.startsWith('cgroup')) enforced[key] = 'none';
      }
      this.warnOnce(`not-in-cgroup:${h.controller}`, { user: state.user, server: state.server, dir }, 'a local server is not in the cgroup made for it; its limits are not enforced');
    }
  }

  private rememberExit(key: string, info: ExitInfo): void {
    this.exits.set(key, info);
    if (this.exits.size > 1000) this.exits.delete(this.exits.keys().next().value as string);
  }

  /** Is the server's main process alive and still the same process? */
  private async leaderStatus(s: LocalServerState): Promise<{ alive: boolean; reason?: string; stat?: ProcStat }> {
    if (!HAS_PROC || s.startTime === null) {
      return pidExists(s.pid) ? { alive: true } : { alive: false, reason: 'process is gone' };
    }
    if (s.bootId && s.bootId !== bootId()) return { alive: false, reason: 'machine was restarted' };
    const stat = await readProcStat(s.pid);
    if (!stat) return { alive: false, reason: 'process is gone' };
    if (stat.startTime !== s.startTime) return { alive: false, reason: 'pid now belongs to another process' };
    if (stat.state === 'Z' || stat.state === 'X') return { alive: false, reason: 'process has exited (zombie)' };
    return { alive: true, stat };
  }

  async poll(state: SpawnerState): Promise<PollResult> {
    const s = parseLocalState(state);
    if (!s) return { running: false, reason: 'not a local spawner state' };
    const status = await this.leaderStatus(s);
    if (status.alive) return { running: true };
    const exit = this.exits.get(`${s.pid}:${s.startTime}`);
    if (exit) return { running: false, exitCode: exit.code, reason: `server process ${describeExit(exit.code, exit.signal)}` };
    return { running: false, ...(status.reason ? { reason: status.reason } : {}) };
  }

  /** Live processes carrying this server's spawn id: its main process, kernels, terminals and their children. Linux only. */
  private async descendants(spawnId: string): Promise<number[]> {
    const found: number[] = [];
    for (const pid of await listPids()) {
      if (pid === process.pid) continue;
      const env = await readProcEnviron(pid);
      if (env?.get(MARKER_ENV.spawnId) === spawnId && env.get(MARKER_ENV.dataDir) === this.dataDir) found.push(pid);
    }
    return found;
  }

  /**
   * SIGTERM to the server's process group (Jupyter Server then shuts its kernels down), wait up to
   * `graceMs` for the main process to exit, then SIGKILL the group and every process still carrying
   * the server's spawn id (kernels live in sessions of their own). Resolves once all of them are gone
   * (or after a further 5 s of waiting for stragglers, logged). Safe to call on a dead server, twice,
   * or concurrently.
   */
  async stop(state: SpawnerState, options: { graceMs?: number } = {}): Promise<void> {
    const s = parseLocalState(state);
    if (!s) {
      this.log.warn('stop() called with a state that is not a local spawner state; nothing to stop');
      return;
    }
    const grace = Math.max(0, options.graceMs ?? this.stopGraceMs);
    // Only signal the group while its leader is provably ours: a dead group's id can be reused.
    let leader = await this.leaderStatus(s);
    if (leader.alive) {
      sendSignal(-s.pgid, 'SIGTERM');
      const until = Date.now() + grace;
      while (leader.alive && Date.now() < until) {
        await sleep(Math.min(50, until - Date.now()));
        leader = await this.leaderStatus(s);
      }
    }
    if (leader.alive) {
      this.log.info({ user: s.user, server: s.server, pid: s.pid }, `server did not exit within ${grace} ms of SIGTERM; killing it`);
      sendSignal(-s.pgid, 'SIGKILL');
      sendSignal(s.pid, 'SIGKILL');
    } else if (!HAS_PROC) {
      // No way to find stragglers by marker: take the group's word for it.
      if (pidExists(-s.pgid)) sendSignal(-s.pgid, 'SIGKILL');
    }
    const cgroups = await this.serverCgroups(s);
    const killDeadline = Date.now() + KILL_WAIT_MS;
    for (;;) {
      // Everything carrying the spawn id, and everything in the server's cgroups (even a process that
      // dropped its environment cannot leave those).
      const rest = new Set(HAS_PROC ? await this.descendants(s.spawnId) : []);
      for (const dir of cgroups) {
        for (const pid of await cgroupPids(dir)) {
          const st = pid === process.pid ? null : await readProcStat(pid);
          if (st && st.state !== 'Z' && st.state !== 'X') rest.add(pid);
        }
      }
      const leaderAlive = (await this.leaderStatus(s)).alive;
      if (!rest.size && !leaderAlive) break;
      if (Date.now() >= killDeadline) {
        this.log.warn({ user: s.user, server: s.server, pids: [...rest] }, 'processes of a stopped server are still there after SIGKILL');
        break;
      }
      for (const pid of rest) sendSignal(pid, 'SIGKILL');
      if (leaderAlive) sendSignal(s.pid, 'SIGKILL');
      await sleep(50);
    }
    if (cgroups.length) {
      // A process that just died may keep its cgroup busy until it is reaped: retry for a moment.
      let left = await removeServerCgroups(cgroups);
      for (let i = 0; left.length && i < 20; i++) {
        await sleep(100);
        left = await removeServerCgroups(left);
      }
      if (left.length) this.log.warn({ user: s.user, server: s.server, cgroups: left }, 'could not remove the cgroups of a stopped server');
    }
  }

  /**
   * Servers started by a LocalSpawner with this dataDir that are running now, found by their
   * environment markers (Linux; elsewhere always empty). One state per server. If a server's main
   * process died but some of its processes live on (orphaned kernels, background jobs), the oldest of
   * those stands in as `pid`: its pid/startTime will not match the hub's record, and `stop()` on it
   * kills them all.
   */
  async list(): Promise<SpawnerState[]> {
    if (!HAS_PROC) return [];
    type Found = { pid: number; stat: ProcStat; env: Map<string, string> };
    const bySpawn = new Map<string, Found[]>();
    for (const pid of await listPids()) {
      if (pid === process.pid) continue;
      const env = await readProcEnviron(pid);
      const spawnId = env?.get(MARKER_ENV.spawnId);
      if (!env || !spawnId || env.get(MARKER_ENV.dataDir) !== this.dataDir) continue;
      const stat = await readProcStat(pid);
      if (!stat || stat.state === 'Z' || stat.state === 'X') continue;
      const group = bySpawn.get(spawnId) ?? [];
      group.push({ pid, stat, env });
      bySpawn.set(spawnId, group);
    }
    const boot = bootId();
    const states: LocalServerState[] = [];
    for (const [spawnId, group] of bySpawn) {
      const pids = new Set(group.map((p) => p.pid));
      const roots = group.filter((p) => !pids.has(p.stat.ppid)).sort((a, b) => a.stat.startTime - b.stat.startTime);
      const root = roots[0] ?? group[0]!;
      const user = root.env.get(MARKER_ENV.user) ?? '';
      const server = root.env.get(MARKER_ENV.server) ?? '';
      let host = this.host;
      let port = 0;
      try {
        const url = new URL(root.env.get('JUPYTERHUB_SERVICE_URL') ?? '');
        host = url.hostname.replace(/^\[|\]$/g, '');
        port = Number(url.port) || 0;
      } catch {
        // not a URL: leave the defaults
      }
      states.push({
        pid: root.pid,
        pgid: root.stat.pgrp,
        startTime: root.stat.startTime,
        bootId: boot,
        spawnId,
        host,
        port,
        user,
        server,
        logPath: this.logPath(user, server),
        workDir: this.userDir(user),
        startedAt: startTimeToDate(root.stat.startTime)?.toISOString() ?? '',
      });
    }
    await this.attachAndSweepCgroups(states);
    return states;
  }

  /** Give each listed server its cgroups (so stop() removes them), and remove empty leftovers of dead ones. */
  private async attachAndSweepCgroups(states: LocalServerState[]): Promise<void> {
    if (this.cgroupRoot === null) return;
    const layout = await this.cgroupLayout();
    if (!layout.memory && !layout.cpu) return;
    const existing = await listServerCgroups(layout, this.cgroupParent);
    for (const st of states) {
      const dirs = existing.get(st.spawnId);
      if (dirs?.length) st.cgroups = dirs;
    }
    const removed = await sweepEmptyServerCgroups(layout, this.cgroupParent, {
      minAgeMs: this.cgroupSweepAfterMs,
      keep: new Set([...states.map((st) => st.spawnId), ...this.starting]),
    });
    if (removed.length) this.log.info({ cgroups: removed }, 'removed empty cgroups of servers that are gone');
  }
}

