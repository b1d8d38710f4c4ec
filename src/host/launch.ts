/**
 * Starting a detached process for a person: a server or a cluster process, in its cgroups, with
 * its rlimits and, when the hub runs as root, as that person's system account.
 *
 * As the hub's own account the program is started as before: `wrapCommand()` (resources.ts) joins
 * the cgroups and sets the rlimits, then execs it with its environment.
 *
 * As another account there are two stages, because nothing the person controls may reach code that
 * runs as root:
 *
 *   1. root, with a fixed environment (PATH only): /bin/sh joins the cgroups and sets the rlimits
 *      (wrapCommand), then execs /usr/bin/setpriv, which takes on the account's uid, gid and
 *      supplementary groups and drops inheritable capabilities (node's own uid/gid options would
 *      clear the supplementary groups, and could not join cgroups after dropping root);
 *   2. the person: /bin/sh reads the program's environment from file descriptor 3 (written by the
 *      hub into a pipe, so secrets never appear in argv or in a file), sets umask 077 and execs the
 *      program. `exec` keeps the pid all along, so the pid the hub sees is the program's.
 *
 * The environment goes through the pipe rather than to stage 1 because stage 1 runs as root: a
 * variable such as LD_PRELOAD or GCONV_PATH there (a person's own server options may carry any
 * variable) would run the person's code as root.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { RunAs } from './accounts.js';
import { wrapCommand } from './cgroups.js';

const SETPRIV = '/usr/bin/setpriv';
/** The only environment of stage 1. */
const ROOT_STAGE_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Stage 2: the environment from fd 3, then the program. A failure exits with 125 (the program never ran). */
const PERSON_STAGE = [
  '__refinery_env=$(/bin/cat <&3) || { echo "refinery: could not read the environment" >&2; exit 125; }',
  'exec 3<&-',
  'eval "$__refinery_env" || { echo "refinery: could not set the environment" >&2; exit 125; }',
  'umask 077',
  'exec "$@"',
].join('\n');

export interface DetachedLaunch {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  /** Where stdout and stderr go (an open file descriptor of the hub). */
  outputFd: number;
  /** cgroup.procs files to join before the program runs (resources.ts). */
  procsFiles?: string[];
  /** RLIMIT_DATA for the program, in bytes. */
  rlimitDataBytes?: number;
  /** Run as this account; null or absent: the hub's own account. */
  runAs?: RunAs | null;
}

/** One `export NAME='value'` line per variable, for stage 2 (`eval`); values quoted so nothing in them is interpreted. */
export function shellEnvironment(env: Record<string, string>): string {
  const lines: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!ENV_NAME.test(name)) throw new Error(`environment variable ${JSON.stringify(name)} cannot be passed on: names use letters, digits and "_"`);
    lines.push(`export ${name}='${String(value).replace(/'/g, `'\\''`)}'`);
  }
  return `${lines.join('\n')}\n`;
}

/** The argv of a launch (without the environment, which travels separately). */
export function launchArgv(o: Pick<DetachedLaunch, 'argv' | 'procsFiles' | 'rlimitDataBytes' | 'runAs'>): string[] {
  const wrap = { procsFiles: o.procsFiles ?? [], ...(o.rlimitDataBytes ? { rlimitDataBytes: o.rlimitDataBytes } : {}) };
  if (!o.runAs) return wrapCommand(o.argv, wrap);
  const { uid, gid, groups } = o.runAs;
  const setpriv = [
    SETPRIV, `--reuid=${uid}`, `--regid=${gid}`,
    ...(groups.length ? [`--groups=${groups.join(',')}`] : ['--clear-groups']),
    '--inh-caps=-all', '--',
    '/bin/sh', '-c', PERSON_STAGE, 'refinery-run', ...o.argv,
  ];
  return wrapCommand(setpriv, wrap);
}

/**
 * Start the program detached (its own session and process group), stdin from /dev/null, output to
 * `outputFd`. Listen for 'error' on the result as with spawn() (e.g. ENOENT for the first program).
 */
export function spawnDetached(o: DetachedLaunch): ChildProcess {
  const argv = launchArgv(o);
  if (!o.runAs) return spawn(argv[0]!, argv.slice(1), { cwd: o.cwd, env: o.env, detached: true, stdio: ['ignore', o.outputFd, o.outputFd] });
  const text = shellEnvironment(o.env);
  const child = spawn(argv[0]!, argv.slice(1), { cwd: o.cwd, env: ROOT_STAGE_ENV, detached: true, stdio: ['ignore', o.outputFd, o.outputFd, 'pipe'] });
  const pipe = child.stdio[3];
  if (pipe && 'end' in pipe) {
    // a program that died before reading its environment closed the pipe: its exit says why
    pipe.on('error', () => undefined);
    // once written, the text waits in the pipe for stage 2; the hub's end is not needed any more
    pipe.end(text, () => pipe.destroy());
  }
  return child;
}
