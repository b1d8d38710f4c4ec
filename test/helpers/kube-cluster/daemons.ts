// The control plane's processes: started with their output going straight into a log file (no pipe
// to drain, so a chatty server can never block on a full one), remembered so that they are killed
// even when a test file ends without calling stop(), and killed outright: the whole cluster is
// thrown away, so there is nothing to shut down gracefully.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export interface Daemon {
  name: string;
  child: ChildProcess;
  logFile: string;
  /** Set once the process is gone: why. */
  exited?: string;
  exit: Promise<void>;
}

/** Live daemons and the directory to remove with them, for the exit hook. */
const running = new Map<Daemon, string>();
let exitHookInstalled = false;

/**
 * A test process ended by a signal (the runner's timeout, Ctrl-C) skips 'exit' handlers unless the
 * signal is handled: turn it into an ordinary exit, so that they run and kill what the test started.
 * Only where nobody else handles the signal already.
 */
export function exitOnSignals(): void {
  const numbers = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;
  for (const [signal, number] of Object.entries(numbers)) {
    if (process.listenerCount(signal) === 0) process.once(signal, () => process.exit(128 + number));
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  exitOnSignals();
  process.on('exit', () => {
    const dirs = new Set<string>();
    for (const [daemon, dir] of running) {
      try {
        daemon.child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
      dirs.add(dir);
    }
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  });
}

/** Start `binary args` in `baseDir` with its output in <baseDir>/logs/<name>.log. */
export function launchDaemon(name: string, binary: string, args: string[], baseDir: string): Daemon {
  const logFile = join(baseDir, 'logs', `${name}.log`);
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(binary, args, { cwd: baseDir, stdio: ['ignore', fd, fd], env: daemonEnv() });
  } finally {
    closeSync(fd); // the child has its own copy
  }
  const daemon: Daemon = { name, child, logFile, exit: Promise.resolve() };
  daemon.exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      daemon.exited = `${name} exited with ${signal ?? `code ${code}`}`;
      running.delete(daemon);
      resolve();
    });
    child.once('error', (err) => {
      daemon.exited = `${name} failed to start: ${err.message}`;
      running.delete(daemon);
      resolve();
    });
  });
  running.set(daemon, baseDir);
  installExitHook();
  child.unref(); // a test file that forgets stop() can still end; the exit hook kills it
  return daemon;
}

export async function killDaemon(daemon: Daemon): Promise<void> {
  if (daemon.exited) return;
  // Referenced again, so that the event loop lives until the exit is seen.
  daemon.child.ref();
  try {
    daemon.child.kill('SIGKILL');
  } catch {
    /* gone */
  }
  await daemon.exit;
}

/** The last lines of a daemon's log, for error messages. */
export function logTail(daemon: Daemon, lines = 25): string {
  try {
    return readFileSync(daemon.logFile, 'utf8').split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Our environment without what would point a Kubernetes component or etcd somewhere else. */
function daemonEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(ETCD_|KUBECONFIG$)/.test(k)) env[k] = v;
  env.GOMAXPROCS = '2';
  return env;
}
