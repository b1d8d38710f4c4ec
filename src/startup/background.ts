// What the hub does on its own while it runs: record activity seen by the proxy, reconcile, poll
// running servers, expire old sign-ins and tokens, and re-read the catalog on `refinery reload`.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import type { Db } from '../db/connect.js';
import { deleteExpiredSessions } from '../db/sessions.js';
import { deleteClientsWithoutServer, deleteExpiredCodes } from '../db/oauth.js';
import { deleteTokensWhere } from '../db/tokens.js';
import { nowIso } from '../db/time.js';
import type { Logger } from '../log.js';
import type { CatalogStore } from '../profiles/catalog.js';
import type { RouteTable } from '../proxy/routes.js';
import type { Reconciler } from '../reconcile/reconciler.js';
import { recordProxyActivity } from '../servers/activity.js';

/** Start the periodic work; returns what stops it. */
export function startPeriodicWork(o: { config: Config; db: Db; routes: RouteTable; reconciler: Reconciler; log: Logger }): () => void {
  const { config, db, log } = o;
  let activitySince = Date.now();
  const timers = [
    setInterval(() => {
      const now = Date.now();
      void recordProxyActivity(db.kysely, o.routes, activitySince).then(() => (activitySince = now), (e: unknown) => log.warn({ err: String(e) }, 'recording activity failed'));
    }, 60_000),
    setInterval(() => void o.reconciler.run().catch((e: unknown) => log.error({ err: String(e) }, 'reconcile pass failed')), config.reconcile_interval * 1000),
    setInterval(() => void housekeeping(db, log), 3600_000),
  ];
  // as in JupyterHub, a poll interval of 0 turns polling off (the reconcile pass still notices)
  if (config.spawner.poll_interval > 0) {
    timers.push(setInterval(() => void o.reconciler.pollRunning().catch((e: unknown) => log.error({ err: String(e) }, 'polling servers failed')), config.spawner.poll_interval * 1000));
  }
  for (const timer of timers) timer.unref();
  return () => timers.forEach(clearInterval);
}

/**
 * Re-read images, sizes and profiles when their files change and on `refinery reload` (or kill -HUP),
 * which finds the hub through its pid file. Returns what stops it.
 */
export function handleReloads(dataDir: string, catalog: CatalogStore): () => void {
  catalog.watch();
  const onHangup = () => void catalog.reload();
  process.on('SIGHUP', onHangup);
  const pidFile = join(dataDir, 'refinery.pid');
  writeFileSync(pidFile, `${process.pid}\n`);
  return () => {
    process.off('SIGHUP', onHangup);
    rmSync(pidFile, { force: true });
  };
}

async function housekeeping(db: Db, log: Logger): Promise<void> {
  const now = nowIso();
  try {
    await deleteExpiredSessions(db.kysely, now);
    await deleteExpiredCodes(db.kysely, now);
    await deleteClientsWithoutServer(db.kysely);
    await deleteTokensWhere(db.kysely, { expiredBefore: now });
  } catch (error) {
    log.warn({ err: String(error) }, 'housekeeping failed');
  }
}
