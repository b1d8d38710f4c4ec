import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { LocalSpawner } from '../spawners/local.js';
import type { ClusterBackend, ClusterKind } from './backend.js';
import { LocalDaskBackend } from './dask/local.js';
import { LocalSparkBackend } from './spark/local.js';

/** The cluster backends that go with the configured spawner. */
export function clusterBackends(config: Config, _spawner: LocalSpawner, log: Logger): Partial<Record<ClusterKind, ClusterBackend>> {
  const spark = new LocalSparkBackend({ dataDir: config.data_dir, stopGraceMs: config.spawner.stop_grace * 1000, log: log.child({ backend: 'spark' }) });
  // class-data-sharing archives make every later JVM start faster; build them in the background once
  void spark.prepareClassArchives().catch((error: unknown) => log.warn({ err: String(error) }, 'could not prepare Spark class archives; clusters start slower'));
  return {
    spark,
    dask: new LocalDaskBackend({ dataDir: config.data_dir, stopGraceMs: config.spawner.stop_grace * 1000, log: log.child({ backend: 'dask' }) }),
  };
}
