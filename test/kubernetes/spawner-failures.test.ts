// What goes wrong with pods, and clusters owned by them, against the real API server: a size no
// node can hold, an image no registry has and a program that crashes each fail the start with the
// cause and leave no pod or Secret; a Spark and a Dask cluster are operator resources owned by the
// server's pod, and stopping the server leaves nothing of them (the real garbage collector).
import assert from 'node:assert/strict';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, NetworkingV1Api, type V1Pod } from '@kubernetes/client-node';
import { kubeHubConfig, NOTEBOOK_IMAGE, startKubeWorld, type KubeWorld } from '../helpers/kube-hub.js';
import { launchRefinery, startServerAndWait, type RefineryProcess } from '../helpers/refinery.js';
import { waitFor } from '../helpers/tmp.js';

const NS = 'lab';
const CRASH_IMAGE = 'refinery/crash:1';
let world: KubeWorld;
let hub: RefineryProcess;
let custom: CustomObjectsApi;
let operator: { stop(): void } | undefined;

before(async () => {
  const crashDir = join((await import('node:os')).tmpdir(), `refinery-crash-image-${process.pid}`);
  await mkdir(crashDir, { recursive: true });
  await chmod(crashDir, 0o755);
  await writeFile(join(crashDir, 'jupyterhub-singleuser'), '#!/bin/sh\necho "starting the notebook server"\necho "ImportError: cannot import name \'ServerApp\' (the image is broken)" >&2\nexit 3\n', { mode: 0o755 });
  // every person here keeps a home claim, and each claim binds one of the volumes made beforehand
  world = await startKubeWorld(NS, { volumes: 6, images: { [CRASH_IMAGE]: { pathPrefix: [crashDir], uid: 1000, gid: 1000 } } });
  custom = world.cluster.adminKubeConfig().makeApiClient(CustomObjectsApi);
  const config = kubeHubConfig(world);
  const images = config.images as Record<string, unknown>[];
  images.push({ name: 'crash', display_name: 'Crash', kubernetes: { image: CRASH_IMAGE } });
  // pods of this size may only go to GPU nodes, which this cluster does not have
  (config.sizes as Record<string, unknown>[]).push({
    name: 'gpu', display_name: 'GPU', cpu: { guarantee: 0.1 },
    node_selector: { 'refinery.test/accelerator': 'a100' },
    tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
  });
  hub = await launchRefinery({
    config: {
      ...config,
      spawner: { ...(config.spawner as Record<string, unknown>), start_timeout: 25 },
      clusters: { start_timeout: 60 },
      profile_list: [
        { slug: 'plain', display_name: 'Plain', default: true },
        {
          slug: 'clusters', display_name: 'Spark and Dask',
          overrides: { clusters: [{ kind: 'spark', name: 'spark', workers: 1, connect: true }, { kind: 'dask', name: 'dask', workers: 1 }] },
        },
      ],
    },
  });
  for (const name of ['alice', 'dan', 'erin', 'frank', 'gina']) assert.equal((await hub.api(`/hub/api/users/${name}`, { method: 'POST' })).status, 201);
});

after(async () => {
  operator?.stop();
  await hub?.cleanup();
  await world?.stop();
});

async function objectsOf(user: string): Promise<string[]> {
  const selector = { namespace: NS, labelSelector: `hub.jupyter.org/username=${user}` };
  const [pods, secrets] = await Promise.all([world.admin.listNamespacedPod(selector), world.admin.listNamespacedSecret(selector)]);
  return [...pods.items.map((p) => `pod/${p.metadata?.name}`), ...secrets.items.map((s) => `secret/${s.metadata?.name}`)];
}

/** Start through the API and read the progress stream to its end; the last event. */
async function failedStart(user: string, options: Record<string, unknown>): Promise<string> {
  const base = `/hub/api/users/${user}/server`;
  const res = await hub.api(base, { method: 'POST', body: JSON.stringify(options), headers: { 'Content-Type': 'application/json' } });
  // 400 when it failed within the request's wait (JupyterHub's slow_spawn_timeout); the stream says how it ended either way
  assert.ok([201, 202, 400].includes(res.status), `start: ${res.status} ${await res.text()}`);
  const text = await (await hub.api(`${base}/progress`, { headers: { Accept: 'text/event-stream' } })).text();
  const last = text.split('\n\n').filter((b) => b.startsWith('data: ')).map((b) => JSON.parse(b.slice(6)) as { failed?: boolean; message: string }).at(-1);
  assert.equal(last?.failed, true, `the start failed: ${text.slice(-500)}`);
  return last.message;
}

describe('starts that cannot succeed', () => {
  test('a size no node can hold: the scheduler\'s reason, and nothing left', { timeout: 120_000 }, async () => {
    const message = await failedStart('dan', { image: 'python', size: 'huge' });
    assert.match(message, /No node can run this server: 0\/1 nodes are available: .*Insufficient (cpu|memory)/);
    assert.deepEqual(await objectsOf('dan'), []);
  });

  test('a size for nodes the cluster does not have: the scheduler says no node matches, and nothing left', { timeout: 120_000 }, async () => {
    const message = await failedStart('gina', { image: 'python', size: 'gpu' });
    assert.match(message, /No node can run this server: 0\/1 nodes are available: .*didn't match Pod's node affinity\/selector/);
    assert.deepEqual(await objectsOf('gina'), []);
  });

  test('an image no registry has: its name, and nothing left', { timeout: 120_000 }, async () => {
    const message = await failedStart('erin', { image: 'missing', size: 'small' });
    assert.match(message, /The image refinery\/does-not-exist:9 could not be pulled \(ImagePullBackOff\)/);
    assert.deepEqual(await objectsOf('erin'), []);
  });

  test('a program that crashes: the last lines of its log, and nothing left', { timeout: 120_000 }, async () => {
    const message = await failedStart('frank', { image: 'crash', size: 'small' });
    assert.match(message, /The server keeps crashing \(CrashLoopBackOff, last exit code 3/);
    assert.match(message, /ImportError: cannot import name 'ServerApp' \(the image is broken\)/);
    assert.deepEqual(await objectsOf('frank'), []);
  });
});

/**
 * What the Spark and Dask operators would do, reduced to what the hub looks at: a SparkConnect
 * becomes Ready with its executors running; a DaskCluster becomes Running with a scheduler pod and
 * worker pods (owned by it, as the operator's are through its Deployments).
 */
function operatorStandIn(): { stop(): void } {
  let stopped = false;
  const seen = new Set<string>();
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const loop = async () => {
    while (!stopped) {
      const connects = (await custom.listNamespacedCustomObject({ group: 'sparkoperator.k8s.io', version: 'v1alpha1', namespace: NS, plural: 'sparkconnects' })) as { items: { metadata: { name: string }; spec: { executor?: { instances?: number } }; status?: unknown }[] };
      for (const c of connects.items) {
        if (c.status) continue;
        const n = c.spec.executor?.instances ?? 0;
        await custom.patchNamespacedCustomObjectStatus({ group: 'sparkoperator.k8s.io', version: 'v1alpha1', namespace: NS, plural: 'sparkconnects', name: c.metadata.name, body: { status: { state: 'Ready', executors: { running: n } } } }, merge).catch(() => undefined);
      }
      const dasks = (await custom.listNamespacedCustomObject({ group: 'kubernetes.dask.org', version: 'v1', namespace: NS, plural: 'daskclusters' })) as { items: { metadata: { name: string; uid: string; labels: Record<string, string> }; spec: { worker: { replicas: number } } }[] };
      for (const d of dasks.items) {
        if (seen.has(d.metadata.uid)) continue;
        seen.add(d.metadata.uid);
        await custom.patchNamespacedCustomObject({ group: 'kubernetes.dask.org', version: 'v1', namespace: NS, plural: 'daskclusters', name: d.metadata.name, body: { status: { phase: 'Running' } } }, merge);
        const pod = (role: string, i: number): V1Pod => ({
          metadata: {
            name: `${d.metadata.name}-${role}-${i}`, labels: { ...d.metadata.labels, 'refinery.io/role': role },
            ownerReferences: [{ apiVersion: 'kubernetes.dask.org/v1', kind: 'DaskCluster', name: d.metadata.name, uid: d.metadata.uid }],
          },
          spec: {
            securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [{ name: role, image: NOTEBOOK_IMAGE, command: ['python3', '-c', 'import time; time.sleep(3600)'], securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
          },
        });
        await world.admin.createNamespacedPod({ namespace: NS, body: pod('head', 0) });
        for (let i = 0; i < d.spec.worker.replicas; i++) await world.admin.createNamespacedPod({ namespace: NS, body: pod('worker', i) });
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  };
  void loop().catch((e: unknown) => console.error('operator stand-in:', e));
  return { stop: () => (stopped = true) };
}

describe('clusters on Kubernetes', () => {
  test('a Spark and a Dask request are operator resources owned by alice\'s pod; stopping her server leaves nothing of hers but her home', { timeout: 240_000 }, async () => {
    operator = operatorStandIn();
    const events = await startServerAndWait(hub, await hub.tokenFor('alice'), 'alice', '', { image: 'python', size: 'small', profile: 'clusters' });
    assert.ok(events.some((e) => /spark cluster: Spark cluster ready/.test(String(e.message))), JSON.stringify(events));
    const [pod] = (await world.admin.listNamespacedPod({ namespace: NS, labelSelector: 'hub.jupyter.org/username=alice' })).items;
    assert.ok(pod?.metadata?.uid);
    const owners = (o: { metadata?: { ownerReferences?: { uid?: string }[] } }) => (o.metadata?.ownerReferences ?? []).map((r) => r.uid);
    const list = async (group: string, version: string, plural: string) =>
      ((await custom.listNamespacedCustomObject({ group, version, namespace: NS, plural })) as { items: { metadata: { name: string; ownerReferences?: { uid?: string }[] } }[] }).items;
    const sparks = await list('sparkoperator.k8s.io', 'v1alpha1', 'sparkconnects');
    const dasks = await list('kubernetes.dask.org', 'v1', 'daskclusters');
    assert.equal(sparks.length, 1);
    assert.equal(dasks.length, 1);
    for (const object of [...sparks, ...dasks]) assert.deepEqual(owners(object), [pod.metadata.uid], `${object.metadata.name} is owned by alice's pod`);
    const networking = world.cluster.adminKubeConfig().makeApiClient(NetworkingV1Api);
    // each cluster lets in only alice's server and its own pods
    const policies = (await networking.listNamespacedNetworkPolicy({ namespace: NS })).items;
    assert.equal(policies.length, 2, policies.map((p) => p.metadata?.name).join(', '));
    for (const policy of policies) {
      assert.deepEqual(owners(policy), [pod.metadata.uid], `${policy.metadata?.name} is owned by alice's pod`);
      const from = policy.spec?.ingress?.[0]?._from ?? [];
      assert.equal(from[0]?.podSelector?.matchLabels?.['hub.jupyter.org/username'], 'alice');
      assert.equal(from[0]?.podSelector?.matchLabels?.['app.kubernetes.io/component'], 'singleuser-server');
      assert.deepEqual(policy.spec?.podSelector?.matchLabels, from[1]?.podSelector?.matchLabels, 'the cluster\'s pods reach each other');
      assert.deepEqual(policy.spec?.policyTypes, ['Ingress']);
    }

    const res = await hub.api('/hub/api/users/alice/server', { method: 'DELETE' });
    assert.ok(res.status === 204 || res.status === 202);
    await waitFor(async () => {
      const left = [
        ...(await world.admin.listNamespacedPod({ namespace: NS })).items.map((p) => `pod/${p.metadata?.name}`),
        ...(await world.admin.listNamespacedSecret({ namespace: NS })).items.filter((s) => s.type !== 'kubernetes.io/service-account-token').map((s) => `secret/${s.metadata?.name}`),
        ...(await list('sparkoperator.k8s.io', 'v1alpha1', 'sparkconnects')).map((o) => `sparkconnect/${o.metadata.name}`),
        ...(await list('kubernetes.dask.org', 'v1', 'daskclusters')).map((o) => `daskcluster/${o.metadata.name}`),
        ...(await networking.listNamespacedNetworkPolicy({ namespace: NS })).items.map((n) => `networkpolicy/${n.metadata?.name}`),
      ];
      return left.length === 0 ? true : undefined;
    }, { timeoutMs: 90_000, message: 'alice\'s pod, Secrets, clusters and network policies to be gone' });
    const claim = await world.admin.readNamespacedPersistentVolumeClaim({ name: 'claim-alice', namespace: NS });
    assert.equal(claim.metadata?.deletionTimestamp, undefined, 'her home claim stays');
  });
});
