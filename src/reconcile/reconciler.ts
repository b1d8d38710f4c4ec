import type { Kysely } from 'kysely';
import type { Logger } from '../log.js';
import type { Database } from '../db/tables.js';
import type { Spawner, SpawnerState } from '../spawners/spawner.js';
import type { RouteTable } from '../proxy/routes.js';
import type { Metrics } from '../metrics/index.js';
import type { ServerManager } from '../servers/manager.js';
import type { ClusterManager } from '../clusters/manager.js';
import { serversInPhase } from '../db/servers.js';
import { countUsers } from '../db/users.js';
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

  run(): Promise<ReconcileReport> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(): Promise<ReconcileReport> {
    const report: ReconcileReport = { adopted: 0, markedStopped: 0, orphansStopped: 0, routesRemoved: 0 };
    const rows = await serversInPhase(this.o.db, ['running', 'pending', 'stopping']);
    const live = new Set<string>();
    for (const row of rows) {
      const key = `${row.user_name}/${row.name}`;
      if (this.o.servers.hasOperation(row.user_name, row.name)) {
        live.add(key);
        continue; // this process is starting or stopping it right now
      }
      const prefix = serverPrefix(row.user_name, row.name);
      if (row.phase === 'running' && row.target && (await this.o.servers.isAlive(row))) {
        live.add(key);
        if (this.o.routes.get(prefix)?.target !== row.target) {
          this.o.routes.set(prefix, row.target, { user: row.user_name, server: row.name });
          report.adopted++;
          this.o.log.info({ user: row.user_name, server: row.name }, 'adopted running server');
        }
        continue;
      }
      // dead, or a start/stop interrupted by a hub restart: make sure nothing is left, then record it
      if (row.spawner_state) {
        await this.o.spawner.stop(JSON.parse(row.spawner_state) as SpawnerState, { graceMs: this.o.stopGraceSeconds * 1000 }).catch(() => undefined);
      }
      const reason = row.phase === 'running' ? 'the server stopped unexpectedly' : 'interrupted by a hub restart';
      await this.o.servers.markStopped(row, row.user_name, reason);
      report.markedStopped++;
      this.o.log.warn({ user: row.user_name, server: row.name, phase: row.phase }, `server marked stopped: ${reason}`);
    }

    if (this.o.spawner.list) {
      for (const state of await this.o.spawner.list()) {
        const key = `${String(state.user)}/${String(state.server ?? '')}`;
        const row = rows.find((r) => `${r.user_name}/${r.name}` === key);
        const owned = live.has(key) && row?.spawner_state && sameProcess(JSON.parse(row.spawner_state) as SpawnerState, state);
        if (owned || this.o.servers.hasOperation(String(state.user), String(state.server ?? ''))) continue;
        await this.o.spawner.stop(state, { graceMs: this.o.stopGraceSeconds * 1000 }).catch(() => undefined);
        report.orphansStopped++;
        this.o.log.warn({ user: state.user, server: state.server }, 'stopped a server process with no owner in the database');
      }
    }

    // clusters live and die with their servers: after this pass, only live servers keep theirs
    const clusterReport = await this.o.clusters.reconcile(live);
    report.orphansStopped += clusterReport.orphans;
    await this.o.clusters.stopIdle(this.o.clusterIdleSeconds);

    for (const route of this.o.routes.list()) {
      if (!live.has(`${route.data.user}/${route.data.server}`)) {
        this.o.routes.delete(route.prefix);
        report.routesRemoved++;
      }
    }
    this.o.metrics.runningServers.set(this.o.routes.size);
    this.o.metrics.totalUsers.set(await countUsers(this.o.db));
    return report;
  }
}

function sameProcess(a: SpawnerState, b: SpawnerState): boolean {
  return a.pid === b.pid;
}
