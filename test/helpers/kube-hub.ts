/**
 * Refinery with `spawner.type: kubernetes` against the test control plane: a namespace enforcing
 * the `restricted` Pod Security Standard, the hub's ServiceAccount bound to exactly the Role in
 * deploy/kubernetes/rbac.yaml (a token from the TokenRequest API in a kubeconfig file), the
 * operators' CRDs, PersistentVolumes for home claims, and the node agent running images from
 * envs/ as 1000:1000 (the image's USER, as in a notebook image).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiextensionsV1Api, CoreV1Api, StorageV1Api, loadYaml, type V1CustomResourceDefinition, type V1PolicyRule } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../../src/host/repo-root.js';
import { startKubeCluster, type KubeCluster, type NamespaceAccess } from './kube-cluster.js';
import { writeKubeconfig } from './kube-cluster/kubeconfig.js';
import { startNodeAgent, type NodeAgent } from './node-agent.js';
import { launchRefinery, type RefineryProcess } from './refinery.js';
import { tmpDir, waitFor, type TmpDir } from './tmp.js';

export const NOTEBOOK_IMAGE = 'refinery/notebook:1';
export const STORAGE_CLASS = 'refinery-test';

/** The Role's rules in deploy/kubernetes/rbac.yaml. */
export async function manifestRules(): Promise<V1PolicyRule[]> {
  const text = await readFile(join(repoRoot(), 'deploy', 'kubernetes', 'rbac.yaml'), 'utf8');
  const role = parseAllDocuments(text).map((d) => d.toJS() as { kind?: string; rules?: V1PolicyRule[] }).find((d) => d.kind === 'Role');
  if (!role?.rules) throw new Error('deploy/kubernetes/rbac.yaml has no Role with rules');
  return role.rules;
}

export interface KubeWorld {
  cluster: KubeCluster;
  agent: NodeAgent;
  team: NamespaceAccess;
  admin: CoreV1Api;
  files: TmpDir;
  kubeconfigPath: string;
  stop(): Promise<void>;
}

/** Control plane, node agent, a restricted namespace with the hub's Role, CRDs and `volumes` PersistentVolumes. */
export async function startKubeWorld(namespace: string, options: { volumes?: number; images?: Record<string, { pathPrefix?: string[]; uid?: number; gid?: number }>; extraRules?: V1PolicyRule[] } = {}): Promise<KubeWorld> {
  const files = await tmpDir('kube-hub');
  const cluster = await startKubeCluster();
  const envs = join(repoRoot(), 'envs');
  const agent = await startNodeAgent(cluster, {
    images: { [NOTEBOOK_IMAGE]: { pathPrefix: [join(envs, 'base', 'bin')], uid: 1000, gid: 1000 }, ...options.images },
    // the kubelet's 10 s back-off would make the failure tests slow
    backoffMs: 1000,
    maxBackoffMs: 4000,
  });
  const adminKc = cluster.adminKubeConfig();
  const admin = adminKc.makeApiClient(CoreV1Api);
  const team = await cluster.createNamespace(namespace, {
    labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' },
    // extraRules: what an optional feature adds to the Role (the chart's openshift.imageStreams, say)
    rules: [...(await manifestRules()), ...(options.extraRules ?? [])],
    serviceAccount: 'refinery-hub',
  });
  const kubeconfigPath = await writeKubeconfig(join(files.path, 'hub.kubeconfig'), cluster.url, cluster.caFile, `system:serviceaccount:${namespace}:refinery-hub`, { token: team.token }, namespace);

  const crds = adminKc.makeApiClient(ApiextensionsV1Api);
  for (const file of ['daskclusters.yaml', 'sparkconnects.yaml']) {
    // typed, as the client's serializer wants it (x-kubernetes-* keys are x_kubernetes_* fields there; raw JSON would lose them)
    const body = loadYaml<V1CustomResourceDefinition>(await readFile(join(repoRoot(), '.tools', 'k8s-schemas', 'crds', file), 'utf8'));
    await crds.createCustomResourceDefinition({ body });
    await waitFor(async () => {
      const crd = await crds.readCustomResourceDefinition({ name: body.metadata!.name! });
      return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
    }, { timeoutMs: 30_000, message: `CRD ${file} established` });
  }
  // homes: a class with no provisioner, and volumes made beforehand that claims bind to
  await adminKc.makeApiClient(StorageV1Api).createStorageClass({ body: { metadata: { name: STORAGE_CLASS }, provisioner: 'kubernetes.io/no-provisioner', volumeBindingMode: 'Immediate' } });
  for (let i = 0; i < (options.volumes ?? 4); i++) {
    await admin.createPersistentVolume({
      body: {
        metadata: { name: `home-${namespace}-${i}` },
        spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], storageClassName: STORAGE_CLASS, persistentVolumeReclaimPolicy: 'Retain', hostPath: { path: join(files.path, `pv-${i}`) } },
      },
    });
  }
  return {
    cluster, agent, team, admin, files, kubeconfigPath,
    async stop() {
      await agent.stop();
      await cluster.stop();
      await files.cleanup();
    },
  };
}

/** The catalog and spawner keys of a hub whose servers are pods in `world`'s namespace. */
export function kubeHubConfig(world: KubeWorld, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    spawner: {
      type: 'kubernetes',
      start_timeout: 90,
      stop_grace: 3,
      kubernetes: {
        kubeconfig: world.kubeconfigPath,
        namespace: world.team.namespace,
        storage_class: STORAGE_CLASS,
        home_size: '1Gi',
      },
    },
    images: [
      { name: 'python', display_name: 'Python', default: true, kubernetes: { image: NOTEBOOK_IMAGE } },
      { name: 'missing', display_name: 'Missing', kubernetes: { image: 'refinery/does-not-exist:9' } },
    ],
    sizes: [
      { name: 'small', display_name: 'Small', default: true, cpu: { guarantee: 0.1, limit: 1 }, memory: { guarantee: '256M', limit: '2G' } },
      { name: 'huge', display_name: 'Huge', cpu: { guarantee: 512 }, memory: { guarantee: '4T' } },
    ],
    ...extra,
  };
}

export async function launchKubeHub(world: KubeWorld, extra: Record<string, unknown> = {}): Promise<RefineryProcess> {
  return launchRefinery({ config: kubeHubConfig(world, extra) });
}
