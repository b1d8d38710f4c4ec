/**
 * A first query on a new Spark Connect server before its cluster counts as ready. A notebook's first
 * action on a cold server pays for what the JVMs do only once: the first session, loading and
 * JIT-compiling the planner, code generation, the executors' first tasks (class loading, the
 * Python-free row path) and the first shuffle. Done here, while the notebook server is still
 * starting, that cost is gone by the time a person runs a cell.
 *
 * The query runs through the real Connect client of the cluster's environment, as the person's
 * account, with the token the notebook gets: exactly the path a notebook takes. It carries the
 * cluster's marker variables, so stopping the cluster stops it too. A warm-up that fails or takes too
 * long is logged and given up: the cluster works without it, only its first action is slower.
 */
import { join } from 'node:path';
import { repoRoot } from '../../host/repo-root.js';
import type { Launched } from '../local-processes.js';

/** Most a warm-up may take; a start's own deadline may cut it shorter. */
export const CONNECT_WARMUP_MAX_MS = 60_000;

/** The queries (a count, a grouping, toPandas), a file every account can read. */
export const CONNECT_WARMUP_SCRIPT = join(repoRoot(), 'python', 'spark', 'connect_warmup.py');

/**
 * The warm-up's command and environment: the Connect client pointed at `remote` (the JVMs' own
 * SPARK_CONNECT_MODE switch removed: the Python client decides by SPARK_REMOTE alone). `-I`: nothing
 * from the working directory or the user's site-packages shadows the client.
 */
export function warmUpCommand(python: string, env: Record<string, string>, remote: string, token?: string): { argv: string[]; env: Record<string, string> } {
  const clientEnv: Record<string, string> = { ...env, SPARK_REMOTE: remote };
  if (token !== undefined) clientEnv.SPARK_CONNECT_AUTHENTICATE_TOKEN = token;
  delete clientEnv.SPARK_CONNECT_MODE;
  return { argv: [python, '-I', CONNECT_WARMUP_SCRIPT], env: clientEnv };
}

export type WarmUpOutcome = { ok: true; ms: number } | { ok: false; ms: number; why: string };

/**
 * Run the warm-up through `launch` (the backend's own launcher: account, log, markers) and wait for
 * it, at most `timeoutMs`; `signal` stops the wait and the process.
 */
export async function warmUpConnect(o: {
  python: string;
  remote: string;
  token: string;
  env: Record<string, string>;
  timeoutMs: number;
  signal: AbortSignal;
  launch: (p: { argv: string[]; env: Record<string, string> }) => Promise<Launched>;
}): Promise<WarmUpOutcome> {
  const started = Date.now();
  let launched: Launched;
  try {
    launched = await o.launch(warmUpCommand(o.python, o.env, o.remote, o.token));
  } catch (error) {
    return { ok: false, ms: Date.now() - started, why: error instanceof Error ? error.message : String(error) };
  }
  const exit = await new Promise<string | null>((resolve) => {
    const finish = (why: string | null) => {
      clearTimeout(timer);
      o.signal.removeEventListener('abort', onAbort);
      resolve(why);
    };
    const onAbort = () => {
      launched.child.kill('SIGKILL');
      finish('cancelled');
    };
    const timer = setTimeout(() => {
      launched.child.kill('SIGKILL');
      finish(`no answer within ${Math.round(o.timeoutMs / 1000)} s`);
    }, Math.max(0, o.timeoutMs));
    o.signal.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      const e = launched.exited!;
      finish(e.code === 0 ? null : e.signal ? `killed by ${e.signal}` : `exited with code ${e.code}`);
    };
    if (launched.exited) done();
    else launched.child.once('exit', () => setImmediate(done));
  });
  return exit === null ? { ok: true, ms: Date.now() - started } : { ok: false, ms: Date.now() - started, why: exit };
}
