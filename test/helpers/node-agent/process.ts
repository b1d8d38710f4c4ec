// One container instance: a local process in a process group of its own (so that signals reach
// whatever it started too), its output appended to a log file, as a container runtime keeps it.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { exitOnSignals } from '../kube-cluster/daemons.js';

export interface ProcessExit {
  /** As a runtime reports it: the exit code, or 128 + signal number when killed by a signal. */
  exitCode: number;
  signal?: NodeJS.Signals;
  finishedAt: Date;
}

export interface ContainerProcess {
  pid: number;
  startedAt: Date;
  logFile: string;
  /** Resolves when the process has exited. */
  exited: Promise<ProcessExit>;
  /** Send a signal to the whole process group. */
  signal(signal: NodeJS.Signals): void;
  isRunning(): boolean;
}

/** Every process group still running, for the exit hook. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  exitOnSignals();
  process.on('exit', () => {
    for (const pgid of liveGroups) killGroup(pgid, 'SIGKILL');
  });
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    /* gone */
  }
}

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15 };

export interface StartOptions {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  logFile: string;
  uid?: number;
  gid?: number;
}

/**
 * Start the process; throws what the runtime would report as a StartError when it cannot be
 * started at all (no such executable...), after the spawn has been tried.
 */
export async function startContainerProcess(o: StartOptions): Promise<ContainerProcess> {
  const [file, ...args] = o.argv;
  if (!file) throw new Error('no command specified');
  const fd = openSync(o.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(file, args, {
      cwd: o.cwd,
      env: o.env,
      stdio: ['ignore', fd, fd],
      detached: true, // its own process group
      ...(o.uid !== undefined ? { uid: o.uid } : {}),
      ...(o.gid !== undefined ? { gid: o.gid } : {}),
    });
  } finally {
    closeSync(fd);
  }
  const startError = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (err) => resolve(err));
  });
  if (startError || child.pid === undefined) {
    const e = startError as NodeJS.ErrnoException | undefined;
    throw new Error(
      e?.code === 'ENOENT'
        ? `exec: "${file}": executable file not found in $PATH`
        : `exec: "${file}": ${e?.message ?? 'failed to start'}`,
    );
  }
  const pid = child.pid;
  liveGroups.add(pid);
  installExitHook();
  child.unref(); // the agent's own timers and watches keep the test process alive, not its pods
  let running = true;
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      liveGroups.delete(pid);
      // Whatever the main process left behind in its group goes with it, as with a container.
      killGroup(pid, 'SIGKILL');
      resolve({
        exitCode: code ?? 128 + (signal ? (SIGNAL_NUMBERS[signal] ?? 0) : 0),
        ...(signal ? { signal } : {}),
        finishedAt: new Date(),
      });
    });
  });
  return {
    pid,
    startedAt: new Date(),
    logFile: o.logFile,
    exited,
    signal: (signal) => killGroup(pid, signal),
    isRunning: () => running,
  };
}

/** SIGTERM to the process group, SIGKILL if it is still there after `graceSeconds` (at once with 0). */
export async function stopContainerProcess(proc: ContainerProcess, graceSeconds: number): Promise<void> {
  if (!proc.isRunning()) return;
  if (graceSeconds > 0) {
    proc.signal('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const inTime = await Promise.race([
      proc.exited.then(() => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), graceSeconds * 1000))),
    ]);
    clearTimeout(timer);
    if (inTime) return;
  }
  proc.signal('SIGKILL');
  await proc.exited;
}
