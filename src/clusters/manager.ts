import type { Kysely } from 'kysely';
import type { Logger } from '../log.js';
import type { Database } from '../db/tables.js';
import type { UserRow } from '../db/users.js';
import { groupsOfUsers } from '../db/users.js';
import { clustersInPhase, clustersOfServer, findClusterInPhase, clustersOfUser, deleteClustersOfServer, updateCluster, upsertCluster, type ClusterRow } from '../db/clusters.js';
import { nowIso } from '../db/time.js';
import { ServerRequestError } from '../servers/errors.js';
import { ClusterError, type ClusterAddresses, type ClusterBackend, type ClusterKind, type ClusterOwner, type ClusterProgress, type ClusterRequest, type ClusterState } from './backend.js';
import { effectiveQuota, quotaProblem, type QuotaLimits, type QuotasConfig } from './quota.js';
import { KeyedLock } from '../util/keyed-lock.js';
import type { PersonPlace } from '../host/people.js';

export interface ClusterManagerOptions {
  db: Kysely<Database>;
  backends: Partial<Record<ClusterKind, ClusterBackend>>;
  log: Logger;
  quotas: () => QuotasConfig;
  startTimeoutSeconds: number;
  /** The user's home, run directory and system account on this machine (made when missing). */
  placeOf: (user: string) => Promise<PersonPlace>;
  /**
   * Extra environment for a server's cluster processes when they start again without their server
   * (restart): what the server's spawn gave them, e.g. object-storage keys, read afresh.
   */
  extraEnv?: (user: UserRow, server: string) => Promise<Record<string, string>>;
}

/** Clusters reserved for one server start: their environment, and how to start or abandon them. */
export interface PreparedClusters {
  /** For the notebook server: master/scheduler addresses and configuration paths. */
  env: Record<string, string>;
  names: string[];
  /** Start all in parallel; on any failure everything is stopped and a ClusterError says which one failed. */
  /** `placement`: what the server's start learnt about where it is (ClusterOwner.kubernetes), added to the owner. */
  start(onProgress: (name: string, event: ClusterProgress) => void, signal: AbortSignal, env?: Record<string, string>, placement?: Pick<ClusterOwner, 'kubernetes'>): Promise<void>;
  /** Stop whatever was started. */
  stop(): Promise<void>;
}

const NOTHING: PreparedClusters = { env: {}, names: [], start: async () => undefined, stop: async () => undefined };
const LIVE_PHASES = ['starting', 'running', 'stopping'] as const;

function parseJson<T>(text: string | null, fallback: T): T {
  if (!text) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

/**
 * Users' private Spark and Dask clusters, which live and die with the server that asked for them:
 * quotas, reservation before the server starts (so addresses go into its environment), parallel
 * start, stop with the server, restart and resize while it runs, and repair after a crash.
 */
export class ClusterManager {
  /** Cluster requests of starts in progress, by person and server, counted against quotas. */
  private readonly reservations = new Map<number, Map<string, readonly ClusterRequest[]>>();
  private readonly quotaLocks = new KeyedLock<number>();
  /** `<user>/<server>/<cluster>` of clusters being restarted now: the reconciler leaves them alone. */
  private readonly restarting = new Set<string>();

  constructor(private readonly o: ClusterManagerOptions) {}

  private backend(kind: string): ClusterBackend {
    const backend = this.o.backends[kind as ClusterKind];
    if (!backend) throw new ServerRequestError(`${kind === 'spark' ? 'Spark' : kind === 'dask' ? 'Dask' : kind} clusters are not available on this hub`, 'invalid');
    return backend;
  }

  private async owner(user: string, server: string): Promise<ClusterOwner> {
    const place = await this.o.placeOf(user);
    return { user, server, homeDir: place.home, runDir: place.runDir, runAs: place.runAs };
  }

  /**
   * Refuse a start that would exceed the user's quota, naming the limit; otherwise hold its requests
   * against the quota until the returned function is called (when the start has ended: by then its
   * clusters are recorded, or gone). Checking and holding are one step per person, so concurrent
   * starts cannot each fit into the same room.
   */
  async reserveQuota(user: UserRow, server: string, requests: readonly ClusterRequest[]): Promise<() => void> {
    if (requests.length === 0) return () => undefined;
    for (const r of requests) this.backend(r.kind);
    return this.quotaLocks.run(user.id, async () => {
      const problem = quotaProblem(await this.quotaOf(user), await this.inUse(user, { server }), requests);
      if (problem) throw new ServerRequestError(problem, 'limit');
      const held = this.reservations.get(user.id) ?? new Map<string, readonly ClusterRequest[]>();
      held.set(server, requests);
      this.reservations.set(user.id, held);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        if (held.get(server) === requests) held.delete(server);
        if (held.size === 0 && this.reservations.get(user.id) === held) this.reservations.delete(user.id);
      };
    });
  }

  /** The quotas in force (the person's own: effectiveQuota). */
  quotas(): QuotasConfig {
    return this.o.quotas();
  }

  private async quotaOf(user: UserRow): Promise<QuotaLimits> {
    const groups = (await groupsOfUsers(this.o.db, [user.id])).get(user.id) ?? [];
    return effectiveQuota(this.o.quotas(), user.name, groups);
  }

  /**
   * What a person's clusters take now, leaving out one server's (being started) or one cluster
   * (being resized): recorded live clusters, and what starts in progress hold (in place of their
   * records, which may exist already).
   */
  private async inUse(user: UserRow, except: { server?: string; clusterId?: number }): Promise<ClusterRequest[]> {
    const held = this.reservations.get(user.id) ?? new Map<string, readonly ClusterRequest[]>();
    const recorded = (await clustersOfUser(this.o.db, user.id))
      .filter((c) => c.server_name !== except.server && c.id !== except.clusterId && !held.has(c.server_name) && (LIVE_PHASES as readonly string[]).includes(c.phase))
      .map((c) => parseJson<ClusterRequest>(c.request, { kind: 'spark', name: c.name, workers: 0, worker: { cores: 0, memory: 0 }, head: { cores: 0, memory: 0 }, conf: {}, connect: false }));
    const starting = [...held].filter(([server]) => server !== except.server).flatMap(([, requests]) => requests);
    return [...recorded, ...starting];
  }

  /** Reserve addresses for a server's clusters and record them; nothing runs yet. */
  async prepare(user: UserRow, server: string, requests: readonly ClusterRequest[]): Promise<PreparedClusters> {
    await deleteClustersOfServer(this.o.db, user.id, server, requests.map((r) => r.name));
    if (requests.length === 0) return NOTHING;
    const owner = await this.owner(user.name, server);
    const reserved: { request: ClusterRequest; addresses: ClusterAddresses; row: ClusterRow }[] = [];
    for (const request of requests) {
      const addresses = await this.backend(request.kind).reserve(owner, request);
      const row = await upsertCluster(this.o.db, {
        user_id: user.id, server_name: server, name: request.name, kind: request.kind,
        request: JSON.stringify(request), addresses: JSON.stringify(addresses),
      });
      reserved.push({ request, addresses, row });
    }
    const states = new Map<number, ClusterState>();
    const stopAll = async () => {
      await Promise.all(reserved.map(async ({ request, row }) => {
        const state = states.get(row.id);
        if (state) await this.backend(request.kind).stop(state).catch((e: unknown) => this.o.log.error({ cluster: row.name, err: String(e) }, 'stopping a cluster failed'));
        await updateCluster(this.o.db, row.id, { phase: 'stopped' });
      }));
    };
    return {
      env: Object.assign({}, ...reserved.map((r) => r.addresses.env)) as Record<string, string>,
      names: reserved.map((r) => r.request.name),
      start: async (onProgress, signal, env, placement) => {
        const placed: ClusterOwner = { ...owner, ...placement };
        const results = await Promise.allSettled(reserved.map(async ({ request, addresses, row }) => {
          const state = await this.backend(request.kind).start(placed, request, addresses, {
            timeoutMs: this.o.startTimeoutSeconds * 1000, signal, onProgress: (event) => onProgress(request.name, event), ...(env ? { env } : {}),
          });
          states.set(row.id, state);
          await updateCluster(this.o.db, row.id, { phase: 'running', state: JSON.stringify(state), started: nowIso(), last_error: null });
        }));
        const failed = results.findIndex((r) => r.status === 'rejected');
        if (failed === -1) return;
        const reason = (results[failed] as PromiseRejectedResult).reason as unknown;
        const message = reason instanceof Error ? reason.message : String(reason);
        await stopAll();
        await updateCluster(this.o.db, reserved[failed]!.row.id, { phase: 'failed', last_error: message });
        throw new ClusterError(`the ${reserved[failed]!.request.kind === 'spark' ? 'Spark' : 'Dask'} cluster "${reserved[failed]!.request.name}" did not start: ${message}`, reason instanceof ClusterError ? reason.detail : undefined);
      },
      stop: stopAll,
    };
  }

  /** Stop every cluster of a server (it stopped, or is stopping). */
  async stopServerClusters(userId: number, server: string): Promise<void> {
    const rows = await clustersOfServer(this.o.db, userId, server);
    await Promise.all(rows.filter((r) => r.phase !== 'stopped').map((row) => this.stopRow(row)));
  }

  private async stopRow(row: ClusterRow, phase: 'stopped' | 'failed' = 'stopped', reason: string | null = null): Promise<void> {
    await updateCluster(this.o.db, row.id, { phase: 'stopping' });
    const state = parseJson<ClusterState | null>(row.state, null);
    if (state) await this.backend(row.kind).stop(state).catch((e: unknown) => this.o.log.error({ cluster: row.name, err: String(e) }, 'stopping a cluster failed'));
    await updateCluster(this.o.db, row.id, { phase, ...(reason ? { last_error: reason } : {}) });
  }

  async listOfUser(userId: number): Promise<ClusterRow[]> {
    return clustersOfUser(this.o.db, userId);
  }

  /** How many workers are registered right now (0 when it is not running). */
  async registeredWorkers(row: ClusterRow): Promise<number> {
    const state = parseJson<ClusterState | null>(row.state, null);
    if (row.phase !== 'running' || !state) return 0;
    try {
      return (await this.backend(row.kind).status(state)).workers;
    } catch {
      return 0;
    }
  }

  /** Change a running cluster's worker count, within the quota. */
  async scale(user: UserRow, row: ClusterRow, workers: number): Promise<ClusterRow> {
    if (row.phase !== 'running') throw new ServerRequestError(`cluster "${row.name}" is not running (${row.phase})`, 'conflict');
    const request = parseJson<ClusterRequest>(row.request, null as unknown as ClusterRequest);
    const resized = { ...request, workers };
    this.backend(row.kind);
    // counted and recorded under the person's quota lock, like starts: two resizes cannot both fit
    await this.quotaLocks.run(user.id, async () => {
      const problem = quotaProblem(await this.quotaOf(user), await this.inUse(user, { clusterId: row.id }), [resized]);
      if (problem) throw new ServerRequestError(problem, 'limit');
      await updateCluster(this.o.db, row.id, { request: JSON.stringify(resized) });
    });
    let state: ClusterState;
    try {
      state = await this.backend(row.kind).scale(parseJson<ClusterState>(row.state, {}), workers, { timeoutMs: this.o.startTimeoutSeconds * 1000 });
    } catch (error) {
      await updateCluster(this.o.db, row.id, { request: row.request });
      throw error;
    }
    await updateCluster(this.o.db, row.id, { state: JSON.stringify(state), request: JSON.stringify(resized) });
    return { ...row, state: JSON.stringify(state), request: JSON.stringify(resized) };
  }

  /** Stop and start a cluster again on the same addresses (the server's environment still points there). */
  async restart(user: UserRow, row: ClusterRow, onProgress: (event: ClusterProgress) => void = () => undefined): Promise<void> {
    const key = `${user.name}/${row.server_name}/${row.name}`;
    this.restarting.add(key);
    try {
      await this.restartNow(user, row, onProgress);
    } finally {
      this.restarting.delete(key);
    }
  }

  private async restartNow(user: UserRow, row: ClusterRow, onProgress: (event: ClusterProgress) => void): Promise<void> {
    const request = parseJson<ClusterRequest>(row.request, null as unknown as ClusterRequest);
    const addresses = parseJson<ClusterAddresses>(row.addresses, { env: {}, ui: {}, reservation: {} });
    // read before stopping: a failure here (say, the storage source is down) leaves the cluster as it was
    const env = this.o.extraEnv ? await this.o.extraEnv(user, row.server_name) : {};
    await this.stopRow(row);
    await updateCluster(this.o.db, row.id, { phase: 'starting', state: null, last_error: null });
    try {
      const state = await this.backend(row.kind).start(await this.owner(user.name, row.server_name), request, addresses, {
        timeoutMs: this.o.startTimeoutSeconds * 1000, signal: new AbortController().signal, onProgress, env,
      });
      await updateCluster(this.o.db, row.id, { phase: 'running', state: JSON.stringify(state), started: nowIso() });
    } catch (error) {
      await updateCluster(this.o.db, row.id, { phase: 'failed', last_error: error instanceof Error ? error.message : String(error) });
      throw error;
    }
  }

  /**
   * Stop clusters whose server has shown no activity for `idleSeconds` (the server keeps running; the
   * person can restart the cluster from the home page). Returns how many were stopped.
   */
  async stopIdle(idleSeconds: number, now = Date.now()): Promise<number> {
    if (idleSeconds <= 0) return 0;
    const cutoff = new Date(now - idleSeconds * 1000).toISOString();
    const idle = await this.o.db
      .selectFrom('clusters')
      .innerJoin('servers', (join) => join.onRef('servers.user_id', '=', 'clusters.user_id').onRef('servers.name', '=', 'clusters.server_name'))
      .selectAll('clusters')
      .where('clusters.phase', '=', 'running')
      .where('clusters.started', '<', cutoff)
      .where((eb) => eb.or([eb('servers.last_activity', 'is', null), eb('servers.last_activity', '<', cutoff)]))
      .execute();
    for (const row of idle) {
      await this.stopRow(row, 'stopped', `stopped after ${Math.round(idleSeconds / 60)} minutes without activity; restart it from the home page`);
      this.o.log.info({ cluster: row.name, server: row.server_name }, 'stopped an idle cluster');
    }
    return idle.length;
  }

  /**
   * Repair: clusters whose server is gone are stopped, dead ones are recorded, and processes no
   * record owns are stopped. `liveServers` holds `<user>/<server>` of servers that ran or started
   * when the caller looked; `liveNow` asks again right before anything is stopped, since a server
   * (and its clusters) may have started since. Clusters being restarted are left alone.
   */
  async reconcile(liveServers: ReadonlySet<string>, liveNow: (user: string, server: string) => Promise<boolean> = async () => false): Promise<{ stopped: number; orphans: number }> {
    let stopped = 0;
    let orphans = 0;
    const rows = await clustersInPhase(this.o.db, LIVE_PHASES);
    const owned = new Set<string>();
    for (const row of rows) {
      const key = `${row.user_name}/${row.server_name}`;
      if (this.restarting.has(`${key}/${row.name}`)) {
        owned.add(`${key}/${row.name}`);
        continue;
      }
      if (!liveServers.has(key) && !(await liveNow(row.user_name, row.server_name))) {
        await this.stopRow(row);
        stopped++;
        continue;
      }
      owned.add(`${key}/${row.name}`);
      if (row.phase === 'running') {
        const state = parseJson<ClusterState | null>(row.state, null);
        const status = state ? await this.backend(row.kind).status(state).catch(() => ({ running: false, workers: 0 })) : { running: false, workers: 0 };
        if (!status.running) {
          await this.stopRow(row, 'failed', 'the cluster stopped unexpectedly');
          this.o.log.warn({ user: row.user_name, server: row.server_name, cluster: row.name }, 'cluster stopped unexpectedly');
        }
      }
    }
    for (const backend of Object.values(this.o.backends)) {
      if (!backend) continue;
      for (const state of await backend.list().catch(() => [])) {
        const key = `${String(state.user)}/${String(state.server ?? '')}/${String(state.name ?? backend.kind)}`;
        if (owned.has(key) || this.restarting.has(key)) continue;
        // reserved and started after we read the rows: a record owns it now, if its server lives
        const [user, server, name] = [String(state.user), String(state.server ?? ''), String(state.name ?? backend.kind)];
        if ((await findClusterInPhase(this.o.db, user, server, name, LIVE_PHASES)) && (await liveNow(user, server))) continue;
        await backend.stop(state).catch(() => undefined);
        orphans++;
        this.o.log.warn({ cluster: key }, 'stopped cluster processes with no running server');
      }
    }
    return { stopped, orphans };
  }
}
