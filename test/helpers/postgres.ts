/**
 * A throwaway PostgreSQL for one test file.
 *
 *   import { startPostgres, type TestPostgres } from './postgres.js';
 *   let db: TestPostgres;
 *   before(async () => { db = await startPostgres(); });
 *   after(() => db?.stop());
 *   // db.url === 'postgres://postgres@127.0.0.1:<port>/refinery_test'
 *
 * By default it creates a private cluster (initdb into a temp dir, its own port on 127.0.0.1, unix
 * socket inside the temp dir, fsync off) and `stop()` shuts it down fast and deletes it. With
 * REFINERY_TEST_POSTGRES_URL set it uses that server instead: a fresh uniquely-named database is
 * created there and dropped by `stop()`.
 *
 * Without PostgreSQL's server binaries (/usr/lib/postgresql/<version>/bin) it throws: tests that
 * need PostgreSQL fail loudly rather than skip.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from '../../src/util/ports.js';

const execFileP = promisify(execFile);

export interface TestPostgres {
  /** Connection URL of the test database, e.g. postgres://postgres@127.0.0.1:54321/refinery_test. */
  url: string;
  /** Name of the test database. */
  database: string;
  /** Drop the database (external server) or shut the private cluster down and delete it. Idempotent. */
  stop(): Promise<void>;
}

export interface StartPostgresOptions {
  /** Use this server instead of a private cluster (default: env REFINERY_TEST_POSTGRES_URL). */
  externalUrl?: string | undefined;
  /** Give up waiting for the new cluster to accept connections after this long (default 60 s). */
  startTimeoutMs?: number;
  /**
   * Directory with initdb and postgres (default: env REFINERY_PG_BINDIR, else the newest
   * /usr/lib/postgresql/<version>/bin).
   */
  binDir?: string | undefined;
}

const INSTALL_HINT =
  'Install them with `bash scripts/setup.sh --test` (as root it runs: apt-get install -y --no-install-recommends postgresql), ' +
  'or point REFINERY_TEST_POSTGRES_URL at an existing server, e.g. postgres://postgres@127.0.0.1:5432/postgres';

export async function startPostgres(options: StartPostgresOptions = {}): Promise<TestPostgres> {
  const external = options.externalUrl ?? process.env.REFINERY_TEST_POSTGRES_URL;
  if (external) return useExternal(external);
  const binDir = options.binDir ?? process.env.REFINERY_PG_BINDIR ?? (await findPostgresBinDir());
  return startCluster(binDir, options.startTimeoutMs ?? 60_000);
}

/** The bin directory of the newest PostgreSQL installed the Debian way, or undefined. */
export async function findPostgresBinDir(): Promise<string | undefined> {
  const root = '/usr/lib/postgresql';
  const versions = await readdir(root).catch(() => [] as string[]);
  return versions
    .filter((v) => /^\d+(\.\d+)?$/.test(v) && existsSync(join(root, v, 'bin', 'initdb')) && existsSync(join(root, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a))
    .map((v) => join(root, v, 'bin'))[0];
}

// ---------------------------------------------------------------------------------------------
// A private cluster

interface RunAs {
  uid?: number;
  gid?: number;
}

/** Clusters still running; killed if the test process exits without calling stop(). */
const running = new Map<ChildProcess, string>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const [child, dir] of running) {
      try {
        child.kill('SIGQUIT'); // immediate shutdown; the cluster is thrown away anyway
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

async function postgresUser(): Promise<RunAs> {
  if (process.getuid?.() !== 0) return {};
  // PostgreSQL refuses to run as root: run it as the `postgres` OS user (Debian's package creates it).
  try {
    const uid = Number((await execFileP('id', ['-u', 'postgres'])).stdout.trim());
    const gid = Number((await execFileP('id', ['-g', 'postgres'])).stdout.trim());
    return { uid, gid };
  } catch {
    throw new Error(
      "startPostgres: running as root, but there is no 'postgres' OS user to run PostgreSQL as (it refuses root). " +
        'Debian\'s postgresql package creates it; or: useradd --system --home-dir /var/lib/postgresql postgres',
    );
  }
}

function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) env[k] = v;
  env.LC_ALL = 'C';
  env.LANG = 'C';
  return env;
}

async function startCluster(bin: string | undefined, startTimeoutMs: number): Promise<TestPostgres> {
  if (!bin || !existsSync(join(bin, 'initdb')) || !existsSync(join(bin, 'postgres'))) {
    const where = bin ? `${bin}/initdb` : '/usr/lib/postgresql/*/bin/initdb';
    throw new Error(`startPostgres: PostgreSQL server binaries not found (looked for ${where}). ${INSTALL_HINT}`);
  }
  const user = await postgresUser();

  // Under /tmp, not a possibly private TMPDIR: the postgres user must be able to reach it. A short
  // path also keeps the unix socket path under its 107-byte limit.
  const base = await mkdtemp(join(user.uid !== undefined ? '/tmp' : (process.env.TMPDIR ?? '/tmp'), 'refinery-pg-'));
  const dataDir = join(base, 'data');
  const socketDir = join(base, 'sock');
  await mkdir(socketDir);
  if (user.uid !== undefined && user.gid !== undefined) {
    await chown(base, user.uid, user.gid);
    await chown(socketDir, user.uid, user.gid);
  }
  const env = cleanEnv();

  try {
    await execFileP(
      join(bin, 'initdb'),
      ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
      { ...user, cwd: base, env, maxBuffer: 16 * 1024 * 1024 },
    );
  } catch (err) {
    await rm(base, { recursive: true, force: true });
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`startPostgres: initdb failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }

  let lastError: Error | undefined;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const log: string[] = [];
    const child = spawn(
      join(bin, 'postgres'),
      [
        '-D', dataDir,
        '-h', '127.0.0.1',
        '-p', String(port),
        '-k', socketDir,
        '-F', // fsync off
        '-c', 'synchronous_commit=off',
        '-c', 'full_page_writes=off',
        '-c', 'max_connections=100',
      ],
      { ...user, cwd: base, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    // Keep draining the output (a full pipe would block the server); remember the tail for errors.
    const remember = (chunk: Buffer): void => {
      log.push(...chunk.toString().split('\n').filter(Boolean));
      if (log.length > 200) log.splice(0, log.length - 200);
    };
    child.stdout?.on('data', remember);
    child.stderr?.on('data', remember);
    let exited: string | undefined;
    const exitPromise = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        exited = `exited with ${signal ?? `code ${code}`}`;
        running.delete(child);
        resolve();
      });
      child.once('error', (err) => {
        exited = `failed to start: ${err.message}`;
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

    const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
    const deadline = Date.now() + startTimeoutMs;
    let ready = false;
    let connectError = '';
    while (!exited && Date.now() < deadline) {
      try {
        await query(adminUrl, 'select 1');
        ready = true;
        break;
      } catch (err) {
        connectError = (err as Error).message;
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    if (ready) {
      try {
        await query(adminUrl, 'create database refinery_test');
      } catch (err) {
        await shutdown(child, exitPromise);
        await rm(base, { recursive: true, force: true });
        throw new Error(`startPostgres: could not create database refinery_test: ${(err as Error).message}`);
      }
      let stopped: Promise<void> | undefined;
      return {
        url: `postgres://postgres@127.0.0.1:${port}/refinery_test`,
        database: 'refinery_test',
        stop: () =>
          (stopped ??= (async () => {
            await shutdown(child, exitPromise);
            await rm(base, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
          })()),
      };
    }

    await shutdown(child, exitPromise);
    const tail = log.slice(-30).join('\n');
    lastError = new Error(
      `startPostgres: the server on 127.0.0.1:${port} ${exited ?? `did not accept connections within ${startTimeoutMs} ms (last: ${connectError})`}\n--- postgres log ---\n${tail}`,
    );
    // Someone else took the port between freePort() and bind(): try another one.
    if (!/could not bind|address already in use/i.test(tail)) break;
  }
  await rm(base, { recursive: true, force: true });
  throw lastError ?? new Error('startPostgres: failed');
}

/** Fast shutdown (SIGINT: abort transactions, disconnect clients, exit), escalating if it hangs. */
async function shutdown(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const escalate: Array<[NodeJS.Signals, number]> = [['SIGINT', 20_000], ['SIGQUIT', 5_000], ['SIGKILL', 5_000]];
  for (const [signal, waitMs] of escalate) {
    try {
      child.kill(signal);
    } catch {
      /* gone */
    }
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      exited.then(() => true),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), waitMs);
      }),
    ]);
    clearTimeout(timer);
    if (done) return;
  }
}

// ---------------------------------------------------------------------------------------------
// An existing server (REFINERY_TEST_POSTGRES_URL)

async function useExternal(adminUrl: string): Promise<TestPostgres> {
  const database = `refinery_test_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  try {
    await query(adminUrl, `create database "${database}"`);
  } catch (err) {
    throw new Error(`startPostgres: could not create a database on REFINERY_TEST_POSTGRES_URL (${redact(adminUrl)}): ${(err as Error).message}`);
  }
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  let stopped: Promise<void> | undefined;
  return {
    url: url.toString(),
    database,
    stop: () =>
      (stopped ??= (async () => {
        try {
          await query(adminUrl, `drop database if exists "${database}" with (force)`);
        } catch {
          // PostgreSQL < 13 has no WITH (FORCE).
          await query(adminUrl, `drop database if exists "${database}"`);
        }
      })()),
  };
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

async function query(url: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {
    /* reported through the awaited calls */
  });
  try {
    await client.connect();
    return await client.query(sql);
  } finally {
    await client.end().catch(() => undefined);
  }
}

