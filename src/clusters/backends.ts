import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { LocalSpawner } from '../spawners/local.js';
import type { ClusterBackend, ClusterKind } from './backend.js';

/** The cluster backends that go with the configured spawner. */
export function clusterBackends(_config: Config, _spawner: LocalSpawner, _log: Logger): Partial<Record<ClusterKind, ClusterBackend>> {
  return {};
}
