import { isAbsolute, resolve } from 'node:path';
import type { LoadedConfig } from '../../config/load.js';
import { KUBERNETES_SPAWNER_DEFAULTS } from '../../config/kubernetes.js';
import { KubeApi } from '../../kubernetes/api.js';
import type { Logger } from '../../log.js';
import { KubeSpawner } from './spawner.js';

/** The hub's connection to Kubernetes from `spawner.kubernetes` (kubeconfig, namespace); errors name the key to fix. */
export function kubeApiFrom(loaded: LoadedConfig): KubeApi {
  const settings = loaded.config.spawner.kubernetes ?? KUBERNETES_SPAWNER_DEFAULTS;
  const kubeconfigPath = settings.kubeconfig && !isAbsolute(settings.kubeconfig) ? resolve(loaded.baseDir, settings.kubeconfig) : settings.kubeconfig;
  try {
    return KubeApi.connect({ ...(kubeconfigPath ? { kubeconfigPath } : {}), ...(settings.namespace ? { namespace: settings.namespace } : {}) });
  } catch (error) {
    throw new Error(`${loaded.source}: spawner.kubernetes: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The Kubernetes spawner of a configuration with `spawner.type: kubernetes`. */
export function kubeSpawnerFrom(loaded: LoadedConfig, log: Logger): KubeSpawner {
  const { spawner } = loaded.config;
  const api = kubeApiFrom(loaded);
  log.info({ namespace: api.namespace }, 'servers run as pods on Kubernetes');
  return new KubeSpawner({ api, config: spawner.kubernetes ?? KUBERNETES_SPAWNER_DEFAULTS, args: spawner.args, stopGraceMs: spawner.stop_grace * 1000, log });
}
