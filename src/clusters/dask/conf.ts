/**
 * `conf` of a Dask cluster request, turned into what the cluster's processes get. Two kinds of keys:
 *
 * 1. A `dask worker` option, written without or with its leading dashes (`lifetime` or `--lifetime`).
 *    It goes onto every worker's command line:
 *
 *      | key                          | value                             | becomes                               |
 *      |------------------------------|-----------------------------------|---------------------------------------|
 *      | `nthreads`                   | whole number ≥ 1                  | `--nthreads N` (default: worker.cores, rounded, at least 1; the CPU limit stays worker.cores) |
 *      | `resources`                  | `GPU=2 MEM=10e9`                  | `--resources "GPU=2 MEM=10e9"`        |
 *      | `lifetime`, `lifetime-stagger`, `death-timeout` | a duration: `1h`, `90s`, `30 minutes` | `--lifetime 1h` ... |
 *      | `lifetime-restart`           | true / false                      | `--lifetime-restart` / `--no-lifetime-restart` |
 *      | `nanny`                      | true (default) / false            | `--nanny` / `--no-nanny`              |
 *      | `dashboard`                  | true / false (default)            | the worker's own dashboard (the scheduler's is always on); off by default: it costs each worker a bokeh import at start |
 *      | `preload`, `preload-nanny`   | module names or paths, comma-separated | `--preload M` once per module    |
 *      | `worker-class`               | dotted name                       | `--worker-class pkg.Class`            |
 *
 *    Options the backend decides itself are refused with the reason: `name`, `nworkers`, `host`,
 *    `listen-address`, `contact-address`, `interface`, `protocol`, `worker-port`, `nanny-port`,
 *    `dashboard-address`, `local-directory`, `scheduler-file`, `pid-file`, `tls-*`, `scheduler-sni`
 *    (addresses and files are the backend's), and `memory-limit` (that is `worker.memory`, which the
 *    quota counts).
 *
 * 2. A Dask configuration key, recognised by its dots (`distributed.worker.memory.spill`,
 *    `distributed.scheduler.idle-timeout`, `array.chunk-size`). It goes to the scheduler and every
 *    worker as Dask's own environment variable (`DASK_DISTRIBUTED__WORKER__MEMORY__SPILL=0.7`), which
 *    Dask reads at import and parses like YAML/Python literals (`0.7` a number, `false` a boolean,
 *    `10s` a string). Not to the notebook: a client-side setting belongs in the image's or profile's env.
 *
 * Everything else is refused, so a typo is an error at load or start instead of a silently ignored setting.
 */
import type { ClusterRequest } from '../backend.js';

export interface DaskWorkerOptions {
  /** Threads per worker process. */
  nthreads: number;
  /** Start each worker under a nanny (restarts it, enforces the memory limit by terminating it). */
  nanny: boolean;
  /** Extra `dask worker` arguments (never secrets). */
  args: string[];
  /** Dask configuration as environment variables, for scheduler and workers. */
  env: Record<string, string>;
}

type Kind = 'count' | 'duration' | 'bool' | 'resources' | 'modules' | 'dotted';

const WORKER_OPTIONS: Record<string, Kind> = {
  nthreads: 'count',
  resources: 'resources',
  lifetime: 'duration',
  'lifetime-stagger': 'duration',
  'death-timeout': 'duration',
  'lifetime-restart': 'bool',
  nanny: 'bool',
  dashboard: 'bool',
  preload: 'modules',
  'preload-nanny': 'modules',
  'worker-class': 'dotted',
};

const MANAGED: Record<string, string> = {
  'memory-limit': 'set the memory per worker with `worker.memory` instead',
  name: 'workers are named by Refinery',
  nworkers: 'each worker is its own process: set `workers` instead',
  host: 'addresses are chosen by Refinery',
  'listen-address': 'addresses are chosen by Refinery',
  'contact-address': 'addresses are chosen by Refinery',
  interface: 'addresses are chosen by Refinery',
  protocol: 'addresses are chosen by Refinery',
  'worker-port': 'addresses are chosen by Refinery',
  'nanny-port': 'addresses are chosen by Refinery',
  'dashboard-address': 'addresses are chosen by Refinery',
  'local-directory': 'the scratch directory is chosen by Refinery',
  'scheduler-file': 'the scheduler address is given by Refinery',
  'pid-file': 'processes are tracked by Refinery',
  'scheduler-sni': 'TLS is set up by Refinery',
};

const DURATION = /^\d+(\.\d+)?\s*(ms|milliseconds?|s|seconds?|m|min|minutes?|h|hours?|d|days?|w|weeks?)?$/i;
const RESOURCES = /^[A-Za-z_][A-Za-z0-9_]*=\d+(\.\d+)?(e[+-]?\d+)?(\s+[A-Za-z_][A-Za-z0-9_]*=\d+(\.\d+)?(e[+-]?\d+)?)*$/;
const DOTTED = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$/;
const MODULE = /^([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*|\/[^\0,]+\.py)$/;
const CONFIG_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

function parseBool(value: string): boolean | undefined {
  const v = value.trim().toLowerCase();
  if (v === 'true' || v === 'yes' || v === '1') return true;
  if (v === 'false' || v === 'no' || v === '0') return false;
  return undefined;
}

/** The environment variable Dask reads for a configuration key: `distributed.worker.memory.spill` → `DASK_DISTRIBUTED__WORKER__MEMORY__SPILL`. */
export function daskConfigEnvName(key: string): string {
  return `DASK_${key.split('.').map((s) => s.replace(/-/g, '_').toUpperCase()).join('__')}`;
}

/** A problem with one conf entry, as "conf.<key>: <what is wrong>", or null. */
function check(key: string, value: string): string | null {
  const where = `conf.${key}`;
  if (key.includes('.')) {
    if (!key.split('.').every((s) => CONFIG_SEGMENT.test(s))) return `${where}: not a Dask configuration key (dot-separated names such as distributed.worker.memory.spill)`;
    if (/[\0\n]/.test(value)) return `${where}: the value may not contain line breaks`;
    return null;
  }
  const flag = key.replace(/^--?/, '');
  if (flag.startsWith('tls-') || MANAGED[flag]) return `${where}: cannot be set here (${MANAGED[flag] ?? 'TLS is set up by Refinery'})`;
  const kind = WORKER_OPTIONS[flag];
  if (!kind) {
    return `${where}: unknown Dask worker option (known: ${Object.keys(WORKER_OPTIONS).join(', ')}; or a Dask configuration key with dots, such as distributed.worker.memory.spill)`;
  }
  const v = value.trim();
  switch (kind) {
    case 'count':
      return /^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 1024 ? null : `${where}: expected a whole number from 1 to 1024, got ${JSON.stringify(value)}`;
    case 'duration':
      return DURATION.test(v) ? null : `${where}: expected a duration such as "1h", "90s" or "30 minutes", got ${JSON.stringify(value)}`;
    case 'bool':
      return parseBool(v) === undefined ? `${where}: expected true or false, got ${JSON.stringify(value)}` : null;
    case 'resources':
      return RESOURCES.test(v) ? null : `${where}: expected resources such as "GPU=2 MEM=10e9", got ${JSON.stringify(value)}`;
    case 'modules':
      return v.split(',').every((m) => MODULE.test(m.trim())) ? null : `${where}: expected module names or absolute .py paths, comma-separated, got ${JSON.stringify(value)}`;
    case 'dotted':
      return DOTTED.test(v) ? null : `${where}: expected a dotted class name such as distributed.Worker, got ${JSON.stringify(value)}`;
  }
}

/** Every problem with a request's conf (empty when it is fine). */
export function daskConfProblems(conf: Record<string, string>): string[] {
  const problems: string[] = [];
  const seen = new Map<string, string>();
  for (const [key, value] of Object.entries(conf)) {
    const problem = check(key, String(value));
    if (problem) problems.push(problem);
    if (!key.includes('.')) {
      const flag = key.replace(/^--?/, '');
      const other = seen.get(flag);
      if (other !== undefined) problems.push(`conf.${key}: given twice (also as conf.${other})`);
      seen.set(flag, key);
    }
  }
  return problems;
}

/**
 * The worker command-line options and Dask configuration environment of a request. Call
 * daskConfProblems first: entries with problems are skipped here.
 */
export function daskWorkerOptions(request: Pick<ClusterRequest, 'worker' | 'conf'>): DaskWorkerOptions {
  const out: DaskWorkerOptions = { nthreads: Math.max(1, Math.round(request.worker.cores)), nanny: true, args: [], env: {} };
  let dashboard = false;
  for (const [key, raw] of Object.entries(request.conf)) {
    const value = String(raw);
    if (check(key, value)) continue;
    if (key.includes('.')) {
      out.env[daskConfigEnvName(key)] = value;
      continue;
    }
    const flag = key.replace(/^--?/, '');
    const v = value.trim();
    switch (WORKER_OPTIONS[flag]) {
      case 'count':
        out.nthreads = Number(v);
        break;
      case 'bool': {
        const on = parseBool(v)!;
        if (flag === 'nanny') out.nanny = on;
        else if (flag === 'dashboard') dashboard = on;
        else out.args.push(on ? `--${flag}` : `--no-${flag}`);
        break;
      }
      case 'modules':
        for (const m of v.split(',')) out.args.push(`--${flag}`, m.trim());
        break;
      default:
        out.args.push(`--${flag}`, v);
    }
  }
  out.args.push(out.nanny ? '--nanny' : '--no-nanny');
  out.args.push(dashboard ? '--dashboard' : '--no-dashboard');
  return out;
}
