import type { Kysely } from 'kysely';
import type { Config } from '../config/schema.js';
import type { Database } from '../db/tables.js';
import type { Logger } from '../log.js';
import { embeddedStorage } from '../storage/embedded-config.js';
import { EmbeddedObjectStore } from '../storage/embedded-store.js';
import { serversInPhase } from '../db/servers.js';

/** The embedded object store, adopted or started, when the configuration has it (else undefined, said in the log). */
export async function startEmbeddedStore(config: Config, log: Logger): Promise<EmbeddedObjectStore | undefined> {
  const decision = embeddedStorage(config);
  if (!decision.on) {
    if (config.storage.embedded && !config.storage.endpoints.length) log.warn(`no object storage for servers: ${decision.why}`);
    return undefined;
  }
  const store = new EmbeddedObjectStore({ dataDir: config.data_dir, binary: decision.binary, log });
  await store.start();
  return store;
}

/** Whether any server runs or is starting (and so may be using the store). */
export async function anyServerRunning(db: Kysely<Database>): Promise<boolean> {
  return (await serversInPhase(db, ['running', 'pending', 'stopping'])).length > 0;
}
