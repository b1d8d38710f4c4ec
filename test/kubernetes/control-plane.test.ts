// The Kubernetes the spawner will run against: a real control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler) with the node agent standing in for a kubelet. What a
// person deploying Refinery would see: RBAC and Pod Security refusals, pods that run and answer on
// their own IP, the kubelet's states and events for the usual failures, deletion and garbage
// collection.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import {
  AppsV1Api,
  AuthenticationV1Api,
  CoreV1Api,
  type CoreV1Event,
  type V1Container,
  type V1Pod,
} from '@kubernetes/client-node';
import { apiStatus, startKubeCluster, type KubeCluster, type NamespaceAccess } from '../helpers/kube-cluster.js';
import { startNodeAgent, type NodeAgent } from '../helpers/node-agent.js';
import { processesWithEnv } from '../helpers/processes.js';
import { tmpDir, waitFor, type TmpDir } from '../helpers/tmp.js';

const IMAGE = 'python:3.11';
const POD_IP_ENV = { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } };
const SLOW = { timeoutMs: 60_000, intervalMs: 200 };

let cluster: KubeCluster;
let agent: NodeAgent;
let admin: CoreV1Api;
let files: TmpDir;

before(async () => {
  files = await tmpDir('kube-test');
  cluster = await startKubeCluster();
  // The kubelet's back-off starts at 10 s; 1 s keeps the crash-loop and pull tests short.
  agent = await startNodeAgent(cluster, { images: { [IMAGE]: {} }, backoffMs: 1000, maxBackoffMs: 4000 });
  admin = cluster.adminKubeConfig().makeApiClient(CoreV1Api);
  const memory = await cluster.memoryMiB();
  console.log(`control plane ready in ${cluster.startupMs} ms; RSS MiB: ${JSON.stringify(memory)}`);
});

after(async () => {
  await agent?.stop();
  await cluster?.stop();
  await files?.cleanup();
});

// ---------------------------------------------------------------------------------------------

function container(name: string, command: string[], extra: Partial<V1Container> = {}): V1Container {
  return { name, image: IMAGE, command, ...extra };
}

async function readPod(namespace: string, name: string): Promise<V1Pod> {
  return admin.readNamespacedPod({ name, namespace });
}

function condition(pod: V1Pod, type: string): string | undefined {
  return pod.status?.conditions?.find((c) => c.type === type)?.status;
}

/** Until the pod satisfies `ok`; on timeout the error shows its last status and what the node agent had trouble with. */
async function waitForPod(namespace: string, name: string, what: string, ok: (pod: V1Pod) => boolean): Promise<V1Pod> {
  let last: V1Pod | undefined;
  try {
    return await waitFor(async () => {
      last = await readPod(namespace, name);
      return ok(last) ? last : undefined;
    }, { ...SLOW, message: `pod ${namespace}/${name}: ${what}` });
  } catch (err) {
    const problems = agent.errors.length > 0 ? agent.errors.join('\n') : '(none)';
    throw new Error(`${(err as Error).message}\n--- its last status ---\n${JSON.stringify(last?.status, null, 1)}\n--- node agent errors ---\n${problems}`);
  }
}

async function eventsOf(namespace: string, pod: string): Promise<CoreV1Event[]> {
  const list = await admin.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${pod}` });
  return list.items;
}

async function waitForEvent(namespace: string, pod: string, reason: string, message: RegExp): Promise<CoreV1Event> {
  return waitFor(async () => (await eventsOf(namespace, pod)).find((e) => e.reason === reason && message.test(e.message ?? '')), {
    ...SLOW,
    message: `event ${reason} ${message} on ${namespace}/${pod}`,
  });
}

async function gone(read: () => Promise<unknown>): Promise<boolean> {
  try {
    await read();
    return false;
  } catch (err) {
    if (apiStatus(err)?.code === 404) return true;
    throw err;
  }
}

async function refusal(call: () => Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await call();
  } catch (err) {
    const status = apiStatus(err);
    if (status) return status;
    throw err;
  }
  assert.fail('the API server accepted what it should have refused');
}

// ---------------------------------------------------------------------------------------------

describe('a real Kubernetes control plane with a node agent', () => {
  test('a ServiceAccount token bound to a Role creates pods in its namespace and is refused elsewhere', async () => {
    const team = await cluster.createNamespace('team-rbac');
    await cluster.createNamespace('other-rbac');
    const client = team.kubeConfig.makeApiClient(CoreV1Api);

    const review = await team.kubeConfig.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    assert.equal(review.status?.userInfo?.username, 'system:serviceaccount:team-rbac:refinery');

    const pod = await client.createNamespacedPod({
      namespace: 'team-rbac',
      body: { metadata: { name: 'allowed' }, spec: { containers: [container('main', ['sleep', '3600'])] } },
    });
    assert.equal(pod.metadata?.namespace, 'team-rbac');
    assert.equal((await client.listNamespacedPod({ namespace: 'team-rbac' })).items.length, 1);

    const elsewhere = await refusal(() =>
      client.createNamespacedPod({ namespace: 'other-rbac', body: { metadata: { name: 'denied' }, spec: { containers: [container('main', ['true'])] } } }),
    );
    assert.equal(elsewhere.code, 403);
    assert.match(elsewhere.message, /cannot create resource "pods" in API group "" in the namespace "other-rbac"/);
    assert.equal((await refusal(() => client.listNamespacedSecret({ namespace: 'other-rbac' }))).code, 403);
    assert.equal((await refusal(() => client.listNode())).code, 403);
    await client.deleteNamespacedPod({ name: 'allowed', namespace: 'team-rbac' });
  });

  test('a namespace enforcing the restricted Pod Security Standard refuses a privileged pod and runs a compliant one', async () => {
    await cluster.createNamespace('team-restricted', { labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } });
    await cluster.createNamespace('team-open');
    const privileged: V1Pod = {
      metadata: { name: 'privileged' },
      spec: { containers: [container('main', ['sleep', '3600'], { securityContext: { privileged: true } })] },
    };
    const refused = await refusal(() => admin.createNamespacedPod({ namespace: 'team-restricted', body: privileged }));
    assert.equal(refused.code, 403);
    assert.match(refused.message, /violates PodSecurity "restricted:latest"/);
    assert.match(refused.message, /privileged/);
    // The same pod is fine where no policy is enforced: it is Pod Security that refused it.
    await admin.createNamespacedPod({ namespace: 'team-open', body: privileged, dryRun: 'All' });

    await admin.createNamespacedPod({
      namespace: 'team-restricted',
      body: {
        metadata: { name: 'compliant' },
        spec: {
          securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            container('main', ['python3', '-c', 'import os, time; print("uid", os.getuid(), flush=True); time.sleep(3600)'], {
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
            }),
          ],
        },
      },
    });
    await waitForPod('team-restricted', 'compliant', 'Running', (p) => p.status?.phase === 'Running');
    if (process.getuid?.() === 0) {
      // The agent runs containers as their runAsUser when it can (as root).
      const log = await waitFor(async () => {
        const text = await admin.readNamespacedPodLog({ name: 'compliant', namespace: 'team-restricted' });
        return text.includes('uid') ? text : undefined;
      }, { ...SLOW, message: 'the compliant pod to print its uid' });
      assert.match(log, /uid 1000/);
    }
  });

  test('a pod the scheduler binds to the node runs its command on its own pod IP and answers HTTP once ready', async () => {
    const team = await cluster.createNamespace('team-web');
    const site = files.path;
    await writeFile(`${site}/index.html`, '<h1>hello from a pod</h1>\n');
    await team.kubeConfig.makeApiClient(CoreV1Api).createNamespacedPod({
      namespace: 'team-web',
      body: {
        metadata: { name: 'web' },
        spec: {
          containers: [
            container('web', ['python3', '-m', 'http.server', '8080', '--bind', '$(POD_IP)', '--directory', site], {
              env: [POD_IP_ENV],
              ports: [{ name: 'http', containerPort: 8080 }],
              // Ready only once /ready.txt exists: the readiness probe, not the process, decides.
              readinessProbe: { httpGet: { path: '/ready.txt', port: 'http' }, periodSeconds: 1, failureThreshold: 1 },
            }),
          ],
        },
      },
    });
    const running = await waitForPod('team-web', 'web', 'Running with an IP', (p) => p.status?.phase === 'Running' && !!p.status.podIP);
    const ip = running.status!.podIP!;
    assert.equal(running.spec?.nodeName, agent.nodeName);
    assert.match(ip, /^127\.0\.([1-9]\d*)\.\d+$/);

    const page = await waitFor(async () => {
      const res = await fetch(`http://${ip}:8080/`);
      return res.ok ? res.text() : undefined;
    }, { ...SLOW, message: `http://${ip}:8080/` });
    assert.match(page, /hello from a pod/);
    await waitForEvent('team-web', 'web', 'Unhealthy', /Readiness probe failed: HTTP probe failed with statuscode: 404/);
    assert.equal(condition(await readPod('team-web', 'web'), 'Ready'), 'False');

    await writeFile(`${site}/ready.txt`, 'ok\n');
    const ready = await waitForPod('team-web', 'web', 'Ready', (p) => condition(p, 'Ready') === 'True');
    assert.equal(ready.status?.containerStatuses?.[0]?.ready, true);
    assert.equal(condition(ready, 'ContainersReady'), 'True');
    assert.equal(condition(ready, 'Initialized'), 'True');

    const events = await eventsOf('team-web', 'web');
    const reasons = events.map((e) => e.reason);
    for (const reason of ['Scheduled', 'Pulled', 'Created', 'Started']) assert.ok(reasons.includes(reason), `event ${reason} in ${reasons.join(', ')}`);
    const scheduled = events.find((e) => e.reason === 'Scheduled');
    assert.match(scheduled?.message ?? '', new RegExp(`Successfully assigned team-web/web to ${agent.nodeName}`));
    assert.equal(events.find((e) => e.reason === 'Started')?.source?.component, 'kubelet');

    // pods/log goes API server -> node agent, as `kubectl logs` would.
    const log = await team.kubeConfig.makeApiClient(CoreV1Api).readNamespacedPodLog({ name: 'web', namespace: 'team-web' });
    assert.match(log, /"GET \/ready.txt HTTP\/1.1" 200/);
  });

  test('a pod asking for more than the node has stays Pending with the scheduler saying why', async () => {
    await cluster.createNamespace('team-big');
    await admin.createNamespacedPod({
      namespace: 'team-big',
      body: {
        metadata: { name: 'huge' },
        spec: { containers: [container('main', ['sleep', '3600'], { resources: { requests: { cpu: '512', memory: '64Ti' } } })] },
      },
    });
    const pod = await waitForPod('team-big', 'huge', 'PodScheduled=False', (p) => condition(p, 'PodScheduled') === 'False');
    const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    assert.equal(scheduled?.reason, 'Unschedulable');
    assert.match(scheduled?.message ?? '', /0\/1 nodes are available: .*Insufficient cpu/);
    assert.match(scheduled?.message ?? '', /Insufficient memory/);
    assert.equal(pod.status?.phase, 'Pending');
    assert.equal(pod.spec?.nodeName, undefined);
    await waitForEvent('team-big', 'huge', 'FailedScheduling', /Insufficient cpu/);
  });

  test('an image the node does not have ends in ImagePullBackOff with the kubelet\'s events', async () => {
    await cluster.createNamespace('team-pull');
    await admin.createNamespacedPod({
      namespace: 'team-pull',
      body: { metadata: { name: 'missing' }, spec: { containers: [{ name: 'main', image: 'registry.invalid/nobody/nothing:1' }] } },
    });
    const pod = await waitForPod('team-pull', 'missing', 'ImagePullBackOff', (p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ImagePullBackOff');
    assert.equal(pod.status?.phase, 'Pending');
    assert.match(pod.status?.containerStatuses?.[0]?.state?.waiting?.message ?? '', /Back-off pulling image "registry.invalid\/nobody\/nothing:1"/);
    await waitForEvent('team-pull', 'missing', 'Failed', /^Failed to pull image "registry.invalid\/nobody\/nothing:1"/);
    await waitForEvent('team-pull', 'missing', 'Failed', /^Error: ErrImagePull$/);
    await waitForEvent('team-pull', 'missing', 'BackOff', /^Back-off pulling image/);
  });

  test('a container that keeps exiting goes into CrashLoopBackOff and keeps its previous log', async () => {
    await cluster.createNamespace('team-crash');
    await admin.createNamespacedPod({
      namespace: 'team-crash',
      body: { metadata: { name: 'crasher' }, spec: { containers: [container('main', ['sh', '-c', 'echo "crashing at $(date +%s%N)"; exit 3'])] } },
    });
    const pod = await waitForPod('team-crash', 'crasher', 'CrashLoopBackOff', (p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff');
    const status = pod.status!.containerStatuses![0]!;
    assert.ok(status.restartCount >= 1, `restartCount ${status.restartCount}`);
    assert.equal(status.lastState?.terminated?.exitCode, 3);
    assert.equal(status.lastState?.terminated?.reason, 'Error');
    assert.match(status.state?.waiting?.message ?? '', /back-off \d+s restarting failed container=main pod=crasher_team-crash/);
    assert.equal(pod.status?.phase, 'Running'); // restartPolicy Always: it is being restarted
    assert.equal(condition(pod, 'Ready'), 'False');
    await waitForEvent('team-crash', 'crasher', 'BackOff', /^Back-off restarting failed container main in pod crasher_team-crash/);
    const previous = await admin.readNamespacedPodLog({ name: 'crasher', namespace: 'team-crash', previous: true });
    assert.match(previous, /^crashing at \d+/);
  });

  test('a pod with restartPolicy Never runs its init container, gets its env from Secrets, ConfigMaps and the downward API, and Succeeds', async () => {
    const team: NamespaceAccess = await cluster.createNamespace('team-env');
    const client = team.kubeConfig.makeApiClient(CoreV1Api);
    await client.createNamespacedSecret({ namespace: 'team-env', body: { metadata: { name: 'creds' }, stringData: { token: 's3cr3t', user: 'alice' } } });
    await client.createNamespacedConfigMap({ namespace: 'team-env', body: { metadata: { name: 'settings' }, data: { mode: 'fast', level: '3' } } });
    const script =
      'import json, os; env = {k: os.environ.get(k) for k in ["TOKEN", "MODE", "CFG_level", "S_user", "POD_NAME", "POD_NAMESPACE", "POD_IP", "GREETING"]}; ' +
      'env["init"] = open(os.path.join(os.environ["HOME"], "init.txt")).read().strip(); print(json.dumps(env))';
    await client.createNamespacedPod({
      namespace: 'team-env',
      body: {
        metadata: { name: 'env' },
        spec: {
          restartPolicy: 'Never',
          // Runs to completion first; the pod's HOME is shared by its containers, like an emptyDir.
          initContainers: [container('prepare', ['sh', '-c', 'echo "prepared by $(HOSTNAME_SEEN)" > "$HOME/init.txt"'], {
            env: [{ name: 'HOSTNAME_SEEN', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
          })],
          containers: [
            container('main', ['python3', '-c', script], {
              envFrom: [{ configMapRef: { name: 'settings' }, prefix: 'CFG_' }, { secretRef: { name: 'creds' }, prefix: 'S_' }],
              env: [
                { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'creds', key: 'token' } } },
                { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'settings', key: 'mode' } } },
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                POD_IP_ENV,
                { name: 'GREETING', value: 'hello $(POD_NAME) in $(MODE) mode, $$(NOT_EXPANDED)' },
              ],
            }),
          ],
        },
      },
    });
    const done = await waitForPod('team-env', 'env', 'Succeeded', (p) => p.status?.phase === 'Succeeded');
    assert.equal(done.status?.containerStatuses?.[0]?.state?.terminated?.exitCode, 0);
    assert.equal(done.status?.containerStatuses?.[0]?.state?.terminated?.reason, 'Completed');
    const seen = JSON.parse(await client.readNamespacedPodLog({ name: 'env', namespace: 'team-env' })) as Record<string, string>;
    assert.deepEqual(seen, {
      TOKEN: 's3cr3t',
      MODE: 'fast',
      CFG_level: '3',
      S_user: 'alice',
      POD_NAME: 'env',
      POD_NAMESPACE: 'team-env',
      POD_IP: done.status?.podIP,
      GREETING: 'hello env in fast mode, $(NOT_EXPANDED)',
      init: 'prepared by env',
    });
    assert.equal(done.status?.initContainerStatuses?.[0]?.state?.terminated?.reason, 'Completed');
    assert.equal(condition(done, 'Initialized'), 'True');
  });

  test('deleting a pod stops its processes (SIGTERM, then SIGKILL after the grace period) and the pod disappears', async () => {
    await cluster.createNamespace('team-delete');
    const mark = `delete-${Date.now()}`;
    const env = [POD_IP_ENV, { name: 'TEST_MARK', value: mark }];
    await admin.createNamespacedPod({
      namespace: 'team-delete',
      body: {
        metadata: { name: 'doomed' },
        spec: {
          terminationGracePeriodSeconds: 2,
          containers: [
            container('web', ['python3', '-m', 'http.server', '8080', '--bind', '$(POD_IP)'], { env }),
            // Ignores SIGTERM (and so does its sleep, which inherits that): only SIGKILL ends it.
            container('stubborn', ['sh', '-c', 'trap "" TERM; sleep 3600'], { env }),
          ],
        },
      },
    });
    const pod = await waitForPod('team-delete', 'doomed', 'both containers running', (p) =>
      (p.status?.containerStatuses ?? []).filter((c) => c.state?.running).length === 2,
    );
    const ip = pod.status!.podIP!;
    await waitFor(() => fetch(`http://${ip}:8080/`).then((r) => r.ok), { ...SLOW, message: 'the web container to answer' });
    assert.ok(processesWithEnv('TEST_MARK', mark).length >= 3, 'python, sh and sleep are running');

    const started = Date.now();
    await admin.deleteNamespacedPod({ name: 'doomed', namespace: 'team-delete' });
    await waitFor(() => gone(() => readPod('team-delete', 'doomed')), { ...SLOW, message: 'the pod to disappear' });
    const took = Date.now() - started;
    assert.ok(took >= 1800, `the stubborn container had its 2 s grace period (pod gone after ${took} ms)`);
    assert.deepEqual(processesWithEnv('TEST_MARK', mark), []);
    await assert.rejects(fetch(`http://${ip}:8080/`, { signal: AbortSignal.timeout(5000) }));
    await waitForEvent('team-delete', 'doomed', 'Killing', /^Stopping container stubborn$/);
  });

  test('objects owned by a deleted pod are garbage-collected, and a ReplicaSet keeps its pods running', async () => {
    await cluster.createNamespace('team-gc');
    const owner = await admin.createNamespacedPod({
      namespace: 'team-gc',
      body: { metadata: { name: 'owner' }, spec: { terminationGracePeriodSeconds: 1, containers: [container('main', ['sleep', '3600'])] } },
    });
    const ownerReference = { apiVersion: 'v1', kind: 'Pod', name: 'owner', uid: owner.metadata!.uid! };
    await admin.createNamespacedConfigMap({ namespace: 'team-gc', body: { metadata: { name: 'owned', ownerReferences: [ownerReference] }, data: { a: '1' } } });
    await admin.createNamespacedConfigMap({ namespace: 'team-gc', body: { metadata: { name: 'unowned' }, data: { a: '1' } } });
    await waitForPod('team-gc', 'owner', 'Running', (p) => p.status?.phase === 'Running');

    await admin.deleteNamespacedPod({ name: 'owner', namespace: 'team-gc' });
    await waitFor(() => gone(() => admin.readNamespacedConfigMap({ name: 'owned', namespace: 'team-gc' })), {
      ...SLOW,
      message: 'the garbage collector to delete the owned ConfigMap',
    });
    assert.equal((await admin.readNamespacedConfigMap({ name: 'unowned', namespace: 'team-gc' })).metadata?.name, 'unowned');

    const apps = cluster.adminKubeConfig().makeApiClient(AppsV1Api);
    const labels = { app: 'workers' };
    await apps.createNamespacedReplicaSet({
      namespace: 'team-gc',
      body: {
        metadata: { name: 'workers' },
        spec: { replicas: 2, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { terminationGracePeriodSeconds: 1, containers: [container('main', ['sleep', '3600'])] } } },
      },
    });
    const [first, second] = await waitFor(async () => {
      const pods = (await admin.listNamespacedPod({ namespace: 'team-gc', labelSelector: 'app=workers' })).items;
      return pods.length === 2 && pods.every((p) => p.status?.phase === 'Running') ? pods : undefined;
    }, { ...SLOW, message: 'two running pods of the ReplicaSet' });
    assert.notEqual(first?.status?.podIP, second?.status?.podIP);
    assert.equal(first?.metadata?.ownerReferences?.[0]?.kind, 'ReplicaSet');

    await apps.deleteNamespacedReplicaSet({ name: 'workers', namespace: 'team-gc' });
    await waitFor(async () => (await admin.listNamespacedPod({ namespace: 'team-gc', labelSelector: 'app=workers' })).items.length === 0, {
      ...SLOW,
      message: 'the ReplicaSet\'s pods to be collected and removed',
    });
  });
});
