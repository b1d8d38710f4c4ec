import type { Kysely } from 'kysely';
import type { Logger } from '../log.js';
import type { Database } from '../db/tables.js';
import type { UserRow } from '../db/users.js';
import { SpawnError, type ServerPlacement, type Spawner, type SpawnerState } from '../spawners/spawner.js';
import type { RouteTable } from '../proxy/routes.js';
import type { Metrics } from '../metrics/index.js';
import type { IdentityResolver } from '../auth/identity.js';
import { countNamedServers, deleteServer, ensureServer, findServer, transitionServer, updateServer, type ServerRow } from '../db/servers.js';
import { deleteTokensWhere } from '../db/tokens.js';
import { deleteClientOfServer, upsertClient } from '../db/oauth.js';
import { updateUser } from '../db/users.js';
import { nowIso } from '../db/time.js';
import { issueToken } from '../auth/tokens.js';
import { hashSecret } from '../auth/secrets.js';
import { SERVER_ROLE_SCOPES } from '../policy/scopes.js';
import { serverClientAllowedScopes } from '../auth/oauth-scopes.js';
import { serverNameProblem, serverPrefix } from '../auth/names.js';
import { singleUserEnv, oauthCallbackUrl, oauthClientId, serverUrl, type HubUrls } from './env.js';
import { ProgressLog } from './progress.js';
import { localCommand } from './command.js';
import { needsAuthState, resolvePlanEnv } from '../profiles/secrets.js';
import type { SpawnPlan } from '../profiles/plan.js';
import type { ClusterManager, PreparedClusters } from '../clusters/manager.js';
import { ClusterError, type ClusterRequest } from '../clusters/backend.js';
import { parseClusterRequest } from '../clusters/request.js';
import type { Catalog } from '../profiles/schema.js';
import type { SelectionInput } from '../profiles/resolve.js';
import { planForUser, rememberSelections, storedSelections } from '../profiles/for-user.js';
import { ServerRequestError } from './errors.js';
import { KeyedLock } from '../util/keyed-lock.js';
import { hasScheduling } from '../config/scheduling.js';
import { groupsOfUsers } from '../db/users.js';
import type { PreparedStorage, StorageService } from '../storage/service.js';
import { sleep } from '../util/sleep.js';

export interface ServerManagerOptions {
  db: Kysely<Database>;
  spawner: Spawner;
  routes: RouteTable;
  identities: IdentityResolver;
  metrics: Metrics;
  log: Logger;
  urls: HubUrls;
  defaultUrl: string;
  extraEnv: Record<string, string>;
  startTimeoutSeconds: number;
  stopGraceSeconds: number;
  namedServers: { enabled: boolean; limitPerUser: number };
  /** The catalog in force now (it may be reloaded while the hub runs). */
  catalog: () => Catalog;
  /** Private Spark/Dask clusters that live and die with servers. */
  clusters: ClusterManager;
  /** Object-storage keys and endpoints for plans that ask for them. */
  storage?: StorageService;
  /** Names in `extraEnv` that may hold secrets (spawner.env values may be secret references), kept out of pod specs. */
  secretEnvNames?: readonly string[];
  /** The person's current sign-in tokens, for plans with `{auth_state: ...}` variables (auth.enable_auth_state). */
  authStateFor?: (user: UserRow) => Promise<Record<string, unknown> | undefined>;
}

interface Operation {
  kind: 'spawn' | 'stop';
  log: ProgressLog;
  done: Promise<void>;
  abort?: AbortController;
}

/** How long an API request waits for a start or stop before answering 202 (JupyterHub's slow_spawn_timeout). */
const SLOW_OPERATION_MS = 10_000;

/**
 * Starts and stops single-user servers: the database row is the desired state, the spawner does the
 * work, the route table follows. One operation per server at a time; its progress can be followed
 * by any number of listeners.
 */
export class ServerManager {
  private readonly operations = new Map<string, Operation>();
  /** The last finished spawn's log per server, so a late progress request still sees how it ended. */
  private readonly lastLogs = new Map<string, ProgressLog>();
  /** Serializes the check-then-create part of one person's starts (limits and quotas). */
  private readonly userStarts = new KeyedLock<number>();

  constructor(private readonly o: ServerManagerOptions) {}

  private key(user: string, server: string): string {
    return `${user}/${server}`;
  }

  pending(user: string, server: string): 'spawn' | 'stop' | null {
    return this.operations.get(this.key(user, server))?.kind ?? null;
  }

  /** The progress of the current operation, or of the last spawn. */
  progressOf(user: string, server: string): ProgressLog | undefined {
    const key = this.key(user, server);
    const op = this.operations.get(key);
    return op?.kind === 'spawn' ? op.log : this.lastLogs.get(key);
  }

  /**
   * Start a server from what the person picked (image, size, profile, options, own env), filling the
   * rest from their last choice and the catalog's defaults. Throws SelectionError for a choice that
   * is not offered, ServerRequestError when the server cannot be started.
   */
  async launch(user: UserRow, serverName: string, selections: SelectionInput = {}, waitMs = SLOW_OPERATION_MS): Promise<{ result: 'ready' | 'pending'; plan: SpawnPlan }> {
    const plan = await planForUser(this.o.db, this.o.catalog(), user, serverName, selections, this.o.clusters.quotas());
    const result = await this.start(user, serverName, plan, waitMs);
    await rememberSelections(this.o.db, user, plan);
    return { result, plan };
  }

  /**
   * Start a server. Resolves 'ready' when it is up within `waitMs`, 'pending' when it is still starting
   * (follow `progressOf`). Throws ServerRequestError when it cannot be started at all.
   */
  async start(user: UserRow, serverName: string, plan: SpawnPlan | null = null, waitMs = SLOW_OPERATION_MS): Promise<'ready' | 'pending'> {
    const problem = serverNameProblem(serverName);
    if (problem) throw new ServerRequestError(problem, 'invalid');
    if (serverName && !this.o.namedServers.enabled) throw new ServerRequestError('Named servers are not enabled.', 'invalid');
    const key = this.key(user.name, serverName);
    const clusterRequests = (plan?.clusters ?? []).map(({ source: _source, ...request }) => parseClusterRequest(request));
    // one start per person at a time up to here: the named-server limit and the cluster quota are
    // counted and taken in one step, so concurrent starts cannot all fit under the same limit
    const op = await this.userStarts.run(user.id, async (): Promise<Operation | 'pending'> => {
      const current = this.operations.get(key);
      if (current?.kind === 'spawn') return 'pending';
      if (current?.kind === 'stop') throw new ServerRequestError(`${describe(user.name, serverName)} is pending stop`, 'conflict');

      let row = await findServer(this.o.db, user.id, serverName);
      if (serverName && !row) {
        const limit = await this.namedServerLimitProblem(user);
        if (limit) throw new ServerRequestError(limit, 'limit');
      }
      // held against the quota until this start has ended (its clusters are recorded by then)
      const releaseQuota = await this.o.clusters.reserveQuota(user, serverName, clusterRequests);
      try {
        row ??= await ensureServer(this.o.db, user.id, serverName);
        if (row.phase === 'running') {
          if (await this.isAlive(row)) throw new ServerRequestError(`${describe(user.name, serverName)} is already running`, 'conflict');
          await this.markStopped(row, user.name, 'the server had stopped on its own');
        }
        // compare-and-set: a second hub process racing us loses here
        const moved = await transitionServer(this.o.db, row.id, ['stopped'], 'pending', {
          user_options: JSON.stringify(plan ? storedSelections(plan) : {}), last_error: null, spawner_kind: this.o.spawner.kind, spawner_state: null, target: null,
        });
        if (!moved) {
          releaseQuota();
          return 'pending';
        }
        const log = new ProgressLog();
        const abort = new AbortController();
        const started: Operation = { kind: 'spawn', log, abort, done: Promise.resolve() };
        this.operations.set(key, started);
        this.o.metrics.pendingOps.inc({ operation: 'spawn' });
        log.push({ progress: 0, message: 'Server requested' });
        const spawnRow = row;
        started.done = this.runSpawn(user, spawnRow, plan, clusterRequests, log, abort.signal).finally(() => {
          releaseQuota();
          this.o.metrics.pendingOps.dec({ operation: 'spawn' });
          if (this.operations.get(key) === started) this.operations.delete(key);
          this.lastLogs.set(key, log);
        });
        return started;
      } catch (error) {
        releaseQuota();
        throw error;
      }
    });
    if (op === 'pending') return 'pending';
    const finished = await Promise.race([op.done.then(() => true), sleep(waitMs, { keepAlive: false }).then(() => false)]);
    if (!finished) return 'pending';
    const after = await findServer(this.o.db, user.id, serverName);
    if (after?.phase === 'running') return 'ready';
    const failure = op.log.events.at(-1)?.message ?? 'the server failed to start';
    throw new ServerRequestError(failure, 'conflict');
  }

  /**
   * Why this person may not create another named server (the limit, in words), or undefined when
   * they may. Pages ask it to explain before starting; start() asks it again, atomically.
   */
  async namedServerLimitProblem(user: Pick<UserRow, 'id' | 'name'>): Promise<string | undefined> {
    const limit = this.o.namedServers.limitPerUser;
    if (limit <= 0) return undefined;
    if ((await countNamedServers(this.o.db, user.id)) < limit) return undefined;
    return `User ${user.name} already has the maximum of ${limit} named servers. One must be deleted before a new server can be created`;
  }

  /**
   * The object-storage environment a server's spawn gave it, read afresh from the source of truth
   * (for its cluster starting again on its own); empty when its plan has no storage.
   */
  async storageEnvFor(user: UserRow, serverName: string): Promise<Record<string, string>> {
    const plan = await planForUser(this.o.db, this.o.catalog(), user, serverName, {});
    if (!plan.storage || !this.o.storage) return {};
    const groups = (await groupsOfUsers(this.o.db, [user.id])).get(user.id) ?? [];
    return (await this.o.storage.prepare(plan.storage, { name: user.name, groups }, `storage (${plan.storage.source})`)).env;
  }

  /** The person's object-storage keys and endpoint when the plan asks for them; a StorageError fails the spawn. */
  private async prepareStorage(user: UserRow, plan: SpawnPlan | null, log: ProgressLog): Promise<PreparedStorage | null> {
    if (!plan?.storage) return null;
    if (!this.o.storage) throw new ServerRequestError('this hub has no object storage configured', 'invalid');
    const groups = (await groupsOfUsers(this.o.db, [user.id])).get(user.id) ?? [];
    const prepared = await this.o.storage.prepare(plan.storage, { name: user.name, groups }, `storage (${plan.storage.source})`);
    const buckets = prepared.summary.buckets.length ? `, bucket${prepared.summary.buckets.length > 1 ? 's' : ''} ${prepared.summary.buckets.join(', ')}` : '';
    log.push({ progress: 3, message: `Object storage: keys for endpoint "${prepared.summary.endpoint}"${buckets}` });
    return prepared;
  }

  private async runSpawn(user: UserRow, row: ServerRow, plan: SpawnPlan | null, clusterRequests: ClusterRequest[], log: ProgressLog, signal: AbortSignal): Promise<void> {
    const started = process.hrtime.bigint();
    const serverKey = this.key(user.name, row.name);
    const prefix = serverPrefix(user.name, row.name);
    let token = '';
    let clusters: PreparedClusters | undefined;
    let storage: PreparedStorage | null = null;
    let signInSecrets: string[] = [];
    try {
      await deleteTokensWhere(this.o.db, { serverKey });
      ({ token } = await issueToken(this.o.db, {
        userId: user.id, scopes: [...SERVER_ROLE_SCOPES], note: `Server at ${prefix}`, serverKey,
      }));
      await upsertClient(this.o.db, {
        identifier: oauthClientId(user.name, row.name),
        description: `Server at ${prefix}`,
        secret_hash: hashSecret(token),
        redirect_uri: oauthCallbackUrl(this.o.urls, user.name, row.name),
        allowed_scopes: JSON.stringify(serverClientAllowedScopes(serverKey)),
        server_key: serverKey,
        created: nowIso(),
      });
      this.o.identities.invalidate();
      const authState = plan && needsAuthState(plan) ? await this.o.authStateFor?.(user) : undefined;
      const planEnv = plan ? resolvePlanEnv(plan, authState) : {};
      signInSecrets = Object.values(authState ?? {}).filter((v): v is string => typeof v === 'string' && v.length >= 8);
      storage = await this.prepareStorage(user, plan, log);
      // cluster addresses are chosen first, so the server's environment can point at them while both start
      clusters = await this.o.clusters.prepare(user, row.name, clusterRequests);
      const env = singleUserEnv({
        user: user.name, server: row.name, apiToken: token, urls: this.o.urls,
        defaultUrl: plan?.default_url ?? this.o.defaultUrl,
        // storage last: the keys from the source of truth win over any AWS_* set by hand
        extra: { ...this.o.extraEnv, ...planEnv, ...clusters.env, ...storage?.env },
        resources: plan?.resources,
      });
      const command = plan ? localCommand(plan) : undefined;
      const r = plan?.resources;
      const resources = r ? {
        ...(r.cpu.guarantee !== undefined ? { cpuGuarantee: r.cpu.guarantee } : {}),
        ...(r.cpu.limit !== undefined ? { cpuLimit: r.cpu.limit } : {}),
        ...(r.memory.guarantee !== undefined ? { memoryGuarantee: r.memory.guarantee } : {}),
        ...(r.memory.limit !== undefined ? { memoryLimit: r.memory.limit } : {}),
      } : undefined;
      if (plan) log.push({ progress: 2, message: `Starting ${plan.image.display_name}${plan.size ? ` (${plan.size.display_name})` : ''}` });
      // one progress figure for the server and its clusters together; messages name their part
      const parts = new Map<string, number>([['server', 0], ...clusters.names.map((n) => [n, 0] as [string, number])]);
      const report = (part: string, progress: number, message: string) => {
        parts.set(part, progress);
        const overall = [...parts.values()].reduce((a, b) => a + b, 0) / parts.size;
        log.push({ progress: 5 + overall * 0.9, message });
      };
      // a failing cluster cancels the server start and the other way round
      const both = new AbortController();
      const onAbort = () => both.abort();
      signal.addEventListener('abort', onAbort, { once: true });
      // Backends whose servers own their clusters' objects (Kubernetes: the pod is the owner, by uid)
      // say where the server is once it exists; its clusters start from there, not before.
      const placed = this.o.spawner.placesBeforeStart && clusters.names.length ? deferred<ServerPlacement>() : undefined;
      const serverStart = this.o.spawner.start({
        user: user.name,
        serverName: row.name,
        env,
        servicePrefix: prefix,
        startTimeoutMs: this.o.startTimeoutSeconds * 1000,
        signal: both.signal,
        onProgress: (event) => report('server', event.progress, event.message),
        ...(command ? { command } : {}),
        ...(resources ? { resources } : {}),
        ...(plan?.volumes.length ? { volumes: plan.volumes.map((v) => ({
          name: v.name, mountPath: v.mount_path, readOnly: v.read_only, ...(v.host_path ? { hostPath: v.host_path } : {}),
          ...(v.claim ? { claim: v.claim } : {}), ...(v.config_map ? { configMap: v.config_map } : {}),
          ...(v.secret ? { secret: v.secret } : {}), ...(v.empty_dir ? { emptyDir: true } : {}),
        })) } : {}),
        ...(plan && hasScheduling(plan.scheduling) ? { scheduling: plan.scheduling } : {}),
        ...(plan?.kubernetes ? { image: { name: plan.kubernetes.image, ...(plan.kubernetes.pull_policy ? { pullPolicy: plan.kubernetes.pull_policy } : {}) } } : {}),
        secretEnv: secretEnvNames(env, plan, [token, ...(storage?.secrets ?? []), ...signInSecrets], this.o.secretEnvNames ?? []),
        ...(placed ? { onPlaced: placed.resolve } : {}),
      });
      const prepared = clusters;
      const nowhere: ServerPlacement = {};
      const clusterStart = (placed ? Promise.race([placed.promise, serverStart.then(() => nowhere)]) : Promise.resolve(nowhere))
        .then((where) => prepared.start((name, event) => report(name, event.progress, `${name} cluster: ${event.message}`), both.signal, storage?.env, where.kubernetes ? { kubernetes: where.kubernetes } : {}));
      const [serverResult, clusterResult] = await Promise.allSettled([
        serverStart.catch((e: unknown) => { both.abort(); throw e; }),
        clusterStart.catch((e: unknown) => { both.abort(); throw e; }),
      ]);
      signal.removeEventListener('abort', onAbort);
      if (serverResult.status === 'rejected' || clusterResult.status === 'rejected') {
        if (serverResult.status === 'fulfilled') await this.o.spawner.stop(serverResult.value.state, { graceMs: this.o.stopGraceSeconds * 1000 }).catch(() => undefined);
        if (clusterResult.status === 'fulfilled') await clusters.stop();
        // the cluster's reason is the interesting one when the server was only cancelled because of it
        throw clusterResult.status === 'rejected' ? clusterResult.reason : (serverResult as PromiseRejectedResult).reason;
      }
      const result = serverResult.value;
      const now = nowIso();
      const moved = await transitionServer(this.o.db, row.id, ['pending'], 'running', {
        target: result.target, spawner_state: JSON.stringify(result.state), started: now, last_activity: now,
      });
      if (!moved) {
        // stopped while we were finishing: do not leave the process behind
        await this.o.spawner.stop(result.state, { graceMs: this.o.stopGraceSeconds * 1000 });
        throw new Error('the start was cancelled');
      }
      this.o.routes.set(prefix, result.target, { user: user.name, server: row.name });
      await updateUser(this.o.db, user.id, { last_activity: now });
      this.o.metrics.runningServers.inc();
      this.o.metrics.spawnDuration.observe({ status: 'success' }, seconds(started));
      this.o.log.info({ user: user.name, server: row.name, target: result.target }, 'server started');
      const url = serverUrl(this.o.urls, user.name, row.name);
      log.push({
        progress: 100, ready: true, url,
        message: `Server ready at ${url}`,
        html_message: `Server ready at <a href="${url}">${url}</a>`,
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.o.metrics.spawnDuration.observe({ status: 'failure' }, seconds(started));
      this.o.log.warn({ user: user.name, server: row.name, err: message }, 'server failed to start');
      await deleteTokensWhere(this.o.db, { serverKey }).catch(() => 0);
      await deleteClientOfServer(this.o.db, serverKey).catch(() => undefined);
      await clusters?.stop().catch(() => undefined);
      await transitionServer(this.o.db, row.id, ['pending', 'stopping'], 'stopped', {
        last_error: message, target: null, spawner_state: null,
      }).catch(() => false);
      this.o.identities.invalidate();
      // the server's own log says why; its API token is the one secret we know it might echo
      const detail = (error instanceof SpawnError || error instanceof ClusterError) && error.detail ? scrub(error.detail, [token, ...(storage?.secrets ?? []), ...signInSecrets]) : undefined;
      log.push({ progress: 100, failed: true, message: `Spawn failed: ${message}`, ...(detail ? { detail } : {}) });
    }
  }

  /**
   * Stop a server. Resolves 'stopped' when done within `waitMs`, else 'pending'. Stopping a stopped
   * server is not an error. With `remove`, the named server's record goes too.
   */
  async stop(user: UserRow, serverName: string, options: { remove?: boolean; waitMs?: number; reason?: string } = {}): Promise<'stopped' | 'pending'> {
    if (serverName && !this.o.namedServers.enabled) throw new ServerRequestError('Named servers are not enabled.', 'invalid');
    if (!serverName && options.remove) throw new ServerRequestError('Cannot delete the default server', 'invalid');
    const row = await findServer(this.o.db, user.id, serverName);
    if (!row) {
      if (serverName) throw new ServerRequestError(`${user.name} has no server named '${serverName}'`, 'not-found');
      return 'stopped';
    }
    const key = this.key(user.name, serverName);
    let op = this.operations.get(key);
    if (op?.kind === 'spawn') {
      op.abort?.abort();
      await transitionServer(this.o.db, row.id, ['pending'], 'stopping');
      await op.done;
      op = undefined;
    }
    if (!op) {
      const log = new ProgressLog();
      const created: Operation = { kind: 'stop', log, done: Promise.resolve() };
      this.operations.set(key, created);
      this.o.metrics.pendingOps.inc({ operation: 'stop' });
      created.done = this.runStop(row, user.name, options.reason ?? null).finally(async () => {
        this.o.metrics.pendingOps.dec({ operation: 'stop' });
        if (this.operations.get(key) === created) this.operations.delete(key);
        if (options.remove) await deleteServer(this.o.db, row.id).catch(() => undefined);
      });
      op = created;
    } else if (options.remove) {
      // a stop already under way (without remove): the record goes once it has ended
      const removed = op.done.catch(() => undefined).then(() => deleteServer(this.o.db, row.id)).catch(() => undefined);
      op = { ...op, done: removed };
    }
    const finished = await Promise.race([op.done.then(() => true), sleep(options.waitMs ?? SLOW_OPERATION_MS, { keepAlive: false }).then(() => false)]);
    return finished ? 'stopped' : 'pending';
  }

  private async runStop(row: ServerRow, userName: string, reason: string | null): Promise<void> {
    const started = process.hrtime.bigint();
    const fresh = (await findServer(this.o.db, row.user_id, row.name)) ?? row;
    if (fresh.phase === 'stopped') return;
    this.o.routes.delete(serverPrefix(userName, row.name));
    await transitionServer(this.o.db, row.id, ['running', 'pending'], 'stopping');
    try {
      if (fresh.spawner_state) await this.o.spawner.stop(JSON.parse(fresh.spawner_state) as SpawnerState, { graceMs: this.o.stopGraceSeconds * 1000 });
      this.o.metrics.stopDuration.observe({ status: 'success' }, seconds(started));
    } catch (error) {
      this.o.metrics.stopDuration.observe({ status: 'failure' }, seconds(started));
      this.o.log.error({ user: userName, server: row.name, err: String(error) }, 'stopping the server failed');
      throw error;
    }
    await this.markStopped(fresh, userName, reason);
  }

  /** Record that a server is gone: row stopped, route, server token and OAuth client (with its tokens) removed. */
  async markStopped(row: ServerRow, userName: string, reason: string | null): Promise<void> {
    const wasRunning = row.phase === 'running' || row.phase === 'stopping';
    this.o.routes.delete(serverPrefix(userName, row.name));
    await this.o.clusters.stopServerClusters(row.user_id, row.name);
    await deleteTokensWhere(this.o.db, { serverKey: this.key(userName, row.name) });
    await deleteClientOfServer(this.o.db, this.key(userName, row.name));
    await updateServer(this.o.db, row.id, { phase: 'stopped', target: null, spawner_state: null, last_error: reason });
    this.o.identities.invalidate();
    if (wasRunning) this.o.metrics.runningServers.dec();
  }

  /** Forget a user's servers and OAuth clients entirely (user deletion). Stops them first. */
  async removeAll(user: UserRow, servers: readonly ServerRow[]): Promise<void> {
    for (const server of servers) {
      await this.stop(user, server.name, { waitMs: 60_000, reason: 'user deleted' });
      await deleteClientOfServer(this.o.db, this.key(user.name, server.name));
    }
  }

  /** Ask the spawner whether a running server is still alive. */
  async isAlive(row: ServerRow): Promise<boolean> {
    if (!row.spawner_state) return false;
    const started = process.hrtime.bigint();
    const result = await this.o.spawner.poll(JSON.parse(row.spawner_state) as SpawnerState);
    this.o.metrics.pollDuration.observe({ status: result.running ? 'running' : 'stopped' }, seconds(started));
    return result.running;
  }

  /** Wait for every operation in flight (shutdown). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.operations.values()].map((op) => op.done));
  }

  hasOperation(user: string, server: string): boolean {
    return this.operations.has(this.key(user, server));
  }
}

function describe(user: string, server: string): string {
  return server ? `${user}'s server '${server}'` : `${user}'s server`;
}

function seconds(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e9;
}

/**
 * Names of the variables whose values are secret: the server's token, the plan's `{secret: …}`
 * entries, object-storage keys, and anything carrying a known secret value.
 */
function secretEnvNames(env: Record<string, string>, plan: SpawnPlan | null, secrets: readonly string[], configured: readonly string[]): string[] {
  const names = new Set<string>(['JUPYTERHUB_API_TOKEN', 'JPY_API_TOKEN', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', ...configured]);
  for (const [name, entry] of Object.entries(plan?.env ?? {})) if (!('value' in entry)) names.add(name);
  const known = secrets.filter((s) => s.length >= 4);
  for (const [name, value] of Object.entries(env)) if (known.some((s) => value.includes(s))) names.add(name);
  return [...names].filter((name) => name in env);
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Replace every occurrence of the secrets in a text shown to people. */
function scrub(text: string, secrets: readonly string[]): string {
  return secrets.filter((s) => s.length >= 4).reduce((out, secret) => out.split(secret).join('[secret]'), text);
}
