// Refinery installed from its Helm chart, for real: `helm template` with the default values and with
// values-openshift.yaml, every object server-side applied (not a dry run) to the real API server in a
// namespace that enforces the restricted Pod Security Standard, the hub's pod scheduled and run by the
// node agent (the stand-in for a kubelet, test/helpers/node-agent.ts) with its ConfigMap, data claim,
// scratch space and service account token mounted where the chart puts them, the Deployment available,
// and the hub answering /hub/health at the pod the Service selects, on the Service's target port.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { AppsV1Api, CoreV1Api, KubernetesObjectApi, PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../../src/host/repo-root.js';
import { freePort } from '../../src/util/ports.js';
import { startKubeCluster, type KubeCluster } from '../helpers/kube-cluster.js';
import { startNodeAgent, type NodeAgent } from '../helpers/node-agent.js';
import { installRouteCrd } from '../helpers/openshift-crds.js';
import { tmpDir, waitFor, type TmpDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const ROOT = repoRoot();
const CHART = join(ROOT, 'deploy', 'chart');
const HELM = join(ROOT, '.tools', 'bin', 'helm');
/** The node agent's stand-in for the hub's image (deploy/Containerfile.hub): the repository at /opt/refinery, USER 1000:0. */
const HUB_IMAGE = 'refinery/hub:test';
const STORAGE_CLASS = 'refinery-test';

interface Rendered extends KubernetesObject {
  kind: string;
  metadata: { name: string; namespace?: string };
}

let cluster: KubeCluster;
let agent: NodeAgent;
let files: TmpDir;
let objectsApi: KubernetesObjectApi;
let core: CoreV1Api;
let apps: AppsV1Api;

before(async () => {
  if (process.getuid?.() !== 0) return;
  files = await tmpDir('hub-from-chart');
  cluster = await startKubeCluster();
  const kc = cluster.adminKubeConfig();
  objectsApi = KubernetesObjectApi.makeApiClient(kc);
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
  await installRouteCrd(kc);
  agent = await startNodeAgent(cluster, {
    volumes: true,
    images: { [HUB_IMAGE]: { entrypoint: ['/usr/bin/node', '/opt/refinery/dist/src/cli.js'], uid: 1000, gid: 0, files: { '/opt/refinery': ROOT } } },
  });
});

after(async () => {
  await agent?.stop();
  await cluster?.stop();
  await files?.cleanup();
});

async function render(namespace: string, values: string[]): Promise<Rendered[]> {
  // Pods here share the machine's network (the agent gives each an address, not a namespace): a
  // free port, so the hub listening on all addresses collides with nothing else on the machine.
  const port = await freePort();
  const set = ['image.repository=refinery/hub', 'image.tag=test', `persistence.storageClass=${STORAGE_CLASS}`, `service.port=${port}`];
  const { stdout } = await run(HELM, ['template', 'refinery', CHART, '--namespace', namespace, ...values.flatMap((v) => ['-f', join(CHART, v)]), ...set.flatMap((s) => ['--set', s])], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  return parseAllDocuments(stdout).map((d) => d.toJS() as Rendered | null).filter((o): o is Rendered => !!o);
}

/** What the hub's container printed, and what the agent could not do: for a failure's message. */
async function diagnostics(namespace: string): Promise<string> {
  const pods = await core.listNamespacedPod({ namespace });
  const lines: string[] = [];
  for (const pod of pods.items) {
    lines.push(`pod ${pod.metadata?.name}: ${pod.status?.phase} ${JSON.stringify(pod.status?.containerStatuses?.map((c) => c.state))}`);
    const log = agent.logFile(namespace, pod.metadata!.name!, 'hub');
    if (log) lines.push((await readFile(log, 'utf8').catch(() => '')).split('\n').slice(-30).join('\n'));
  }
  return [...lines, ...agent.errors.slice(-10)].join('\n');
}

async function install(namespace: string, values: string[]): Promise<{ service: Rendered }> {
  await core.createNamespace({ body: { metadata: { name: namespace, labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' } } } });
  // the claim's volume: what a cluster's provisioner would make
  await core.createPersistentVolume({
    body: {
      metadata: { name: `${namespace}-data` },
      spec: {
        capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], storageClassName: STORAGE_CLASS, persistentVolumeReclaimPolicy: 'Retain',
        hostPath: { path: join(files.path, namespace) }, claimRef: { namespace, name: 'refinery-data' },
      },
    },
  });
  const objects = await render(namespace, values);
  const refused: string[] = [];
  for (const object of objects) {
    try {
      await objectsApi.patch({ ...object, metadata: { ...object.metadata, namespace } }, undefined, undefined, 'refinery-chart-test', true, PatchStrategy.ServerSideApply);
    } catch (error) {
      refused.push(`${object.kind}/${object.metadata.name}: ${String((error as { body?: unknown }).body ?? error)}`);
    }
  }
  assert.deepEqual(refused, [], 'every rendered object applies');
  const service = objects.find((o) => o.kind === 'Service');
  assert.ok(service, 'the chart has a Service');
  return { service };
}

/** Wait for the Deployment to be available, then ask the hub where its Service sends traffic. */
async function hubThroughService(namespace: string, service: string): Promise<{ address: string; health: Response; api: Record<string, unknown> }> {
  try {
    await waitFor(async () => (await apps.readNamespacedDeployment({ name: 'refinery-hub', namespace })).status?.availableReplicas === 1, { timeoutMs: 120_000, intervalMs: 500, message: 'the hub Deployment to be available' });
    // What kube-proxy would do for the Service: its selector picks the ready pods, its targetPort names
    // the container port. (No EndpointSlice here: they refuse the loopback addresses pods get from the agent.)
    const svc = await core.readNamespacedService({ name: service, namespace });
    const selector = Object.entries(svc.spec?.selector ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
    assert.ok(selector, 'the Service selects pods');
    const address = await waitFor(async () => {
      const pods = await core.listNamespacedPod({ namespace, labelSelector: selector });
      const ready = pods.items.find((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      const targetPort = svc.spec?.ports?.[0]?.targetPort;
      const port = typeof targetPort === 'number' ? targetPort : ready?.spec?.containers.flatMap((c) => c.ports ?? []).find((p) => p.name === targetPort)?.containerPort;
      return ready?.status?.podIP && port ? `http://${ready.status.podIP}:${port}` : undefined;
    }, { timeoutMs: 30_000, message: `a ready pod behind Service ${service}` });
    const health = await fetch(`${address}/hub/health`);
    const api = (await (await fetch(`${address}/hub/api/`)).json()) as Record<string, unknown>;
    return { address, health, api };
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${await diagnostics(namespace)}`);
  }
}

const AS_ROOT = process.getuid?.() === 0;

describe('the hub installed from the Helm chart', { skip: AS_ROOT ? false : 'the node agent mounts volumes in mount namespaces, which needs root (CI runs the suite as root)' }, () => {
  test('default values: everything applies, the hub starts with its volumes and answers /hub/health through its Service', { timeout: 240_000 }, async () => {
    const { service } = await install('refinery', []);
    const { health, api } = await hubThroughService('refinery', service.metadata.name);
    assert.equal(health.status, 200);
    assert.equal(typeof api.version, 'string', 'GET /hub/api/ answers the version, as JupyterHub');
    // its database is on the claim's volume, where a restarted pod finds it again
    const claim = await core.readNamespacedPersistentVolumeClaim({ name: 'refinery-data', namespace: 'refinery' });
    assert.equal(claim.status?.phase, 'Bound');
    await waitFor(async () => (await readFile(join(files.path, 'refinery', 'refinery.sqlite')).catch(() => null))?.subarray(0, 15).toString() === 'SQLite format 3', { message: 'the hub database on the data volume' });
  });

  test('OpenShift values: the Route applies with the rest, and the hub starts and offers sign-in with OpenShift', { timeout: 240_000 }, async () => {
    const { service } = await install('refinery-openshift', ['values-openshift.yaml']);
    const route = await objectsApi.read({ apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { name: 'refinery', namespace: 'refinery-openshift' } });
    assert.equal((route as KubernetesObject & { spec: { to: { name: string } } }).spec.to.name, service.metadata.name);
    const { address, health } = await hubThroughService('refinery-openshift', service.metadata.name);
    assert.equal(health.status, 200);
    const login = await (await fetch(`${address}/hub/login`)).text();
    assert.match(login, /Sign in with OpenShift/);
  });
});
