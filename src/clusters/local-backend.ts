/**
 * What the local Spark and Dask backends have in common: where a person's cluster files go, the
 * machine's control groups, warnings given once, and finding and terminating a cluster's processes
 * by their markers (local-processes.ts). Each backend keeps only what differs: its processes, their
 * arguments and how it knows they are ready.
 */
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Logger } from '../log.js';
import { repoRoot } from '../host/repo-root.js';
import { detectCgroups, type CgroupLayout } from '../host/cgroups.js';
import type { ClusterKind, ClusterOwner } from './backend.js';
import { clusterCgroupDirs, scanClusterProcesses, terminateClusterProcesses, type MarkedProcess, type ProcRef } from './local-processes.js';

/** The options both local backends take. */
export interface LocalClusterBackendOptions {
  /** The hub's data directory: identifies this hub's clusters (marker scope); home directories default to `<dataDir>/users/<name>`. */
  dataDir: string;
  /** The Python environment of the cluster's processes. Default `<repo>/envs/<kind>`. */
  environment?: string;
  /** Interface the cluster's processes listen on. Default `127.0.0.1`. */
  host?: string;
  /** Variables copied from the hub's own environment (nothing else of it is passed on). Default PATH, LANG, LC_ALL, TZ. */
  envKeep?: string[];
  /** SIGTERM → SIGKILL grace of stop(). Default: the backend's own. */
  stopGraceMs?: number;
  /** Control groups (host/cgroups.ts): `root` default `/sys/fs/cgroup`; `false` never uses them. */
  cgroups?: { root?: string; sweepAfterMs?: number } | false;
  /** Per-cluster scratch space: `<scratchDir>/<cluster id>/`. Default `<os tmpdir>/refinery-<kind>`. */
  scratchDir?: string;
  log: Logger;
}

/** What terminating a cluster's processes needs to know of its state. */
export interface LocalClusterRef {
  clusterId: string;
  cgroups?: string[];
  user: string;
  server: string;
  name: string;
  bootId: string | null;
}

export abstract class LocalClusterBackend {
  abstract readonly kind: ClusterKind;
  readonly dataDir: string;
  readonly environment: string;
  readonly host: string;
  readonly envKeep: string[];
  readonly stopGraceMs: number;
  readonly scratchDir: string;
  protected readonly cgroupRoot: string | null;
  protected readonly cgroupSweepAfterMs: number;
  protected readonly log: Logger;
  private layoutPromise: Promise<CgroupLayout> | null = null;
  private readonly warned = new Set<string>();

  constructor(kind: ClusterKind, options: LocalClusterBackendOptions, defaultStopGraceMs: number) {
    this.dataDir = resolve(options.dataDir);
    this.environment = resolve(options.environment ?? join(repoRoot(), 'envs', kind));
    this.host = options.host ?? '127.0.0.1';
    this.envKeep = options.envKeep ?? ['PATH', 'LANG', 'LC_ALL', 'TZ'];
    this.stopGraceMs = options.stopGraceMs ?? defaultStopGraceMs;
    this.scratchDir = resolve(options.scratchDir ?? join(tmpdir(), `refinery-${kind}`));
    this.cgroupRoot = options.cgroups === false ? null : (options.cgroups?.root ?? '/sys/fs/cgroup');
    this.cgroupSweepAfterMs = (options.cgroups ? options.cgroups.sweepAfterMs : undefined) ?? 60_000;
    this.log = options.log;
  }

  /** The cgroup parent directory of this backend's clusters. */
  protected abstract readonly cgroupParent: string;
  /** Whether stopping signals whole process groups (Spark's daemons fork executors in their group). */
  protected abstract readonly signalsGroups: boolean;

  protected get python(): string {
    return join(this.environment, 'bin', 'python');
  }

  protected cgroupLayout(): Promise<CgroupLayout> {
    this.layoutPromise ??= this.cgroupRoot === null
      ? Promise.resolve({ memory: null, cpu: null, problems: ['control groups are disabled in the backend options'] })
      : detectCgroups({ root: this.cgroupRoot });
    return this.layoutPromise;
  }

  protected warnOnce(key: string, fields: Record<string, unknown>, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.log.warn(fields, message);
  }

  protected homeDirOf(owner: ClusterOwner): string {
    return resolve(owner.homeDir ?? join(this.dataDir, 'users', owner.user));
  }

  /** Where the hub keeps the owner's cluster files: their run directory (host/people.ts), else `<home>/.refinery`. */
  protected runDirOf(owner: ClusterOwner): string {
    return resolve(owner.runDir ?? join(this.homeDirOf(owner), '.refinery'));
  }

  protected logPath(runDir: string, server: string, name: string, role: string): string {
    return join(runDir, `${server || 'default'}.${name}.${role}.log`);
  }

  /** The cluster's scratch directory; derived from the (validated) cluster id only, never read from a state. */
  protected scratchOf(clusterId: string): string {
    return join(this.scratchDir, clusterId);
  }

  /** Live processes of this backend's clusters (of one cluster, with `clusterId`), found by their markers. */
  protected scan(clusterId?: string): Promise<MarkedProcess[]> {
    return scanClusterProcesses(this.kind, this.dataDir, clusterId);
  }

  /** The cgroup directories of a cluster: those its state names (when they are cluster cgroups) and any found by its id. */
  protected async clusterCgroups(s: Pick<LocalClusterRef, 'clusterId' | 'cgroups'>, only?: (leaf: string) => boolean): Promise<string[]> {
    if (this.cgroupRoot === null) return [];
    return clusterCgroupDirs(await this.cgroupLayout(), this.cgroupParent, s.clusterId, s.cgroups, only);
  }

  /**
   * SIGTERM every process of the cluster that `select` picks (by marker) or that is in a picked cgroup
   * (and, where the backend signals groups, the groups of `refs` while their leaders are provably the
   * recorded processes); wait up to `graceMs`; then SIGKILL until none is left (or KILL_WAIT_MS passed,
   * logged). Then remove the picked cgroups. `cgroupSelect` undefined = all of the cluster's cgroups.
   */
  protected async terminate(
    s: LocalClusterRef,
    refs: ProcRef[],
    select: (env: Map<string, string>) => boolean,
    cgroupSelect: ((leaf: string) => boolean) | undefined,
    graceMs: number,
    removeCgroups = true,
  ): Promise<void> {
    await terminateClusterProcesses({
      kind: this.kind, scope: this.dataDir, clusterId: s.clusterId, bootId: s.bootId, refs, signalGroups: this.signalsGroups, select,
      cgroups: await this.clusterCgroups(s, cgroupSelect), removeCgroups, graceMs, log: this.log,
      who: { user: s.user, server: s.server, cluster: s.name },
    });
  }
}
