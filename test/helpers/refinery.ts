import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { chmod, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../../src/util/ports.js';
import { tmpDir, waitFor, type TmpDir } from './tmp.js';

const REPO = resolve(import.meta.dirname, '..', '..', '..');
const CLI = join(REPO, 'dist', 'src', 'cli.js');

export const ADMIN_PASSWORD = 'admin-password-for-tests';
export const SERVICE_TOKEN = 'service-token-for-tests-0123456789';

export interface RefineryProcess {
  url: string;
  port: number;
  dir: TmpDir;
  dataDir: string;
  configPath: string;
  /** Everything the hub printed (stdout and stderr), for assertions about logs. */
  output(): string;
  /** Fetch through the public port with the service token (admin powers). */
  api(path: string, init?: RequestInit): Promise<Response>;
  /** Fetch through the public port with a given token. */
  as(token: string | null, path: string, init?: RequestInit): Promise<Response>;
  /** A new API token for `user` (created through the API with the service token). */
  tokenFor(user: string, body?: Record<string, unknown>): Promise<string>;
  /** Send a signal to the hub process and wait for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start the hub again on the same port, data and config (after kill). */
  restart(): Promise<void>;
  /** Stop every user server through the API, stop the hub, remove the temp dir. */
  cleanup(): Promise<void>;
}

export interface StartOptions {
  /** Extra or overriding config keys (YAML-able). */
  config?: Record<string, unknown>;
  env?: Record<string, string>;
  /** Listen here instead of a free port chosen now (when a URL must be known before the start, as an OAuth callback). */
  port?: number;
}

/**
 * Start `refinery start` as its own process (as a user would), on a free loopback port with a
 * temporary data directory, a service token with admin scopes, and the admin password set.
 */
export async function launchRefinery(options: StartOptions = {}): Promise<RefineryProcess> {
  const dir = await tmpDir('hub');
  // as root, people's servers run as accounts of their own, which must be able to enter data_dir
  await chmod(dir.path, 0o711);
  const port = options.port ?? await freePort();
  const dataDir = join(dir.path, 'data');
  const configPath = join(dir.path, 'refinery.yaml');
  const config = {
    listen: `127.0.0.1:${port}`,
    data_dir: dataDir,
    log_level: 'info',
    services: [{ name: 'test-admin', api_token: SERVICE_TOKEN, scopes: ['admin:users', 'admin:servers', 'tokens', 'admin:groups', 'read:metrics', 'read:hub', 'access:servers'] }],
    ...options.config,
  };
  await writeFile(configPath, stringify(config));
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let output = '';

  const launch = async () => {
    output += `\n--- start ---\n`;
    child = spawn(process.execPath, [CLI, 'start', '--config', configPath], {
      env: { ...process.env, REFINERY_ADMIN_PASSWORD: ADMIN_PASSWORD, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<never>((_, reject) => child!.once('exit', (code) => reject(new Error(`refinery exited with code ${code} before answering:\n${output}`))));
    await Promise.race([
      waitFor(async () => (await fetch(`${url}/hub/health`)).ok, { timeoutMs: 30_000, message: `refinery to answer at ${url}` }),
      exited,
    ]);
  };

  const as = (token: string | null, path: string, init: RequestInit = {}) =>
    fetch(`${url}${path}`, {
      ...init,
      redirect: 'manual',
      headers: { ...(token ? { Authorization: `token ${token}` } : {}), ...(init.headers as Record<string, string> | undefined) },
    });

  const kill = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill(signal);
    await gone;
  };

  await launch();
  const api = (path: string, init?: RequestInit) => as(SERVICE_TOKEN, path, init);
  return {
    url, port, dir, dataDir, configPath,
    output: () => output,
    api,
    as,
    async tokenFor(user, body = {}) {
      const res = await api(`/hub/api/users/${encodeURIComponent(user)}/tokens`, { method: 'POST', body: JSON.stringify(body) });
      if (res.status !== 201) throw new Error(`token for ${user}: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { token: string }).token;
    },
    kill,
    restart: launch,
    async cleanup() {
      try {
        if (child && child.exitCode === null && child.signalCode === null) {
          const res = await api('/hub/api/users?state=active');
          const users = res.ok ? ((await res.json()) as { name: string; servers?: Record<string, unknown> }[]) : [];
          for (const user of users) {
            for (const server of Object.keys(user.servers ?? {})) {
              const path = server ? `/hub/api/users/${user.name}/servers/${server}` : `/hub/api/users/${user.name}/server`;
              await api(path, { method: 'DELETE' });
            }
          }
          await waitFor(async () => ((await (await api('/hub/api/users?state=active')).json()) as unknown[]).length === 0, { timeoutMs: 30_000, message: 'all servers to stop' }).catch(() => undefined);
        }
      } finally {
        await kill('SIGTERM');
        await dir.cleanup();
      }
    },
  };
}

/** Start a server through the API and wait for its progress stream to say ready. Returns the events. */
export async function startServerAndWait(hub: RefineryProcess, token: string, user: string, server = '', userOptions?: Record<string, unknown>): Promise<Record<string, unknown>[]> {
  const base = `/hub/api/users/${encodeURIComponent(user)}/${server ? `servers/${encodeURIComponent(server)}` : 'server'}`;
  const res = await hub.as(token, base, { method: 'POST', ...(userOptions ? { body: JSON.stringify(userOptions), headers: { 'Content-Type': 'application/json' } } : {}) });
  if (res.status !== 201 && res.status !== 202) throw new Error(`starting ${user}/${server}: ${res.status} ${await res.text()}`);
  const progress = await hub.as(token, `${base}/progress`, { headers: { Accept: 'text/event-stream' } });
  const text = await progress.text();
  const events = text.split('\n\n').filter((b) => b.startsWith('data: ')).map((b) => JSON.parse(b.slice(6)) as Record<string, unknown>);
  const last = events.at(-1);
  if (!last?.ready) throw new Error(`server ${user}/${server} did not become ready: ${JSON.stringify(events)}`);
  return events;
}

/**
 * A top-level page load as a browser makes it (node:http: fetch always says `Sec-Fetch-Mode: cors`).
 * Resolves with the status and Location header.
 */
export function browserGet(hub: RefineryProcess, path: string, headers: Record<string, string> = {}): Promise<{ status: number; location: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(`${hub.url}${path}`, { headers: { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8', ...headers } }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, location: res.headers.location });
    });
    req.on('error', reject);
    req.end();
  });
}

export async function json<T>(res: Response | Promise<Response>): Promise<T> {
  const r = await res;
  const text = await r.text();
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`expected JSON, got ${r.status}: ${text.slice(0, 300)}`);
  }
}
