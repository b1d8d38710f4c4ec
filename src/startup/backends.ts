// Where servers run and where published notebooks are kept, as the configuration says.
import type { LoadedConfig } from '../config/load.js';
import type { Db } from '../db/connect.js';
import { findUser } from '../db/users.js';
import type { LocalPeople } from '../host/people.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/index.js';
import type { CatalogStore } from '../profiles/catalog.js';
import { notebookEngine } from '../publish/engine.js';
import { S3PublicationStore } from '../publish/s3-store.js';
import { PublicationService } from '../publish/service.js';
import { createPublicationStore } from '../publish/store-factory.js';
import { kubeSpawnerFrom } from '../spawners/kubernetes/from-config.js';
import type { KubeSpawner } from '../spawners/kubernetes/spawner.js';
import { LocalSpawner } from '../spawners/local.js';
import type { Spawner } from '../spawners/spawner.js';
import { secretsOfUser } from '../storage/for-user.js';
import type { StorageService } from '../storage/service.js';

/** spawner.type kubernetes: a pod per server (src/spawners/kubernetes); else local processes. */
export function createSpawner(loaded: LoadedConfig, people: LocalPeople, log: Logger): { spawner: Spawner; kubeSpawner?: KubeSpawner } {
  const { config } = loaded;
  if (config.spawner.type === 'kubernetes') {
    const kubeSpawner = kubeSpawnerFrom(loaded, log);
    return { spawner: kubeSpawner, kubeSpawner };
  }
  return {
    spawner: new LocalSpawner({
      dataDir: config.data_dir,
      people,
      ...(config.spawner.command ? { command: [...config.spawner.command] } : {}),
      args: config.spawner.args,
      defaultUrl: config.spawner.default_url,
      stopGraceMs: config.spawner.stop_grace * 1000,
      ...(config.spawner.local.concurrent_starts !== undefined ? { concurrentStarts: config.spawner.local.concurrent_starts } : {}),
      log,
    }),
  };
}

export function createPublications(o: { loaded: LoadedConfig; db: Db; catalog: CatalogStore; storage: StorageService; metrics: Metrics; log: Logger }): PublicationService {
  const { loaded, db, metrics, log } = o;
  const { config } = loaded;
  const store = createPublicationStore(loaded);
  if (store instanceof S3PublicationStore) {
    // the store may come up later, so this is a loud warning rather than a refusal to start
    void store.check().catch((error: unknown) => log.error({ err: error instanceof Error ? error.message : String(error) }, `publish.store in ${loaded.source}: publishing will fail until this is fixed`));
  }
  const engine = notebookEngine({ workers: config.publish.render_workers, queue: config.publish.render_queue });
  metrics.notebookJobsLoad = engine.load;
  return new PublicationService({
    db: db.kysely, store, engine,
    maxBytes: config.publish.max_size, log,
    onRender: (when) => metrics.notebookRenders.inc({ when }),
    onBusy: () => metrics.busyRefusals.inc({ queue: 'render' }),
    secretsOf: async (owner) => {
      const user = await findUser(db.kysely, owner);
      return user ? secretsOfUser(db.kysely, o.catalog.current(), o.storage, user) : [];
    },
  });
}
