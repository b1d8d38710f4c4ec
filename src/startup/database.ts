// The hub's database at start-up: opened (with a message naming where), private to the hub, and
// holding exactly the configured services' tokens.
import type { Config } from '../config/schema.js';
import { databaseTarget, redactDatabaseUrl } from '../config/load.js';
import { openDatabase, type Db } from '../db/connect.js';
import { registerKnownToken } from '../auth/tokens.js';
import { restrictDatabase } from '../host/data-dir.js';

export async function openHubDatabase(config: Config): Promise<{ db: Db; kind: 'sqlite' | 'postgres' }> {
  const target = databaseTarget(config);
  let db: Db;
  try {
    db = await openDatabase(target);
  } catch (error) {
    const where = target.kind === 'postgres' ? redactDatabaseUrl(target.url) : target.path;
    throw new Error(`cannot open the database at ${where}: ${(error as Error).message}`);
  }
  if (target.kind === 'sqlite' && target.path !== ':memory:') await restrictDatabase(target.path);
  return { db, kind: target.kind };
}

/** Services' tokens as configured; tokens of services no longer configured are removed. */
export async function registerServiceTokens(db: Db, services: readonly { name: string; token: string }[]): Promise<void> {
  for (const service of services) await registerKnownToken(db.kysely, service.token, service.name);
  await db.kysely.deleteFrom('api_tokens').where('service_name', 'is not', null).where('service_name', 'not in', services.length ? services.map((s) => s.name) : ['']).execute();
}
