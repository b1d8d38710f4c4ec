/**
 * Refinery's own object store: versitygw with its posix backend under `<data_dir>/objects` and its
 * internal IAM under `<data_dir>/objects-iam`, listening on loopback only, supervised by the hub.
 *
 * Like people's servers it is detached from the hub and outlives a hub restart (even `kill -9`):
 * the hub that comes back finds it by the pid and start time recorded in `<data_dir>/objects.json`
 * and the marker in its environment, checks that it answers, and adopts it; nothing is started
 * twice. Its ports and root key are chosen once and kept in that file (mode 0600), because every
 * running server has the address in its environment. A store that stops answering is restarted,
 * waiting longer after each failure. When the hub stops and no server is left that could use the
 * store, the store stops too.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { EndpointConfig } from './config.js';
import { EMBEDDED_ENDPOINT } from './embedded-config.js';
import { ensureDir } from '../host/files.js';
import { pidExists, readProcEnviron, readProcStat, sendSignal } from '../host/process-info.js';
import { readLogTail } from '../host/log-tail.js';
import { freePort } from '../util/ports.js';
import { sleep } from '../util/sleep.js';

/** The environment variable that marks the store's process, with the objects directory as value. */
const MARK = 'REFINERY_OBJECT_STORE';
const REGION = 'us-east-1';
const HEALTH_PATH = '/health';
const CHECK_EVERY_MS = 5_000;
const START_TIMEOUT_MS = 20_000;
const BACKOFF_MAX_MS = 60_000;

interface StoreState {
  port: number;
  adminPort: number;
  rootAccessKey: string;
  rootSecretKey: string;
  pid?: number;
  /** /proc start time of `pid`, so a reused pid is never taken for the store. */
  startTicks?: number;
}

export interface EmbeddedStoreOptions {
  dataDir: string;
  binary: string;
  log: Logger;
}

export class EmbeddedObjectStore {
  private state: StoreState | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private restarting: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly o: EmbeddedStoreOptions) {}

  private get objectsDir(): string {
    return join(this.o.dataDir, 'objects');
  }
  private get iamDir(): string {
    return join(this.o.dataDir, 'objects-iam');
  }
  private get stateFile(): string {
    return join(this.o.dataDir, 'objects.json');
  }
  private get logFile(): string {
    return join(this.o.dataDir, 'objects.log');
  }

  /** The endpoint plans and the storage service use (its root key is the provisioning key). */
  endpoint(): EndpointConfig {
    const s = this.current();
    return {
      name: EMBEDDED_ENDPOINT,
      url: `http://127.0.0.1:${s.port}`,
      region: REGION,
      path_style: true,
      provisioning: { type: 'versitygw', admin_url: `http://127.0.0.1:${s.adminPort}`, access_key: s.rootAccessKey, secret_key: s.rootSecretKey, account_prefix: '' },
    };
  }

  /** The process id while it runs (for tests and the start-up log). */
  pid(): number | undefined {
    return this.state?.pid;
  }

  private current(): StoreState {
    if (!this.state) throw new Error('the embedded object store has not been started');
    return this.state;
  }

  /**
   * Adopt the store left running by an earlier hub, or start it; then keep it running. Never throws
   * for a store that does not come up: it is retried in the background, and spawns that need it
   * meanwhile fail with a storage error saying it cannot be reached.
   */
  async start(): Promise<'adopted' | 'started' | 'failed'> {
    await ensureDir(this.objectsDir, 0o700);
    await ensureDir(this.iamDir, 0o700);
    this.state = await this.loadOrCreateState();
    let outcome: 'adopted' | 'started' | 'failed';
    if (await this.isOurs(this.state) && await this.answers(this.state)) {
      outcome = 'adopted';
      this.o.log.info({ pid: this.state.pid, url: `http://127.0.0.1:${this.state.port}` }, 'adopted the embedded object store left running');
    } else {
      outcome = (await this.launch()) ? 'started' : 'failed';
    }
    this.timer = setInterval(() => void this.check(), CHECK_EVERY_MS);
    this.timer.unref();
    return outcome;
  }

  /** Stop supervising; stop the process too when `stopProcess` (no server is left to use it). */
  async close(stopProcess: boolean): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.restarting?.catch(() => undefined);
    if (!stopProcess || !this.state?.pid || !(await this.isOurs(this.state))) return;
    const pid = this.state.pid;
    sendSignal(pid, 'SIGTERM');
    for (let waited = 0; waited < 5_000 && pidExists(pid); waited += 100) await sleep(100);
    if (pidExists(pid)) sendSignal(pid, 'SIGKILL');
    this.o.log.info({ pid }, 'stopped the embedded object store (no server is running)');
  }

  private async loadOrCreateState(): Promise<StoreState> {
    try {
      const saved = JSON.parse(await readFile(this.stateFile, 'utf8')) as StoreState;
      if (Number.isInteger(saved.port) && Number.isInteger(saved.adminPort) && saved.rootAccessKey && saved.rootSecretKey) return saved;
    } catch {
      // first start (or an unreadable file): new ports and a new root key
    }
    const port = await freePort();
    let adminPort = await freePort();
    while (adminPort === port) adminPort = await freePort();
    const state: StoreState = { port, adminPort, rootAccessKey: `RF${randomBytes(9).toString('hex').toUpperCase()}`, rootSecretKey: randomBytes(30).toString('base64url') };
    await this.save(state);
    return state;
  }

  private async save(state: StoreState): Promise<void> {
    const tmp = `${this.stateFile}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, this.stateFile);
  }

  /** Is `state.pid` the store of this data directory (not a reused pid)? */
  private async isOurs(state: StoreState): Promise<boolean> {
    if (!state.pid || !pidExists(state.pid)) return false;
    const stat = await readProcStat(state.pid);
    if (!stat || (state.startTicks !== undefined && stat.startTime !== state.startTicks)) return false;
    const env = await readProcEnviron(state.pid);
    return env?.get(MARK) === this.objectsDir;
  }

  private async answers(state: StoreState): Promise<boolean> {
    try {
      const res = await fetch(`http://127.0.0.1:${state.port}${HEALTH_PATH}`, { signal: AbortSignal.timeout(2_000) });
      await res.body?.cancel();
      return res.ok;
    } catch {
      return false;
    }
  }

  /** Start the process on the recorded ports and wait until it answers. */
  private async launch(): Promise<boolean> {
    const state = this.current();
    const out = openSync(this.logFile, 'a', 0o600);
    let child;
    try {
      child = spawn(this.o.binary, [
        '--port', `127.0.0.1:${state.port}`,
        '--admin-port', `127.0.0.1:${state.adminPort}`,
        '--region', REGION,
        '--iam-dir', this.iamDir,
        '--health', HEALTH_PATH,
        '--quiet',
        'posix', this.objectsDir,
      ], {
        detached: true,
        stdio: ['ignore', out, out],
        // the root key goes through the environment, not the command line that `ps` shows
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ROOT_ACCESS_KEY_ID: state.rootAccessKey, ROOT_SECRET_ACCESS_KEY: state.rootSecretKey, [MARK]: this.objectsDir },
      });
    } finally {
      closeSync(out);
    }
    child.on('error', (error) => this.o.log.error({ err: error.message }, 'the embedded object store could not be started'));
    child.unref();
    if (!child.pid) return false;
    const stat = await readProcStat(child.pid);
    this.state = { ...state, pid: child.pid, ...(stat ? { startTicks: stat.startTime } : {}) };
    await this.save(this.state);
    const until = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < until) {
      if (await this.answers(this.state)) {
        this.o.log.info({ pid: child.pid, url: `http://127.0.0.1:${state.port}`, data: this.objectsDir }, 'started the embedded object store');
        return true;
      }
      if (!pidExists(child.pid)) break;
      await sleep(100);
    }
    const tail = await readLogTail(this.logFile, 20).catch(() => '');
    this.o.log.error({ log: this.logFile, output: tail }, `the embedded object store did not answer on 127.0.0.1:${state.port}; it is retried`);
    return false;
  }

  /** The periodic check: a store that is gone or does not answer twice running is restarted, with backoff. */
  private async check(): Promise<void> {
    if (this.stopped || this.restarting || !this.state) return;
    if (await this.isOurs(this.state) && await this.answers(this.state)) {
      this.failures = 0;
      return;
    }
    this.failures++;
    if (this.failures < 2 && this.state.pid && pidExists(this.state.pid)) return; // one slow answer is not a failure
    const wait = Math.min(BACKOFF_MAX_MS, 1_000 * 2 ** Math.max(0, this.failures - 2));
    this.restarting = (async () => {
      this.o.log.warn({ pid: this.state?.pid, retry_in_ms: wait }, 'the embedded object store is not answering; restarting it');
      if (this.state?.pid && await this.isOurs(this.state)) sendSignal(this.state.pid, 'SIGKILL');
      await sleep(wait, { keepAlive: false });
      if (!this.stopped && await this.launch()) this.failures = 0;
    })().finally(() => {
      this.restarting = undefined;
    });
  }
}
