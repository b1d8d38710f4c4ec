import type { Kysely } from 'kysely';
import type { Database } from '../db/tables.js';
import type { RouteTable } from '../proxy/routes.js';

/**
 * Copy the proxy's per-route traffic timestamps into servers' and users' `last_activity`, as
 * JupyterHub does with its proxy's route activity, so idle culling sees browser and kernel traffic
 * between the servers' own (5-minute) activity reports. Only ever moves timestamps forward.
 */
export async function recordProxyActivity(db: Kysely<Database>, routes: RouteTable, since: number): Promise<number> {
  let updated = 0;
  for (const route of routes.list()) {
    if (route.lastActivity <= since) continue;
    const at = new Date(route.lastActivity).toISOString();
    const user = await db.selectFrom('users').select(['id', 'last_activity']).where('name', '=', route.data.user).executeTakeFirst();
    if (!user) continue;
    await db
      .updateTable('servers')
      .set({ last_activity: at })
      .where('user_id', '=', user.id)
      .where('name', '=', route.data.server)
      .where((eb) => eb.or([eb('last_activity', 'is', null), eb('last_activity', '<', at)]))
      .execute();
    if (!user.last_activity || user.last_activity < at) await db.updateTable('users').set({ last_activity: at }).where('id', '=', user.id).execute();
    updated++;
  }
  return updated;
}
