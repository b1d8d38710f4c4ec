/**
 * KubeSparkBackend: a user's private Spark cluster on Kubernetes, in one of two shapes.
 *
 * CONNECT (`connect: true`): a `SparkConnect` (sparkoperator.k8s.io/v1alpha1, checked against the CRD
 * of the Kubeflow Spark operator v2.5.2). The operator runs the Connect server as pod `<name>-server`
 * behind Service `<name>-server` (gRPC 15002); the server is a Spark driver that asks Kubernetes for
 * its executors. Notebook: SPARK_REMOTE=sc://<name>-server.<namespace>.svc:15002. No Connect token:
 * pyspark's client sends one only over TLS to anything but "localhost" (the local backend's note), and
 * the operator's server has no TLS; isolation is the namespace's network policy's job. The server pod
 * needs a service account that may create pods (`serviceAccount`, default the operator chart's
 * `spark-operator-spark`). Readiness: the SparkConnect's status.state Ready and status.executors'
 * `running` count. Sizes: server cores/memory from head (Spark's heap rule as in ../spark/conf.ts), its
 * container limits in the server template; executors from worker (cores, memory; fractional cores as
 * spark.kubernetes.executor.request/limit.cores). The profile's conf goes to sparkConf.
 *
 * STANDALONE (otherwise): no operator offers a standalone cluster, so the backend makes one from
 * plain objects, the simplest correct shape:
 *   Deployment `<name>-master` (1 replica: a master that dies is replaced, same Service) running
 *     `spark-class org.apache.spark.deploy.master.Master --host $(POD_IP)`; the master must advertise
 *     an address its workers can reach (they send heartbeats to the address the master names, and
 *     0.0.0.0 would mean their own pod);
 *   Service `<name>-master` (7077, web UI 8080): the fixed name for SPARK_MASTER_URL;
 *   Deployment `<name>-worker` (`workers` replicas of `spark-class ...Worker spark://<name>-master...`):
 *     workers are interchangeable and keep nothing, so a Deployment (not a StatefulSet) is enough, and
 *     scale() patches its replicas. Executors run inside their worker's container (children of the
 *     Worker process), so the worker container's limits are the local backend's worker cgroup sizes
 *     (../spark/conf.ts sparkSizing: executor memory + overhead + daemon heap).
 * Notebook: SPARK_MASTER_URL=spark://<name>-master.<namespace>.svc:7077 and PYSPARK_SUBMIT_ARGS with
 * --master, the executor sizes and the profile's conf, so SparkSession.builder.getOrCreate() joins the
 * cluster as the local backend's spark-defaults.conf makes it. The driver (in the notebook's pod)
 * advertises its pod IP, Spark's default. `spark-class` must be on the image's PATH (pip's pyspark
 * puts it there; `sparkClass` changes it). No spark.authenticate: its secret would have to reach the
 * notebook's pod too, which only the spawner can arrange (left to it, with a network policy).
 *
 * Both: image, Secret `<name>-env` (envFrom, also in the executors' template), ownerReference to the
 * server's pod, labels and `refinery.io/role` head/worker on every pod template: see base.ts.
 *
 * WIRING (not done yet: there is no Kubernetes spawner): clusters/backends.ts would build
 * `new KubeSparkBackend({ client: new HttpKubeClient(inClusterOptions()), namespace, ownerPodName:
 * <the spawner's pod name rule>, log })` when the configured spawner is the Kubernetes one.
 */
import type { ClusterRequest } from '../backend.js';
import { sparkRequestProblems, sparkSizing } from '../spark/conf.js';
import { KubeClusterBackend, ROLE_LABEL, type BuildContext, type KubeBackendOptions, type KubeClusterState, type Observation } from './base.js';
import { RESOURCES, type KubeObject, type Resource } from './client.js';
import { cpuQuantity, podReady, podsDiagnosis, resources, statusOf } from './objects.js';

export const CONNECT_PORT = 15002;
export const MASTER_PORT = 7077;
const MASTER_UI_PORT = 8080;
const WORKER_UI_PORT = 8081;

export interface KubeSparkBackendOptions extends KubeBackendOptions {
  /** The Spark version of the image, for the SparkConnect's required `sparkVersion` (the operator labels pods with it). Default '4.3.0' (envs/spark's pyspark). */
  sparkVersion?: string;
  /** Service account of the Spark Connect server (it creates its executor pods). Default `spark-operator-spark`, the operator chart's. */
  serviceAccount?: string;
  /** The spark-class launcher in the image. Default `spark-class` (on PATH with pip's pyspark). */
  sparkClass?: string;
}

/** A word for a POSIX shell / Python's shlex.split, which is how pyspark reads PYSPARK_SUBMIT_ARGS. */
function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'"'"'`)}'`;
}

export class KubeSparkBackend extends KubeClusterBackend {
  readonly kind = 'spark' as const;
  private readonly sparkVersion: string;
  private readonly serviceAccount: string;
  private readonly sparkClass: string;

  constructor(options: KubeSparkBackendOptions) {
    super(options);
    this.sparkVersion = options.sparkVersion ?? '4.3.0';
    this.serviceAccount = options.serviceAccount ?? 'spark-operator-spark';
    this.sparkClass = options.sparkClass ?? 'spark-class';
  }

  protected headName(state: KubeClusterState): string {
    return state.mode === 'connect' ? 'Spark Connect server' : 'master';
  }

  protected mode(request: ClusterRequest): string {
    return request.connect ? 'connect' : 'standalone';
  }

  private masterUrl(object: string, namespace: string): string {
    return `spark://${object}-master.${namespace}.svc:${MASTER_PORT}`;
  }

  protected environment(object: string, namespace: string, request: ClusterRequest): Record<string, string> {
    if (request.connect) return { SPARK_REMOTE: `sc://${object}-server.${namespace}.svc:${CONNECT_PORT}` };
    const master = this.masterUrl(object, namespace);
    const sizing = sparkSizing(request);
    const conf: [string, string][] = [
      ['spark.executor.cores', String(sizing.workerCores)],
      ['spark.executor.memory', `${sizing.executorMemoryMiB}m`],
      ...Object.entries(request.conf),
    ];
    const args = ['--master', master, ...conf.flatMap(([k, v]) => ['--conf', `${k}=${v}`]), 'pyspark-shell'];
    return { SPARK_MASTER_URL: master, PYSPARK_SUBMIT_ARGS: args.map(shellQuote).join(' ') };
  }

  protected problems(request: ClusterRequest): string[] {
    // no single node's memory is known here: the scheduler says so if a pod fits nowhere
    return sparkRequestProblems(request, Number.MAX_SAFE_INTEGER);
  }

  protected manifests(ctx: BuildContext): { resource: Resource; object: KubeObject }[] {
    return ctx.request.connect ? [{ resource: RESOURCES.sparkConnect, object: this.sparkConnect(ctx) }] : this.standalone(ctx);
  }

  private meta(ctx: BuildContext, name: string, role?: string) {
    return {
      name, namespace: ctx.namespace, labels: { ...ctx.labels, ...(role ? { [ROLE_LABEL]: role } : {}) },
      annotations: ctx.annotations, ownerReferences: [ctx.owner],
    };
  }

  private sparkConnect(ctx: BuildContext): KubeObject {
    const { request } = ctx;
    const sizing = sparkSizing(request);
    const envFrom = ctx.envSecret ? { envFrom: [{ secretRef: { name: ctx.envSecret } }] } : {};
    return {
      apiVersion: 'sparkoperator.k8s.io/v1alpha1',
      kind: 'SparkConnect',
      metadata: this.meta(ctx, ctx.id.object),
      spec: {
        sparkVersion: this.sparkVersion,
        image: ctx.image,
        sparkConf: {
          // Kubernetes takes fractional cores; Spark's own executor.cores is whole
          'spark.kubernetes.executor.request.cores': cpuQuantity(request.worker.cores),
          'spark.kubernetes.executor.limit.cores': cpuQuantity(request.worker.cores),
          ...request.conf,
        },
        server: {
          cores: Math.max(1, Math.ceil(request.head.cores - 1e-9)),
          memory: `${sizing.connectHeapMiB}m`,
          template: {
            metadata: { labels: { ...ctx.labels, [ROLE_LABEL]: 'head' } },
            spec: {
              serviceAccountName: this.serviceAccount,
              containers: [{ name: 'spark-kubernetes-driver', resources: resources(request.head.cores, sizing.connectMemoryLimit), ...envFrom }],
            },
          },
        },
        executor: {
          instances: request.workers,
          cores: sizing.workerCores,
          memory: `${sizing.executorMemoryMiB}m`,
          template: {
            metadata: { labels: { ...ctx.labels, [ROLE_LABEL]: 'worker' } },
            spec: { containers: [{ name: 'spark-kubernetes-executor', ...envFrom }] },
          },
        },
      },
    };
  }

  private standalone(ctx: BuildContext): { resource: Resource; object: KubeObject }[] {
    const { request, id } = ctx;
    const sizing = sparkSizing(request);
    const envFrom = ctx.envSecret ? { envFrom: [{ secretRef: { name: ctx.envSecret } }] } : {};
    const podIp = { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } };
    const selector = (role: string) => ({ 'refinery.io/cluster-id': id.object, [ROLE_LABEL]: role });
    const deployment = (role: 'head' | 'worker', name: string, replicas: number, container: Record<string, unknown>): KubeObject => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: this.meta(ctx, name, role),
      spec: {
        replicas,
        selector: { matchLabels: selector(role) },
        // a replaced master must not run next to the old one: workers would register twice
        ...(role === 'head' ? { strategy: { type: 'Recreate' } } : {}),
        template: {
          metadata: { labels: { ...ctx.labels, [ROLE_LABEL]: role } },
          spec: { containers: [{ image: ctx.image, ...container, ...envFrom }], restartPolicy: 'Always' },
        },
      },
    });
    const master = deployment('head', `${id.object}-master`, 1, {
      name: 'master',
      command: [this.sparkClass, 'org.apache.spark.deploy.master.Master', '--host', '$(POD_IP)', '--port', String(MASTER_PORT), '--webui-port', String(MASTER_UI_PORT)],
      env: [podIp, { name: 'SPARK_DAEMON_MEMORY', value: `${sizing.masterHeapMiB}m` }],
      resources: resources(sizing.masterCpuLimit, sizing.masterMemoryLimit),
      ports: [{ name: 'spark', containerPort: MASTER_PORT, protocol: 'TCP' }, { name: 'http', containerPort: MASTER_UI_PORT, protocol: 'TCP' }],
      readinessProbe: { httpGet: { path: '/json/', port: 'http' }, periodSeconds: 2 },
    });
    const workers = deployment('worker', `${id.object}-worker`, request.workers, {
      name: 'worker',
      command: [this.sparkClass, 'org.apache.spark.deploy.worker.Worker', '--host', '$(POD_IP)', '--cores', String(sizing.workerCores),
        '--memory', `${sizing.executorMemoryMiB}m`, '--webui-port', String(WORKER_UI_PORT), this.masterUrl(id.object, ctx.namespace)],
      env: [podIp, { name: 'SPARK_DAEMON_MEMORY', value: `${sizing.workerDaemonHeapMiB}m` }],
      resources: resources(sizing.workerCpuLimit, sizing.workerMemoryLimit),
      ports: [{ name: 'http', containerPort: WORKER_UI_PORT, protocol: 'TCP' }],
      readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 2 },
    });
    const service: KubeObject = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: this.meta(ctx, `${id.object}-master`),
      spec: {
        type: 'ClusterIP',
        selector: selector('head'),
        ports: [
          { name: 'spark', port: MASTER_PORT, targetPort: 'spark', protocol: 'TCP' },
          { name: 'http', port: MASTER_UI_PORT, targetPort: 'http', protocol: 'TCP' },
        ],
      },
    };
    return [
      { resource: RESOURCES.service, object: service },
      { resource: RESOURCES.deployment, object: master },
      { resource: RESOURCES.deployment, object: workers },
    ];
  }

  protected async observe(state: KubeClusterState): Promise<Observation> {
    const gone: Observation = { exists: false, headReady: false, workers: 0, present: 0, failure: null, waiting: null };
    if (state.mode === 'connect') {
      const conn = await this.client.get(RESOURCES.sparkConnect, state.namespace, state.object);
      if (!conn || conn.metadata.deletionTimestamp) return gone;
      const status = statusOf(conn) as { state?: string; executors?: Record<string, number>; conditions?: { message?: string }[] };
      const pods = await this.pods(state);
      const { failure, waiting } = podsDiagnosis([...pods.head, ...pods.workers]);
      const executors = status.executors ?? {};
      const running = executors.running ?? 0;
      return {
        exists: true,
        headReady: status.state === 'Ready',
        workers: running,
        present: running + (executors.pending ?? 0),
        failure: status.state === 'Failed' ? `the Spark operator reports the SparkConnect failed${status.conditions?.[0]?.message ? `: ${status.conditions[0].message}` : ''}` : failure,
        waiting: waiting ?? (status.state === 'Ready' ? null : status.state ? `SparkConnect ${status.state}` : 'the SparkConnect has no status yet: is the Spark operator running for this namespace?'),
      };
    }
    const master = await this.client.get(RESOURCES.deployment, state.namespace, `${state.object}-master`);
    if (!master || master.metadata.deletionTimestamp) return gone;
    const pods = await this.pods(state);
    const { failure, waiting } = podsDiagnosis([...pods.head, ...pods.workers]);
    return {
      exists: true,
      headReady: pods.head.some(podReady),
      workers: pods.workers.filter(podReady).length,
      present: pods.workers.length,
      failure,
      waiting: waiting ?? (pods.head.length ? null : 'no master pod yet'),
    };
  }

  protected async resize(state: KubeClusterState, workers: number): Promise<void> {
    if (state.mode !== 'connect') {
      await this.client.patch(RESOURCES.deployment, state.namespace, `${state.object}-worker`, { spec: { replicas: workers } });
      return;
    }
    // The operator passes executor.instances to the Connect server only when it creates the server's
    // pod, so the pod is replaced: the notebook's Connect sessions end (their client reconnects).
    await this.client.patch(RESOURCES.sparkConnect, state.namespace, state.object, { spec: { executor: { instances: workers } } });
    await this.client.delete(RESOURCES.pod, state.namespace, `${state.object}-server`);
  }

  protected objectsOf(state: KubeClusterState): { resource: Resource; name: string }[] {
    if (state.mode === 'connect') return [{ resource: RESOURCES.sparkConnect, name: state.object }];
    return [
      { resource: RESOURCES.deployment, name: `${state.object}-worker` },
      { resource: RESOURCES.deployment, name: `${state.object}-master` },
      { resource: RESOURCES.service, name: `${state.object}-master` },
    ];
  }

  protected listed(): { resource: Resource; mode: string }[] {
    return [
      { resource: RESOURCES.sparkConnect, mode: 'connect' },
      { resource: RESOURCES.deployment, mode: 'standalone' },
      { resource: RESOURCES.service, mode: 'standalone' },
    ];
  }
}
