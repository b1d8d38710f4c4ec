/**
 * A throwaway S3 server (versitygw) for one test file.
 *
 *   import { startS3Server, type S3Server } from './s3-server.js';
 *   let s3: S3Server;
 *   before(async () => { s3 = await startS3Server(); });
 *   after(() => s3?.stop());
 *
 * It runs `.tools/bin/versitygw` (built by `bash scripts/setup.sh --test`) on 127.0.0.1 with the
 * posix backend in a temp dir, internal IAM (`--iam-dir`) so accounts can be created, a random root
 * key, and the admin API on a port of its own. `stop()` kills it and deletes the temp dir.
 *
 * Without the binary it throws: tests that need S3 fail loudly rather than skip.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/util/ports.js';

export interface S3Server {
  /** The S3 API, e.g. http://127.0.0.1:41234 (path-style). */
  url: string;
  /** versitygw's admin API (PATCH /create-user, /list-users, ...), signed by the root key. */
  adminUrl: string;
  region: string;
  /** The root (admin) key pair: random for each server. */
  root: { accessKeyId: string; secretAccessKey: string };
  /** The posix backend's root: one directory per bucket. */
  dataDir: string;
  /** Kill the server and delete its directories. Idempotent. */
  stop(): Promise<void>;
}

/** The same thing under the name some tests import. */
export type TestS3Server = S3Server;

export interface StartS3ServerOptions {
  /** The versitygw binary (default: env REFINERY_VERSITYGW, else <repo>/.tools/bin/versitygw). */
  binary?: string | undefined;
  /** Region the server signs for (default us-east-1). */
  region?: string;
  /** Give up waiting for the server to answer after this long (default 20 s). */
  startTimeoutMs?: number;
}

/** Marks the server's process (test.sh's leftover check also sees the inherited REFINERY_TEST_RUN_ID). */
export const S3_SERVER_MARK = 'REFINERY_TEST_S3_SERVER';

const INSTALL_HINT = 'Build it with `bash scripts/setup.sh --test` (go install into .tools/bin), or set REFINERY_VERSITYGW to a versitygw binary.';

export async function startS3Server(options: StartS3ServerOptions = {}): Promise<S3Server> {
  const binary = options.binary ?? process.env.REFINERY_VERSITYGW ?? join(repoRoot(), '.tools', 'bin', 'versitygw');
  if (!existsSync(binary)) throw new Error(`startS3Server: versitygw not found at ${binary}. ${INSTALL_HINT}`);
  const region = options.region ?? 'us-east-1';
  const startTimeoutMs = options.startTimeoutMs ?? 20_000;
  const root = { accessKeyId: `ROOT${randomAlnum(16)}`, secretAccessKey: randomAlnum(40) };

  const base = await mkdtemp(join(tmpdir(), 'refinery-s3-'));
  const dataDir = join(base, 'data');
  const iamDir = join(base, 'iam');
  await mkdir(dataDir);
  await mkdir(iamDir);

  let lastError: Error | undefined;
  // freePort() releases the port before versitygw binds it; someone may take it meanwhile.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const [port, adminPort] = await twoFreePorts();
    const url = `http://127.0.0.1:${port}`;
    const adminUrl = `http://127.0.0.1:${adminPort}`;
    const server = launch(binary, base, {
      args: [
        '--port', `127.0.0.1:${port}`,
        '--admin-port', `127.0.0.1:${adminPort}`,
        '--region', region,
        '--iam-dir', iamDir,
        '--health', '/health',
        '--quiet',
        'posix', dataDir,
      ],
      // The root key goes through the environment, not the command line that `ps` shows.
      env: { ...serverEnv(), ROOT_ACCESS_KEY_ID: root.accessKeyId, ROOT_SECRET_ACCESS_KEY: root.secretAccessKey, [S3_SERVER_MARK]: base },
    });

    const failure = await waitUntilAnswering(server, url, adminUrl, startTimeoutMs);
    if (!failure) {
      let stopped: Promise<void> | undefined;
      return {
        url,
        adminUrl,
        region,
        root,
        dataDir,
        stop: () =>
          (stopped ??= (async () => {
            await terminate(server);
            await rm(base, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
          })()),
      };
    }
    await terminate(server);
    const tail = server.log.slice(-30).join('\n');
    lastError = new Error(`startS3Server: versitygw on ${url} (admin ${adminUrl}) ${failure}\n--- versitygw output ---\n${tail}`);
    if (!/address already in use/i.test(tail)) break;
  }
  await rm(base, { recursive: true, force: true });
  throw lastError ?? new Error('startS3Server: failed');
}

// ---------------------------------------------------------------------------------------------

interface Launched {
  child: ChildProcess;
  /** The last lines of its output, for error messages. */
  log: string[];
  /** Set once the process is gone: why. */
  exited?: string;
  exit: Promise<void>;
}

/** Servers still running; killed if the test process exits without calling stop(). */
const running = new Map<ChildProcess, string>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const [child, dir] of running) {
      try {
        child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
      try {
        rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      } catch {
        /* best effort */
      }
    }
  });
}

function launch(binary: string, base: string, o: { args: string[]; env: NodeJS.ProcessEnv }): Launched {
  const child = spawn(binary, o.args, { cwd: base, env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const launched: Launched = { child, log: [], exit: Promise.resolve() };
  // Keep draining the output (a full pipe would block the server); remember the tail.
  const remember = (chunk: Buffer): void => {
    launched.log.push(...chunk.toString().split('\n').filter(Boolean));
    if (launched.log.length > 200) launched.log.splice(0, launched.log.length - 200);
  };
  child.stdout?.on('data', remember);
  child.stderr?.on('data', remember);
  launched.exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      launched.exited = `exited with ${signal ?? `code ${code}`}`;
      running.delete(child);
      resolve();
    });
    child.once('error', (err) => {
      launched.exited = `failed to start: ${err.message}`;
      running.delete(child);
      resolve();
    });
  });
  running.set(child, base);
  installExitHook();
  // A test file that forgets stop() must still be able to end; the exit hook cleans up.
  child.unref();
  (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
  (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
  return launched;
}

/** Undefined once both the S3 port (health check) and the admin port answer; otherwise why not. */
async function waitUntilAnswering(server: Launched, url: string, adminUrl: string, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (!server.exited && Date.now() < deadline) {
    try {
      const health = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
      await health.arrayBuffer();
      // Any HTTP answer from the admin port will do: unsigned requests get 403 there.
      const admin = await fetch(`${adminUrl}/list-users`, { method: 'PATCH', signal: AbortSignal.timeout(2_000) });
      await admin.arrayBuffer();
      if (health.status === 200) return undefined;
      last = `health check answered ${health.status}`;
    } catch (err) {
      last = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return server.exited ?? `did not answer within ${timeoutMs} ms (last: ${last})`;
}

async function terminate(server: Launched): Promise<void> {
  const { child } = server;
  for (const [signal, waitMs] of [['SIGTERM', 5_000], ['SIGKILL', 5_000]] as const) {
    if (server.exited) return;
    try {
      child.kill(signal);
    } catch {
      /* gone */
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([server.exit, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
  }
}

/** Our environment without settings versitygw (or an AWS SDK inside it) would pick up. */
function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(VGW_|ROOT_|AWS_)/.test(k)) env[k] = v;
  return env;
}

async function twoFreePorts(): Promise<[number, number]> {
  const a = await freePort();
  let b = await freePort();
  while (b === a) b = await freePort();
  return [a, b];
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
function randomAlnum(length: number): string {
  // 256 % 62 != 0, but a test root key needs no perfectly uniform characters.
  return [...randomBytes(length)].map((b) => ALNUM[b % ALNUM.length]).join('');
}

/** The repository root (the folder with package.json), found from this file's location. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
  return dir;
}
