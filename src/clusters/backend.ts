/**
 * The seam between the hub and whatever runs users' private Spark and Dask clusters: local processes
 * on this machine, or the Spark and Dask operators on Kubernetes. Like Spawner, a ClusterBackend is
 * stateless: what it needs to find a cluster again lives in the JSON `state` it returns.
 */
import type { RunAs } from '../host/accounts.js';

export type ClusterKind = 'spark' | 'dask';

/** What a profile asks for (validated and with defaults filled in by src/clusters/request.ts). */
export interface ClusterRequest {
  kind: ClusterKind;
  /** A name unique among the server's clusters, e.g. 'spark'. */
  name: string;
  workers: number;
  /** Per worker: cores (Spark) or threads (Dask), and memory in bytes. */
  worker: { cores: number; memory: number };
  /** The Spark master / Dask scheduler. */
  head: { cores: number; memory: number };
  /** Spark: spark conf entries (`spark.executor.memory`, ...). Dask: worker options (`--nthreads` style keys). */
  conf: Record<string, string>;
  /** Spark only: also run a Spark Connect server (`sc://` URL in SPARK_REMOTE). */
  connect: boolean;
}

/** Who a cluster belongs to: one user's one server. */
export interface ClusterOwner {
  user: string;
  /** '' for the default server. */
  server: string;
  /** The server's working directory (local backends: cwd and HOME of the cluster's processes). */
  homeDir?: string;
  /** Local backends: where the hub keeps the cluster's logs and configuration. Default `<homeDir>/.refinery`. */
  runDir?: string;
  /** Local backends: the system account the cluster's processes run as; absent or null: the hub's own. */
  runAs?: RunAs | null;
  /**
   * On Kubernetes: the server's pod, once it exists. Cluster objects carry `ownerReference` (the
   * garbage collector removes them with the pod) and a NetworkPolicy lets only `podLabels` in.
   */
  kubernetes?: {
    namespace: string;
    ownerReference: { apiVersion: 'v1'; kind: 'Pod'; name: string; uid: string };
    podLabels: Record<string, string>;
  };
}

/**
 * Addresses chosen before anything starts, so they can go into the notebook server's environment
 * while both start in parallel.
 */
export interface ClusterAddresses {
  /** Environment for the notebook server: SPARK_MASTER_URL, SPARK_REMOTE, DASK_SCHEDULER_ADDRESS, SPARK_CONF_DIR, ... */
  env: Record<string, string>;
  /** Web UIs as ports on the server's host (reachable through the server's /proxy/<port>/), by label. */
  ui: Record<string, { port: number; path: string }>;
  /** Backend-specific reservation (ports, names), handed back to start(). */
  reservation: Record<string, unknown>;
}

export interface ClusterProgress {
  /** 0–100 within the cluster's own start. */
  progress: number;
  message: string;
}

/** JSON-serialisable backend state (pids, ports, resource names). */
export type ClusterState = Record<string, unknown>;

export interface ClusterStatus {
  running: boolean;
  /** Workers registered with the master/scheduler right now. */
  workers: number;
  reason?: string;
}

export interface ClusterBackend {
  readonly kind: ClusterKind;
  /** Reserve addresses for a cluster; nothing runs yet. */
  reserve(owner: ClusterOwner, request: ClusterRequest): Promise<ClusterAddresses>;
  /**
   * Start the cluster and resolve when the head runs and all workers registered. Rejects with
   * ClusterError (nothing left running) on failure, timeout or abort.
   */
  start(owner: ClusterOwner, request: ClusterRequest, addresses: ClusterAddresses, options: {
    timeoutMs: number;
    signal: AbortSignal;
    onProgress(event: ClusterProgress): void;
    /** Environment for the cluster's processes (e.g. object-storage credentials), never argv. */
    env?: Record<string, string>;
  }): Promise<ClusterState>;
  /** Is it alive, and how many workers are registered? Cheap enough to call every few seconds. */
  status(state: ClusterState): Promise<ClusterStatus>;
  /** Change the number of workers of a running cluster; resolves when they registered (or left). */
  scale(state: ClusterState, workers: number, options: { timeoutMs: number }): Promise<ClusterState>;
  /** Stop everything of this cluster. Idempotent. */
  stop(state: ClusterState): Promise<void>;
  /** Clusters this backend can see that belong to Refinery, for the reconciler (state includes user and server). */
  list(): Promise<ClusterState[]>;
}

/** A cluster failure with a message fit to show the user. */
export class ClusterError extends Error {
  constructor(message: string, readonly detail?: string) {
    super(message);
    this.name = 'ClusterError';
  }
}
