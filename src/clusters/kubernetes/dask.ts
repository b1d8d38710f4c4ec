/**
 * KubeDaskBackend: a user's private Dask cluster as a `DaskCluster` (kubernetes.dask.org/v1) for the
 * dask-kubernetes operator (checked against the CRD of dask-kubernetes 2026.3.0), which makes of it a
 * scheduler Deployment, its Service `<name>-scheduler` and a worker group `<name>-default` of one
 * Deployment per worker.
 *
 * ADDRESSES, before anything exists: the Service's DNS name is fixed by the operator, so
 *   DASK_SCHEDULER_ADDRESS=tcp://<name>-scheduler.<namespace>.svc:8786   (Client() connects there)
 *   DASK_DISTRIBUTED__DASHBOARD__LINK={JUPYTERHUB_SERVICE_PREFIX}proxy/<name>-scheduler.<namespace>.svc:8787/status
 *       the dashboard through the server's jupyter-server-proxy, which must allow that host
 *       (ServerProxy.host_allowlist): the spawner's part.
 *
 * PODS. Image: the server's (base.ts). Scheduler: `dask scheduler` on 8786, dashboard and /health on
 * 8787 (readiness and liveness), head.cores / head.memory. Workers: `dask worker` with --nthreads,
 * --memory-limit worker.memory and the options of the profile's conf (conf.ts, like the local
 * backend), their /health on 8788 as readiness; the container gets worker.memory plus
 * NANNY_MEMORY_ALLOWANCE with a nanny (the nanny lives in the same container, Dask's limit counts
 * the worker process only). Requests equal limits. Dask configuration keys of conf go to scheduler and
 * workers as DASK_* variables; start()'s environment (object-storage keys) through the Secret
 * `<name>-env` (envFrom), never in the DaskCluster. Named ports throughout: the CRD types
 * int-or-string fields as strings.
 *
 * STATE. The operator's status says little (phase Created → Pending → Running once the Service
 * exists), so readiness is read from the pods, which carry the DaskCluster's labels (the operator
 * copies them) plus `refinery.io/role` from the scheduler/worker metadata: the scheduler pod is
 * Ready, and n worker pods are Ready. A worker pod is Ready when its HTTP server answers, a moment
 * before it registered with the scheduler; the hub cannot ask the scheduler itself (it may run
 * outside the cluster network). scale() merge-patches spec.worker.replicas, which the operator
 * carries to the worker group (retiring workers gracefully on the way down).
 *
 * WIRING (not done yet: there is no Kubernetes spawner): clusters/backends.ts would build
 * `new KubeDaskBackend({ client: new HttpKubeClient(inClusterOptions()), namespace, ownerPodName:
 * <the spawner's pod name rule>, log })` when the configured spawner is the Kubernetes one.
 */
import type { ClusterRequest } from '../backend.js';
import { daskConfProblems, daskWorkerOptions } from '../dask/conf.js';
import { KubeClusterBackend, ROLE_LABEL, type BuildContext, type KubeBackendOptions, type KubeClusterState, type Observation } from './base.js';
import { RESOURCES, type KubeObject, type Resource } from './client.js';
import { podReady, podsDiagnosis, resources, statusOf } from './objects.js';

/** Memory added to a worker container's limit for its nanny process (the local backend's figure). */
export const NANNY_MEMORY_ALLOWANCE = 256 * 1024 ** 2;
export const SCHEDULER_PORT = 8786;
export const DASHBOARD_PORT = 8787;
const WORKER_HTTP_PORT = 8788;

export type KubeDaskBackendOptions = KubeBackendOptions;

type EnvVar = { name: string; value: string };

export function schedulerService(object: string, namespace: string): string {
  return `${object}-scheduler.${namespace}.svc`;
}

export class KubeDaskBackend extends KubeClusterBackend {
  readonly kind = 'dask' as const;

  protected headName(): string {
    return 'scheduler';
  }

  protected environment(object: string, namespace: string): Record<string, string> {
    const host = schedulerService(object, namespace);
    return {
      DASK_SCHEDULER_ADDRESS: `tcp://${host}:${SCHEDULER_PORT}`,
      DASK_DISTRIBUTED__DASHBOARD__LINK: `{JUPYTERHUB_SERVICE_PREFIX}proxy/${host}:${DASHBOARD_PORT}/status`,
    };
  }

  protected problems(request: ClusterRequest): string[] {
    return daskConfProblems(request.conf);
  }

  protected mode(): undefined {
    return undefined;
  }

  /** The DaskCluster of a request. */
  protected manifests(ctx: BuildContext): { resource: Resource; object: KubeObject }[] {
    const { request, id } = ctx;
    const opts = daskWorkerOptions(request);
    const confEnv: EnvVar[] = Object.entries(opts.env).map(([name, value]) => ({ name, value }));
    const envFrom = ctx.envSecret ? { envFrom: [{ secretRef: { name: ctx.envSecret } }] } : {};
    const env = confEnv.length ? { env: confEnv } : {};
    const podLabels = (role: string) => ({ labels: { ...ctx.labels, [ROLE_LABEL]: role } });
    const scheduler = {
      name: 'scheduler',
      image: ctx.image,
      command: ['dask', 'scheduler', '--host', '0.0.0.0', '--port', String(SCHEDULER_PORT), '--dashboard-address', `:${DASHBOARD_PORT}`],
      ...env,
      ...envFrom,
      resources: resources(request.head.cores, request.head.memory),
      ports: [
        { name: 'tcp-comm', containerPort: SCHEDULER_PORT, protocol: 'TCP' },
        { name: 'http-dashboard', containerPort: DASHBOARD_PORT, protocol: 'TCP' },
      ],
      readinessProbe: { httpGet: { port: 'http-dashboard', path: '/health' }, periodSeconds: 2, failureThreshold: 3 },
      livenessProbe: { httpGet: { port: 'http-dashboard', path: '/health' }, initialDelaySeconds: 15, periodSeconds: 20 },
    };
    const worker = {
      name: 'worker',
      image: ctx.image,
      // DASK_WORKER_NAME and DASK_SCHEDULER_ADDRESS are set by the operator on each worker Deployment
      command: ['dask', 'worker', '--name', '$(DASK_WORKER_NAME)', '--nthreads', String(opts.nthreads), '--memory-limit', String(Math.floor(request.worker.memory)),
        '--dashboard-address', `:${WORKER_HTTP_PORT}`, ...opts.args],
      ...env,
      ...envFrom,
      resources: resources(request.worker.cores, request.worker.memory + (opts.nanny ? NANNY_MEMORY_ALLOWANCE : 0)),
      ports: [{ name: 'http-dashboard', containerPort: WORKER_HTTP_PORT, protocol: 'TCP' }],
      readinessProbe: { httpGet: { port: 'http-dashboard', path: '/health' }, periodSeconds: 2, failureThreshold: 3 },
    };
    const cluster: KubeObject = {
      apiVersion: 'kubernetes.dask.org/v1',
      kind: 'DaskCluster',
      metadata: { name: id.object, namespace: ctx.namespace, labels: ctx.labels, annotations: ctx.annotations, ownerReferences: [ctx.owner] },
      spec: {
        // the hub stops idle clusters itself (ClusterManager.stopIdle); the operator must not on its own
        idleTimeout: 0,
        scheduler: {
          metadata: podLabels('head'),
          spec: { containers: [scheduler], restartPolicy: 'Always' },
          service: {
            type: 'ClusterIP',
            selector: { 'dask.org/cluster-name': id.object, 'dask.org/component': 'scheduler' },
            ports: [
              { name: 'tcp-comm', protocol: 'TCP', port: SCHEDULER_PORT, targetPort: 'tcp-comm' },
              { name: 'http-dashboard', protocol: 'TCP', port: DASHBOARD_PORT, targetPort: 'http-dashboard' },
            ],
          },
        },
        worker: { replicas: request.workers, metadata: podLabels('worker'), spec: { containers: [worker], restartPolicy: 'Always' } },
      },
    };
    return [{ resource: RESOURCES.daskCluster, object: cluster }];
  }

  protected async observe(state: KubeClusterState): Promise<Observation> {
    const cluster = await this.client.get(RESOURCES.daskCluster, state.namespace, state.object);
    if (!cluster || cluster.metadata.deletionTimestamp) return { exists: false, headReady: false, workers: 0, present: 0, failure: null, waiting: null };
    const phase = statusOf(cluster).phase;
    const pods = await this.pods(state);
    const { failure, waiting } = podsDiagnosis([...pods.head, ...pods.workers]);
    const headReady = phase === 'Running' && pods.head.some(podReady);
    return {
      exists: true,
      headReady,
      workers: pods.workers.filter(podReady).length,
      present: pods.workers.length,
      failure: phase === 'Error' ? 'the Dask operator refused the DaskCluster (phase Error; see its events)' : failure,
      waiting: waiting ?? (headReady || phase === 'Running' ? null : phase === undefined ? 'the DaskCluster has no status yet: is the Dask operator running for this namespace?' : `DaskCluster phase ${String(phase)}`),
    };
  }

  protected async resize(state: KubeClusterState, workers: number): Promise<void> {
    await this.client.patch(RESOURCES.daskCluster, state.namespace, state.object, { spec: { worker: { replicas: workers } } });
  }

  protected objectsOf(state: KubeClusterState): { resource: Resource; name: string }[] {
    return [{ resource: RESOURCES.daskCluster, name: state.object }];
  }

  protected listed(): { resource: Resource }[] {
    return [{ resource: RESOURCES.daskCluster }];
  }
}
