// The hub's server and cluster managers and its reconciler, in this process, over a real SQLite
// database, with a spawner and a cluster backend that only pretend: stand-ins that start at once,
// record what they were asked, and on request hold a step open, fail, or never answer (as JupyterHub's
// own tests have MockSpawner, SlowSpawner and BadSpawner). For tests of the lifecycle rules and of
// the order in which things happen, without JupyterLab.
import { join } from 'node:path';
import { openDatabase, type Db } from '../../src/db/connect.js';
import { createUser } from '../../src/db/users.js';
import type { UserRow } from '../../src/db/users.js';
import { IdentityResolver } from '../../src/auth/identity.js';
import { RouteTable } from '../../src/proxy/routes.js';
import { Metrics } from '../../src/metrics/index.js';
import { createLogger } from '../../src/log.js';
import { ServerManager } from '../../src/servers/manager.js';
import { ClusterManager } from '../../src/clusters/manager.js';
import { Reconciler } from '../../src/reconcile/reconciler.js';
import { SpawnError, type Spawner, type SpawnerState, type SpawnRequest, type StartedServer } from '../../src/spawners/spawner.js';
import { ClusterError, type ClusterAddresses, type ClusterBackend, type ClusterOwner, type ClusterRequest, type ClusterState } from '../../src/clusters/backend.js';
import type { QuotasConfig } from '../../src/clusters/quota.js';
import type { SpawnPlan } from '../../src/profiles/plan.js';
import type { Catalog } from '../../src/profiles/schema.js';
import { tmpDir, type TmpDir } from './tmp.js';

/** A promise to wait on and the function that opens it. */
export interface Gate {
  wait: Promise<void>;
  open(): void;
}

export function gate(): Gate {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

/** Servers as entries in a table: started at once (unless `startGate` holds them), listed, stopped. */
export class FakeSpawner implements Spawner {
  readonly kind = 'fake';
  readonly processes = new Map<number, { user: string; server: string; alive: boolean }>();
  private nextPid = 1000;
  /** While set, start() waits for it after its process exists (as a real start waits for the server to answer). */
  startGate: Gate | undefined;
  /** While set, the next list() waits for it (widening a reconcile pass between reading rows and listing). */
  listGate: Gate | undefined;
  /** While set, the next poll() waits for it. */
  pollGate: Gate | undefined;
  /** Told when list() / poll() starts waiting on its gate. */
  onGateReached: ((which: 'list' | 'poll') => void) | undefined;
  /** How long stop() takes (ms). */
  stopDelayMs = 0;

  /**
   * How start() ends: 'start' (once `startGate`, if any, opens), 'fail' (rejects with `failMessage`
   * after its process existed) or 'hang' (never answers). Like the real spawners, a start that is
   * cancelled (its signal) or takes longer than its `startTimeoutMs` removes its process and rejects.
   */
  behaviour: 'start' | 'fail' | 'hang' = 'start';
  failMessage = 'the server exited with code 1 before it answered';
  /** Every start() and stop() call, in order. */
  readonly starts: SpawnRequest[] = [];
  readonly stops: SpawnerState[] = [];

  async start(request: SpawnRequest): Promise<StartedServer> {
    this.starts.push(request);
    const pid = this.nextPid++;
    const process = { user: request.user, server: request.serverName, alive: true };
    this.processes.set(pid, process);
    const fail = (message: string) => {
      process.alive = false;
      return new SpawnError(message);
    };
    if (this.behaviour === 'fail') throw fail(this.failMessage);
    const ready = this.behaviour === 'hang' ? new Promise<void>(() => undefined) : (this.startGate?.wait ?? Promise.resolve());
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      await Promise.race([
        ready,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(fail(`Server did not answer within ${request.startTimeoutMs / 1000} seconds`)), request.startTimeoutMs);
        }),
        new Promise<never>((_, reject) => {
          onAbort = () => reject(fail('Server start was cancelled'));
          if (request.signal.aborted) onAbort();
          else request.signal.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
    } finally {
      clearTimeout(timer);
      if (onAbort) request.signal.removeEventListener('abort', onAbort);
    }
    return { target: `http://127.0.0.1:${20000 + pid}`, state: { pid, user: request.user, server: request.serverName } };
  }

  /** The server's process dies on its own (a crash, an OOM kill). */
  kill(user: string, server = ''): void {
    for (const p of this.processes.values()) if (p.user === user && p.server === server) p.alive = false;
  }

  async poll(state: SpawnerState): Promise<{ running: true } | { running: false }> {
    const held = this.pollGate;
    if (held) {
      this.pollGate = undefined;
      this.onGateReached?.('poll');
      await held.wait;
    }
    return this.processes.get(Number(state.pid))?.alive ? { running: true } : { running: false };
  }

  async stop(state: SpawnerState): Promise<void> {
    this.stops.push(state);
    if (this.stopDelayMs) await new Promise((r) => setTimeout(r, this.stopDelayMs));
    const process = this.processes.get(Number(state.pid));
    if (process) process.alive = false;
  }

  async list(): Promise<SpawnerState[]> {
    const held = this.listGate;
    if (held) {
      this.listGate = undefined;
      this.onGateReached?.('list');
      await held.wait;
    }
    return [...this.processes].filter(([, p]) => p.alive).map(([pid, p]) => ({ pid, user: p.user, server: p.server }));
  }

  aliveOf(user: string, server = ''): number[] {
    return [...this.processes].filter(([, p]) => p.alive && p.user === user && p.server === server).map(([pid]) => pid);
  }
}

/** Spark clusters as entries in a table. */
export class FakeClusterBackend implements ClusterBackend {
  readonly kind = 'spark' as const;
  readonly clusters = new Map<number, { user: string; server: string; name: string; alive: boolean }>();
  private nextId = 1;

  async reserve(): Promise<ClusterAddresses> {
    return { env: { SPARK_MASTER_URL: 'spark://127.0.0.1:7077' }, ui: {}, reservation: {} };
  }

  /** When set, start() rejects with it (as a cluster whose master never came up). */
  failMessage: string | undefined;

  async start(owner: ClusterOwner, request: ClusterRequest): Promise<ClusterState> {
    if (this.failMessage) throw new ClusterError(this.failMessage);
    const id = this.nextId++;
    this.clusters.set(id, { user: owner.user, server: owner.server, name: request.name, alive: true });
    return { id, user: owner.user, server: owner.server, name: request.name };
  }

  async status(state: ClusterState): Promise<{ running: boolean; workers: number }> {
    const alive = !!this.clusters.get(Number(state.id))?.alive;
    return { running: alive, workers: alive ? 1 : 0 };
  }

  async scale(state: ClusterState): Promise<ClusterState> {
    return state;
  }

  async stop(state: ClusterState): Promise<void> {
    const cluster = this.clusters.get(Number(state.id));
    if (cluster) cluster.alive = false;
  }

  async list(): Promise<ClusterState[]> {
    return [...this.clusters].filter(([, c]) => c.alive).map(([id, c]) => ({ id, user: c.user, server: c.server, name: c.name }));
  }

  aliveOf(user: string, server = ''): number {
    return [...this.clusters.values()].filter((c) => c.alive && c.user === user && c.server === server).length;
  }
}

/** A plan that asks for the given clusters (and nothing else the fake spawner would not ignore). */
export function planWithClusters(clusters: Record<string, unknown>[]): SpawnPlan {
  return {
    image: { name: 'fake', display_name: 'Fake' },
    local: { command: ['/bin/true'] },
    size: null,
    resources: { cpu: {}, memory: {} },
    scheduling: { node_selector: {}, tolerations: [] },
    env: {},
    volumes: [],
    clusters: clusters.map((c) => ({ ...c, source: 'you' as const })),
    storage: null,
    default_url: null,
    applied: [],
    cluster: null,
    selections: { image: 'fake', size: null, profile: null, options: {}, env: {} },
    warnings: [],
  };
}

export interface InProcessHub {
  dir: TmpDir;
  db: Db;
  spawner: FakeSpawner;
  backend: FakeClusterBackend;
  routes: RouteTable;
  servers: ServerManager;
  clusters: ClusterManager;
  reconciler: Reconciler;
  /** What the managers and the reconciler logged, one object per line. */
  logged(): Record<string, unknown>[];
  user(name: string): Promise<UserRow>;
  close(): Promise<void>;
}

export interface InProcessHubOptions {
  quotas?: QuotasConfig;
  namedServerLimit?: number;
  /** spawner.start_timeout (default 10 s). */
  startTimeoutSeconds?: number;
}

export async function inProcessHub(options: InProcessHubOptions = {}): Promise<InProcessHub> {
  const dir = await tmpDir('in-process-hub');
  const db = await openDatabase({ kind: 'sqlite', path: join(dir.path, 'hub.sqlite') });
  return assemble(dir, db, new FakeSpawner(), new FakeClusterBackend(), options);
}

/**
 * The same hub after its process died and started again: a new process (no operations in flight, an
 * empty route table) over the same database, with the servers and clusters that kept running.
 * The old one is abandoned, not closed, as a killed process would be.
 */
export function restartedHub(old: InProcessHub, options: InProcessHubOptions = {}): InProcessHub {
  return assemble(old.dir, old.db, old.spawner, old.backend, options);
}

function assemble(dir: TmpDir, db: Db, spawner: FakeSpawner, backend: FakeClusterBackend, options: InProcessHubOptions): InProcessHub {
  const lines: string[] = [];
  const sink = { write: (line: string) => void lines.push(line) };
  const log = createLogger({ level: 'info', destination: sink as unknown as NodeJS.WritableStream });
  const routes = new RouteTable();
  const metrics = new Metrics();
  const identities = new IdentityResolver(db.kysely, []);
  const quotas = options.quotas ?? { default: {}, groups: {}, users: {} };
  const clusters: ClusterManager = new ClusterManager({
    db: db.kysely, backends: { spark: backend }, log, quotas: () => quotas, startTimeoutSeconds: 10, placeOf: async (user) => ({ name: user, home: join(dir.path, user), runDir: join(dir.path, user, '.refinery'), runAs: null }),
  });
  const servers = new ServerManager({
    db: db.kysely, spawner, routes, identities, metrics, log, urls: { apiUrl: 'http://127.0.0.1:1/hub/api', publicOrigin: '' },
    defaultUrl: '/lab', extraEnv: {}, startTimeoutSeconds: options.startTimeoutSeconds ?? 10, stopGraceSeconds: 1,
    namedServers: { enabled: true, limitPerUser: options.namedServerLimit ?? 0 },
    catalog: () => ({}) as Catalog, clusters,
  });
  const reconciler = new Reconciler({ db: db.kysely, spawner, routes, servers, clusters, clusterIdleSeconds: 0, metrics, log, stopGraceSeconds: 1 });
  return {
    dir, db, spawner, backend, routes, servers, clusters, reconciler,
    logged: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    user: (name) => createUser(db.kysely, name),
    async close() {
      await servers.settle();
      await db.close();
      await dir.cleanup();
    },
  };
}
