/**
 * The seam between the hub and whatever runs single-user servers (local processes, Kubernetes pods).
 * A Spawner is stateless: everything it needs to find a server again after a hub restart lives in the
 * `state` object it returns, which the hub stores in the database and hands back on poll and stop.
 */
import type { Scheduling } from '../config/scheduling.js';

export interface SpawnProgress {
  /** 0–100, never decreasing within one spawn. */
  progress: number;
  message: string;
}

/** JSON-serialisable backend state (pid, port, pod name, ...). */
export type SpawnerState = Record<string, unknown>;

export interface SpawnRequest {
  /** Normalized username. */
  user: string;
  /** '' for the default server. */
  serverName: string;
  /**
   * The JupyterHub environment for `jupyterhub-singleuser`, without JUPYTERHUB_SERVICE_URL, which
   * the spawner adds once it knows where the server will listen.
   */
  env: Record<string, string>;
  /** URL prefix of the server, e.g. `/user/alice/` or `/user/alice/lab2/`. */
  servicePrefix: string;
  /** Give up, stop whatever was started and reject after this long. */
  startTimeoutMs: number;
  onProgress: (event: SpawnProgress) => void;
  /** Aborted when the user cancels the pending spawn; the spawner cleans up and rejects. */
  signal: AbortSignal;
  /**
   * Program and leading arguments for this spawn (from the chosen image), e.g.
   * `['/srv/refinery/envs/spark/bin/python', '-m', 'jupyterhub.singleuser']`; the spawner's own extra
   * arguments follow. Default: the spawner's configured command. Running an environment's python
   * (not a script of another env) matters: ipykernel's default `python3` kernel runs `sys.executable`,
   * so kernels see exactly that environment's packages. LocalSpawner puts the directory of an absolute
   * `command[0]` first on PATH. Secrets never go here: argv is world-readable.
   */
  command?: string[];
  /**
   * Resources from the chosen size and profiles: CPU in cores (fractions allowed), memory in bytes;
   * absent or 0 = not set. Limits are enforced where the backend can (LocalSpawner: per-server Linux
   * cgroups, see spawners/resources.ts; Kubernetes: the pod's requests and limits) and the returned
   * state says what was (LocalSpawner: `state.enforced`). Guarantees are scheduling hints/weights.
   * Like JupyterHub, the server also gets MEM_LIMIT, MEM_GUARANTEE (bytes), CPU_LIMIT and
   * CPU_GUARANTEE (cores) in its environment, unless `env` already sets them.
   */
  /**
   * Directories to make available in the server. Backends mount them where they can; the local one
   * links `hostPath` into the home directory under the last part of `mountPath`.
   */
  volumes?: {
    name: string; mountPath: string; readOnly: boolean;
    hostPath?: string;
    /** Kubernetes only: an existing PersistentVolumeClaim, ConfigMap or Secret, or a fresh emptyDir. */
    claim?: string; configMap?: string; secret?: string; emptyDir?: boolean;
  }[];
  /** Kubernetes only: which nodes the pod may run on, from the catalog (the spawner's own settings come first). */
  scheduling?: Scheduling;
  /** The image to run where servers run from images (Kubernetes): the catalog image's `kubernetes` section. */
  image?: { name: string; pullPolicy?: string };
  /**
   * Names in `env` whose values are secret (the API token, storage keys, profile secrets): a backend
   * that writes env where others can read it (a pod spec) keeps these elsewhere (a Secret).
   */
  secretEnv?: readonly string[];
  /**
   * Called once the server has an identity other objects can be owned by (Kubernetes: its pod was
   * created), before it is ready; see Spawner.placesBeforeStart.
   */
  onPlaced?: (placement: ServerPlacement) => void;
  resources?: { cpuGuarantee?: number; cpuLimit?: number; memoryGuarantee?: number; memoryLimit?: number };
}

/** Where a server is, once it exists: what cluster backends hang their resources on. */
export interface ServerPlacement {
  kubernetes?: {
    namespace: string;
    ownerReference: { apiVersion: 'v1'; kind: 'Pod'; name: string; uid: string };
    podLabels: Record<string, string>;
  };
}

export interface StartedServer {
  /** Where the proxy sends traffic for this server, e.g. `http://127.0.0.1:41234`. */
  target: string;
  state: SpawnerState;
}

export type PollResult = { running: true } | { running: false; exitCode?: number | null; reason?: string };

export interface Spawner {
  readonly kind: string;
  /**
   * This backend calls `onPlaced` during start(), and clusters must wait for it (their objects are
   * owned by the server's pod, which needs its uid).
   */
  readonly placesBeforeStart?: boolean;
  /** Do two states describe the same running server? Default: the same `pid`. */
  sameServer?(a: SpawnerState, b: SpawnerState): boolean;
  /** Start a server and resolve once it answers HTTP. Rejects with SpawnError on failure or timeout. */
  start(request: SpawnRequest): Promise<StartedServer>;
  /** Is the server described by `state` still alive? Must be cheap and safe to call often. */
  poll(state: SpawnerState): Promise<PollResult>;
  /** Stop it (TERM, then KILL after the grace period). Idempotent: stopping a dead server is fine. */
  stop(state: SpawnerState, options?: { graceMs?: number }): Promise<void>;
  /** Servers this backend can see that belong to Refinery, for the reconciler to match against the DB. */
  list?(): Promise<SpawnerState[]>;
}

/** A spawn failure with a message fit to show the user. */
export class SpawnError extends Error {
  constructor(message: string, readonly detail?: string) {
    super(message);
    this.name = 'SpawnError';
  }
}
