// The Kubernetes Dask backend (and what both Kubernetes backends share) against a fake API server
// that validates every object against the DaskCluster CRD and the Kubernetes API schemas. The
// operator's part is played by the stand-ins in test/helpers/fake-kube.ts.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { ClusterError, type ClusterOwner, type ClusterProgress, type ClusterRequest } from '../../src/clusters/backend.js';
import { HttpKubeClient, KubeApiError, RESOURCES, inClusterNamespace, inClusterOptions } from '../../src/clusters/kubernetes/client.js';
import { KubeDaskBackend } from '../../src/clusters/kubernetes/dask.js';
import { clusterObjectName, labelValue } from '../../src/clusters/kubernetes/objects.js';
import { silentLogger } from '../../src/log.js';
import { NS, daskOperator, daskWorkers, podWaiting, startFakeKube, type FakeKube, type Obj } from '../helpers/fake-kube.js';
import { waitFor } from '../helpers/tmp.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const SECRET = 'wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY';
const alice: ClusterOwner = { user: 'alice', server: '' };
const request: ClusterRequest = {
  kind: 'dask', name: 'dask', workers: 2, worker: { cores: 1.5, memory: 2 * GiB }, head: { cores: 0.5, memory: 512 * MiB },
  conf: { 'distributed.worker.memory.spill': '0.7', lifetime: '1h' }, connect: false,
};

let fake: FakeKube;
let client: HttpKubeClient;

function podName(owner: ClusterOwner): string {
  return `jupyter-${labelValue(owner.user)}${owner.server ? `-${owner.server}` : ''}`.toLowerCase().replace(/[^a-z0-9-]/g, '-');
}

function ownerPod(owner: ClusterOwner, image = 'registry.example/notebook:2026.8'): Obj {
  return fake.put({ apiVersion: 'v1', kind: 'Pod', metadata: { name: podName(owner), namespace: NS }, spec: { containers: [{ name: 'notebook', image }] } });
}

function backend(extra: { hub?: string } = {}): KubeDaskBackend {
  return new KubeDaskBackend({ client, namespace: NS, ownerPodName: podName, log: silentLogger(), pollIntervalMs: 10, ...extra });
}

/** Plays the operator as soon as the DaskCluster exists: scheduler, then workers one by one. */
async function operateWhenCreated(name: string, workers: number): Promise<void> {
  await waitFor(() => fake.get('daskclusters', NS, name), { intervalMs: 5, message: `${name} to be created` });
  daskOperator(fake, name, workers, 0);
  for (let i = 1; i <= workers; i++) {
    await new Promise((r) => setTimeout(r, 40));
    daskWorkers(fake, name, workers, i);
  }
}

const noSignal = () => new AbortController().signal;

before(async () => {
  fake = await startFakeKube();
  client = new HttpKubeClient({ server: fake.url, token: fake.token });
});
after(() => fake.close());

describe('Kubernetes Dask backend', () => {
  beforeEach(() => {
    for (const o of fake.names()) {
      const [plural, name] = o.split('/') as [string, string];
      fake.remove(plural, NS, name);
    }
  });

  test('reserve() gives the operator\'s predictable scheduler address before anything exists', async () => {
    const a = await backend().reserve(alice, request);
    const name = clusterObjectName('dask', alice, 'dask');
    assert.match(name, /^dask-alice-dask-[0-9a-f]{8}$/);
    assert.equal(a.env.DASK_SCHEDULER_ADDRESS, `tcp://${name}-scheduler.${NS}.svc:8786`);
    assert.equal(a.env.DASK_DISTRIBUTED__DASHBOARD__LINK, `{JUPYTERHUB_SERVICE_PREFIX}proxy/${name}-scheduler.${NS}.svc:8787/status`);
    assert.deepEqual(a.reservation, { namespace: NS, object: name });
    assert.deepEqual(fake.names(), [], 'reserve() creates nothing');
  });

  test('names are valid, at most 40 characters, and apart for users whose names slug alike', () => {
    const names = ['a.b', 'a_b', 'A-B@example.com', 'zoë', 'x'.repeat(200)].map((user) => clusterObjectName('dask', { user, server: 'lab.2' }, 'my-cluster'));
    assert.equal(new Set(names).size, names.length);
    for (const n of names) assert.match(n, /^[a-z]([-a-z0-9]{0,38}[a-z0-9])$/, n);
    assert.equal(labelValue('alice'), 'alice');
    assert.match(labelValue('zoë@example.com'), /^zo-example-com-[0-9a-f]{8}$/);
  });

  test('start(): a valid DaskCluster owned by the server\'s pod, with the request\'s resources and labels, keys only in the Secret; progress up to 2/2', async () => {
    const pod = ownerPod(alice);
    const b = backend();
    const addresses = await b.reserve(alice, request);
    const name = String(addresses.reservation.object);
    const events: ClusterProgress[] = [];
    const operator = operateWhenCreated(name, 2);
    const state = await b.start(alice, request, addresses, { timeoutMs: 10_000, signal: noSignal(), onProgress: (e) => events.push(e), env: { AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: SECRET } });
    await operator;
    assert.deepEqual(state, { backend: 'kubernetes', kind: 'dask', namespace: NS, object: name, hub: 'refinery', user: 'alice', server: '', name: 'dask', workers: 2 });

    const messages = events.map((e) => e.message);
    for (const m of ['scheduler up', 'workers 1/2', 'workers 2/2', 'Dask cluster ready']) assert.ok(messages.includes(m), `progress has "${m}": ${JSON.stringify(messages)}`);
    assert.ok(messages.indexOf('scheduler up') < messages.indexOf('workers 1/2') && messages.indexOf('workers 1/2') < messages.indexOf('workers 2/2'));
    assert.deepEqual(events.map((e) => e.progress), [...events.map((e) => e.progress)].sort((x, y) => x - y), 'progress only grows');
    assert.equal(events.at(-1)!.progress, 100);

    const cluster = fake.get('daskclusters', NS, name)!;
    assert.deepEqual(cluster.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid }]);
    assert.deepEqual(cluster.metadata.labels, {
      'app.kubernetes.io/managed-by': 'refinery', 'app.kubernetes.io/component': 'dask-cluster', 'refinery.io/hub': 'refinery',
      'refinery.io/user': 'alice', 'refinery.io/server': '', 'refinery.io/cluster': 'dask', 'refinery.io/cluster-id': name,
    });
    type Container = { image: string; command: string[]; resources: unknown; env?: { name: string; value: string }[]; envFrom?: unknown[] };
    const spec = cluster.spec as { idleTimeout: number; scheduler: { spec: { containers: Container[] } }; worker: { replicas: number; spec: { containers: Container[] } } };
    const [scheduler] = spec.scheduler.spec.containers;
    const [worker] = spec.worker.spec.containers;
    assert.equal(spec.worker.replicas, 2);
    assert.equal(spec.idleTimeout, 0);
    assert.equal(scheduler!.image, 'registry.example/notebook:2026.8', 'the server\'s image by default');
    assert.deepEqual(scheduler!.resources, { requests: { cpu: '500m', memory: '512Mi' }, limits: { cpu: '500m', memory: '512Mi' } });
    assert.deepEqual(worker!.resources, { requests: { cpu: '1500m', memory: '2304Mi' }, limits: { cpu: '1500m', memory: '2304Mi' } }, '2 GiB + the nanny\'s 256 MiB');
    assert.deepEqual(worker!.command.slice(0, 8), ['dask', 'worker', '--name', '$(DASK_WORKER_NAME)', '--nthreads', '2', '--memory-limit', String(2 * GiB)]);
    assert.ok(worker!.command.includes('--lifetime') && worker!.command.includes('1h'));
    assert.deepEqual(worker!.env, [{ name: 'DASK_DISTRIBUTED__WORKER__MEMORY__SPILL', value: '0.7' }]);
    for (const c of [scheduler!, worker!]) assert.deepEqual(c.envFrom, [{ secretRef: { name: `${name}-env` } }]);

    const text = JSON.stringify(cluster);
    assert.ok(!text.includes(SECRET) && !text.includes(Buffer.from(SECRET).toString('base64')), 'no key in the DaskCluster');
    for (const p of fake.list('pods', NS)) assert.ok(!JSON.stringify(p).includes(SECRET), `no key in pod ${p.metadata.name}`);
    const secret = fake.get('secrets', NS, `${name}-env`)!;
    assert.equal(Buffer.from((secret.data as Record<string, string>).AWS_SECRET_ACCESS_KEY!, 'base64').toString(), SECRET);
    assert.deepEqual(secret.metadata.ownerReferences, cluster.metadata.ownerReferences);
    assert.ok(fake.requests.filter((r) => r.startsWith('POST')).every((r) => r.includes('fieldValidation=Strict')));
  });

  test('start() waits for the server\'s pod to appear, and takes its uid', async () => {
    const b = backend();
    const addresses = await b.reserve(alice, { ...request, workers: 0 });
    const name = String(addresses.reservation.object);
    const started = b.start(alice, { ...request, workers: 0 }, addresses, { timeoutMs: 10_000, signal: noSignal(), onProgress: () => undefined });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(fake.get('daskclusters', NS, name), undefined, 'nothing before the pod exists');
    const pod = ownerPod(alice);
    await waitFor(() => fake.get('daskclusters', NS, name), { intervalMs: 5 });
    daskOperator(fake, name, 0);
    await started;
    assert.equal(fake.get('daskclusters', NS, name)!.metadata.ownerReferences![0]!.uid, pod.metadata.uid);
  });

  test('a worker that cannot pull its image fails start() with the reason, and nothing is left', async () => {
    ownerPod(alice);
    const b = backend();
    const addresses = await b.reserve(alice, request);
    const name = String(addresses.reservation.object);
    const operator = (async () => {
      await waitFor(() => fake.get('daskclusters', NS, name), { intervalMs: 5 });
      daskOperator(fake, name, 2, 1);
      podWaiting(fake, `${name}-default-worker-1`, 'ImagePullBackOff', 'Back-off pulling image "registry.example/notebook:2026.8"');
    })();
    await assert.rejects(
      b.start(alice, request, addresses, { timeoutMs: 10_000, signal: noSignal(), onProgress: () => undefined, env: { AWS_SECRET_ACCESS_KEY: SECRET } }),
      (e: unknown) => e instanceof ClusterError && /ImagePullBackOff/.test(e.message) && e.message.includes(`${name}-default-worker-1`) && e.message.includes('Back-off pulling image'),
    );
    await operator;
    assert.deepEqual(fake.names(), [`pods/${podName(alice)}`], 'DaskCluster, Secret and (through the garbage collector) its pods are gone');
  });

  test('without an operator start() times out naming the likely cause, and cleans up', async () => {
    ownerPod(alice);
    const b = backend();
    const addresses = await b.reserve(alice, request);
    await assert.rejects(
      b.start(alice, request, addresses, { timeoutMs: 150, signal: noSignal(), onProgress: () => undefined, env: { A: 'b' } }),
      /not ready in time: the scheduler is not ready \(the DaskCluster has no status yet: is the Dask operator running/,
    );
    assert.deepEqual(fake.names(), [`pods/${podName(alice)}`]);
  });

  test('a leftover DaskCluster of a crashed start is replaced, not an error', async () => {
    ownerPod(alice);
    const b = backend();
    const addresses = await b.reserve(alice, { ...request, workers: 0 });
    const name = String(addresses.reservation.object);
    await assert.rejects(b.start(alice, { ...request, workers: 0 }, addresses, { timeoutMs: 50, signal: noSignal(), onProgress: () => undefined }));
    // as if the hub died after creating it: put one back by hand
    const leftover = fake.put({ apiVersion: 'kubernetes.dask.org/v1', kind: 'DaskCluster', metadata: { name, namespace: NS }, spec: { scheduler: { spec: { containers: [] }, service: {} }, worker: { spec: { containers: [] } } } });
    const operator = (async () => {
      await waitFor(() => fake.get('daskclusters', NS, name)?.metadata.uid !== leftover.metadata.uid && fake.get('daskclusters', NS, name), { intervalMs: 5 });
      daskOperator(fake, name, 0);
    })();
    await b.start(alice, { ...request, workers: 0 }, addresses, { timeoutMs: 5000, signal: noSignal(), onProgress: () => undefined });
    await operator;
    assert.ok(fake.get('daskclusters', NS, name)!.metadata.labels?.['refinery.io/cluster-id'], 'the new one');
  });

  test('status(), scale() (patches replicas, waits for the workers), stop() (everything, idempotent)', async () => {
    ownerPod(alice);
    const b = backend();
    const addresses = await b.reserve(alice, request);
    const name = String(addresses.reservation.object);
    const operator = operateWhenCreated(name, 2);
    const state = await b.start(alice, request, addresses, { timeoutMs: 10_000, signal: noSignal(), onProgress: () => undefined, env: { K: 'v' } });
    await operator;
    assert.deepEqual(await b.status(state), { running: true, workers: 2 });

    const scaling = b.scale(state, 3, { timeoutMs: 10_000 });
    await waitFor(() => (fake.get('daskclusters', NS, name)!.spec as { worker: { replicas: number } }).worker.replicas === 3, { intervalMs: 5, message: 'replicas patched' });
    daskWorkers(fake, name, 3);
    assert.equal((await scaling).workers, 3);
    assert.ok(fake.requests.some((r) => r.startsWith(`PATCH /apis/kubernetes.dask.org/v1/namespaces/${NS}/daskclusters/${name}`)));

    const down = b.scale(state, 1, { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 30));
    daskWorkers(fake, name, 1);
    assert.deepEqual(await down, { ...state, workers: 1 });
    assert.deepEqual(await b.status(state), { running: true, workers: 1 });

    fake.setStatus('pods', NS, `${name}-scheduler`, { conditions: [{ type: 'Ready', status: 'False' }] });
    assert.deepEqual(await b.status(state), { running: true, workers: 1, reason: 'the scheduler is not ready' }, 'a scheduler that is not ready for a moment is Kubernetes\' to restart');
    podWaiting(fake, `${name}-default-worker-0`, 'CrashLoopBackOff', 'back-off 10s restarting failed container');
    const sick = await b.status(state);
    assert.equal(sick.running, false);
    assert.match(sick.reason ?? '', /CrashLoopBackOff/);

    await b.stop(state);
    assert.deepEqual(fake.names(), [`pods/${podName(alice)}`]);
    await b.stop(state);
    assert.deepEqual(await b.status(state), { running: false, workers: 0, reason: `${name} does not exist` });
    await assert.rejects(b.scale(state, 2, { timeoutMs: 100 }), /does not exist/);
  });

  test('deleting the server\'s pod takes the cluster with it (the ownerReference names the real pod)', async () => {
    ownerPod(alice);
    const b = backend();
    const addresses = await b.reserve(alice, { ...request, workers: 1 });
    const operator = operateWhenCreated(String(addresses.reservation.object), 1);
    await b.start(alice, { ...request, workers: 1 }, addresses, { timeoutMs: 10_000, signal: noSignal(), onProgress: () => undefined, env: { K: 'v' } });
    await operator;
    assert.ok(fake.names().length > 3);
    fake.remove('pods', NS, podName(alice));
    assert.deepEqual(fake.names(), []);
  });

  test('list() finds this hub\'s clusters by label, with exact user, server and name, for the reconciler', async () => {
    const b = backend();
    const bob: ClusterOwner = { user: 'Bob.Smith@example.com', server: 'gpu_1' };
    for (const owner of [alice, bob]) {
      ownerPod(owner);
      const addresses = await b.reserve(owner, request);
      const operator = operateWhenCreated(String(addresses.reservation.object), 2);
      await b.start(owner, request, addresses, { timeoutMs: 10_000, signal: noSignal(), onProgress: () => undefined });
      await operator;
    }
    // another hub's cluster in the same namespace is not ours to list (nor to stop)
    const other = backend({ hub: 'staging' });
    const carol: ClusterOwner = { user: 'carol', server: '' };
    ownerPod(carol);
    const addresses = await other.reserve(carol, request);
    const operator = operateWhenCreated(String(addresses.reservation.object), 2);
    await other.start(carol, request, addresses, { timeoutMs: 10_000, signal: noSignal(), onProgress: () => undefined });
    await operator;

    const listed = (await b.list()).sort((x, y) => String(x.user).localeCompare(String(y.user)));
    assert.deepEqual(listed.map((s) => [s.user, s.server, s.name, s.workers]), [['alice', '', 'dask', 2], ['Bob.Smith@example.com', 'gpu_1', 'dask', 2]]);
    assert.equal(fake.get('daskclusters', NS, String(listed[1]!.object))!.metadata.labels!['refinery.io/user'], labelValue('Bob.Smith@example.com'));
    for (const s of listed) await b.stop(s);
    assert.deepEqual(await b.list(), []);
    assert.equal((await other.list()).length, 1);
  });

  test('an API server that refuses the hub (401) fails start() with a ClusterError saying so', async () => {
    ownerPod(alice);
    const denied = new KubeDaskBackend({ client: new HttpKubeClient({ server: fake.url, token: 'expired' }), namespace: NS, ownerPodName: podName, log: silentLogger(), pollIntervalMs: 10 });
    const addresses = await denied.reserve(alice, request);
    await assert.rejects(denied.start(alice, request, addresses, { timeoutMs: 1000, signal: noSignal(), onProgress: () => undefined }),
      (e: unknown) => e instanceof ClusterError && e.message === 'the Kubernetes API refused the cluster: Unauthorized');
  });

  test('bad conf or environment names are refused before anything is created', async () => {
    ownerPod(alice);
    const b = backend();
    const addresses = await b.reserve(alice, request);
    await assert.rejects(b.start(alice, { ...request, conf: { 'memory-limit': '1G' } }, addresses, { timeoutMs: 1000, signal: noSignal(), onProgress: () => undefined }), /memory-limit/);
    await assert.rejects(b.start(alice, request, addresses, { timeoutMs: 1000, signal: noSignal(), onProgress: () => undefined, env: { 'BAD NAME': 'x' } }), /BAD NAME/);
    assert.deepEqual(fake.names(), [`pods/${podName(alice)}`]);
  });
});

describe('the fake API server answers like the real one', () => {
  const base = () => ({ apiVersion: 'kubernetes.dask.org/v1', kind: 'DaskCluster', metadata: { name: 'broken', namespace: NS } });
  const good = () => ({
    ...base(),
    spec: {
      scheduler: { spec: { containers: [{ name: 's', image: 'i' }] }, service: { ports: [{ port: 8786, targetPort: 'tcp-comm' }] } },
      worker: { replicas: 1, spec: { containers: [{ name: 'w', image: 'i' }] } },
    },
  });
  const create = (o: unknown) => client.create(RESOURCES.daskCluster, NS, o as Obj);
  const rejects = async (o: unknown, status: number, pattern: RegExp) => {
    await assert.rejects(create(o), (e: unknown) => e instanceof KubeApiError && e.status === status && pattern.test(e.message), `expected ${status} ${pattern}`);
  };

  test('schema violations: 422 Invalid; unknown fields: 400 under fieldValidation=Strict', async () => {
    const intPort = good();
    intPort.spec.scheduler.service.ports[0]!.targetPort = 8786 as unknown as string;
    await rejects(intPort, 422, /spec\.scheduler\.service\.ports\[0\]\.targetPort: Invalid value: must be string/);
    const noImage = good() as { spec: { worker: { spec: { containers: unknown[] } } } };
    noImage.spec.worker.spec.containers = [{ image: 'i' }];
    await rejects(noImage, 422, /spec\.worker\.spec\.containers\[0\]\.name: Required value/);
    await rejects({ ...base(), spec: { worker: good().spec.worker } }, 422, /spec\.scheduler: Required value/);
    const typo = good() as { spec: { worker: Record<string, unknown> } };
    typo.spec.worker.replica = 2;
    await rejects(typo, 400, /strict decoding error: unknown field "spec\.worker\.replica"/);
    await rejects({ ...good(), metadata: { name: 'broken', namespace: NS, ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'p' }] } }, 422, /metadata\.ownerReferences\[0\]\.uid: Required value/);
    await rejects({ ...good(), metadata: { name: 'broken', namespace: NS, labels: { 'refinery.io/user': 'bob@example.com' } } }, 422, /a valid label must be/);
    await rejects({ ...good(), metadata: { name: 'Broken_Name', namespace: NS } }, 422, /RFC 1123 subdomain/);
    await assert.rejects(client.create(RESOURCES.service, NS, { apiVersion: 'v1', kind: 'Service', metadata: { name: '1-service' }, spec: {} }), /DNS-1035 label/);
    await assert.rejects(client.create(RESOURCES.pod, NS, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'i', resources: { limits: { cpu: true } } }] } }), /422|Invalid value/);
    assert.deepEqual(fake.list('daskclusters', NS), [], 'nothing invalid was stored');
  });

  test('201, 409 AlreadyExists, 404 NotFound, merge patch (415 otherwise), resourceVersion, labelSelector, 401', async () => {
    const created = await create(good());
    assert.ok(created.metadata.uid && created.metadata.resourceVersion);
    await rejects(good(), 409, /daskclusters\.kubernetes\.dask\.org "broken" already exists/);
    const patched = await client.patch(RESOURCES.daskCluster, NS, 'broken', { spec: { worker: { replicas: 4 } } });
    assert.ok(Number(patched.metadata.resourceVersion) > Number(created.metadata.resourceVersion));
    assert.equal((patched.spec as { worker: { replicas: number; spec: unknown } }).worker.replicas, 4);
    assert.ok((patched.spec as { worker: { spec: unknown } }).worker.spec, 'a merge patch keeps what it does not name');
    await assert.rejects(client.patch(RESOURCES.daskCluster, NS, 'broken', { spec: { worker: { replicas: 'many' } } }), (e: unknown) => e instanceof KubeApiError && e.status === 422);
    const res = await fetch(`${fake.url}/apis/kubernetes.dask.org/v1/namespaces/${NS}/daskclusters/broken`, { method: 'PATCH', headers: { authorization: `Bearer ${fake.token}`, 'content-type': 'application/json-patch+json' }, body: '[]' });
    assert.equal(res.status, 415);
    assert.equal((await client.list(RESOURCES.daskCluster, NS, 'a=b')).length, 0);
    assert.equal((await client.list(RESOURCES.daskCluster, NS, '!a')).length, 1);
    assert.equal(await client.delete(RESOURCES.daskCluster, NS, 'broken'), true);
    assert.equal(await client.delete(RESOURCES.daskCluster, NS, 'broken'), false);
    assert.equal(await client.get(RESOURCES.daskCluster, NS, 'broken'), null);
    await assert.rejects(client.patch(RESOURCES.daskCluster, NS, 'broken', {}), (e: unknown) => e instanceof KubeApiError && e.status === 404 && e.reason === 'NotFound');
    const anonymous = new HttpKubeClient({ server: fake.url, token: 'wrong' });
    await assert.rejects(anonymous.get(RESOURCES.pod, NS, 'x'), (e: unknown) => e instanceof KubeApiError && e.status === 401);
  });
});

test('in a pod, the client reads the service account\'s token, CA and namespace', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'refinery-sa-'));
  try {
    await writeFile(join(dir, 'token'), 'tok-1\n');
    await writeFile(join(dir, 'ca.crt'), '-----BEGIN CERTIFICATE-----\n');
    await writeFile(join(dir, 'namespace'), 'team-a\n');
    const o = inClusterOptions({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' }, dir);
    assert.equal(o.server, 'https://[fd00::1]:6443');
    assert.equal(typeof o.token === 'function' ? o.token() : o.token, 'tok-1');
    assert.equal(String(o.ca).trim(), '-----BEGIN CERTIFICATE-----');
    assert.equal(inClusterNamespace(dir), 'team-a');
    assert.throws(() => inClusterOptions({}, dir), /KUBERNETES_SERVICE_HOST/);
    assert.equal(inClusterNamespace(join(dir, 'nowhere')), null);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
