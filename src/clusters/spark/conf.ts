/**
 * What a Spark cluster request means in numbers and in Spark configuration: pure functions, no I/O.
 *
 * SIZES. `worker.memory` is what Spark itself calls a worker's memory: the memory its executors may
 * use (`Worker --memory`, and `spark.executor.memory` so that one executor fills one worker), exactly
 * as the Kubernetes operator turns it into `spark.executor.memory`. The processes around it need
 * more than that, so the hard limits (cgroups) are larger than the request:
 *
 *   | process        | JVM heap                                         | memory limit of its cgroup                         | CPU limit      |
 *   |----------------|--------------------------------------------------|----------------------------------------------------|----------------|
 *   | master         | 75% of head.memory (at least 128 MiB)            | head.memory (at least heap + 160 MiB)               | head.cores     |
 *   | worker         | WORKER_DAEMON_HEAP_MIB for the daemon            | worker.memory + overhead(worker.memory)             | worker.cores   |
 *   |   + executors  | worker.memory (spark.executor.memory)            |   + daemon heap + 160 MiB (same cgroup: children)   |                |
 *   | Connect server | spark.driver.memory from conf, else max(head.memory, 1 GiB) | heap + overhead(heap)                   | head.cores     |
 *
 * overhead(m) = max(384 MiB, 10% of m): Spark's own `spark.executor.memoryOverhead` default on YARN and
 * Kubernetes (off-heap buffers, thread stacks, metaspace, Python workers). Spark refuses executors and
 * drivers with less than 450 MiB of heap (UnifiedMemoryManager: 1.5 × 300 MiB reserved), so smaller
 * requests are refused up front instead of failing at the first job. Fractional cores: Spark's
 * `--cores` gets the value rounded up (at least 1); the cgroup keeps the exact figure as CPU limit.
 *
 * CONFIGURATION: one `spark-defaults.conf` per cluster, read by everything that runs with its
 * SPARK_CONF_DIR (the notebook's driver through spark-submit, the master, the workers and through
 * them the executors, the Connect server). See LocalSparkBackend for what goes in and why.
 */
import type { ClusterRequest } from '../backend.js';

export const MiB = 1024 ** 2;
/** Spark's minimum heap for an executor or a driver (UnifiedMemoryManager: 1.5 × 300 MiB reserved). */
export const SPARK_MIN_HEAP = 450 * MiB;
/** Heap of each worker daemon (the executors are separate JVMs). Spark's default would be 1 GiB. */
export const WORKER_DAEMON_HEAP_MIB = 256;
/** Non-heap allowance of a small daemon JVM (metaspace, code cache, thread stacks, mapped class archive). */
export const DAEMON_NON_HEAP_MIB = 160;

/** Spark's memory overhead rule, in MiB: max(384 MiB, 10%). */
export function overheadMiB(heapMiB: number): number {
  return Math.max(384, Math.ceil(heapMiB * 0.1));
}

/**
 * A JVM memory string as Spark reads `spark.executor.memory` / `spark.driver.memory` (a number with
 * an optional k, m, g or t suffix; no suffix = MiB), in MiB; null when it is not one.
 */
export function parseJvmMemoryMiB(value: string): number | null {
  const m = /^\s*(\d+)\s*([kmgt]?)b?\s*$/i.exec(value);
  if (!m) return null;
  const n = Number(m[1]);
  const unit = (m[2] ?? '').toLowerCase();
  const mib = unit === 'k' ? n / 1024 : unit === 'g' ? n * 1024 : unit === 't' ? n * 1024 * 1024 : n;
  return Number.isFinite(mib) ? Math.floor(mib) : null;
}

export interface SparkSizing {
  /** `--cores` of each worker and spark.executor.cores (whole, ≥ 1). */
  workerCores: number;
  /** `--memory` of each worker and spark.executor.memory, MiB. */
  executorMemoryMiB: number;
  workerDaemonHeapMiB: number;
  /** Per worker cgroup: bytes and cores. */
  workerMemoryLimit: number;
  workerCpuLimit: number;
  masterHeapMiB: number;
  masterMemoryLimit: number;
  masterCpuLimit: number;
  connectHeapMiB: number;
  connectMemoryLimit: number;
  connectCpuLimit: number;
}

export function sparkSizing(request: Pick<ClusterRequest, 'worker' | 'head' | 'conf'>): SparkSizing {
  const workerCores = Math.max(1, Math.ceil(request.worker.cores - 1e-9));
  const executorMemoryMiB = Math.floor(request.worker.memory / MiB);
  const headMiB = Math.floor(request.head.memory / MiB);
  const masterHeapMiB = Math.max(128, Math.floor(headMiB * 0.75));
  const driverConf = request.conf['spark.driver.memory'];
  const connectHeapMiB = (driverConf !== undefined ? parseJvmMemoryMiB(driverConf) : null) ?? Math.max(headMiB, 1024);
  return {
    workerCores,
    executorMemoryMiB,
    workerDaemonHeapMiB: WORKER_DAEMON_HEAP_MIB,
    workerMemoryLimit: (executorMemoryMiB + overheadMiB(executorMemoryMiB) + WORKER_DAEMON_HEAP_MIB + DAEMON_NON_HEAP_MIB) * MiB,
    workerCpuLimit: request.worker.cores,
    masterHeapMiB,
    masterMemoryLimit: Math.max(request.head.memory, (masterHeapMiB + DAEMON_NON_HEAP_MIB) * MiB),
    masterCpuLimit: request.head.cores,
    connectHeapMiB,
    connectMemoryLimit: (connectHeapMiB + overheadMiB(connectHeapMiB)) * MiB,
    connectCpuLimit: request.head.cores,
  };
}

function gib(bytes: number): string {
  const v = bytes / 1024 ** 3;
  return `${v >= 10 ? v.toFixed(0) : v.toFixed(1)} GiB`;
}

/** Keys the backend sets itself: a profile setting them would disconnect the notebook from its cluster or open it up. */
export const RESERVED_CONF: Record<string, string> = {
  'spark.master': 'the master address is chosen by Refinery',
  'spark.remote': 'SPARK_REMOTE is set by Refinery when the profile asks for `connect: true`',
  'spark.api.mode': 'use `connect: true` in the profile for Spark Connect',
  'spark.authenticate': 'the cluster always authenticates with its own secret',
  'spark.authenticate.secret': 'the cluster always authenticates with its own secret',
  'spark.authenticate.secret.file': 'the cluster always authenticates with its own secret',
  'spark.connect.authenticate.token': 'the Connect server always uses its own token',
  'spark.connect.grpc.binding.address': 'the Connect server address is chosen by Refinery',
  'spark.connect.grpc.binding.port': 'the Connect server address is chosen by Refinery',
  'spark.master.rest.enabled': 'the REST submission server stays off',
  'spark.driver.host': 'the driver listens on loopback',
  'spark.driver.bindAddress': 'the driver listens on loopback',
  'spark.ui.port': 'the application UI port is chosen by Refinery (it is shown as a link)',
};

const CONF_KEY = /^spark\.[A-Za-z0-9_.-]+$/;

/**
 * Everything wrong with a request for this backend, as sentences (empty when it can run).
 * `machineMemory` is the machine's total memory: a single process asking for more can never start.
 */
export function sparkRequestProblems(request: ClusterRequest, machineMemory: number): string[] {
  const problems: string[] = [];
  if (!Number.isInteger(request.workers) || request.workers < 0) problems.push(`the number of workers must be a whole number ≥ 0 (got ${String(request.workers)})`);
  for (const [what, amount] of [['worker', request.worker], ['master', request.head]] as const) {
    if (!(amount.cores > 0) || !Number.isFinite(amount.cores)) problems.push(`${what} cores must be a positive number (got ${String(amount.cores)})`);
    if (!(amount.memory > 0) || !Number.isFinite(amount.memory)) problems.push(`${what} memory must be a positive number of bytes (got ${String(amount.memory)})`);
  }
  if (problems.length) return problems;
  if (request.workers > 0 && request.worker.memory < SPARK_MIN_HEAP) {
    problems.push(`each worker needs at least 450 MiB of memory for its executor (Spark's minimum); the profile asks for ${Math.floor(request.worker.memory / MiB)} MiB`);
  }
  const sizing = sparkSizing(request);
  if (request.workers > 0 && sizing.workerMemoryLimit > machineMemory) {
    problems.push(`each worker asks for ${gib(request.worker.memory)} of memory (${gib(sizing.workerMemoryLimit)} with the JVMs' overhead), more than this machine has (${gib(machineMemory)})`);
  }
  if (sizing.masterMemoryLimit > machineMemory) problems.push(`the master asks for ${gib(request.head.memory)} of memory, more than this machine has (${gib(machineMemory)})`);
  if (request.connect) {
    if (sizing.connectHeapMiB * MiB < SPARK_MIN_HEAP) problems.push(`the Spark Connect server needs at least 450 MiB of memory (spark.driver.memory is ${sizing.connectHeapMiB} MiB)`);
    else if (sizing.connectMemoryLimit > machineMemory) problems.push(`the Spark Connect server asks for ${gib(sizing.connectHeapMiB * MiB)} of memory, more than this machine has (${gib(machineMemory)})`);
  }
  for (const [key, value] of Object.entries(request.conf ?? {})) {
    if (!CONF_KEY.test(key)) problems.push(`conf key ${JSON.stringify(key)} is not a Spark setting (spark.<letters, digits, ".", "_", "-">)`);
    else if (RESERVED_CONF[key]) problems.push(`conf ${key} cannot be set: ${RESERVED_CONF[key]}`);
    if (typeof value !== 'string' || value.includes('\0')) problems.push(`conf ${key} must be a string`);
  }
  const executorMemory = request.conf?.['spark.executor.memory'];
  if (executorMemory !== undefined) {
    const mib = parseJvmMemoryMiB(executorMemory);
    if (mib === null) problems.push(`conf spark.executor.memory: expected a JVM memory size like 512m or 2g, got ${JSON.stringify(executorMemory)}`);
    else if (mib * MiB < SPARK_MIN_HEAP) problems.push(`conf spark.executor.memory is ${mib} MiB; Spark needs at least 450 MiB per executor`);
    else if (request.workers > 0 && mib > sizing.executorMemoryMiB) problems.push(`conf spark.executor.memory (${mib} MiB) is more than a worker has (${sizing.executorMemoryMiB} MiB): no executor could ever start`);
  }
  const driverMemory = request.conf?.['spark.driver.memory'];
  if (driverMemory !== undefined && parseJvmMemoryMiB(driverMemory) === null) problems.push(`conf spark.driver.memory: expected a JVM memory size like 1g, got ${JSON.stringify(driverMemory)}`);
  return problems;
}

// ---------------------------------------------------------------------------------------------------
// spark-defaults.conf

/** java.util.Properties escaping (Spark reads the file with Properties.load over UTF-8). */
function escapeProperty(text: string, isKey: boolean): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\') out += '\\\\';
    else if (c === '\n') out += '\\n';
    else if (c === '\r') out += '\\r';
    else if (c === '\t') out += '\\t';
    else if (c === '\f') out += '\\f';
    else if ((isKey && (c === '=' || c === ':' || c === ' ' || c === '#' || c === '!')) || (!isKey && i === 0 && (c === ' '))) out += `\\${c}`;
    else out += c;
  }
  return out;
}

/** The text of a spark-defaults.conf with these entries, in this order. */
export function renderSparkDefaults(entries: Iterable<readonly [string, string]>, header: string[] = []): string {
  const lines = header.map((l) => `# ${l}`);
  for (const [key, value] of entries) lines.push(`${escapeProperty(key, true)}=${escapeProperty(value, false)}`);
  return `${lines.join('\n')}\n`;
}

/** Read back what renderSparkDefaults wrote (only its own format: `key=value` lines, `#` comments). */
export function parseSparkDefaults(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    if (!raw || raw.startsWith('#')) continue;
    let key = '';
    let i = 0;
    for (; i < raw.length; i++) {
      const c = raw[i]!;
      if (c === '\\' && i + 1 < raw.length) key += raw[++i];
      else if (c === '=') break;
      else key += c;
    }
    const rest = raw.slice(i + 1);
    let value = '';
    for (let j = 0; j < rest.length; j++) {
      const c = rest[j]!;
      if (c === '\\' && j + 1 < rest.length) {
        const n = rest[++j]!;
        value += n === 'n' ? '\n' : n === 'r' ? '\r' : n === 't' ? '\t' : n === 'f' ? '\f' : n;
      } else value += c;
    }
    out.set(key, value);
  }
  return out;
}

export interface SparkDefaultsInput {
  host: string;
  masterPort: number;
  appUiPort: number;
  sizing: SparkSizing;
  workers: number;
  conf: Record<string, string>;
  authSecret: string;
  connectToken: string | null;
}

/**
 * The entries of the cluster's spark-defaults.conf: wiring first (fixed), then sizes (the profile's
 * `conf` may replace them), then the profile's `conf`.
 */
export function sparkDefaults(input: SparkDefaultsInput): [string, string][] {
  const wiring: [string, string][] = [
    ['spark.master', `spark://${input.host}:${input.masterPort}`],
    ['spark.driver.host', input.host],
    ['spark.driver.bindAddress', input.host],
    ['spark.ui.port', String(input.appUiPort)],
    ['spark.authenticate', 'true'],
    ['spark.authenticate.secret', input.authSecret],
    ['spark.master.rest.enabled', 'false'],
  ];
  if (input.connectToken) wiring.push(['spark.connect.authenticate.token', input.connectToken]);
  const sizes: [string, string][] = [
    ['spark.executor.cores', String(input.sizing.workerCores)],
    ['spark.executor.memory', `${input.sizing.executorMemoryMiB}m`],
  ];
  const out = new Map<string, string>([...wiring, ...sizes]);
  for (const [key, value] of Object.entries(input.conf)) {
    if (RESERVED_CONF[key]) continue; // refused earlier; never let one through
    out.set(key, value);
  }
  return [...out];
}
