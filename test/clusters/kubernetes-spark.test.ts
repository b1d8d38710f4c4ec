// The Kubernetes Spark backend against the fake API server: SparkConnect (validated against the Spark
// operator's CRD, its schemaless pod templates against the Kubernetes PodTemplateSpec) and the
// standalone cluster of plain Deployments and a Service (against the Kubernetes schemas).
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { ClusterError, type ClusterOwner, type ClusterProgress, type ClusterRequest } from '../../src/clusters/backend.js';
import { HttpKubeClient } from '../../src/clusters/kubernetes/client.js';
import { KubeSparkBackend } from '../../src/clusters/kubernetes/spark.js';
import { silentLogger } from '../../src/log.js';
import { NS, podWaiting, sparkConnectOperator, standaloneControllers, startFakeKube, type FakeKube, type Obj } from '../helpers/fake-kube.js';
import { waitFor } from '../helpers/tmp.js';

const GiB = 1024 ** 3;
const SECRET = 'sparkS3cretKey/with+chars=';
const alice: ClusterOwner = { user: 'alice', server: 'lab' };
const base: ClusterRequest = {
  kind: 'spark', name: 'spark', workers: 2, worker: { cores: 0.5, memory: GiB }, head: { cores: 1, memory: 2 * GiB },
  conf: { 'spark.sql.shuffle.partitions': '8' }, connect: true,
};
const standalone: ClusterRequest = { ...base, connect: false, conf: { 'spark.sql.shuffle.partitions': '8', 'spark.app.name': "it's mine" } };

let fake: FakeKube;
let client: HttpKubeClient;
let pod: Obj;
const noSignal = () => new AbortController().signal;
const podName = (o: ClusterOwner) => `jupyter-${o.user}-${o.server}`;

function backend(): KubeSparkBackend {
  return new KubeSparkBackend({ client, namespace: NS, ownerPodName: podName, log: silentLogger(), pollIntervalMs: 10, image: 'registry.example/spark-notebook:4.3.0' });
}

/** No secret value anywhere but in the Secret. */
function assertNoSecret(): void {
  for (const name of fake.names().filter((n) => !n.startsWith('secrets/'))) {
    const [plural, n] = name.split('/') as [string, string];
    const text = JSON.stringify(fake.get(plural, NS, n));
    assert.ok(!text.includes(SECRET) && !text.includes(Buffer.from(SECRET).toString('base64')), `no key in ${name}`);
  }
}

before(async () => {
  fake = await startFakeKube();
  client = new HttpKubeClient({ server: fake.url, token: fake.token });
});
after(() => fake.close());
beforeEach(() => {
  for (const o of fake.names()) {
    const [plural, name] = o.split('/') as [string, string];
    fake.remove(plural, NS, name);
  }
  pod = fake.put({ apiVersion: 'v1', kind: 'Pod', metadata: { name: podName(alice), namespace: NS }, spec: { containers: [{ name: 'notebook', image: 'registry.example/notebook:1' }] } });
});

describe('Kubernetes Spark backend: Spark Connect', () => {
  test('a valid SparkConnect sized from the request, owned by the pod, keys in the Secret; ready when the operator says Ready with all executors', async () => {
    const b = backend();
    const addresses = await b.reserve(alice, base);
    const name = String(addresses.reservation.object);
    assert.match(name, /^spark-alice-lab-spark-[0-9a-f]{8}$/);
    assert.deepEqual(addresses.env, { SPARK_REMOTE: `sc://${name}-server.${NS}.svc:15002` });
    const events: ClusterProgress[] = [];
    const operator = (async () => {
      await waitFor(() => fake.get('sparkconnects', NS, name), { intervalMs: 5 });
      sparkConnectOperator(fake, name, 0);
      await new Promise((r) => setTimeout(r, 40));
      sparkConnectOperator(fake, name, 1);
      await new Promise((r) => setTimeout(r, 40));
      sparkConnectOperator(fake, name, 2);
    })();
    const state = await b.start(alice, base, addresses, { timeoutMs: 10_000, signal: noSignal(), onProgress: (e) => events.push(e), env: { AWS_SECRET_ACCESS_KEY: SECRET } });
    await operator;
    assert.equal(state.mode, 'connect');
    const messages = events.map((e) => e.message);
    for (const m of ['Spark Connect server up', 'workers 1/2', 'workers 2/2', 'Spark cluster ready']) assert.ok(messages.includes(m), `${m} in ${JSON.stringify(messages)}`);

    const conn = fake.get('sparkconnects', NS, name)!;
    assert.deepEqual(conn.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid }]);
    assert.equal(conn.metadata.labels!['app.kubernetes.io/managed-by'], 'refinery');
    assert.equal(conn.metadata.labels!['refinery.io/server'], 'lab');
    type Tpl = { metadata: { labels: Record<string, string> }; spec: { serviceAccountName?: string; containers: { name: string; resources?: unknown; envFrom?: unknown }[] } };
    const spec = conn.spec as { image: string; sparkVersion: string; sparkConf: Record<string, string>; server: { cores: number; memory: string; template: Tpl }; executor: { instances: number; cores: number; memory: string; template: Tpl } };
    assert.equal(spec.image, 'registry.example/spark-notebook:4.3.0');
    assert.equal(spec.sparkConf['spark.sql.shuffle.partitions'], '8');
    assert.equal(spec.sparkConf['spark.kubernetes.executor.request.cores'], '500m', 'fractional cores reach Kubernetes');
    assert.deepEqual([spec.executor.instances, spec.executor.cores, spec.executor.memory], [2, 1, '1024m']);
    assert.deepEqual([spec.server.cores, spec.server.memory], [1, '2048m']);
    assert.deepEqual(spec.server.template.spec.containers[0]!.resources, { requests: { cpu: '1', memory: '2432Mi' }, limits: { cpu: '1', memory: '2432Mi' } }, 'heap + max(384 MiB, 10%)');
    assert.equal(spec.server.template.spec.serviceAccountName, 'spark-operator-spark');
    for (const t of [spec.server.template, spec.executor.template]) {
      assert.deepEqual(t.spec.containers[0]!.envFrom, [{ secretRef: { name: `${name}-env` } }]);
      assert.equal(t.metadata.labels['refinery.io/cluster-id'], name);
    }
    // the CRD leaves the templates schemaless; the operator reads them as PodTemplateSpecs
    assert.deepEqual(fake.check('io.k8s.api.core.v1.PodTemplateSpec', spec.server.template, 'spec.server.template'), []);
    assert.deepEqual(fake.check('io.k8s.api.core.v1.PodTemplateSpec', spec.executor.template, 'spec.executor.template'), []);
    assert.notDeepEqual(fake.check('io.k8s.api.core.v1.PodTemplateSpec', { spec: { containers: [{ name: 'c', imagePullPolicy: 1 }] } }), [], 'that check can fail');
    assertNoSecret();
    assert.deepEqual(await b.status(state), { running: true, workers: 2 });
  });

  test('scale() patches the executor count and replaces the server pod; stop() removes everything', async () => {
    const b = backend();
    const addresses = await b.reserve(alice, base);
    const name = String(addresses.reservation.object);
    const operator = (async () => {
      await waitFor(() => fake.get('sparkconnects', NS, name), { intervalMs: 5 });
      sparkConnectOperator(fake, name, 2);
    })();
    const state = await b.start(alice, base, addresses, { timeoutMs: 10_000, signal: noSignal(), onProgress: () => undefined, env: { AWS_SECRET_ACCESS_KEY: SECRET } });
    await operator;
    const oldServer = fake.get('pods', NS, `${name}-server`)!.metadata.uid;
    const scaling = b.scale(state, 3, { timeoutMs: 10_000 });
    await waitFor(() => !fake.get('pods', NS, `${name}-server`), { intervalMs: 5, message: 'the server pod to be deleted' });
    assert.equal((fake.get('sparkconnects', NS, name)!.spec as { executor: { instances: number } }).executor.instances, 3);
    sparkConnectOperator(fake, name, 3);
    assert.equal((await scaling).workers, 3);
    assert.notEqual(fake.get('pods', NS, `${name}-server`)!.metadata.uid, oldServer);

    await b.stop(state);
    await b.stop(state);
    assert.deepEqual(fake.names(), [`pods/${podName(alice)}`], 'SparkConnect, Secret, and through the garbage collector the operator\'s pods');
  });

  test('a Connect server that crash-loops fails start() with the reason; nothing is left', async () => {
    const b = backend();
    const addresses = await b.reserve(alice, base);
    const name = String(addresses.reservation.object);
    const operator = (async () => {
      await waitFor(() => fake.get('sparkconnects', NS, name), { intervalMs: 5 });
      sparkConnectOperator(fake, name, 0);
      fake.setStatus('sparkconnects', NS, name, { state: 'NotReady' });
      podWaiting(fake, `${name}-server`, 'CrashLoopBackOff', 'back-off 40s restarting failed container=spark-kubernetes-driver');
    })();
    await assert.rejects(b.start(alice, base, addresses, { timeoutMs: 10_000, signal: noSignal(), onProgress: () => undefined, env: { K: 'v' } }),
      (e: unknown) => e instanceof ClusterError && /CrashLoopBackOff/.test(e.message) && e.message.includes(`${name}-server`));
    await operator;
    assert.deepEqual(fake.names(), [`pods/${podName(alice)}`]);
  });

  test('an aborted start stops waiting and cleans up', async () => {
    const b = backend();
    const addresses = await b.reserve(alice, base);
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 50);
    await assert.rejects(b.start(alice, base, addresses, { timeoutMs: 10_000, signal: abort.signal, onProgress: () => undefined }), /cancelled/);
    assert.deepEqual(fake.names(), [`pods/${podName(alice)}`]);
  });
});

describe('Kubernetes Spark backend: standalone', () => {
  test('a master Deployment and Service, a worker Deployment, all valid and owned by the pod; the notebook joins with SPARK_MASTER_URL and PYSPARK_SUBMIT_ARGS', async () => {
    const b = backend();
    const addresses = await b.reserve(alice, standalone);
    const name = String(addresses.reservation.object);
    const master = `spark://${name}-master.${NS}.svc:7077`;
    assert.equal(addresses.env.SPARK_MASTER_URL, master);
    assert.equal(addresses.env.PYSPARK_SUBMIT_ARGS,
      `--master ${master} --conf spark.executor.cores=1 --conf spark.executor.memory=1024m --conf spark.sql.shuffle.partitions=8 --conf 'spark.app.name=it'"'"'s mine' pyspark-shell`);
    const events: string[] = [];
    const controllers = (async () => {
      await waitFor(() => fake.get('deployments', NS, `${name}-worker`), { intervalMs: 5 });
      standaloneControllers(fake, name);
    })();
    const state = await b.start(alice, standalone, addresses, { timeoutMs: 10_000, signal: noSignal(), onProgress: (e) => events.push(e.message), env: { AWS_SECRET_ACCESS_KEY: SECRET } });
    await controllers;
    assert.equal(state.mode, 'standalone');
    assert.ok(events.includes('master up') && events.includes('workers 2/2'), JSON.stringify(events));
    assert.deepEqual(fake.names(), [`deployments/${name}-master`, `deployments/${name}-worker`, `networkpolicies/${name}-ingress`, `pods/${podName(alice)}`, `pods/${name}-master-0`, `pods/${name}-worker-0`, `pods/${name}-worker-1`, `secrets/${name}-env`, `services/${name}-master`]);
    for (const n of [`deployments/${name}-master`, `deployments/${name}-worker`, `services/${name}-master`, `secrets/${name}-env`, `networkpolicies/${name}-ingress`]) {
      const [plural, object] = n.split('/') as [string, string];
      assert.equal(fake.get(plural, NS, object)!.metadata.ownerReferences![0]!.uid, pod.metadata.uid, `${n} is owned by the server's pod`);
    }
    type C = { command: string[]; resources: unknown; image: string };
    const container = (d: string) => ((fake.get('deployments', NS, d)!.spec as { template: { spec: { containers: C[] } } }).template.spec.containers[0]!);
    const worker = container(`${name}-worker`);
    assert.equal(worker.image, 'registry.example/spark-notebook:4.3.0');
    assert.equal(worker.command.at(-1), master);
    assert.deepEqual(worker.command.slice(0, 4), ['spark-class', 'org.apache.spark.deploy.worker.Worker', '--host', '$(POD_IP)']);
    // executors live in the worker's container: 1024m heap + 384m overhead + 256m daemon + 160m non-heap
    assert.deepEqual(worker.resources, { requests: { cpu: '500m', memory: '1824Mi' }, limits: { cpu: '500m', memory: '1824Mi' } });
    assert.deepEqual(container(`${name}-master`).resources, { requests: { cpu: '1', memory: '2048Mi' }, limits: { cpu: '1', memory: '2048Mi' } });
    const service = fake.get('services', NS, `${name}-master`)!.spec as { selector: Record<string, string> };
    assert.deepEqual(service.selector, { 'refinery.io/cluster-id': name, 'refinery.io/role': 'head' });
    assertNoSecret();

    const scaling = b.scale(state, 1, { timeoutMs: 10_000 });
    await waitFor(() => (fake.get('deployments', NS, `${name}-worker`)!.spec as { replicas: number }).replicas === 1, { intervalMs: 5 });
    standaloneControllers(fake, name);
    assert.equal((await scaling).workers, 1);
    assert.deepEqual(await b.status(state), { running: true, workers: 1 });

    const listed = await b.list();
    assert.deepEqual(listed.map((s) => [s.user, s.server, s.name, s.mode, s.workers]), [['alice', 'lab', 'spark', 'standalone', 1]]);
    await b.stop(listed[0]!);
    assert.deepEqual(fake.names(), [`pods/${podName(alice)}`]);
    assert.deepEqual(await b.list(), []);
  });

  test('requests Spark cannot run are refused before anything is created', async () => {
    const b = backend();
    const addresses = await b.reserve(alice, standalone);
    await assert.rejects(b.start(alice, { ...standalone, worker: { cores: 1, memory: 256 * 1024 ** 2 } }, addresses, { timeoutMs: 1000, signal: noSignal(), onProgress: () => undefined }), /450 MiB/);
    await assert.rejects(b.start(alice, { ...standalone, conf: { 'spark.master': 'local[*]' } }, addresses, { timeoutMs: 1000, signal: noSignal(), onProgress: () => undefined }), /spark\.master cannot be set/);
    assert.deepEqual(fake.names(), [`pods/${podName(alice)}`]);
  });
});
