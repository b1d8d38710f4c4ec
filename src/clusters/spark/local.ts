/**
 * LocalSparkBackend: a user's private Spark standalone cluster as processes on this machine, from the
 * `pyspark` package of `envs/spark` (its directory is SPARK_HOME: jars, bin/spark-class) on Java 17:
 * one master, one worker per requested worker and, when the profile asks for `connect: true`, a Spark
 * Connect server. All detached from the hub, so they outlive hub restarts like the local spawner's
 * servers.
 *
 * ADDRESSES. `reserve()` picks loopback ports for the master (RPC, web UI), the notebook's driver UI
 * and, with `connect`, the Connect server (gRPC, its driver UI); workers get theirs when they start
 * (nothing outside the cluster needs them, and a port picked long before it is bound is more likely
 * to be taken meanwhile). It writes the cluster's configuration directory
 * `<run dir>/<server or 'default'>.<name>/conf/` (the owner's run dir, else `<home>/.refinery`; the
 * directories are the hub's, spark-defaults.conf is the owner's, 0600, see conf.ts):
 *
 *   spark.master=spark://127.0.0.1:<port>     so SparkSession.builder.getOrCreate() without arguments
 *                                             joins this cluster: pyspark starts its driver with
 *                                             spark-submit, which reads SPARK_CONF_DIR/spark-defaults.conf
 *   spark.driver.host / bindAddress=127.0.0.1 executors reach the driver on loopback, nothing listens outside
 *   spark.ui.port=<reserved>                  the driver's UI at a known port: the `app` UI link
 *   spark.executor.cores / .memory            one executor fills one worker (the profile's conf may change it)
 *   spark.authenticate=true + a secret        only holders of this file (the notebook's kernels, the cluster)
 *                                             can use the master and executors: any local Unix account
 *                                             could otherwise run code as the hub's account through them
 *   spark.connect.authenticate.token          (connect only) the Connect server's pre-shared token
 *   spark.master.rest.enabled=false           no unauthenticated REST submission server (and no port 6066)
 *   ... then the profile's `conf` (keys Refinery owns are refused: conf.ts RESERVED_CONF)
 *   ... and, when start()'s environment has object-storage keys, the s3a:// entries (s3a.ts; no key
 *       is written: every JVM reads them from its environment)
 *
 * The same directory is the SPARK_CONF_DIR of the master, the workers (and so of their executors) and
 * the Connect server, so every process of the cluster shares one secret and one set of defaults.
 * The notebook server gets
 *
 *   SPARK_MASTER_URL=spark://127.0.0.1:<port>  for spark-submit --master and for people to read
 *   SPARK_CONF_DIR=<conf dir>                   the file above
 *   SPARK_LOCAL_IP=127.0.0.1                    the driver's UI binds to loopback (Spark's WebUI binds
 *                                               SPARK_LOCAL_IP, else 0.0.0.0)
 *   PYSPARK_PYTHON=<envs/spark>/bin/python      the Python of executors' Python workers: must match the
 *                                               kernel's version, and it is the one the workers have
 *   JAVA_HOME                                   only when the backend is configured with one
 *   with connect: SPARK_REMOTE=sc://localhost:<port> and SPARK_CONNECT_AUTHENTICATE_TOKEN=<token>
 *       When SPARK_REMOTE is set, pyspark's `SparkSession.builder.getOrCreate()` returns a Spark
 *       Connect session (pyspark/sql/session.py: "SPARK_REMOTE" in os.environ → RemoteSparkSession),
 *       so a `connect: true` profile means Connect by default and classic otherwise. (Classic stays
 *       reachable in a Connect profile: `os.environ.pop("SPARK_REMOTE")` before the first session.)
 *       The host is `localhost`, not 127.0.0.1, on purpose: pyspark's Connect client sends a token
 *       without TLS only to "localhost" (client/core.py: local_channel_credentials), and with
 *       127.0.0.1 it would insist on TLS. The Connect server listens on 127.0.0.1 only.
 *
 * WEB UIs (`ui`): `master` (the master's UI; `/json/` is its JSON), `app` (the UI of the notebook's
 * driver while a session runs) and with connect `connect` (the Connect server's driver UI). Spark's
 * pages honour the X-Forwarded-Context header that jupyter-server-proxy sends (UIUtils.uiRoot), so
 * they render with correct links under `/user/<name>/proxy/<port>/` (checked with jupyter-server-proxy
 * 4.6). An application UI's redirect from / is an absolute http://127.0.0.1:<port>/jobs/ that no proxy
 * maps back, hence the path /jobs/ for `app` and `connect`. Links the master UI shows to worker and
 * application UIs are absolute (http://127.0.0.1:<port>) and do not work from a browser; Spark's own
 * reverse proxy cannot help: it refuses a reverse proxy URL containing "proxy".
 *
 * PROCESSES. Spark's JVMs are started without spark-class, with flags that cut their start-up on a
 * small machine by more than half (jvm.ts), and with class data sharing archives once those exist
 * (cds.ts: made once per machine by a background training run). Master and workers start at the same
 * time. A worker that asks to register while the master is not yet ALIVE is ignored by the master and
 * only tries again after 5–15 s (Worker: INITIAL_REGISTRATION_RETRY_INTERVAL, fixed in Spark); such a
 * worker is restarted at once instead (its log shows it tried; it is not registered 2 s after the master
 * became ALIVE). The Connect server, an application of the cluster, starts once the master is ALIVE for
 * the same reason (an application client retries only after 20 s). Ready means: the master's
 * `/json/` lists every worker (by RPC port) ALIVE, and the Connect server logged that it listens.
 *
 * Every process carries marker variables (SPARK_MARKER_ENV; the same names as the Dask backend's:
 * scope = the hub's data dir, kind 'spark', cluster id, user, server, cluster name, role, worker
 * index, and the cluster's non-secret spec as JSON). Executors are children of their worker (in its
 * process group and cgroup) and inherit its environment, markers included, as do the Python workers
 * they fork; so `stop()` finds everything by marker (and by cgroup), and `list()` finds clusters
 * after a hub restart. Extra environment (start's `options.env`, e.g. object-storage credentials)
 * reaches the processes, and through the workers the executors, only through their environment.
 *
 * Per-process cgroups (resources.ts, when writable) sized as conf.ts explains, under
 * `<hub's cgroup>/refinery-spark/<cluster id>-m|-w<i>|-c`.
 *
 * Files: logs `<run dir>/<server or 'default'>.<name>.master.log`, `.worker-<i>.log`,
 * `.connect.log` (appended, one `[refinery] ...` header per start); the workers' work directory
 * (executors' stdout/stderr, application files) and local directories (shuffle and spill files) in
 * `<scratch>/<cluster id>/` (the owner's, 0700), removed by stop(). Every process runs as the owner's
 * system account when it has one (`owner.runAs`).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, open, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { driverExecutors } from './driver-api.js';
import { CONNECT_WARMUP_MAX_MS, warmUpConnect } from './connect-warmup.js';
import { homedir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { forwardProgress } from '../../util/progress.js';
import { freePort } from '../../util/ports.js';
import { readLogTail } from '../../host/log-tail.js';
import type { RunAs } from '../../host/accounts.js';
import { PASSAGE_DIR, PRIVATE_DIR, ensureDir, removeTree, writePrivateFile } from '../../host/files.js';
import { HAS_PROC, bootId } from '../../host/process-info.js';
import {
  DEFAULT_CGROUP_PARENT,
  listServerCgroups,
  sweepEmptyServerCgroups,
  type EnforcedResources,
} from '../../host/cgroups.js';
import {
  ClusterError,
  type ClusterAddresses,
  type ClusterBackend,
  type ClusterOwner,
  type ClusterProgress,
  type ClusterRequest,
  type ClusterState,
  type ClusterStatus,
} from '../backend.js';
import {
  CLUSTER_MARKER_ENV,
  CLUSTER_NAME,
  UUID,
  checkSegment,
  describeExit,
  formatSeconds,
  isPort,
  mergeEnforced,
  processAlive,
  launchClusterProcess,
  markClusterEnv,
  parseRunAs,
  type LaunchRequest,
  type Launched,
  type MarkedProcess,
  type ProcRef,
} from '../local-processes.js';
import { SparkClassArchives } from './cds.js';
import { parseSparkDefaults, renderSparkDefaults, sparkDefaults, sparkRequestProblems, sparkSizing, type SparkSizing } from './conf.js';
import { CONNECT_SERVER_CLASS, DAEMON_LOG4J2, MAIN_CLASS, findJava, jvmArgv, sparkJvm, type JavaInstallation, type SparkJvm, type SparkRole } from './jvm.js';
import { aliveWorkerPorts, masterStatus } from './master-api.js';
import { DEFAULT_S3A_JARS_DIR, s3aClasspath, s3aJarsProblem, updateS3aConf } from './s3a.js';
import { sleep } from '../../util/sleep.js';
import { LocalClusterBackend, type LocalClusterBackendOptions } from '../local-backend.js';

/** The marker variables (the Dask backend's names; a process's kind tells them apart). */
export const SPARK_MARKER_ENV = CLUSTER_MARKER_ENV;

const CGROUP_PARENT = `${DEFAULT_CGROUP_PARENT}-spark`;
const LOG_TAIL_LINES = 15;
/** A worker that tried to register and is not registered this long after the master became ALIVE lost the race: restart it. */
const LOST_REGISTRATION_MS = 1500;
/** Restarts per worker during one start (lost registration, port taken). */
const MAX_WORKER_RESTARTS = 2;
/** How long after a start without class archives their training begins (in the background). */
const ARCHIVE_TRAINING_DELAY_MS = 30_000;
/** How long a ready Connect server may wait for its executors before the cluster is ready without them. */
const CONNECT_EXECUTORS_WAIT_MS = 30_000;

/**
 * Options of the local Spark backend: the common ones (environment default `<repo>/envs/spark`, stop
 * grace 3000 ms, workers' work and local directories under `<os tmpdir>/refinery-spark`) and Spark's own.
 */
export interface LocalSparkBackendOptions extends LocalClusterBackendOptions {
  /** Spark's installation. Default: the pyspark package of `environment` (`lib/python3.*\/site-packages/pyspark`). */
  sparkHome?: string;
  /** Java to use. Default: $JAVA_HOME of the hub, else `java` on PATH. start()'s `options.env.JAVA_HOME` wins over both. */
  javaHome?: string;
  /**
   * Class data sharing archives for the JVMs (cds.ts). `dir`: where (default
   * `$XDG_CACHE_HOME/refinery/spark-cds`, else `~/.cache/refinery/spark-cds`); `train`: make missing
   * ones in the background after a cluster started (default true; prepareClassArchives() makes them
   * on demand). `false`: never use them.
   */
  classArchives?: { dir?: string; train?: boolean } | false;
  /** hadoop-aws and the AWS SDK jars for s3a:// (s3a.ts). Default `<repo>/envs/jars/s3a` (made by scripts/setup.sh). */
  s3aJars?: string;
  /** Run a first query on a new Connect server before the cluster is ready (connect-warmup.ts). Default true. */
  connectWarmUp?: boolean;
}

/** The part of a cluster's definition that its processes carry in SPARK_MARKER_ENV.spec (nothing secret). */
export type SparkSpec = {
  host: string;
  masterPort: number;
  masterWebPort: number;
  appUiPort: number;
  connectPort: number | null;
  connectUiPort: number | null;
  worker: { cores: number; memory: number };
  head: { cores: number; memory: number };
  sizing: SparkSizing;
  homeDir: string;
  clusterDir: string;
  confDir: string;
  environment: string;
  sparkHome: string;
  startedAt: string;
  /** Where the logs are (absent: `<homeDir>/.refinery`). */
  runDir?: string;
  /** The JAVA_HOME the cluster started with (workers added by scale() use it too). */
  javaHome?: string;
};

type WorkerRef = ProcRef & { index: number; port: number; webPort: number };

/** What start() returns (and list() reports): plain JSON, stored by the hub. */
export type LocalSparkState = {
  backend: 'local';
  kind: 'spark';
  clusterId: string;
  scope: string;
  user: string;
  /** '' for the default server. */
  server: string;
  name: string;
  masterUrl: string;
  masterWebPort: number;
  /** sc://... when the cluster has a Connect server. */
  connectUrl: string | null;
  spec: SparkSpec;
  /** The master process (null when list() found a cluster whose master is gone). */
  master: ProcRef | null;
  workers: WorkerRef[];
  connect: ProcRef | null;
  bootId: string | null;
  /** Cgroup directories of the cluster's processes; removed by stop(). */
  cgroups?: string[];
  /** How the resource limits are enforced ('none' wins when processes differ). */
  enforced?: EnforcedResources;
  /** The system account the processes run as (absent: the hub's own); workers added by scale() run as it too. */
  runAs?: RunAs;
};

/** What reserve() hands to start(). Secrets stay in the configuration file, not here (the hub stores this). */
type Reservation = {
  host: string;
  masterPort: number;
  masterWebPort: number;
  appUiPort: number;
  connectPort: number | null;
  connectUiPort: number | null;
  clusterDir: string;
  confDir: string;
};


interface LaunchedWorker extends Launched {
  index: number;
  port: number;
  webPort: number;
  restarts: number;
  /** When its log first showed a registration attempt (ms since the epoch), or null. */
  triedAt: number | null;
}

interface StartOptions {
  timeoutMs: number;
  signal: AbortSignal;
  onProgress(event: ClusterProgress): void;
  env?: Record<string, string>;
}


/** The text a process appended to its log since `offset` (at most the last 256 KiB of it). */
async function logSince(path: string, offset: number): Promise<string> {
  let handle;
  try {
    handle = await open(path, 'r');
    const { size } = await handle.stat();
    const start = Math.max(offset, size - 256 * 1024);
    if (size <= start) return '';
    const buf = Buffer.alloc(size - start);
    await handle.read(buf, 0, buf.length, start);
    return buf.toString('utf8');
  } catch {
    return '';
  } finally {
    await handle?.close();
  }
}

/** Does something accept TCP connections on host:port right now? */
function acceptsConnections(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.destroy();
      resolvePromise(ok);
    };
    socket.setTimeout(Math.max(50, timeoutMs), () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** A JVM log saying that a port it was given was taken meanwhile (Spark runs with spark.port.maxRetries 0). */
const BIND_FAILURE = /BindException|Address already in use|Failed to bind|Service .* could not bind/i;

/** Why a Spark JVM died, in words, from its log (null when nothing known is there). */
function causeFromLog(text: string, ports: number[]): string | null {
  if (BIND_FAILURE.test(text)) {
    const port = ports.find((p) => text.includes(String(p)));
    return port ? `port ${port} is already in use` : 'a port it needs is already in use';
  }
  const heap = /(Could not reserve enough space for [^\n.]*|Invalid (?:maximum|initial) heap size[^\n]*|Cannot allocate memory[^\n]*|insufficient memory[^\n]*)/i.exec(text);
  if (heap) return `the JVM could not get its memory (${heap[1]!.trim()})`;
  const unsupported = /UnsupportedClassVersionError[^\n]*|Unrecognized option: [^\n]*|Error: Could not find or load main class[^\n]*/.exec(text);
  if (unsupported) return `Java cannot run Spark (${unsupported[0].trim()}); Spark needs Java 17 or later`;
  const killed = /OutOfMemoryError[^\n]*/.exec(text);
  if (killed) return killed[0].trim();
  return null;
}

/** A LocalSparkState read back from JSON, or null if it is not one. */
export function parseLocalSparkState(state: ClusterState | null | undefined): LocalSparkState | null {
  if (!state || typeof state !== 'object') return null;
  const s = state as Record<string, unknown>;
  if (s.kind !== 'spark' || s.backend !== 'local' || typeof s.clusterId !== 'string' || !UUID.test(s.clusterId)) return null;
  if (typeof s.scope !== 'string' || typeof s.user !== 'string' || typeof s.server !== 'string' || typeof s.name !== 'string') return null;
  if (typeof s.masterUrl !== 'string' || !isPort(s.masterWebPort) || !s.spec || typeof s.spec !== 'object') return null;
  const spec = s.spec as SparkSpec;
  if (!isPort(spec.masterPort) || typeof spec.host !== 'string' || !spec.sizing || typeof spec.homeDir !== 'string') return null;
  const ref = (v: unknown): ProcRef | null => {
    const r = v as Record<string, unknown> | null;
    if (!r || typeof r.pid !== 'number' || !Number.isInteger(r.pid) || r.pid <= 1) return null;
    return { pid: r.pid, startTime: typeof r.startTime === 'number' ? r.startTime : null };
  };
  const workers: WorkerRef[] = [];
  for (const w of Array.isArray(s.workers) ? s.workers : []) {
    const r = ref(w);
    const x = w as Record<string, unknown>;
    if (r && typeof x.index === 'number' && isPort(x.port)) workers.push({ ...r, index: x.index, port: x.port, webPort: isPort(x.webPort) ? x.webPort : 0 });
  }
  return {
    backend: 'local',
    kind: 'spark',
    clusterId: s.clusterId,
    scope: s.scope,
    user: s.user,
    server: s.server,
    name: s.name,
    masterUrl: s.masterUrl,
    masterWebPort: s.masterWebPort,
    connectUrl: typeof s.connectUrl === 'string' ? s.connectUrl : null,
    spec,
    master: ref(s.master),
    workers,
    connect: ref(s.connect),
    bootId: typeof s.bootId === 'string' ? s.bootId : null,
    ...(Array.isArray(s.cgroups) ? { cgroups: s.cgroups.filter((d): d is string => typeof d === 'string') } : {}),
    ...(s.enforced && typeof s.enforced === 'object' ? { enforced: s.enforced as EnforcedResources } : {}),
    ...(parseRunAs(s.runAs) ? { runAs: parseRunAs(s.runAs)! } : {}),
  };
}

/** `<environment>/lib/python3.*\/site-packages/pyspark`, or the first candidate when none exists. */
function findSparkHome(environment: string): string {
  const lib = join(environment, 'lib');
  try {
    for (const name of readdirSync(lib).filter((n) => /^python3\.\d+$/.test(n)).sort().reverse()) {
      const dir = join(lib, name, 'site-packages', 'pyspark');
      if (existsSync(join(dir, 'jars'))) return dir;
    }
  } catch {
    // no lib/: reported when used
  }
  return join(lib, 'python3.11', 'site-packages', 'pyspark');
}

function defaultArchiveDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'refinery', 'spark-cds');
}

export class LocalSparkBackend extends LocalClusterBackend implements ClusterBackend {
  readonly kind = 'spark' as const;
  protected readonly cgroupParent = CGROUP_PARENT;
  protected readonly signalsGroups = true;
  readonly sparkHome: string;
  readonly s3aJars: string;
  /** Class data sharing archives, or null when disabled. */
  readonly archives: SparkClassArchives | null;
  private readonly trainArchives: boolean;
  private readonly connectWarmUp: boolean;
  private readonly javaHome: string | undefined;

  constructor(options: LocalSparkBackendOptions) {
    super('spark', options, 3000);
    this.sparkHome = resolve(options.sparkHome ?? findSparkHome(this.environment));
    this.s3aJars = resolve(options.s3aJars ?? DEFAULT_S3A_JARS_DIR);
    this.javaHome = options.javaHome ?? (process.env.JAVA_HOME || undefined);
    this.archives = options.classArchives === false ? null : new SparkClassArchives({ dir: resolve(options.classArchives?.dir ?? defaultArchiveDir()), host: this.host, log: this.log, python: this.python });
    this.trainArchives = options.classArchives !== false && (options.classArchives?.train ?? true);
    this.connectWarmUp = options.connectWarmUp ?? true;
  }

  /** `<run dir>/<server or 'default'>.<name>` (cluster names have no dots, so this cannot collide between servers). */
  private clusterDirOf(runDir: string, server: string, name: string): string {
    return join(runDir, `${server || 'default'}.${name}`);
  }

  private java(extra?: Record<string, string>): JavaInstallation {
    return findJava(extra?.JAVA_HOME || this.javaHome, process.env.PATH);
  }

  /** Throws a ClusterError for anything about the request or owner that cannot work. */
  private checkRequest(owner: ClusterOwner, request: ClusterRequest): void {
    checkSegment('user', owner.user, false);
    checkSegment('server', owner.server, true);
    if (request.kind !== 'spark') throw new ClusterError(`The local Spark backend cannot run a ${String(request.kind)} cluster`);
    if (!CLUSTER_NAME.test(request.name)) throw new ClusterError(`Invalid cluster name: ${JSON.stringify(request.name)}`);
    const problems = sparkRequestProblems(request, totalmem());
    if (problems.length) throw new ClusterError(`Invalid Spark cluster request: ${problems.join('; ')}`);
  }

  private checkEnvironment(): void {
    if (!existsSync(join(this.sparkHome, 'jars'))) {
      throw new ClusterError(`Spark was not found: ${join(this.sparkHome, 'jars')} does not exist (create envs/spark with \`bash scripts/setup-python.sh --only spark\`)`);
    }
    if (!existsSync(this.python)) throw new ClusterError(`The Spark environment's Python is missing: ${this.python}`);
  }

  /**
   * Make the class data sharing archives now if they are missing (a training run of about 10 s of CPU;
   * resolves when done, never rejects). Without it they are made in the background after the first
   * cluster started.
   */
  async prepareClassArchives(): Promise<SparkRole[]> {
    if (!this.archives) return [];
    const jvm = await sparkJvm(this.java(), this.sparkHome);
    return Object.keys(await this.archives.prepare(jvm, { retry: true })) as SparkRole[];
  }

  async reserve(owner: ClusterOwner, request: ClusterRequest): Promise<ClusterAddresses> {
    this.checkRequest(owner, request);
    this.checkEnvironment();
    this.java();
    const taken = new Set<number>();
    const port = async () => {
      for (;;) {
        const p = await freePort(this.host);
        if (!taken.has(p)) {
          taken.add(p);
          return p;
        }
      }
    };
    const masterPort = await port();
    const masterWebPort = await port();
    const appUiPort = await port();
    const connectPort = request.connect ? await port() : null;
    const connectUiPort = request.connect ? await port() : null;
    const runDir = this.runDirOf(owner);
    const clusterDir = this.clusterDirOf(runDir, owner.server, request.name);
    const confDir = join(clusterDir, 'conf');
    // the hub's directories (the owner cannot replace anything in them); the files in them are the owner's to read
    const dirMode = owner.runAs ? PASSAGE_DIR : PRIVATE_DIR;
    if (!owner.runAs) await mkdir(runDir, { recursive: true, mode: PRIVATE_DIR });
    await ensureDir(clusterDir, dirMode);
    await ensureDir(confDir, dirMode);
    const connectToken = request.connect ? randomBytes(32).toString('base64url') : null;
    const text = renderSparkDefaults(
      sparkDefaults({
        host: this.host, masterPort, appUiPort, sizing: sparkSizing(request), workers: request.workers,
        conf: request.conf, authSecret: randomBytes(32).toString('base64url'), connectToken,
      }),
      [
        `Written by Refinery for the Spark cluster "${request.name}" of ${owner.server ? `server "${owner.server}"` : 'the default server'}: rewritten whenever the server starts.`,
        'SparkSession.builder.getOrCreate() reads it through SPARK_CONF_DIR; so do the cluster\'s master, workers and executors.',
      ],
    );
    await writePrivateFile(join(confDir, 'spark-defaults.conf'), text, owner.runAs);
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    const env: Record<string, string> = {
      SPARK_MASTER_URL: `spark://${host}:${masterPort}`,
      SPARK_CONF_DIR: confDir,
      SPARK_LOCAL_IP: this.host,
      PYSPARK_PYTHON: this.python,
    };
    if (this.javaHome) env.JAVA_HOME = this.javaHome;
    if (connectPort && connectToken) {
      env.SPARK_REMOTE = `sc://localhost:${connectPort}`;
      env.SPARK_CONNECT_AUTHENTICATE_TOKEN = connectToken;
    }
    const reservation: Reservation = { host: this.host, masterPort, masterWebPort, appUiPort, connectPort, connectUiPort, clusterDir, confDir };
    return {
      env,
      ui: {
        master: { port: masterWebPort, path: '/' },
        // An application UI redirects / to an absolute http://127.0.0.1:<port>/jobs/ (which no proxy
        // maps back), so its link goes to /jobs/ directly; its pages link correctly from there.
        app: { port: appUiPort, path: '/jobs/' },
        ...(connectUiPort ? { connect: { port: connectUiPort, path: '/jobs/' } } : {}),
      },
      reservation,
    };
  }

  /** Environment shared by all processes of a cluster (role and worker index are added per process). */
  private clusterEnv(c: { clusterId: string; user: string; server: string; name: string; spec: SparkSpec; jvm: SparkJvm; extra: Record<string, string> }): Record<string, string> {
    const env: Record<string, string> = {};
    for (const key of this.envKeep) {
      const value = process.env[key];
      if (value !== undefined) env[key] = value;
    }
    for (const [key, value] of Object.entries(c.extra)) {
      // Extra env may not pose as markers (ours or the local spawner's).
      if (!key.startsWith('REFINERY_') && typeof value === 'string') env[key] = value;
    }
    env.PATH = [join(this.environment, 'bin'), env.PATH || '/usr/local/bin:/usr/bin:/bin'].join(':');
    env.LANG ??= 'C.UTF-8';
    Object.assign(env, {
      HOME: c.spec.homeDir,
      JAVA_HOME: c.jvm.javaHome,
      SPARK_HOME: c.jvm.sparkHome,
      SPARK_CONF_DIR: c.spec.confDir,
      SPARK_SCALA_VERSION: c.jvm.scalaVersion,
      SPARK_LOCAL_IP: c.spec.host,
      SPARK_LOCAL_HOSTNAME: c.spec.host,
      SPARK_LOCAL_DIRS: join(this.scratchOf(c.clusterId), 'local'),
      // temporary files in the cluster's own scratch space, not in the /tmp every account shares
      TMPDIR: join(this.scratchOf(c.clusterId), 'tmp'),
      SPARK_CONNECT_MODE: '0',
      PYSPARK_PYTHON: this.python,
    });
    markClusterEnv(env, { kind: 'spark', scope: this.dataDir, clusterId: c.clusterId, name: c.name, user: c.user, server: c.server, spec: c.spec });
    return env;
  }

  /** Start one detached process (in its own cgroups when limits are asked for and cgroups work). */
  private launch(p: Omit<LaunchRequest, 'cgroupParent'>): Promise<Launched> {
    return launchClusterProcess({ ...p, cgroupParent: CGROUP_PARENT }, {
      kind: 'spark', cgroupLayout: () => this.cgroupLayout(), log: this.log,
      warn: (setting, why) => this.warnOnce(`${setting}:${why}`, { setting, why }, `resource setting ${setting} is not enforced for local Spark clusters: ${why}`),
    });
  }

  private log4jPath(spec: SparkSpec): string {
    return join(spec.clusterDir, 'log4j2-daemons.properties');
  }

  private launchMaster(c: ClusterContext): Promise<Launched> {
    const { spec } = c;
    return this.launch({
      what: 'Spark master',
      argv: jvmArgv(c.jvm, {
        role: 'master',
        heapMiB: spec.sizing.masterHeapMiB,
        args: ['--host', spec.host, '--port', String(spec.masterPort), '--webui-port', String(spec.masterWebPort)],
        sysProps: { 'spark.port.maxRetries': '0', 'java.io.tmpdir': join(this.scratchOf(c.clusterId), 'tmp') },
        log4jConfig: this.log4jPath(spec),
        ...(c.archives.master ? { archive: c.archives.master } : {}),
      }),
      env: { ...c.env, [SPARK_MARKER_ENV.role]: 'master' },
      cwd: spec.homeDir,
      logPath: this.logPath(c.runDir, c.server, c.name, 'master'),
      cgroupName: `${c.clusterId}-m`,
      resources: { memoryLimit: spec.sizing.masterMemoryLimit, cpuLimit: spec.sizing.masterCpuLimit },
      runAs: c.runAs,
      onExit: c.onExit,
    });
  }

  private async launchWorker(c: ClusterContext, index: number, restarts = 0): Promise<LaunchedWorker> {
    const { spec } = c;
    const port = await freePort(spec.host);
    let webPort = await freePort(spec.host);
    while (webPort === port) webPort = await freePort(spec.host);
    const launched = await this.launch({
      what: `Spark worker ${index}`,
      argv: jvmArgv(c.jvm, {
        role: 'worker',
        heapMiB: spec.sizing.workerDaemonHeapMiB,
        args: [
          '--host', spec.host,
          '--port', String(port),
          '--webui-port', String(webPort),
          '--cores', String(spec.sizing.workerCores),
          '--memory', `${spec.sizing.executorMemoryMiB}m`,
          '--work-dir', join(this.scratchOf(c.clusterId), 'work'),
          `spark://${spec.host.includes(':') ? `[${spec.host}]` : spec.host}:${spec.masterPort}`,
        ],
        sysProps: { 'spark.port.maxRetries': '0', 'java.io.tmpdir': join(this.scratchOf(c.clusterId), 'tmp') },
        log4jConfig: this.log4jPath(spec),
        ...(c.archives.worker ? { archive: c.archives.worker } : {}),
      }),
      env: { ...c.env, [SPARK_MARKER_ENV.role]: 'worker', [SPARK_MARKER_ENV.worker]: String(index) },
      cwd: spec.homeDir,
      logPath: this.logPath(c.runDir, c.server, c.name, `worker-${index}`),
      runAs: c.runAs,
      cgroupName: `${c.clusterId}-w${index}`,
      resources: { memoryLimit: spec.sizing.workerMemoryLimit, cpuLimit: spec.sizing.workerCpuLimit },
      onExit: c.onExit,
    });
    return { ...launched, index, port, webPort, restarts, triedAt: null };
  }

  private launchConnect(c: ClusterContext): Promise<Launched> {
    const { spec } = c;
    return this.launch({
      what: 'Spark Connect server',
      argv: jvmArgv(c.s3aClasspath ? { ...c.jvm, classpath: `${c.jvm.classpath}:${c.s3aClasspath}` } : c.jvm, {
        role: 'connect',
        heapMiB: spec.sizing.connectHeapMiB,
        args: [
          '--class', CONNECT_SERVER_CLASS,
          '--name', 'Spark Connect server',
          '--conf', `spark.connect.grpc.binding.address=${spec.host}`,
          '--conf', `spark.connect.grpc.binding.port=${spec.connectPort}`,
          '--conf', `spark.ui.port=${spec.connectUiPort}`,
          'spark-internal',
        ],
        sysProps: { 'spark.port.maxRetries': '0', 'java.io.tmpdir': join(this.scratchOf(c.clusterId), 'tmp') },
        log4jConfig: this.log4jPath(spec),
        ...(c.archives.connect ? { archive: c.archives.connect } : {}),
      }),
      env: { ...c.env, [SPARK_MARKER_ENV.role]: 'connect' },
      cwd: spec.homeDir,
      logPath: this.logPath(c.runDir, c.server, c.name, 'connect'),
      runAs: c.runAs,
      cgroupName: `${c.clusterId}-c`,
      resources: { memoryLimit: spec.sizing.connectMemoryLimit, cpuLimit: spec.sizing.connectCpuLimit },
      onExit: c.onExit,
    });
  }

  /** A first query on the Connect server (connect-warmup.ts), logged with the server's own log. */
  private warmUp(c: ClusterContext, connect: Launched, token: string, timeoutMs: number, signal: AbortSignal): ReturnType<typeof warmUpConnect> {
    const { spec } = c;
    return warmUpConnect({
      python: this.python,
      remote: `sc://localhost:${spec.connectPort}`,
      token,
      env: { ...c.env, [SPARK_MARKER_ENV.role]: 'connect-warmup' },
      timeoutMs,
      signal,
      launch: ({ argv, env }) => this.launch({
        what: 'Spark Connect warm-up query', argv, env, cwd: spec.homeDir,
        logPath: connect.logPath, runAs: c.runAs, cgroupName: `${c.clusterId}-warmup`, resources: {}, onExit: () => {},
      }),
    });
  }

  /** The configuration file reserve() wrote, checked: start() never runs a cluster without its secret. */
  private async checkConf(confDir: string): Promise<Map<string, string>> {
    const file = join(confDir, 'spark-defaults.conf');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      throw new ClusterError(`The Spark cluster's configuration ${file} is missing; start the server again to make a new one`);
    }
    const conf = parseSparkDefaults(text);
    if (conf.get('spark.authenticate') !== 'true' || !conf.get('spark.authenticate.secret')) {
      throw new ClusterError(`The Spark cluster's configuration ${file} has no authentication secret; start the server again to make a new one`);
    }
    return conf;
  }

  async start(owner: ClusterOwner, request: ClusterRequest, addresses: ClusterAddresses, options: StartOptions): Promise<ClusterState> {
    const started = Date.now();
    const deadline = started + options.timeoutMs;
    const { signal } = options;
    this.checkRequest(owner, request);
    const r = addresses.reservation as Partial<Reservation>;
    if (!isPort(r.masterPort) || !isPort(r.masterWebPort) || !isPort(r.appUiPort) || typeof r.host !== 'string' || typeof r.confDir !== 'string' || typeof r.clusterDir !== 'string') {
      throw new ClusterError('The Spark cluster has no reserved addresses (reserve() was not called with this backend)');
    }
    if (request.connect && (!isPort(r.connectPort) || !isPort(r.connectUiPort))) throw new ClusterError('The Spark cluster has no reserved Spark Connect address');
    const progress = forwardProgress((event) => options.onProgress(event), this.log);
    if (signal.aborted) throw new ClusterError('Spark cluster start was cancelled');
    this.checkEnvironment();
    const conf = await this.checkConf(r.confDir);
    // Object storage: reserve() cannot know the environment of this start, so the S3A entries
    // (s3a.ts: jars on the class paths, endpoint, a credentials provider reading the JVM's environment;
    // never a key) are applied to the conf here, and removed again when this start has no storage.
    const runDir = this.runDirOf(owner);
    // the configuration of this reservation: derived from the owner, never taken from the stored reservation
    if (r.confDir !== join(this.clusterDirOf(runDir, owner.server, request.name), 'conf')) {
      throw new ClusterError('The Spark cluster\'s configuration is not where this server keeps it; start the server again to make a new one');
    }
    const runAs = owner.runAs ?? null;
    const s3 = await updateS3aConf(join(r.confDir, 'spark-defaults.conf'), request.conf, options.env ?? {}, this.s3aJars, runAs);
    const s3Problem = s3 && s3aJarsProblem(this.s3aJars);
    if (s3Problem) this.warnOnce(`s3a:${this.s3aJars}`, { dir: this.s3aJars }, `s3a:// will not work in Spark clusters: ${s3Problem}`);
    const jvm = await sparkJvm(this.java(options.env), this.sparkHome);
    if (signal.aborted) throw new ClusterError('Spark cluster start was cancelled');

    const clusterId = randomUUID();
    const homeDir = this.homeDirOf(owner);
    const spec: SparkSpec = {
      host: r.host,
      masterPort: r.masterPort,
      masterWebPort: r.masterWebPort,
      appUiPort: r.appUiPort,
      connectPort: request.connect ? r.connectPort! : null,
      connectUiPort: request.connect ? r.connectUiPort! : null,
      worker: { cores: request.worker.cores, memory: request.worker.memory },
      head: { cores: request.head.cores, memory: request.head.memory },
      sizing: sparkSizing(request),
      homeDir,
      clusterDir: r.clusterDir,
      confDir: r.confDir,
      environment: this.environment,
      sparkHome: this.sparkHome,
      startedAt: new Date(started).toISOString(),
      runDir,
      javaHome: jvm.javaHome,
    };
    if (!runAs) await mkdir(homeDir, { recursive: true, mode: PRIVATE_DIR });
    // the scratch root is the hub's; the cluster's own directories below it are the owner's
    await ensureDir(this.scratchDir, runAs ? PASSAGE_DIR : PRIVATE_DIR);
    await mkdir(this.scratchOf(clusterId), { mode: PRIVATE_DIR });
    for (const sub of ['work', 'local', 'tmp']) await mkdir(join(this.scratchOf(clusterId), sub), { mode: PRIVATE_DIR });
    if (runAs) for (const dir of ['', 'work', 'local', 'tmp']) await ensureDir(join(this.scratchOf(clusterId), dir), PRIVATE_DIR, runAs);
    await writePrivateFile(this.log4jPath(spec), DAEMON_LOG4J2, runAs);
    const host = spec.host.includes(':') ? `[${spec.host}]` : spec.host;
    const masterUrl = `spark://${host}:${spec.masterPort}`;
    const state: LocalSparkState = {
      backend: 'local', kind: 'spark', clusterId, scope: this.dataDir,
      user: owner.user, server: owner.server, name: request.name,
      masterUrl, masterWebPort: spec.masterWebPort,
      connectUrl: spec.connectPort ? `sc://localhost:${spec.connectPort}` : null,
      spec, master: null, workers: [], connect: null, bootId: bootId(),
      ...(runAs ? { runAs } : {}),
    };

    let wake: () => void = () => {};
    const onExit = () => wake();
    const onAbort = () => wake();
    signal.addEventListener('abort', onAbort);
    const c: ClusterContext = {
      clusterId, spec, jvm, server: owner.server, name: request.name, onExit, runDir, runAs,
      archives: this.archives?.available(jvm) ?? {},
      env: this.clusterEnv({ clusterId, user: owner.user, server: owner.server, name: request.name, spec, jvm, extra: options.env ?? {} }),
      ...(s3 ? { s3aClasspath: s3aClasspath(this.s3aJars) } : {}),
    };
    let master: Launched | null = null;
    const workers: (LaunchedWorker | null)[] = [];
    let connect: Launched | null = null;
    const all = (): Launched[] => [master, ...workers, connect].filter((l): l is Launched => !!l);
    const record = () => {
      state.master = master ? { pid: master.pid, startTime: master.startTime } : null;
      state.workers = workers.filter((w): w is LaunchedWorker => !!w).map((w) => ({ pid: w.pid, startTime: w.startTime, index: w.index, port: w.port, webPort: w.webPort }));
      state.connect = connect ? { pid: connect.pid, startTime: connect.startTime } : null;
      const cgroups = [...new Set(all().flatMap((l) => l.cgroups))];
      if (cgroups.length) state.cgroups = cgroups;
      const enforced = mergeEnforced(all().map((l) => l.enforced));
      if (enforced) state.enforced = enforced;
    };
    const tails = async (which: (Launched | null)[]): Promise<string | undefined> => {
      const parts: string[] = [];
      for (const l of which) {
        if (!l) continue;
        const tail = await readLogTail(l.logPath, LOG_TAIL_LINES);
        if (tail) parts.push(`--- ${l.logPath}\n${tail}`);
      }
      return parts.join('\n') || undefined;
    };
    const fail = async (message: string, detailFrom: (Launched | null)[]): Promise<never> => {
      signal.removeEventListener('abort', onAbort);
      record();
      await this.stop(state, { graceMs: 500 });
      const detail = await tails(detailFrom);
      this.log.warn({ user: owner.user, server: owner.server, cluster: request.name }, `local Spark cluster failed to start: ${message}`);
      throw new ClusterError(message, detail);
    };
    const died = async (l: Launched, what: string, before: string, ports: number[]): Promise<string> => {
      const cause = causeFromLog(await logSince(l.logPath, l.logOffset), ports);
      return `The ${what} ${describeExit(l.exited!)} ${before}${cause ? `: ${cause}` : ''}`;
    };

    progress(5, 'Starting Spark master');
    try {
      master = await this.launchMaster(c);
    } catch (err) {
      return fail(err instanceof Error ? err.message : String(err), []);
    }
    record();
    const indices = Array.from({ length: request.workers }, (_, i) => i);
    let workersLaunched = false;
    const launchWorkers = async (): Promise<string | null> => {
      workersLaunched = true;
      if (!indices.length) return null;
      progress(10, `Starting ${request.workers} Spark worker${request.workers === 1 ? '' : 's'}`);
      const settled = await Promise.allSettled(indices.map((i) => this.launchWorker(c, i)));
      for (const s of settled) workers.push(s.status === 'fulfilled' ? s.value : null);
      record();
      const failedLaunch = settled.find((s) => s.status === 'rejected') as PromiseRejectedResult | undefined;
      if (failedLaunch) return failedLaunch.reason instanceof Error ? failedLaunch.reason.message : String(failedLaunch.reason);
      this.log.debug({ cluster: request.name, workers: state.workers.map((w) => w.pid), ms: Date.now() - started }, 'Spark workers started');
      return null;
    };
    /** Workers and the Connect server (an application of the cluster: its client also gives up for 20 s when the master ignores it). */
    const launchOthers = async (): Promise<string | null> => {
      const problem = await launchWorkers();
      if (problem || !request.connect) return problem;
      progress(12, 'Starting Spark Connect server');
      try {
        connect = await this.launchConnect(c);
      } catch (err) {
        return err instanceof Error ? err.message : String(err);
      }
      record();
      return null;
    };
    this.log.info({ user: owner.user, server: owner.server, cluster: request.name, master: master.pid, archives: Object.keys(c.archives) }, 'local Spark cluster master started');

    const share = request.connect ? 55 : 65;
    let masterAliveAt: number | null = null;
    let registered = 0;
    let connectUp = !request.connect;
    let connectUpAt: number | null = null;
    let executorsUp = !request.connect || request.workers === 0;
    let delay = 25;
    for (;;) {
      if (master!.exited) return fail(await died(master!, 'Spark master', masterAliveAt ? 'while the cluster was starting' : 'before it was ready', [spec.masterPort, spec.masterWebPort]), [master]);
      const connectNow = connect as Launched | null;
      if (connectNow?.exited) return fail(await died(connectNow, 'Spark Connect server', 'before it was ready', [spec.connectPort!, spec.connectUiPort!]), [connectNow]);
      if (signal.aborted) return fail('Spark cluster start was cancelled', []);
      const now = Date.now();
      if (now >= deadline) {
        const waited = formatSeconds(options.timeoutMs);
        if (!masterAliveAt) return fail(`The Spark master was not up within ${waited} seconds`, [master]);
        if (registered < request.workers) return fail(`Only ${Math.max(0, registered)} of ${request.workers} Spark workers registered within ${waited} seconds`, [master, ...workers]);
        return fail(`The Spark Connect server was not up within ${waited} seconds`, [connect]);
      }
      // Workers start as soon as the master accepts connections: by the time a worker's JVM asks to
      // register (about a second later), the master is ALIVE. Earlier, the master would ignore it.
      if (!workersLaunched && (await acceptsConnections(spec.host, spec.masterPort, Math.min(1000, deadline - now)))) {
        const problem = await launchOthers();
        if (problem) return fail(problem, []);
      }
      const status = await masterStatus(spec.host, spec.masterWebPort, Math.min(2000, Math.max(100, deadline - Date.now())));
      if (status && status.url !== masterUrl) return fail(`Another program answers on the Spark master's web UI port ${spec.masterWebPort}`, [master]);
      if (status?.status === 'ALIVE' && !masterAliveAt) {
        masterAliveAt = Date.now();
        this.log.debug({ cluster: request.name, ms: masterAliveAt - started }, 'Spark master up');
        progress(30, 'Spark master up');
        if (!workersLaunched) {
          const problem = await launchOthers();
          if (problem) return fail(problem, []);
        }
      }
      // workers: registered, dead (restart once or twice: a port taken meanwhile), or lost the race with the master
      const alive = status ? aliveWorkerPorts(status) : new Set<number>();
      let count = 0;
      for (const [i, w] of workers.entries()) {
        if (!w) continue;
        if (alive.has(w.port)) {
          count++;
          continue;
        }
        let why: string | null = null;
        if (w.exited) {
          why = await died(w, `Spark worker ${w.index}`, 'before it registered with the master', [w.port, w.webPort]);
        } else {
          // a port taken between choosing it and binding it: the worker's JVM stays up but never registers
          const since = await logSince(w.logPath, w.logOffset);
          if (BIND_FAILURE.test(since)) why = `Spark worker ${w.index} could not start: ${causeFromLog(since, [w.port, w.webPort]) ?? 'a port it needs is already in use'}`;
          else if (masterAliveAt) {
            if (w.triedAt === null && /Connecting to master|Failed to connect to master/.test(since)) w.triedAt = Date.now();
            if (w.triedAt !== null && Date.now() - Math.max(masterAliveAt, w.triedAt) > LOST_REGISTRATION_MS) why = `Spark worker ${w.index} did not register with the master (it tried before the master was ready)`;
          }
        }
        if (!why) continue;
        if (w.restarts >= MAX_WORKER_RESTARTS) return fail(why, [w, master]);
        this.log.info({ cluster: request.name, worker: w.index, why }, 'restarting a Spark worker');
        await this.terminate(state, [w], (e) => e.get(SPARK_MARKER_ENV.role) === 'worker' && e.get(SPARK_MARKER_ENV.worker) === String(w.index), () => false, 0);
        try {
          workers[i] = await this.launchWorker(c, w.index, w.restarts + 1);
        } catch (err) {
          workers[i] = null;
          record();
          return fail(err instanceof Error ? err.message : String(err), [w]);
        }
        record();
      }
      if (masterAliveAt && count !== registered) {
        // One event per worker, also when several registered between two looks.
        for (let k = count > registered ? registered + 1 : count; k <= count; k++) {
          if (request.workers) progress(30 + (share * k) / request.workers, `Workers registered ${k}/${request.workers}`);
        }
        registered = count;
      }
      if (connectNow && !connectUp && new RegExp(`Spark Connect server started at: \\S*:${spec.connectPort}\\b`).test(await logSince(connectNow.logPath, connectNow.logOffset))) {
        connectUp = true;
        connectUpAt = Date.now();
        progress(90, 'Spark Connect server up');
      }
      // the Connect server's executors: a notebook's first action would otherwise wait for their JVMs
      if (connectUp && connectUpAt !== null && !executorsUp) {
        const count = await driverExecutors(spec.host, spec.connectUiPort!, Math.min(1000, Math.max(100, deadline - Date.now())));
        if (count !== null && count >= request.workers) {
          executorsUp = true;
          progress(97, `Spark Connect executors ready ${count}/${request.workers}`);
        } else if (Date.now() - connectUpAt > CONNECT_EXECUTORS_WAIT_MS) {
          // ready anyway: the first action waits for them, as it would without this
          executorsUp = true;
          this.log.info({ cluster: request.name, executors: count, workers: request.workers }, 'the Spark Connect server has not all its executors yet; the cluster is ready without them');
        }
      }
      if (masterAliveAt && registered >= request.workers && connectUp && executorsUp) break;
      await new Promise<void>((resolveWait) => {
        wake = resolveWait;
        setTimeout(resolveWait, Math.min(delay, Math.max(0, deadline - Date.now())));
      });
      wake = () => {};
      delay = Math.min(delay * 1.3, 150);
    }
    if (request.connect && connect && this.connectWarmUp) {
      progress(98, 'Warming up Spark Connect with a first query');
      const outcome = await this.warmUp(c, connect, conf.get('spark.connect.authenticate.token') ?? '', Math.min(CONNECT_WARMUP_MAX_MS, deadline - Date.now()), signal);
      if (signal.aborted) return fail('Spark cluster start was cancelled', []);
      if ((connect as Launched).exited) return fail(await died(connect, 'Spark Connect server', 'during its first query', [spec.connectPort!, spec.connectUiPort!]), [connect]);
      if (outcome.ok) this.log.info({ cluster: request.name, ms: outcome.ms }, 'Spark Connect warmed up');
      else this.log.warn({ cluster: request.name, ms: outcome.ms, why: outcome.why }, 'the Spark Connect warm-up query failed; the first action in a notebook will be slower');
    }
    signal.removeEventListener('abort', onAbort);
    record();
    const took = Date.now() - started;
    this.log.info({ user: owner.user, server: owner.server, cluster: request.name, workers: request.workers, ms: took, archives: Object.keys(c.archives), ...(state.enforced ? { enforced: state.enforced } : {}) }, 'local Spark cluster is ready');
    progress(100, 'Spark cluster ready');
    if (this.archives && this.trainArchives && Object.keys(c.archives).length < 3) {
      // Later, not now: the notebook server this cluster belongs to may still be starting.
      const archives = this.archives;
      setTimeout(() => void archives.prepare(jvm), ARCHIVE_TRAINING_DELAY_MS).unref();
    }
    return state;
  }

  async status(state: ClusterState): Promise<ClusterStatus> {
    const s = parseLocalSparkState(state);
    if (!s) return { running: false, workers: 0, reason: 'not a local Spark cluster state' };
    const master = await processAlive(s.master, s.bootId);
    if (!master.alive) return { running: false, workers: 0, reason: `the Spark master ${master.reason}` };
    if (s.spec.connectPort) {
      const connect = await processAlive(s.connect, s.bootId);
      if (!connect.alive) return { running: false, workers: 0, reason: `the Spark Connect server ${connect.reason}` };
    }
    const status = await masterStatus(s.spec.host, s.masterWebPort, 3000);
    if (!status) {
      // A master busy with a long GC pause may not answer in time: alive, not dead.
      let workers = 0;
      for (const w of s.workers) if ((await processAlive(w, s.bootId)).alive) workers++;
      return { running: true, workers, reason: 'the Spark master does not answer; counting worker processes' };
    }
    const ports = aliveWorkerPorts(status);
    return { running: true, workers: s.workers.filter((w) => ports.has(w.port)).length };
  }

  /**
   * Stop everything of the cluster: master, workers, their executors (and the Python workers those
   * forked), the Connect server, anything else carrying the cluster's id; remove its cgroups and
   * scratch directory. Idempotent.
   */
  async stop(state: ClusterState, options: { graceMs?: number } = {}): Promise<void> {
    const s = parseLocalSparkState(state);
    if (!s) {
      this.log.warn('stop() called with a state that is not a local Spark cluster state; nothing to stop');
      return;
    }
    if (s.scope !== this.dataDir) {
      this.log.warn({ cluster: s.name, scope: s.scope }, 'stop() called with a Spark cluster of another hub data directory; nothing to stop');
      return;
    }
    const refs = [...(s.master ? [s.master] : []), ...s.workers, ...(s.connect ? [s.connect] : [])];
    await this.terminate(s, refs, () => true, undefined, Math.max(0, options.graceMs ?? this.stopGraceMs));
    await removeTree(this.scratchOf(s.clusterId)).catch((err: unknown) => this.log.warn({ cluster: s.name, err: String(err) }, 'could not remove a stopped Spark cluster\'s scratch directory'));
  }

  /** The worker daemons (not their executors) of a cluster, by index. */
  private static workerRoots(procs: MarkedProcess[]): Map<number, MarkedProcess> {
    const pids = new Set(procs.map((p) => p.pid));
    const roots = new Map<number, MarkedProcess>();
    for (const p of procs) {
      if (p.env.get(SPARK_MARKER_ENV.role) !== 'worker' || pids.has(p.stat.ppid)) continue;
      const index = Number(p.env.get(SPARK_MARKER_ENV.worker));
      if (!Number.isInteger(index) || index < 0) continue;
      const prev = roots.get(index);
      if (!prev || p.stat.startTime < prev.stat.startTime) roots.set(index, p);
    }
    return roots;
  }

  /** A worker daemon's RPC and web UI ports, from its command line (0 when it is not a worker daemon). */
  private static async workerPorts(pid: number): Promise<{ port: number; webPort: number }> {
    try {
      const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
      if (!args.includes(MAIN_CLASS.worker)) return { port: 0, webPort: 0 };
      const at = (flag: string) => Number(args[args.lastIndexOf(flag) + 1]);
      const port = at('--port');
      const webPort = at('--webui-port');
      return { port: isPort(port) ? port : 0, webPort: isPort(webPort) ? webPort : 0 };
    } catch {
      return { port: 0, webPort: 0 };
    }
  }

  /** Worker daemons as state entries. An executor whose worker died is not one (stop() finds it by marker). */
  private static async workerRefs(roots: Map<number, MarkedProcess>): Promise<WorkerRef[]> {
    const out: WorkerRef[] = [];
    for (const [index, p] of [...roots.entries()].sort(([a], [b]) => a - b)) {
      const ports = await LocalSparkBackend.workerPorts(p.pid);
      if (ports.port) out.push({ pid: p.pid, startTime: p.stat.startTime, index, ...ports });
    }
    return out;
  }

  async scale(state: ClusterState, workers: number, options: { timeoutMs: number }): Promise<ClusterState> {
    const s = parseLocalSparkState(state);
    if (!s) throw new ClusterError('Not a local Spark cluster state');
    if (s.scope !== this.dataDir) throw new ClusterError('Not a Spark cluster of this hub');
    if (!Number.isInteger(workers) || workers < 0 || workers > 1024) throw new ClusterError(`Invalid number of Spark workers: ${String(workers)}`);
    const deadline = Date.now() + options.timeoutMs;
    const master = await processAlive(s.master, s.bootId);
    if (!master.alive) throw new ClusterError(`Cannot scale the Spark cluster: the master ${master.reason}`);
    const procs = await this.scan(s.clusterId);
    const masterProc = procs.find((p) => p.pid === s.master!.pid);
    if (!masterProc) throw new ClusterError('Cannot scale the Spark cluster: the master process cannot be inspected');
    // New workers get the master's environment (it holds start's options.env, which the state must
    // not). It is the owner's to change (the master runs as them), so it only ever reaches processes
    // that run as the owner; what the hub itself acts on (spec, Java, markers, account) comes from
    // the stored state.
    const spec = s.spec;
    const env = Object.fromEntries([...masterProc.env].filter(([k]) => !k.startsWith('REFINERY_')));
    markClusterEnv(env, { kind: 'spark', scope: this.dataDir, clusterId: s.clusterId, name: s.name, user: s.user, server: s.server, spec });
    const roots = LocalSparkBackend.workerRoots(procs);
    const current = [...roots.keys()].sort((a, b) => a - b);

    if (workers > current.length) {
      const add: number[] = [];
      for (let i = 0; add.length < workers - current.length; i++) if (!roots.has(i)) add.push(i);
      let wake: () => void = () => {};
      const jvm = await sparkJvm(this.java({ JAVA_HOME: spec.javaHome ?? '' }), this.sparkHome);
      const c: ClusterContext = {
        clusterId: s.clusterId, spec, jvm, env, server: s.server, name: s.name, onExit: () => wake(),
        runDir: spec.runDir ?? join(spec.homeDir, '.refinery'), runAs: s.runAs ?? null,
        archives: this.archives?.available(jvm) ?? {},
      };
      const settled = await Promise.allSettled(add.map((i) => this.launchWorker(c, i)));
      const launched = settled.map((r) => (r.status === 'fulfilled' ? r.value : null));
      const undo = async (message: string, detailFrom: (Launched | null)[]): Promise<never> => {
        const addSet = new Set(add.map(String));
        await this.terminate(s, launched.filter((l): l is LaunchedWorker => !!l), (e) => e.get(SPARK_MARKER_ENV.role) === 'worker' && addSet.has(e.get(SPARK_MARKER_ENV.worker) ?? ''), (leaf) => add.some((i) => leaf === `${s.clusterId}-w${i}`), 500);
        const parts: string[] = [];
        for (const l of detailFrom) if (l) parts.push(`--- ${l.logPath}\n${await readLogTail(l.logPath, LOG_TAIL_LINES)}`);
        throw new ClusterError(message, parts.join('\n') || undefined);
      };
      const failed = settled.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
      if (failed) return undo(failed.reason instanceof Error ? failed.reason.message : String(failed.reason), []);
      let delay = 40;
      for (;;) {
        const dead = launched.find((l) => l?.exited);
        if (dead) return undo(`Spark worker ${dead.index} ${describeExit(dead.exited!)} before it registered with the master`, [dead]);
        const status = await masterStatus(spec.host, spec.masterWebPort, 2000);
        const ports = status ? aliveWorkerPorts(status) : new Set<number>();
        const count = launched.filter((l) => l && ports.has(l.port)).length;
        if (count >= add.length) break;
        if (Date.now() >= deadline) return undo(`Only ${count} of ${add.length} new Spark workers registered within ${formatSeconds(options.timeoutMs)} seconds`, launched);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now())));
        });
        wake = () => {};
        delay = Math.min(delay * 1.3, 150);
      }
      this.log.info({ user: s.user, server: s.server, cluster: s.name, workers }, 'local Spark cluster scaled up');
    } else if (workers < current.length) {
      const remove = current.slice(workers);
      const removeSet = new Set(remove.map(String));
      const removed = await LocalSparkBackend.workerRefs(new Map(remove.map((i) => [i, roots.get(i)!])));
      // Executors on these workers are lost; Spark reruns their tasks elsewhere.
      await this.terminate(
        s,
        removed,
        (e) => e.get(SPARK_MARKER_ENV.role) === 'worker' && removeSet.has(e.get(SPARK_MARKER_ENV.worker) ?? ''),
        (leaf) => remove.some((i) => leaf === `${s.clusterId}-w${i}`),
        Math.min(this.stopGraceMs, 2000),
      );
      // The master notices a closed worker connection at once; wait until it no longer lists them ALIVE.
      const ports = new Set(removed.map((w) => w.port));
      for (;;) {
        const status = await masterStatus(spec.host, spec.masterWebPort, 2000);
        if (status && ![...aliveWorkerPorts(status)].some((p) => ports.has(p))) break;
        if (Date.now() >= deadline) throw new ClusterError(`The Spark master still lists removed workers as alive after ${formatSeconds(options.timeoutMs)} seconds`);
        await sleep(100);
      }
      this.log.info({ user: s.user, server: s.server, cluster: s.name, workers }, 'local Spark cluster scaled down');
    }

    const next: LocalSparkState = { ...s, spec, workers: await LocalSparkBackend.workerRefs(LocalSparkBackend.workerRoots(await this.scan(s.clusterId))) };
    const cgroups = await this.clusterCgroups(s);
    if (cgroups.length) next.cgroups = cgroups;
    else delete next.cgroups;
    return next;
  }

  /**
   * Clusters of this backend (this data dir) with live processes, found by their markers (Linux;
   * elsewhere always empty). A cluster whose master died but whose other processes live on is listed
   * with `master: null`, so that stop() on it kills the rest. Empty cgroups of clusters that are gone
   * are removed.
   */
  async list(): Promise<ClusterState[]> {
    if (!HAS_PROC) return [];
    const byCluster = new Map<string, MarkedProcess[]>();
    for (const p of await this.scan()) {
      const id = p.env.get(SPARK_MARKER_ENV.clusterId)!;
      byCluster.set(id, [...(byCluster.get(id) ?? []), p]);
    }
    const boot = bootId();
    const states: LocalSparkState[] = [];
    for (const [clusterId, procs] of byCluster) {
      if (!UUID.test(clusterId)) continue;
      const env = procs[0]!.env;
      let spec: SparkSpec | null = null;
      try {
        spec = JSON.parse(env.get(SPARK_MARKER_ENV.spec) ?? '') as SparkSpec;
      } catch {
        spec = null;
      }
      if (!spec || typeof spec !== 'object' || !isPort(spec.masterPort) || !isPort(spec.masterWebPort)) continue;
      const pids = new Set(procs.map((p) => p.pid));
      const root = (role: string) => procs.filter((p) => p.env.get(SPARK_MARKER_ENV.role) === role && !pids.has(p.stat.ppid)).sort((a, b) => a.stat.startTime - b.stat.startTime)[0];
      const masterProc = root('master');
      const connectProc = root('connect');
      const host = spec.host.includes(':') ? `[${spec.host}]` : spec.host;
      states.push({
        backend: 'local', kind: 'spark', clusterId, scope: this.dataDir,
        user: env.get(SPARK_MARKER_ENV.user) ?? '',
        server: env.get(SPARK_MARKER_ENV.server) ?? '',
        name: env.get(SPARK_MARKER_ENV.name) ?? 'spark',
        masterUrl: `spark://${host}:${spec.masterPort}`,
        masterWebPort: spec.masterWebPort,
        connectUrl: spec.connectPort ? `sc://localhost:${spec.connectPort}` : null,
        spec,
        master: masterProc ? { pid: masterProc.pid, startTime: masterProc.stat.startTime } : null,
        workers: await LocalSparkBackend.workerRefs(LocalSparkBackend.workerRoots(procs)),
        connect: connectProc ? { pid: connectProc.pid, startTime: connectProc.stat.startTime } : null,
        bootId: boot,
      });
    }
    if (this.cgroupRoot !== null) {
      const layout = await this.cgroupLayout();
      if (layout.memory || layout.cpu) {
        const existing = await listServerCgroups(layout, CGROUP_PARENT);
        const keep = new Set<string>();
        for (const st of states) {
          const dirs: string[] = [];
          for (const [leaf, found] of existing) {
            if (!leaf.startsWith(`${st.clusterId}-`)) continue;
            keep.add(leaf);
            dirs.push(...found);
          }
          if (dirs.length) st.cgroups = dirs;
        }
        const removed = await sweepEmptyServerCgroups(layout, CGROUP_PARENT, { minAgeMs: this.cgroupSweepAfterMs, keep });
        if (removed.length) this.log.info({ cgroups: removed }, 'removed empty cgroups of Spark clusters that are gone');
      }
    }
    return states;
  }
}

interface ClusterContext {
  clusterId: string;
  spec: SparkSpec;
  jvm: SparkJvm;
  env: Record<string, string>;
  server: string;
  name: string;
  archives: Partial<Record<SparkRole, string>>;
  onExit: () => void;
  /** Where the logs go. */
  runDir: string;
  /** Who the processes run as (null: the hub's own account). */
  runAs: RunAs | null;
  /**
   * The S3A jars, when this start has object storage. The Connect server is a driver started without
   * spark-submit's launcher, which is what applies spark.driver.extraClassPath; so it gets them here.
   */
  s3aClasspath?: string;
}

/** One summary of several processes' enforcement: a setting counts as enforced only where it is for all of them. */