import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { LocalSpawner } from '../spawners/local.js';
import type { ClusterBackend, ClusterKind } from './backend.js';
import { LocalDaskBackend } from './dask/local.js';

/** The cluster backends that go with the configured spawner. */
export function clusterBackends(config: Config, _spawner: LocalSpawner, log: Logger): Partial<Record<ClusterKind, ClusterBackend>> {
  return {
    dask: new LocalDaskBackend({ dataDir: config.data_dir, stopGraceMs: config.spawner.stop_grace * 1000, log: log.child({ backend: 'dask' }) }),
  };
}
