/**
 * What the Kubernetes Dask and Spark backends share: the owner pod, the per-cluster Secret, creating
 * objects again after a crash, waiting for readiness with progress, stop, list and scale. Each
 * backend says which objects it creates and how to read their state (dask.ts, spark.ts).
 *
 * OWNER POD. Clusters live and die with their notebook server, so every object a backend creates
 * carries an ownerReference to the server's pod, and the cluster's garbage collector removes the
 * cluster when the pod goes, with or without the hub. An ownerReference needs the pod's uid, which
 * exists only once the pod does, and the hub starts server and clusters in parallel. So the backend is
 * given `ownerPodName(owner)` (the spawner's naming rule) and start() reads the pod by that name,
 * waiting (within the start timeout) until the spawner created it. ClusterOwner gains nothing, the
 * reservation stays plain names, and a restarted cluster (manager.restart) takes the uid of the pod
 * that runs now. The same read gives the default image: the image of the server's container, so
 * that notebook and cluster have the same Python, Dask and Spark (clients refuse version mismatches).
 *
 * IDEMPOTENCE. Object names are fixed per (user, server, cluster name), so a create that meets an
 * existing object (a crashed start, a stop whose deletion is still running) deletes it, waits until
 * it is gone and creates it again; stop() deletes by name and ignores what is already gone.
 */
import type { Logger } from '../../log.js';
import {
  ClusterError,
  type ClusterAddresses,
  type ClusterBackend,
  type ClusterKind,
  type ClusterOwner,
  type ClusterProgress,
  type ClusterRequest,
  type ClusterState,
  type ClusterStatus,
} from '../backend.js';
import { KubeApiError, RESOURCES, type KubeClient, type KubeObject, type OwnerReference, type Resource } from './client.js';
import {
  ANNOTATION,
  LABEL,
  MAX_OBJECT_NAME,
  badEnvNames,
  clusterAnnotations,
  clusterLabels,
  clusterNetworkPolicy,
  clusterObjectName,
  envSecret,
  envSecretName,
  hubSelector,
  networkPolicyName,
  podOwnerReference,
  type ClusterIdentity,
} from './objects.js';

/** The label that tells a cluster's head pod (scheduler, master, Connect server) from its workers. */
export const ROLE_LABEL = 'refinery.io/role';

export interface KubeBackendOptions {
  client: KubeClient;
  /** Where clusters are created (the hub's, or the users' namespace). */
  namespace: string;
  /** The name of the pod of a user's server: the Kubernetes spawner's naming rule. */
  ownerPodName: (owner: ClusterOwner) => string;
  /** The container whose image is the default cluster image. Default: the pod's first container. */
  ownerContainer?: string;
  /** Image of every cluster pod. Default: the server's own image (see above). */
  image?: string;
  /** Tells this hub's clusters from other hubs' in a shared namespace (label refinery.io/hub). Default 'refinery'. */
  hub?: string;
  /** How often start() and scale() look at the cluster. Default 1000 ms. */
  pollIntervalMs?: number;
  log: Logger;
}

/** What start() returns and list() reports: plain JSON, stored by the hub. */
export interface KubeClusterState extends ClusterState {
  backend: 'kubernetes';
  kind: ClusterKind;
  namespace: string;
  /** The name of the cluster's main object; every other object's name starts with it. */
  object: string;
  hub: string;
  user: string;
  server: string;
  name: string;
  workers: number;
  /** Spark: 'connect' (SparkConnect) or 'standalone'. */
  mode?: string;
}

/** What a backend sees of its cluster at one moment. */
export interface Observation {
  /** The main object exists (and is not being deleted). */
  exists: boolean;
  headReady: boolean;
  /** Workers ready now, and workers present at all (ready or not, not terminating). */
  workers: number;
  present: number;
  /** Why it cannot become ready by itself. */
  failure: string | null;
  /** What it waits for, to show while waiting. */
  waiting: string | null;
}

export interface BuildContext {
  id: ClusterIdentity;
  namespace: string;
  request: ClusterRequest;
  owner: OwnerReference;
  image: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** The Secret with start()'s environment, for envFrom; null when there is none. */
  envSecret: string | null;
}

const OBJECT_NAME = new RegExp(`^[a-z][a-z0-9-]{0,${MAX_OBJECT_NAME - 1}}$`);
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function isKubeState(state: ClusterState | null | undefined, kind: ClusterKind): state is KubeClusterState {
  if (!state || typeof state !== 'object') return false;
  const s = state as Record<string, unknown>;
  return s.backend === 'kubernetes' && s.kind === kind && typeof s.object === 'string' && OBJECT_NAME.test(s.object)
    && typeof s.namespace === 'string' && NAMESPACE.test(s.namespace) && typeof s.user === 'string' && typeof s.server === 'string'
    && typeof s.name === 'string';
}

const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve) => {
  const timer = setTimeout(done, ms);
  function done() {
    clearTimeout(timer);
    signal?.removeEventListener('abort', done);
    resolve();
  }
  signal?.addEventListener('abort', done, { once: true });
});

export abstract class KubeClusterBackend implements ClusterBackend {
  abstract readonly kind: ClusterKind;
  /** 'scheduler', 'master', 'Spark Connect server': for messages. */
  protected abstract headName(state: KubeClusterState): string;
  /** The notebook server's environment for this cluster (addresses only, nothing secret). */
  protected abstract environment(object: string, namespace: string, request: ClusterRequest): Record<string, string>;
  /** Problems with the request that this backend refuses at start (before anything is created). */
  protected abstract problems(request: ClusterRequest): string[];
  protected abstract mode(request: ClusterRequest): string | undefined;
  /** The objects to create, in order (the Secret comes before them). */
  protected abstract manifests(ctx: BuildContext): { resource: Resource; object: KubeObject }[];
  protected abstract observe(state: KubeClusterState): Promise<Observation>;
  protected abstract resize(state: KubeClusterState, workers: number): Promise<void>;
  /** Everything stop() deletes, besides the Secret. */
  protected abstract objectsOf(state: KubeClusterState): { resource: Resource; name: string }[];
  /** Resources whose objects list() looks at, with the mode a hit means. */
  protected abstract listed(): { resource: Resource; mode?: string }[];

  protected readonly client: KubeClient;
  readonly namespace: string;
  readonly hub: string;
  protected readonly pollMs: number;
  protected readonly log: Logger;

  constructor(protected readonly o: KubeBackendOptions) {
    this.client = o.client;
    this.namespace = o.namespace;
    this.hub = o.hub ?? 'refinery';
    this.pollMs = o.pollIntervalMs ?? 1000;
    this.log = o.log;
  }

  protected identity(owner: Pick<ClusterOwner, 'user' | 'server'>, name: string): ClusterIdentity {
    return { kind: this.kind, hub: this.hub, user: owner.user, server: owner.server, name, object: clusterObjectName(this.kind, owner, name) };
  }

  async reserve(owner: ClusterOwner, request: ClusterRequest): Promise<ClusterAddresses> {
    const id = this.identity(owner, request.name);
    return { env: this.environment(id.object, this.namespace, request), ui: {}, reservation: { namespace: this.namespace, object: id.object } };
  }

  /** The owner pod, once the spawner created it: its uid and the default image. */
  private async ownerPod(owner: ClusterOwner, deadline: number, signal: AbortSignal): Promise<{ ref: OwnerReference; image: string; labels: Record<string, string> }> {
    const name = this.o.ownerPodName(owner);
    for (;;) {
      const pod = await this.client.get(RESOURCES.pod, this.namespace, name);
      if (pod?.metadata.deletionTimestamp) throw new ClusterError(`the server's pod ${name} is being deleted`);
      if (pod?.metadata.uid) {
        const containers = ((pod.spec as { containers?: { name?: string; image?: string }[] } | undefined)?.containers) ?? [];
        const container = (this.o.ownerContainer ? containers.find((c) => c.name === this.o.ownerContainer) : undefined) ?? containers[0];
        const image = this.o.image ?? container?.image;
        if (!image) throw new ClusterError(`no image for the cluster: the server's pod ${name} names none and the backend has no default`);
        return { ref: podOwnerReference({ name, uid: pod.metadata.uid }), image, labels: owner.kubernetes?.podLabels ?? pod.metadata.labels ?? {} };
      }
      if (signal.aborted) throw new ClusterError('the cluster start was cancelled');
      if (Date.now() >= deadline) throw new ClusterError(`the server's pod ${name} did not appear in namespace ${this.namespace}`);
      await sleep(this.pollMs, signal);
    }
  }

  /** Create; if an object of that name is still there (crash, deletion under way), delete it, wait until it is gone, create again. */
  private async createFresh(resource: Resource, object: KubeObject, deadline: number): Promise<void> {
    const ns = object.metadata.namespace ?? this.namespace;
    try {
      await this.client.create(resource, ns, object);
      return;
    } catch (error) {
      if (!(error instanceof KubeApiError && error.status === 409)) throw error;
    }
    this.log.info({ kind: resource.kind, name: object.metadata.name }, 'replacing a leftover object of an earlier cluster');
    await this.client.delete(resource, ns, object.metadata.name);
    while (await this.client.get(resource, ns, object.metadata.name)) {
      if (Date.now() >= deadline) throw new ClusterError(`the ${resource.kind} ${object.metadata.name} of an earlier cluster is still being deleted`);
      await sleep(this.pollMs);
    }
    await this.client.create(resource, ns, object);
  }

  async start(owner: ClusterOwner, request: ClusterRequest, addresses: ClusterAddresses, options: {
    timeoutMs: number;
    signal: AbortSignal;
    onProgress(event: ClusterProgress): void;
    env?: Record<string, string>;
  }): Promise<ClusterState> {
    const deadline = Date.now() + options.timeoutMs;
    const problems = this.problems(request);
    const env = options.env ?? {};
    const bad = badEnvNames(env);
    if (bad.length) problems.push(`environment variable names Kubernetes cannot carry: ${bad.map((b) => JSON.stringify(b)).join(', ')}`);
    if (problems.length) throw new ClusterError(problems.join('; '));
    const id = this.identity(owner, request.name);
    const reserved = addresses.reservation.object;
    if (reserved !== undefined && reserved !== id.object) throw new ClusterError(`the reservation names ${String(reserved)}, not ${id.object}`);
    const state: KubeClusterState = {
      backend: 'kubernetes', kind: this.kind, namespace: this.namespace, object: id.object, hub: this.hub,
      user: owner.user, server: owner.server, name: request.name, workers: request.workers,
      ...(this.mode(request) ? { mode: this.mode(request) } : {}),
    };
    options.onProgress({ progress: 2, message: 'waiting for the server\'s pod' });
    try {
      const pod = await this.ownerPod(owner, deadline, options.signal);
      const secret = Object.keys(env).length ? envSecret(id, this.namespace, pod.ref, env) : null;
      const ctx: BuildContext = {
        id, namespace: this.namespace, request, owner: pod.ref, image: pod.image,
        labels: clusterLabels(id), annotations: clusterAnnotations(id), envSecret: secret ? secret.metadata.name : null,
      };
      if (secret) await this.createFresh(RESOURCES.secret, secret, deadline);
      for (const { resource, object } of this.manifests(ctx)) await this.createFresh(resource, object, deadline);
      await this.createFresh(RESOURCES.networkPolicy, clusterNetworkPolicy(id, this.namespace, pod.ref, pod.labels), deadline);
      options.onProgress({ progress: 10, message: `created ${id.object}` });
      await this.waitFor(state, request.workers, deadline, options.signal, options.onProgress);
      this.log.info({ user: owner.user, server: owner.server, cluster: request.name, object: id.object }, `${this.kind} cluster on Kubernetes is ready`);
      return state;
    } catch (error) {
      await this.stop(state).catch((e: unknown) => this.log.error({ object: id.object, err: String(e) }, 'could not remove a cluster that failed to start'));
      if (error instanceof ClusterError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      throw new ClusterError(`the Kubernetes API refused the cluster: ${message}`);
    }
  }

  /** Wait until the head is ready and exactly `workers` workers are (start and scale); progress as it goes. */
  private async waitFor(state: KubeClusterState, workers: number, deadline: number, signal: AbortSignal | undefined, onProgress: (e: ClusterProgress) => void): Promise<void> {
    let last = '';
    let headSeen = false;
    let everExisted = false;
    const say = (progress: number, message: string) => {
      if (message === last) return;
      last = message;
      onProgress({ progress: Math.round(progress), message });
    };
    for (;;) {
      const seen = await this.observe(state);
      everExisted ||= seen.exists;
      if (!seen.exists && everExisted) throw new ClusterError(`the ${state.kind} cluster ${state.object} was deleted while starting`);
      if (seen.failure) throw new ClusterError(`the ${state.kind} cluster failed: ${seen.failure}`);
      if (seen.headReady && !headSeen) {
        headSeen = true;
        say(40, `${this.headName(state)} up`);
      }
      if (!seen.headReady) say(15, `waiting for the ${this.headName(state)}${seen.waiting ? `: ${seen.waiting}` : ''}`);
      else if (workers > 0) say(40 + (60 * Math.min(seen.workers, workers)) / workers, `workers ${seen.workers}/${workers}${seen.waiting && seen.workers < workers ? ` (${seen.waiting})` : ''}`);
      if (seen.headReady && seen.workers === workers && seen.present === workers) {
        say(100, `${state.kind === 'dask' ? 'Dask' : 'Spark'} cluster ready`);
        return;
      }
      if (signal?.aborted) throw new ClusterError('the cluster start was cancelled');
      if (Date.now() >= deadline) {
        const where = !seen.exists ? `${state.object} does not exist` : !seen.headReady ? `the ${this.headName(state)} is not ready` : `${seen.workers} of ${workers} workers are ready`;
        throw new ClusterError(`the ${state.kind} cluster was not ready in time: ${where}${seen.waiting ? ` (${seen.waiting})` : ''}`);
      }
      await sleep(this.pollMs, signal);
    }
  }

  async status(state: ClusterState): Promise<ClusterStatus> {
    if (!isKubeState(state, this.kind)) return { running: false, workers: 0, reason: 'not a cluster of this backend' };
    const seen = await this.observe(state);
    if (!seen.exists) return { running: false, workers: 0, reason: `${state.object} does not exist` };
    if (seen.failure) return { running: false, workers: seen.workers, reason: seen.failure };
    // A head that is not ready for a moment (its liveness probe restarted it, its node drains) is
    // Kubernetes' to repair: still running, or the reconciler would stop a cluster that heals itself.
    return { running: true, workers: seen.workers, ...(seen.headReady ? {} : { reason: `the ${this.headName(state)} is not ready${seen.waiting ? `: ${seen.waiting}` : ''}` }) };
  }

  async scale(state: ClusterState, workers: number, options: { timeoutMs: number }): Promise<ClusterState> {
    if (!isKubeState(state, this.kind)) throw new ClusterError('not a cluster of this backend');
    if (!Number.isInteger(workers) || workers < 0) throw new ClusterError(`the number of workers must be a whole number ≥ 0 (got ${workers})`);
    const deadline = Date.now() + options.timeoutMs;
    try {
      await this.resize(state, workers);
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) throw new ClusterError(`the cluster ${state.object} does not exist`);
      throw error;
    }
    const next: KubeClusterState = { ...state, workers };
    await this.waitFor(next, workers, deadline, undefined, () => undefined);
    return next;
  }

  async stop(state: ClusterState): Promise<void> {
    if (!isKubeState(state, this.kind)) return;
    const targets = [
      ...this.objectsOf(state),
      { resource: RESOURCES.networkPolicy as Resource, name: networkPolicyName(state.object) },
      { resource: RESOURCES.secret as Resource, name: envSecretName(state.object) },
    ];
    // in order: the main object first, so that an operator stops reconciling before its parts go
    for (const { resource, name } of targets) await this.client.delete(resource, state.namespace, name);
  }

  async list(): Promise<ClusterState[]> {
    const found = new Map<string, KubeClusterState>();
    for (const { resource, mode } of [...this.listed(), { resource: RESOURCES.secret as Resource }]) {
      for (const object of await this.client.list(resource, this.namespace, hubSelector(this.kind, this.hub))) {
        const labels = object.metadata.labels ?? {};
        const annotations = object.metadata.annotations ?? {};
        const id = labels[LABEL.id];
        if (!id || object.metadata.deletionTimestamp) continue;
        const known = found.get(id);
        const spec = (object.spec ?? {}) as { worker?: { replicas?: number }; executor?: { instances?: number }; replicas?: number };
        const state: KubeClusterState = {
          backend: 'kubernetes', kind: this.kind, namespace: this.namespace, object: id, hub: this.hub,
          user: annotations[ANNOTATION.user] ?? '', server: annotations[ANNOTATION.server] ?? '', name: annotations[ANNOTATION.cluster] ?? this.kind,
          workers: spec.worker?.replicas ?? spec.executor?.instances ?? (labels[ROLE_LABEL] === 'worker' ? spec.replicas : undefined) ?? known?.workers ?? 0,
          ...(mode ?? known?.mode ? { mode: mode ?? known?.mode } : {}),
        };
        if (!isKubeState(state, this.kind)) continue;
        // the main object's view wins over a Secret's or a Service's (they know no worker count)
        if (!known || (mode && !known.mode) || (known.workers === 0 && state.workers > 0)) found.set(id, { ...state, ...(known?.mode && !mode ? { mode: known.mode } : {}) });
      }
    }
    return [...found.values()];
  }

  /** The cluster's pods (every pod carries the cluster-id label, whoever created it). */
  protected async pods(state: KubeClusterState): Promise<{ head: KubeObject[]; workers: KubeObject[] }> {
    const pods = (await this.client.list(RESOURCES.pod, state.namespace, `${LABEL.id}=${state.object}`)).filter((p) => !p.metadata.deletionTimestamp);
    return {
      head: pods.filter((p) => p.metadata.labels?.[ROLE_LABEL] === 'head'),
      workers: pods.filter((p) => p.metadata.labels?.[ROLE_LABEL] === 'worker'),
    };
  }
}
