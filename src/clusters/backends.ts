import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { LocalPeople } from '../host/people.js';
import type { ClusterBackend, ClusterKind } from './backend.js';
import { LocalDaskBackend } from './dask/local.js';
import { LocalSparkBackend } from './spark/local.js';
import type { KubeApi } from '../kubernetes/api.js';
import { HttpKubeClient, inClusterOptions, type HttpKubeClientOptions } from './kubernetes/client.js';
import { KubeDaskBackend } from './kubernetes/dask.js';
import { KubeSparkBackend } from './kubernetes/spark.js';

/**
 * Spark's class archives with per-user accounts: a machine-wide cache every account can read (made
 * once per machine and Java/Spark installation, like the default under the hub's own home, which
 * other accounts usually cannot enter).
 */
const SHARED_CLASS_ARCHIVES = '/var/cache/refinery/spark-cds';

/**
 * The cluster backends that go with the configured spawner. With per-user accounts, scratch space
 * lives under data_dir (people.ts's layout), where no one can plant links ahead of the hub as they
 * could in a shared /tmp.
 */
/** Where servers are pods: the namespace's API and the rule that names a server's pod. */
export interface ServerPods {
  readonly api: KubeApi;
  podName(user: string, server: string): string;
}

export function clusterBackends(config: Config, people: LocalPeople, log: Logger, kubeSpawner?: ServerPods): Partial<Record<ClusterKind, ClusterBackend>> {
  if (kubeSpawner) return kubernetesBackends(kubeSpawner, log);
  const perUser = people.mode === 'per-user';
  const spark = new LocalSparkBackend({
    dataDir: config.data_dir, stopGraceMs: config.spawner.stop_grace * 1000, log: log.child({ backend: 'spark' }),
    connectWarmUp: config.clusters.connect_warm_up,
    ...(perUser ? { scratchDir: join(config.data_dir, 'scratch', 'spark'), classArchives: { dir: SHARED_CLASS_ARCHIVES } } : {}),
  });
  // class-data-sharing archives make every later JVM start faster; build them in the background once
  void spark.prepareClassArchives().catch((error: unknown) => log.warn({ err: String(error) }, 'could not prepare Spark class archives; clusters start slower'));
  return {
    spark,
    dask: new LocalDaskBackend({
      dataDir: config.data_dir, stopGraceMs: config.spawner.stop_grace * 1000, log: log.child({ backend: 'dask' }),
      ...(perUser ? { scratchDir: join(config.data_dir, 'scratch', 'dask') } : {}),
    }),
  };
}

/**
 * With the Kubernetes spawner, clusters are operator resources in the same namespace, owned by the
 * server's pod (named by the spawner's rule). The backends still have their own HTTP client; it is
 * made from the spawner's connection until they move onto src/kubernetes.
 */
function kubernetesBackends(spawner: ServerPods, log: Logger): Partial<Record<ClusterKind, ClusterBackend>> {
  const api = spawner.api;
  const cluster = api.kubeConfig.getCurrentCluster();
  const user = api.kubeConfig.getCurrentUser();
  let connection: HttpKubeClientOptions;
  if (user?.token && cluster) {
    const ca = cluster.caData ? Buffer.from(cluster.caData, 'base64') : cluster.caFile ? readFileSync(cluster.caFile) : undefined;
    connection = { server: cluster.server, token: user.token, ...(ca ? { ca } : {}) };
  } else {
    // in a pod: the service account's token file, re-read as it rotates
    connection = inClusterOptions();
  }
  const client = new HttpKubeClient(connection);
  const common = { client, namespace: api.namespace, ownerPodName: (owner: { user: string; server: string }) => spawner.podName(owner.user, owner.server) };
  return {
    spark: new KubeSparkBackend({ ...common, log: log.child({ backend: 'spark' }) }),
    dask: new KubeDaskBackend({ ...common, log: log.child({ backend: 'dask' }) }),
  };
}
