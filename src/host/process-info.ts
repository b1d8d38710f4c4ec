/**
 * Small, dependency-free views of processes for the local spawner: /proc on Linux, `kill(pid, 0)`
 * elsewhere. Nothing here throws for a process that vanished between two reads; it reports "gone".
 */
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';

/** True where /proc has the Linux layout (stat, environ). Decided once per process. */
export const HAS_PROC: boolean = (() => {
  try {
    return readFileSync('/proc/self/stat', 'utf8').includes(')');
  } catch {
    return false;
  }
})();

/**
 * /proc/<pid>/stat reports times in USER_HZ ticks, which the kernel fixes at 100 for userspace
 * on every architecture Node runs on (it is not the kernel's CONFIG_HZ).
 */
const USER_HZ = 100;

export interface ProcStat {
  pid: number;
  /** One letter: R running, S sleeping, D disk, Z zombie, T stopped, X dead, I idle, ... */
  state: string;
  ppid: number;
  /** Process group id (field 5). */
  pgrp: number;
  /** Session id (field 6). */
  session: number;
  /** Field 22: start time in clock ticks since boot. Together with the pid, identifies a process for the life of a boot. */
  startTime: number;
}

/** Parse the text of /proc/<pid>/stat. The command name (field 2) may hold spaces and parentheses, so split after the last ')'. */
export function parseProcStat(text: string): ProcStat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const pid = Number(text.slice(0, open).trim());
  // rest[0] is field 3 (state), so field N is rest[N - 3].
  const rest = text.slice(close + 2).trim().split(/\s+/);
  const field = (n: number) => Number(rest[n - 3]);
  const stat: ProcStat = {
    pid,
    state: rest[0] ?? '?',
    ppid: field(4),
    pgrp: field(5),
    session: field(6),
    startTime: field(22),
  };
  return Number.isInteger(stat.pid) && Number.isFinite(stat.startTime) ? stat : null;
}

/** /proc/<pid>/stat, or null when the process does not exist (or /proc is not Linux's). */
export async function readProcStat(pid: number): Promise<ProcStat | null> {
  if (!HAS_PROC || !isPid(pid)) return null;
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/**
 * The environment a process was exec'd with (/proc/<pid>/environ), or null when it is gone or not
 * readable (another user's process, unless we are root; zombies have none). Callers must treat the
 * values as secrets: never log them.
 */
export async function readProcEnviron(pid: number): Promise<Map<string, string> | null> {
  if (!HAS_PROC || !isPid(pid)) return null;
  let raw: string;
  try {
    raw = await readFile(`/proc/${pid}/environ`, 'utf8');
  } catch {
    return null;
  }
  const env = new Map<string, string>();
  for (const entry of raw.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return env;
}

/** Every pid in /proc right now (empty without Linux /proc). */
export async function listPids(): Promise<number[]> {
  if (!HAS_PROC) return [];
  const names = await readdir('/proc').catch(() => [] as string[]);
  return names.filter((n) => /^\d+$/.test(n)).map(Number);
}

/** The kernel's random id of this boot: a (pid, start time) pair is only unique within one boot. */
export function bootId(): string | null {
  if (!HAS_PROC) return null;
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
  } catch {
    return null;
  }
}

let btimeCache: number | null | undefined;
/** Wall-clock time (ms since the epoch) of a /proc start time, or null if unknown. */
export function startTimeToDate(startTicks: number): Date | null {
  if (btimeCache === undefined) {
    btimeCache = null;
    try {
      const m = /^btime\s+(\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
      if (m) btimeCache = Number(m[1]) * 1000;
    } catch {
      // not Linux
    }
  }
  return btimeCache === null ? null : new Date(btimeCache + (startTicks * 1000) / USER_HZ);
}

/** `kill(pid, 0)`: does a process with this pid exist (ours or not)? The portable, reuse-blind check. */
export function pidExists(pid: number): boolean {
  if (!isPid(pid)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Send a signal to a pid (or a process group with a negative id); false if there was nobody to receive it. */
export function sendSignal(target: number, signal: NodeJS.Signals): boolean {
  if (!Number.isInteger(target) || target === 0 || target === -1 || Math.abs(target) === 1) return false;
  try {
    process.kill(target, signal);
    return true;
  } catch {
    return false;
  }
}

/** A plausible pid of some other process: an integer above 1 (never 0, -1 or init, which kill() treats specially). */
export function isPid(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 1;
}
