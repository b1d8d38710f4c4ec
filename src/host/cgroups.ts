/**
 * CPU and memory limits for local single-user servers, with Linux control groups (cgroups). Linux
 * only; needs root, or a cgroup subtree delegated to the hub's user. Plain functions: LocalSpawner
 * decides when to call them.
 *
 * WHERE. Every server gets a cgroup of its own in each hierarchy it needs (memory, cpu), nested under
 * the hub's OWN cgroup (read from /proc/self/cgroup and /proc/self/mountinfo):
 *
 *   cgroup v1:  <root>/memory/<hub's memory cgroup>/refinery/<spawnId>
 *               <root>/cpu/<hub's cpu cgroup>/refinery/<spawnId>
 *   cgroup v2:  <v2 mount>/<hub's cgroup>/refinery/<spawnId>       (v2 mount: <root>, or <root>/unified)
 *
 * Under the hub's own cgroup rather than at the top of the hierarchy: the servers stay inside
 * whatever limits and accounting the hub itself lives under (a systemd unit, a container, a CI job),
 * and it is the one place a delegated, non-root hub may write.
 *
 * WHAT. v1: memory.limit_in_bytes (and memory.memsw.limit_in_bytes to the same value where swap is
 * accounted, so the limit covers swap too), memory.soft_limit_in_bytes for a guarantee,
 * cpu.cfs_quota_us/cpu.cfs_period_us (limit × 100 ms per 100 ms) and cpu.shares (1024 per guaranteed
 * core). v2: memory.max, memory.swap.max = 0, memory.low, cpu.max, cpu.weight (100 per guaranteed core).
 * Limits are hard (the kernel's OOM killer picks a process INSIDE the server's cgroup, usually the
 * kernel that allocated; the CPU is throttled). Guarantees are best effort: a soft limit / memory.low
 * protects the server's memory under pressure, and the CPU weight only matters when the cores are
 * contended; nothing is reserved up front (JupyterHub's LocalProcessSpawner enforces none of these).
 *
 * THE PARENT'S CPU WEIGHT. The kernel shares CPU time between SIBLINGS: the parent (`refinery/`) is
 * one sibling of every process and cgroup in the hub's own cgroup, and everything below it shares
 * what the parent gets. Left at the default weight (1024 / 100, one ordinary process), 32 servers
 * starting at once next to a build with a few busy processes got a few percent of the machine between
 * them (measured: 8 servers next to ~10 runnable processes got 0.2 of 2 cores together, every thread
 * runnable and waiting, none throttled or blocked, and all 8 missed the 120 s start timeout; each
 * would start in 4 s alone). So the parent's weight is kept at the SUM of its children's weights
 * (rebalanceCpuParent, after every server cgroup made, settled or removed): the subtree then weighs
 * what its servers would weigh side by side in the hub's cgroup, as JupyterHub's server processes do,
 * and each guarantee means against the rest of the machine what it says.
 *
 * START-UP WEIGHT. A guarantee below one core (the default size: 0.5) is a weight BELOW an ordinary
 * process's, which is right for a server people work in, but a server that is still starting has a
 * person waiting at the spawn page. So `createServerCgroups(..., { startup: true })` writes at least
 * STARTUP_WEIGHT_FACTOR ordinary processes' weight (a person waiting beats a batch job; the local
 * spawner starts only a few servers at once, so the boost is bounded), and `settleServerCgroups`
 * writes the guarantee's weight once the server answers. Only the weight changes: the CPU limit (cpu.max / quota) and the memory limits hold from
 * the first instruction, so a server of size small is held to 1 CPU and 2G all along.
 *
 * HOW THE SERVER GETS IN. It is started through `wrapCommand()`: `sh -c 'echo $$ > <cgroup>/cgroup.procs
 * ...; exec "$@"'`, so it is inside before it runs a single line of its own, and every process it
 * starts (kernels, terminals, Spark's JVM, Dask workers) inherits the cgroup.
 *
 * WHEN CGROUPS ARE NOT USABLE (not Linux, not root, a read-only /sys/fs/cgroup as in an unprivileged
 * container, cgroup v2 whose controllers cannot be enabled below the hub's cgroup because the hub's
 * cgroup holds processes): the limit is reported as not enforced ('none'). There is no sound
 * per-server substitute in rlimits:
 *   - RLIMIT_AS (address space) breaks the JVM (pyspark), which reserves gigabytes of address space it
 *     never touches, and numpy/OpenBLAS, glibc malloc arenas and Go runtimes do much the same; it is
 *     never used here.
 *   - RLIMIT_DATA counts private writable mappings, closer to what a process really uses, but it is
 *     per PROCESS (a server with three kernels could use four times the limit) and still trips some
 *     programs' reservations. It is available as an explicit opt-in ('rlimit-data', see
 *     LocalSpawnerOptions.memoryLimitFallback) and reported as such.
 *   - RLIMIT_CPU is a budget of CPU seconds after which the process is killed, not a rate: nothing in
 *     rlimits can say "half a core", so CPU limits without cgroups are 'none'.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rmdir, stat, statfs, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** What a spawn asks for: cores (fractions allowed) and bytes. The same shape as SpawnRequest['resources']. */
export interface ResourceSpec {
  cpuGuarantee?: number;
  cpuLimit?: number;
  memoryGuarantee?: number;
  memoryLimit?: number;
}

/** How a resource setting was put into effect. */
export type Enforcement = 'cgroup-v1' | 'cgroup-v2' | 'rlimit-data' | 'none';

/** One entry per setting the spawn asked for; settings it did not ask for are absent. */
export type EnforcedResources = Partial<Record<keyof ResourceSpec, Enforcement>>;

export type Controller = 'memory' | 'cpu';

/** Where one controller lives and where this process sits in it. */
export interface CgroupHierarchy {
  version: 1 | 2;
  controller: Controller;
  /** The hierarchy's mount point, e.g. `/sys/fs/cgroup/memory` (v1) or `/sys/fs/cgroup` (v2). */
  mount: string;
  /** The hub's own cgroup as a directory, e.g. `/sys/fs/cgroup/memory/system.slice/refinery.service`. */
  own: string;
}

export interface CgroupLayout {
  memory: CgroupHierarchy | null;
  cpu: CgroupHierarchy | null;
  /** Why a controller is missing, in words fit for a log line. */
  problems: string[];
}

/** Linux's statfs f_type of cgroupfs (v1) and cgroup2fs. */
const CGROUP_SUPER_MAGIC = 0x27e0eb;
const CGROUP2_SUPER_MAGIC = 0x63677270;
/** CFS period written for CPU limits: 100 ms, the kernel's default. */
export const CPU_PERIOD_US = 100_000;
/** The CPU weight of a process or cgroup nobody set one for: v1 cpu.shares, v2 cpu.weight. */
export const DEFAULT_CPU_WEIGHT = { 1: 1024, 2: 100 } as const;
/** A starting server weighs at least this many ordinary processes (START-UP WEIGHT above). */
export const STARTUP_WEIGHT_FACTOR = 2;
/** What the kernel accepts: v1 cpu.shares 2..262144, v2 cpu.weight 1..10000. */
const CPU_WEIGHT_RANGE = { 1: [2, 262_144], 2: [1, 10_000] } as const;

/** The CPU weight for a guarantee of `cores` (1024 or 100 per core), within what the kernel accepts. */
export function cpuWeight(version: 1 | 2, cores: number): number {
  const [min, max] = CPU_WEIGHT_RANGE[version];
  return Math.min(max, Math.max(min, Math.round(cores * DEFAULT_CPU_WEIGHT[version])));
}

/** The name of the directory that holds the servers' cgroups under the hub's own cgroup. */
export const DEFAULT_CGROUP_PARENT = 'refinery';

// ---------------------------------------------------------------------------------------------------
// Checking a request

/** A problem with the numbers of a ResourceSpec (not finite, not positive, guarantee above limit), or null. */
export function checkResources(spec: ResourceSpec | undefined): string | null {
  if (!spec) return null;
  for (const key of ['cpuGuarantee', 'cpuLimit', 'memoryGuarantee', 'memoryLimit'] as const) {
    const v = spec[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) return `${key} must be a positive number (got ${JSON.stringify(v)})`;
  }
  if (spec.cpuLimit && spec.cpuGuarantee && spec.cpuGuarantee > spec.cpuLimit) return 'cpuGuarantee is above cpuLimit';
  if (spec.memoryLimit && spec.memoryGuarantee && spec.memoryGuarantee > spec.memoryLimit) return 'memoryGuarantee is above memoryLimit';
  return null;
}

/** The settings a spec actually asks for (present and positive). */
export function requestedSettings(spec: ResourceSpec | undefined): (keyof ResourceSpec)[] {
  if (!spec) return [];
  return (['memoryLimit', 'memoryGuarantee', 'cpuLimit', 'cpuGuarantee'] as const).filter((k) => typeof spec[k] === 'number' && spec[k]! > 0);
}

/**
 * The variables JupyterHub's Spawner.get_env() gives a server for its resources (jupyter-resource-usage
 * and other tools read them): MEM_LIMIT and MEM_GUARANTEE in bytes, CPU_LIMIT and CPU_GUARANTEE in cores.
 */
export function resourceEnv(spec: ResourceSpec | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  if (!spec) return env;
  if (spec.memoryLimit) env.MEM_LIMIT = String(Math.floor(spec.memoryLimit));
  if (spec.memoryGuarantee) env.MEM_GUARANTEE = String(Math.floor(spec.memoryGuarantee));
  if (spec.cpuLimit) env.CPU_LIMIT = String(spec.cpuLimit);
  if (spec.cpuGuarantee) env.CPU_GUARANTEE = String(spec.cpuGuarantee);
  return env;
}

// ---------------------------------------------------------------------------------------------------
// Finding the hierarchies

export interface ProcCgroup {
  /** v1: controller name -> path (from lines like `4:memory:/a/b` or `2:cpu,cpuacct:/`). */
  v1: Map<string, string>;
  /** v2: the path of the `0::/path` line, or null. */
  v2: string | null;
}

/** Parse the text of /proc/<pid>/cgroup. */
export function parseProcCgroup(text: string): ProcCgroup {
  const v1 = new Map<string, string>();
  let v2: string | null = null;
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, id, controllers, path] = m as unknown as [string, string, string, string];
    if (id === '0' && controllers === '') v2 = path;
    else for (const c of controllers.split(',')) if (c) v1.set(c, path);
  }
  return { v1, v2 };
}

/** Mount point -> root within the hierarchy, for every cgroup/cgroup2 mount in /proc/self/mountinfo. */
export function parseCgroupMounts(mountinfo: string): Map<string, string> {
  const mounts = new Map<string, string>();
  for (const line of mountinfo.split('\n')) {
    // id parent major:minor root mountpoint options [optional fields] - fstype source superoptions
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const fields = line.slice(0, dash).split(' ');
    const fstype = line.slice(dash + 3).split(' ')[0];
    if ((fstype === 'cgroup' || fstype === 'cgroup2') && fields.length >= 5) {
      const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
      mounts.set(unescape(fields[4]!), unescape(fields[3]!));
    }
  }
  return mounts;
}

/** `own` as a directory below `mount`, given the mount's root within the hierarchy (containers mount a subtree). */
function ownDir(mount: string, mountRoot: string, own: string): string {
  let rel = own;
  if (mountRoot !== '/' && mountRoot !== '') {
    if (own === mountRoot) rel = '/';
    else if (own.startsWith(`${mountRoot}/`)) rel = own.slice(mountRoot.length);
    else rel = '/';
  }
  const dir = join(mount, rel);
  return existsSync(dir) ? dir : mount;
}

export interface DetectOptions {
  /** Where the hierarchies are mounted. Default `/sys/fs/cgroup`. */
  root?: string;
  /** Text of /proc/self/cgroup (default: read it). */
  procSelfCgroup?: string;
  /** Text of /proc/self/mountinfo (default: read it). */
  mountinfo?: string;
  /**
   * Is this directory on a cgroup filesystem? Default: statfs() says cgroupfs or cgroup2fs. A plain
   * directory that merely looks like a hierarchy must not count: writing "limits" into ordinary files
   * would enforce nothing while reporting success.
   */
  isCgroupFs?: (dir: string, version: 1 | 2) => Promise<boolean>;
}

async function statfsIsCgroup(dir: string, version: 1 | 2): Promise<boolean> {
  try {
    const s = await statfs(dir);
    return Number(s.type) === (version === 1 ? CGROUP_SUPER_MAGIC : CGROUP2_SUPER_MAGIC);
  } catch {
    return false;
  }
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

/**
 * Where the memory and cpu controllers are, v1 preferred (on a "hybrid" machine a controller is
 * attached to exactly one hierarchy, and the v2 one at <root>/unified then has none). Never throws.
 */
export async function detectCgroups(options: DetectOptions = {}): Promise<CgroupLayout> {
  const root = options.root ?? '/sys/fs/cgroup';
  const layout: CgroupLayout = { memory: null, cpu: null, problems: [] };
  if (process.platform !== 'linux' && options.procSelfCgroup === undefined) {
    layout.problems.push(`control groups need Linux (this is ${process.platform})`);
    return layout;
  }
  const self = parseProcCgroup(options.procSelfCgroup ?? readOr('/proc/self/cgroup', ''));
  const mounts = parseCgroupMounts(options.mountinfo ?? readOr('/proc/self/mountinfo', ''));
  const isCgroupFs = options.isCgroupFs ?? statfsIsCgroup;
  if (!existsSync(root)) {
    layout.problems.push(`${root} does not exist`);
    return layout;
  }
  let rootEntries: string[] = [];
  try {
    rootEntries = await readdir(root);
  } catch {
    // unreadable: treated as empty
  }
  for (const controller of ['memory', 'cpu'] as const) {
    // v1: <root>/<controller>, or a co-mounted <root>/cpu,cpuacct.
    const v1Name = rootEntries.includes(controller)
      ? controller
      : rootEntries.find((n) => n.split(',').includes(controller));
    const v1Own = self.v1.get(controller);
    if (v1Name && v1Own !== undefined) {
      const mount = join(root, v1Name);
      if (await isCgroupFs(mount, 1)) {
        layout[controller] = { version: 1, controller, mount, own: ownDir(mount, mounts.get(mount) ?? '/', v1Own) };
        continue;
      }
      layout.problems.push(`${mount} is not a cgroup filesystem`);
      continue;
    }
    // v2: <root> itself (unified), or <root>/unified (hybrid); the controller must be available there.
    const v2Mount = existsSync(join(root, 'cgroup.controllers')) ? root : existsSync(join(root, 'unified', 'cgroup.controllers')) ? join(root, 'unified') : null;
    if (v2Mount && self.v2 !== null && (await isCgroupFs(v2Mount, 2))) {
      const own = ownDir(v2Mount, mounts.get(v2Mount) ?? '/', self.v2);
      const available = readOr(join(own, 'cgroup.controllers'), '').split(/\s+/);
      if (available.includes(controller)) {
        layout[controller] = { version: 2, controller, mount: v2Mount, own };
        continue;
      }
      layout.problems.push(`cgroup v2 at ${v2Mount} does not offer the ${controller} controller in ${own}`);
      continue;
    }
    layout.problems.push(`no ${controller} cgroup hierarchy under ${root}`);
  }
  return layout;
}

// ---------------------------------------------------------------------------------------------------
// A server's cgroups

/** The directory of a server's cgroup in one hierarchy. */
export function serverCgroupDir(h: CgroupHierarchy, parentName: string, spawnId: string): string {
  return join(h.own, parentName, spawnId);
}

export interface ServerCgroups {
  /** The cgroup directories made for the server (remove with removeServerCgroups after it stopped). */
  dirs: string[];
  /** Files the server's first process writes its pid into (see wrapCommand). */
  procsFiles: string[];
  enforced: EnforcedResources;
  /** Why something asked for is not enforced, fit for a log line. */
  problems: string[];
}

function errorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e?.code ? `${e.code}${e.path ? ` (${e.path})` : ''}` : String((err as Error)?.message ?? err);
}

async function write(dir: string, file: string, value: string): Promise<void> {
  await writeFile(join(dir, file), value);
}

async function tryWrite(dir: string, file: string, value: string): Promise<boolean> {
  try {
    if (!existsSync(join(dir, file))) return false;
    await write(dir, file, value);
    return true;
  } catch {
    return false;
  }
}

/** v2: make `controller` available to the children of every directory from `from` down to `to` (exclusive). */
async function enableV2Controller(from: string, to: string, controller: Controller): Promise<void> {
  const chain: string[] = [];
  for (let d = dirname(to); d.startsWith(from); d = dirname(d)) {
    chain.unshift(d);
    if (d === from) break;
  }
  for (const d of chain) {
    const enabled = readOr(join(d, 'cgroup.subtree_control'), '').split(/\s+/);
    if (!enabled.includes(controller)) await write(d, 'cgroup.subtree_control', `+${controller}`);
  }
}

/**
 * Make the server's cgroups and write its limits. Settings that cannot be applied are reported in
 * `enforced` as 'none' with a reason in `problems`; a half-made cgroup is removed again. Never throws.
 */
export async function createServerCgroups(
  layout: CgroupLayout,
  parentName: string,
  spawnId: string,
  spec: ResourceSpec,
  options: { startup?: boolean } = {},
): Promise<ServerCgroups> {
  const out: ServerCgroups = { dirs: [], procsFiles: [], enforced: {}, problems: [] };
  const wanted = requestedSettings(spec);
  // cpu first: the start wrapper joins in this order, and until it is in its cpu cgroup it competes
  // as one process in the hub's cgroup, which a burst of starting servers outweighs many times over
  const groups: [Controller, (keyof ResourceSpec)[]][] = [
    ['cpu', wanted.filter((k) => k.startsWith('cpu'))],
    ['memory', wanted.filter((k) => k.startsWith('memory'))],
  ];
  for (const [controller, settings] of groups) {
    if (!settings.length) continue;
    const h = layout[controller];
    const none = (why: string) => {
      for (const k of settings) out.enforced[k] = 'none';
      out.problems.push(why);
    };
    if (!h) {
      none(layout.problems.find((p) => p.includes(controller)) ?? layout.problems[0] ?? `no ${controller} cgroup`);
      continue;
    }
    const dir = serverCgroupDir(h, parentName, spawnId);
    const how: Enforcement = h.version === 1 ? 'cgroup-v1' : 'cgroup-v2';
    let made = false;
    try {
      if (h.version === 2) {
        await mkdir(dirname(dir), { recursive: true });
        await enableV2Controller(h.own, dir, controller);
      }
      // A concurrent stop() may remove the (empty) parent between the two levels of a recursive
      // mkdir (removeServerCgroups below): try once more.
      await mkdir(dir, { recursive: true }).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
        await mkdir(dir, { recursive: true });
      });
      made = true;
      if (controller === 'memory') {
        if (spec.memoryLimit) {
          const bytes = String(Math.floor(spec.memoryLimit));
          if (h.version === 1) {
            await write(dir, 'memory.limit_in_bytes', bytes);
            // Swap too, where it is accounted (memsw must be >= the limit, so after it).
            await tryWrite(dir, 'memory.memsw.limit_in_bytes', bytes);
          } else {
            await write(dir, 'memory.max', bytes);
            await tryWrite(dir, 'memory.swap.max', '0');
          }
          out.enforced.memoryLimit = how;
        }
        if (spec.memoryGuarantee) {
          const bytes = String(Math.floor(spec.memoryGuarantee));
          if (await tryWrite(dir, h.version === 1 ? 'memory.soft_limit_in_bytes' : 'memory.low', bytes)) out.enforced.memoryGuarantee = how;
          else {
            out.enforced.memoryGuarantee = 'none';
            out.problems.push(`cannot set a memory guarantee in ${dir}`);
          }
        }
      } else {
        if (spec.cpuLimit) {
          const quota = Math.max(1000, Math.round(spec.cpuLimit * CPU_PERIOD_US));
          if (h.version === 1) {
            await write(dir, 'cpu.cfs_period_us', String(CPU_PERIOD_US));
            await write(dir, 'cpu.cfs_quota_us', String(quota));
          } else {
            await write(dir, 'cpu.max', `${quota} ${CPU_PERIOD_US}`);
          }
          out.enforced.cpuLimit = how;
        }
        if (spec.cpuGuarantee) {
          // starting: at least two ordinary processes' weight (see START-UP WEIGHT above)
          const weight = options.startup ? Math.max(cpuWeight(h.version, spec.cpuGuarantee), STARTUP_WEIGHT_FACTOR * DEFAULT_CPU_WEIGHT[h.version]) : cpuWeight(h.version, spec.cpuGuarantee);
          const ok = await tryWrite(dir, h.version === 1 ? 'cpu.shares' : 'cpu.weight', String(weight));
          if (ok) out.enforced.cpuGuarantee = how;
          else {
            out.enforced.cpuGuarantee = 'none';
            out.problems.push(`cannot set a CPU weight in ${dir}`);
          }
        }
      }
      out.dirs.push(dir);
      out.procsFiles.push(join(dir, 'cgroup.procs'));
      if (controller === 'cpu') await rebalanceCpuParent(dirname(dir));
    } catch (err) {
      if (made) await rmdir(dir).catch(() => {});
      none(`cannot set up the ${controller} cgroup ${dir}: ${errorText(err)}`);
    }
  }
  // reported memory first, as always (logs and the admin page show them in this order)
  const enforced: EnforcedResources = {};
  for (const key of wanted) if (out.enforced[key]) enforced[key] = out.enforced[key];
  out.enforced = enforced;
  return out;
}

/**
 * The server answers: its CPU weight becomes its guarantee's (it was at least an ordinary process's
 * while it started, see START-UP WEIGHT above), and the parent's weight follows. Never throws.
 */
export async function settleServerCgroups(layout: CgroupLayout, parentName: string, spawnId: string, spec: ResourceSpec): Promise<void> {
  const h = layout.cpu;
  if (!h || !spec.cpuGuarantee) return;
  const dir = serverCgroupDir(h, parentName, spawnId);
  if (await tryWrite(dir, h.version === 1 ? 'cpu.shares' : 'cpu.weight', String(cpuWeight(h.version, spec.cpuGuarantee)))) {
    await rebalanceCpuParent(dirname(dir));
  }
}

/** Per parent directory, the rebalancing under way: one at a time, so the last write has seen every child. */
const rebalancing = new Map<string, Promise<void>>();

/**
 * Set a cpu cgroup's weight to the sum of its child cgroups' weights (the default weight when it has
 * none), within what the kernel accepts; see THE PARENT'S CPU WEIGHT above. A directory without a
 * weight file (not a cpu cgroup, or gone) is left alone. Another hub sharing the parent may write
 * between our read and write; the next server made, settled or removed, by either, corrects it.
 * Never throws.
 */
export function rebalanceCpuParent(parent: string): Promise<void> {
  const next = (rebalancing.get(parent) ?? Promise.resolve()).then(() => writeParentWeight(parent)).catch(() => {});
  rebalancing.set(parent, next);
  void next.then(() => {
    if (rebalancing.get(parent) === next) rebalancing.delete(parent);
  });
  return next;
}

async function writeParentWeight(parent: string): Promise<void> {
  const version = existsSync(join(parent, 'cpu.shares')) ? 1 : existsSync(join(parent, 'cpu.weight')) ? 2 : null;
  if (version === null) return;
  const file = version === 1 ? 'cpu.shares' : 'cpu.weight';
  let sum = 0;
  for (const entry of await readdir(parent, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const weight = Number((await readFile(join(parent, entry.name, file), 'utf8').catch(() => '')).trim());
    if (Number.isFinite(weight) && weight > 0) sum += weight;
  }
  const [min, max] = CPU_WEIGHT_RANGE[version];
  await write(parent, file, String(Math.min(max, Math.max(min, sum || DEFAULT_CPU_WEIGHT[version]))));
}

/** Pids in a cgroup (cgroup.procs), [] when it is gone. */
export async function cgroupPids(dir: string): Promise<number[]> {
  try {
    return (await readFile(join(dir, 'cgroup.procs'), 'utf8')).split('\n').filter((l) => /^\d+$/.test(l)).map(Number);
  } catch {
    return [];
  }
}

/**
 * Is `dir` a server cgroup this module could have made (`.../<parentName>/<spawnId>` below a
 * hierarchy of `layout`)? Guards removal against a state that names some other directory.
 */
export function isServerCgroupDir(layout: CgroupLayout, parentName: string, dir: string): boolean {
  if (!/^[A-Za-z0-9-]{8,64}$/.test(basename(dir)) || basename(dirname(dir)) !== parentName) return false;
  return [layout.memory, layout.cpu].some((h) => !!h && dir.startsWith(`${h.mount}/`));
}

/**
 * rmdir each cgroup (a cgroup directory is removed with rmdir: its files are not real). Fails for a
 * cgroup that still holds processes (EBUSY): those are returned, as are dirs that could not be
 * removed for any other reason; dirs already gone count as removed. Then the parent (`refinery/`)
 * goes too when no server cgroup is left in it, so that nothing of Refinery stays in the hub's own
 * cgroup (whoever manages that one may want to remove it); a non-empty parent just stays.
 */
export async function removeServerCgroups(dirs: string[]): Promise<string[]> {
  const left: string[] = [];
  for (const dir of dirs) {
    try {
      await rmdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') left.push(dir);
    }
  }
  for (const parent of new Set(dirs.filter((d) => !left.includes(d)).map((d) => dirname(d)))) {
    // EBUSY: other servers' cgroups are in it, and the parent's CPU weight is theirs now
    await rmdir(parent).catch(() => rebalanceCpuParent(parent));
  }
  return left;
}

/** The server cgroups (by spawn id) that exist now under `<own>/<parentName>/` in the layout's hierarchies. */
export async function listServerCgroups(layout: CgroupLayout, parentName: string): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>();
  for (const h of [layout.memory, layout.cpu]) {
    if (!h) continue;
    const parent = join(h.own, parentName);
    let names: string[] = [];
    try {
      names = (await readdir(parent, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
    } catch {
      continue;
    }
    for (const name of names) {
      const dir = join(parent, name);
      if (!isServerCgroupDir(layout, parentName, dir)) continue;
      found.set(name, [...(found.get(name) ?? []), dir]);
    }
  }
  return found;
}

/**
 * Remove server cgroups that hold no process and are older than `minAgeMs` (a cgroup being set up
 * right now by a concurrent start is empty for a moment), except those of `keep` spawn ids.
 * Returns the removed directories.
 */
export async function sweepEmptyServerCgroups(
  layout: CgroupLayout,
  parentName: string,
  options: { minAgeMs?: number; keep?: Set<string> } = {},
): Promise<string[]> {
  const minAge = options.minAgeMs ?? 60_000;
  const removed: string[] = [];
  for (const [spawnId, dirs] of await listServerCgroups(layout, parentName)) {
    if (options.keep?.has(spawnId)) continue;
    for (const dir of dirs) {
      try {
        // minAge 0 means "any age": ctimeMs has sub-millisecond digits that Date.now() lacks
        if (minAge > 0 && Date.now() - (await stat(dir)).ctimeMs < minAge) continue;
      } catch {
        continue;
      }
      if ((await cgroupPids(dir)).length) continue;
      if (!(await removeServerCgroups([dir])).length) removed.push(dir);
    }
  }
  return removed;
}

// ---------------------------------------------------------------------------------------------------
// Starting a process inside

/**
 * `argv` wrapped so that the process joins the given cgroups (and takes the rlimits) BEFORE it runs:
 *
 *   /bin/sh -c '<join each cgroup.procs>; [ulimit -d KiB]; exec "$@"' refinery-start <data KiB|-> <procs files...> -- <argv...>
 *
 * `exec` keeps the pid, so the pid the spawner sees is the server's. If joining fails the wrapper
 * says so on stderr (the server's log) and exits with 125 before the server runs.
 */
export function wrapCommand(argv: string[], options: { procsFiles?: string[]; rlimitDataBytes?: number } = {}): string[] {
  const procs = options.procsFiles ?? [];
  const dataKiB = options.rlimitDataBytes ? String(Math.max(1, Math.floor(options.rlimitDataBytes / 1024))) : '-';
  if (!procs.length && dataKiB === '-') return [...argv];
  const script = [
    'd=$1; shift',
    'while [ "$1" != -- ]; do echo $$ > "$1" || { echo "refinery: could not move the server into the control group $1" >&2; exit 125; }; shift; done',
    'shift',
    'if [ "$d" != - ]; then ulimit -d "$d" || { echo "refinery: could not set RLIMIT_DATA to $d KiB" >&2; exit 125; }; fi',
    'exec "$@"',
  ].join('\n');
  return ['/bin/sh', '-c', script, 'refinery-start', dataKiB, ...procs, '--', ...argv];
}

/** The cgroup paths (per controller name) a process is in, from /proc/<pid>/cgroup; null when it is gone. */
export async function processCgroups(pid: number): Promise<ProcCgroup | null> {
  try {
    return parseProcCgroup(await readFile(`/proc/${pid}/cgroup`, 'utf8'));
  } catch {
    return null;
  }
}

/** Is process `pid` inside the cgroup directory `dir` of hierarchy `h`? */
export async function processInCgroup(pid: number, h: CgroupHierarchy, dir: string): Promise<boolean> {
  const pids = await cgroupPids(dir);
  if (pids.includes(pid)) return true;
  // Threads of a multi-threaded process show in cgroup.procs by their tgid; fall back to /proc.
  const cg = await processCgroups(pid);
  if (!cg) return false;
  const path = h.version === 1 ? cg.v1.get(h.controller) : cg.v2;
  return !!path && dir.endsWith(path);
}
