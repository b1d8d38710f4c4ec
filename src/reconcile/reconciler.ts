import type { Kysely } from 'kysely';
import type { Logger } from '../log.js';
import type { Database } from '../db/tables.js';
import type { Spawner, SpawnerState } from '../spawners/spawner.js';
import type { RouteTable } from '../proxy/routes.js';
import type { Metrics } from '../metrics/index.js';
import type { ServerManager } from '../servers/manager.js';
import type { ClusterManager } from '../clusters/manager.js';
import { findServer, serversInPhase, type ServerRow, type ServerWithUser } from '../db/servers.js';
import { countUsers, findUser } from '../db/users.js';
import { serverPrefix } from '../auth/names.js';

export interface ReconcileReport {
  adopted: number;
  markedStopped: number;
  orphansStopped: number;
  routesRemoved: number;
}

/**
 * Compares what the database says should run with what the spawner says does run, and repairs the
 * difference: adopts live servers (restoring their routes), records dead ones as stopped, and stops
 * processes nobody owns any more. Safe to run at any time and as often as wanted.
 *
 * A pass takes time (it polls every server, lists processes and clusters), and starts and stops go
 * on meanwhile, so what it read at the beginning may be out of date by the time it acts. It therefore
 * never acts on a server with an operation in flight, and before it stops, marks or unroutes
 * anything, it reads that server's row again: a server that started during the pass looks like an
 * orphan in the snapshot, but its fresh row owns it.
 */
export class Reconciler {
  private running: Promise<ReconcileReport> | undefined;

  constructor(private readonly o: {
    db: Kysely<Database>;
    spawner: Spawner;
    routes: RouteTable;
    servers: ServerManager;
    clusters: ClusterManager;
    /** Stop clusters whose server has been idle this long; 0 = never. */
    clusterIdleSeconds: number;
    metrics: Metrics;
    log: Logger;
    stopGraceSeconds: number;
  }) {}

  /** The spawner says what makes two states one server (a pod's name and uid); by default the same pid. */
  private same(a: SpawnerState, b: SpawnerState): boolean {
    return this.o.spawner.sameServer ? this.o.spawner.sameServer(a, b) : sameProcess(a, b);
  }

  run(): Promise<ReconcileReport> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  /**
   * Poll the running servers only (every `spawner.poll_interval`), so one that died is recorded as
   * stopped and unrouted well before the next full pass. Skipped while a full pass runs.
   */
  async pollRunning(): Promise<number> {
    if (this.running) return 0;
    let stopped = 0;
    for (const row of await serversInPhase(this.o.db, ['running'])) {
      if ((await this.settle(row)) === 'stopped') stopped++;
    }
    return stopped;
  }

  /**
   * Bring one server's row and route in line with what runs: 'live' (left alone, or busy with an
   * operation), 'adopted' (alive, route restored), 'stopped' (dead or interrupted, recorded so; its
   * route goes with it) or 'changed' (stopped by someone else while this looked).
   */
  private async settle(row: ServerWithUser): Promise<'live' | 'adopted' | 'stopped' | 'changed'> {
    if (this.o.servers.hasOperation(row.user_name, row.name)) return 'live'; // starting or stopping right now
    const prefix = serverPrefix(row.user_name, row.name);
    const alive = row.phase === 'running' && !!row.target && (await this.o.servers.isAlive(row));
    if (alive && this.o.routes.get(prefix)?.target === row.target) return 'live';
    // about to route, or to record as stopped: not if it was stopped or started again while we polled
    const fresh = await findServer(this.o.db, row.user_id, row.name);
    if (this.o.servers.hasOperation(row.user_name, row.name) || !fresh || fresh.phase !== row.phase || fresh.spawner_state !== row.spawner_state) {
      return fresh?.phase === 'running' || this.o.servers.hasOperation(row.user_name, row.name) ? 'live' : 'changed';
    }
    if (alive) {
      this.o.routes.set(prefix, row.target!, { user: row.user_name, server: row.name });
      this.o.log.info({ user: row.user_name, server: row.name }, 'adopted running server');
      return 'adopted';
    }
    // dead, or a start/stop interrupted by a hub restart: make sure nothing is left, then record it
    if (row.spawner_state) {
      await this.o.spawner.stop(JSON.parse(row.spawner_state) as SpawnerState, { graceMs: this.o.stopGraceSeconds * 1000 }).catch(() => undefined);
    }
    const reason = row.phase === 'running' ? 'the server stopped unexpectedly' : 'interrupted by a hub restart';
    await this.o.servers.markStopped(row, row.user_name, reason);
    this.o.log.warn({ user: row.user_name, server: row.name, phase: row.phase }, `server marked stopped: ${reason}`);
    return 'stopped';
  }

  /** The server's row as it is now. */
  private async freshRow(user: string, server: string): Promise<ServerRow | undefined> {
    const owner = await findUser(this.o.db, user);
    return owner ? findServer(this.o.db, owner.id, server) : undefined;
  }

  /** Is this server starting, stopping or running right now (not as the pass's snapshot says)? */
  private async liveNow(user: string, server: string): Promise<boolean> {
    if (this.o.servers.hasOperation(user, server)) return true;
    return (await this.freshRow(user, server))?.phase === 'running';
  }

  private async pass(): Promise<ReconcileReport> {
    const report: ReconcileReport = { adopted: 0, markedStopped: 0, orphansStopped: 0, routesRemoved: 0 };
    const rows = await serversInPhase(this.o.db, ['running', 'pending', 'stopping']);
    const live = new Set<string>();
    for (const row of rows) {
      const outcome = await this.settle(row);
      if (outcome === 'adopted') report.adopted++;
      if (outcome === 'stopped') report.markedStopped++;
      if (outcome === 'live' || outcome === 'adopted') live.add(`${row.user_name}/${row.name}`);
    }

    if (this.o.spawner.list) {
      for (const state of await this.o.spawner.list()) {
        const user = String(state.user);
        const server = String(state.server ?? '');
        const key = `${user}/${server}`;
        const row = rows.find((r) => `${r.user_name}/${r.name}` === key);
        const owned = live.has(key) && row?.spawner_state && this.same(JSON.parse(row.spawner_state) as SpawnerState, state);
        if (owned || this.o.servers.hasOperation(user, server)) continue;
        // started after we read the rows? then its row owns it now
        const fresh = await this.freshRow(user, server);
        if (this.o.servers.hasOperation(user, server) || (fresh?.spawner_state && fresh.phase !== 'stopped' && this.same(JSON.parse(fresh.spawner_state) as SpawnerState, state))) {
          live.add(key);
          continue;
        }
        await this.o.spawner.stop(state, { graceMs: this.o.stopGraceSeconds * 1000 }).catch(() => undefined);
        report.orphansStopped++;
        this.o.log.warn({ user: state.user, server: state.server }, 'stopped a server process with no owner in the database');
      }
    }

    // clusters live and die with their servers: after this pass, only live servers keep theirs
    const clusterReport = await this.o.clusters.reconcile(live, (user, server) => this.liveNow(user, server));
    report.orphansStopped += clusterReport.orphans;
    await this.o.clusters.stopIdle(this.o.clusterIdleSeconds);

    for (const route of this.o.routes.list()) {
      if (live.has(`${route.data.user}/${route.data.server}`)) continue;
      if (await this.liveNow(route.data.user, route.data.server)) continue; // added by a start during the pass
      this.o.routes.delete(route.prefix);
      report.routesRemoved++;
    }
    this.o.metrics.runningServers.set(this.o.routes.size);
    this.o.metrics.totalUsers.set(await countUsers(this.o.db));
    return report;
  }
}

function sameProcess(a: SpawnerState, b: SpawnerState): boolean {
  return a.pid === b.pid;
}
