/**
 * A TEST STAND-IN FOR A KUBELET AND ITS CONTAINER RUNTIME: one node for a test control plane
 * (test/helpers/kube-cluster.ts) on which pods really run, as local processes. Not a kubelet, no
 * containers, no isolation; everything around it (scheduling, admission, RBAC, garbage collection)
 * is the real control plane's.
 *
 *   const agent = await startNodeAgent(cluster, {
 *     images: { 'quay.io/refinery/notebook:1': { pathPrefix: [join(repoRoot(), 'envs/base/bin')] } },
 *   });
 *   after(() => agent.stop());
 *
 * What it does, as a kubelet would:
 * - registers Node `name` as user system:node:<name> (a client certificate from the cluster's CA),
 *   so the Node authorizer and NodeRestriction limit it exactly as they limit a kubelet; capacity
 *   is this machine's cores and memory; Ready; a Lease renewed every 10 s.
 * - watches the pods bound to it (spec.nodeName), with resourceVersion, listing again on 410 Gone.
 * - gives each pod its own loopback IP, 127.0.x.y (status.podIP): a container listening on
 *   $(POD_IP):8888 is reached at http://<podIP>:8888 from the test process; containerPort and
 *   Services change nothing (nothing routes a Service's clusterIP here).
 * - "pulls" an image by looking it up in `images` (exact name): unknown images get ErrImagePull,
 *   then ImagePullBackOff, with the kubelet's events (Pulling, Failed, BackOff).
 * - runs each container's command + args (or the image's entrypoint/cmd) as a process in its own
 *   process group, as runAsUser when the agent runs as root, with the container's env resolved
 *   (value with $(VAR), secretKeyRef, configMapKeyRef, envFrom, fieldRef, resourceFieldRef;
 *   Secrets and ConfigMaps are read through the API as this node), HOME = a fresh directory per
 *   pod, working directory = HOME, or <pod dir>/rootfs/<workingDir> when workingDir is set.
 * - init containers one after another, then all containers; restartPolicy with the crash-loop
 *   back-off (CrashLoopBackOff); readiness, liveness and startup probes (httpGet, tcpSocket, exec).
 * - writes pods/status (phase, conditions, podIP, container states, restartCount) and Events
 *   (Pulling, Pulled, Created, Started, Killing, BackOff, Unhealthy, Failed).
 * - on deletion: SIGTERM to each container's process group, SIGKILL after the grace period, then
 *   deletes the pod with grace 0 and a uid precondition, as the kubelet does.
 * - serves the containers' logs to the API server, so pods/log (`kubectl logs`) works; the files
 *   are also readable directly (`logFile`).
 * - with `volumes`: emptyDir, configMap, secret, projected (service account token through the
 *   TokenRequest API, the cluster's CA, the namespace) and claims bound to hostPath volumes, each a
 *   directory of the pod's, mounted at its paths in the container's own mount namespace.
 * Not done: volumes without `volumes` (mounts are then ignored), resource limits, exec/attach/port-forward, preStop and
 * postStart hooks, ephemeral containers, sidecar (restartable init) containers, node-pressure
 * eviction, static pods.
 *
 * stop() kills every pod's processes, stops the watch and heartbeats and removes its directory; it
 * leaves the Node object (the cluster is thrown away after it anyway). An exit hook kills the
 * processes if the test process ends first.
 */
import { rmSync } from 'node:fs';
import { chmod, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { tmpDir } from './tmp.js';
import type { KubeCluster } from './kube-cluster.js';
import { kubeConfigFor } from './kube-cluster/kubeconfig.js';
import { EventRecorder } from './node-agent/events.js';
import type { ImageTable } from './node-agent/images.js';
import { startLogServer } from './node-agent/log-server.js';
import { registerNode } from './node-agent/node.js';
import { PodWorker } from './node-agent/pod-worker.js';
import { listAndWatch } from './node-agent/watch.js';

export type { ImageTable, LocalImage } from './node-agent/images.js';

export interface NodeAgentOptions {
  /** Node name (default "node-1"). */
  name?: string;
  /** Image name -> local stand-in. */
  images: ImageTable;
  /** Extra node labels (kubernetes.io/hostname, os and arch are set anyway). */
  labels?: Record<string, string>;
  /** First crash-loop and image-pull back-off (default 10 s, as the kubelet); doubles up to maxBackoffMs (default 300 s). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /**
   * Mount pods' volumes (and images' files) in each container's own mount namespace (needs root;
   * node-agent/mounts.ts). Off by default: pods then run with their mounts ignored.
   */
  volumes?: boolean;
}

export interface NodeAgent {
  nodeName: string;
  /** The agent's files: <dir>/pods/<namespace>_<pod>_<uid>/{home,logs/<container>/<restart>.log}. */
  dir: string;
  /** The current pod IP of a pod on this node, if it has one. */
  podIP(namespace: string, name: string): string | undefined;
  /** The log file of a container's current (or previous) instance. */
  logFile(namespace: string, pod: string, container: string, previous?: boolean): string | undefined;
  /** Messages about API calls that failed (for a test's diagnostics). */
  errors: string[];
  stop(): Promise<void>;
}

type Cluster = Pick<KubeCluster, 'url' | 'caFile' | 'issueCertificate'>;

export async function startNodeAgent(cluster: Cluster, options: NodeAgentOptions): Promise<NodeAgent> {
  const nodeName = options.name ?? 'node-1';
  const hostIP = '127.0.0.1';
  const dir = await tmpDir(`node-agent-${nodeName}`);
  const podsDir = join(dir.path, 'pods');
  await mkdir(podsDir);
  // Pods may run as other users (runAsUser): they must be able to reach their own directory.
  await chmod(dir.path, 0o755);
  await chmod(podsDir, 0o755);

  const safeName = nodeName.replace(/[^A-Za-z0-9_.-]/g, '_');
  const identity = await cluster.issueCertificate({ name: `node-${safeName}`, commonName: `system:node:${nodeName}`, organizations: ['system:nodes'], usage: 'client' });
  const serving = await cluster.issueCertificate({ name: `node-${safeName}-serving`, commonName: nodeName, usage: 'server', ips: [hostIP] });
  const kc = kubeConfigFor(cluster.url, cluster.caFile, `system:node:${nodeName}`, identity);
  const core = kc.makeApiClient(CoreV1Api);

  const errors: string[] = [];
  const log = (message: string): void => {
    errors.push(`${new Date().toISOString()} ${message}`);
    if (errors.length > 200) errors.splice(0, errors.length - 200);
  };
  const events = new EventRecorder(core, nodeName, log);
  const workers = new Map<string, PodWorker>();
  const byName = (namespace: string, name: string): PodWorker | undefined =>
    [...workers.values()].find((w) => w.name === `${namespace}/${name}` && !w.done);

  const logs = await startLogServer(
    { cert: await readFile(serving.certFile), key: await readFile(serving.keyFile), ca: await readFile(cluster.caFile) },
    {
      logFile: (ns, pod, container, previous) => byName(ns, pod)?.logFile(container, previous),
      isRunning: (ns, pod, container) => byName(ns, pod)?.isRunning(container) ?? false,
    },
  );
  const node = await registerNode(kc, { name: nodeName, hostIP, kubeletPort: logs.port, dataDir: dir.path, labels: options.labels ?? {}, onError: log });

  const markers: Record<string, string> = { REFINERY_NODE_AGENT: dir.path };
  if (process.env.REFINERY_TEST_RUN_ID) markers.REFINERY_TEST_RUN_ID = process.env.REFINERY_TEST_RUN_ID;
  const context = {
    core,
    nodeName,
    hostIP,
    apiServer: new URL(cluster.url),
    images: options.images,
    events,
    podsDir,
    ...(options.volumes ? { volumesDir: join(dir.path, 'volumes') } : {}),
    backoffMs: options.backoffMs ?? 10_000,
    maxBackoffMs: options.maxBackoffMs ?? 300_000,
    markers,
    log,
  };

  const seen = (pod: V1Pod): void => {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    const worker = workers.get(uid);
    if (worker) return worker.update(pod);
    // A pod already being deleted gets a worker too: it finishes the deletion.
    const fresh = new PodWorker(pod, context);
    workers.set(uid, fresh);
    fresh.kick();
  };
  const vanished = (uid: string): void => {
    const worker = workers.get(uid);
    if (!worker) return;
    workers.delete(uid);
    events.forget(uid);
    void worker.gone();
  };

  const watch = listAndWatch<V1Pod>(kc, '/api/v1/pods', { fieldSelector: `spec.nodeName=${nodeName}` }, {
    onList: (pods) => {
      const current = new Set(pods.map((p) => p.metadata?.uid ?? ''));
      for (const uid of [...workers.keys()]) if (!current.has(uid)) vanished(uid);
      for (const pod of pods) seen(pod);
    },
    onEvent: (type, pod) => (type === 'DELETED' ? vanished(pod.metadata?.uid ?? '') : seen(pod)),
    onError: log,
  });

  // The pods' processes have an exit hook of their own (node-agent/process.ts); this one removes the files.
  const removeDir = (): void => rmSync(dir.path, { recursive: true, force: true, maxRetries: 3 });
  process.on('exit', removeDir);

  let stopped: Promise<void> | undefined;
  return {
    nodeName,
    dir: dir.path,
    podIP: (namespace, name) => byName(namespace, name)?.ip,
    logFile: (namespace, pod, container, previous = false) => byName(namespace, pod)?.logFile(container, previous),
    errors,
    stop: () =>
      (stopped ??= (async () => {
        watch.stop();
        node.stop();
        await Promise.all([...workers.values()].map((w) => w.abandon()));
        await logs.close();
        await dir.cleanup();
        process.off('exit', removeDir);
      })()),
  };
}
