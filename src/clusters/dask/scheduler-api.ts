/**
 * The few HTTP calls Refinery makes to a Dask scheduler, on its dashboard port (distributed 2026.8).
 *
 * `/api/v1/get_workers` and `/api/v1/retire_workers` come from `distributed.http.scheduler.api`,
 * which is not among the scheduler's default HTTP routes: the backends add it with
 * SCHEDULER_HTTP_ROUTES_ENV. `get_workers` is the cheap readiness and status check: it walks the
 * workers only (`/json/counts.json` walks every task, `/json/identity.json` returns every worker's
 * metrics). `/json/identity.json` is asked once per start, to be sure the scheduler on the port is
 * the one just started (address and dashboard port match).
 */
import { request as httpRequest } from 'node:http';

/**
 * The scheduler's HTTP routes: distributed's defaults (distributed.yaml, `distributed.scheduler.http.routes`)
 * plus the API. As a Dask configuration environment variable (a Python literal list).
 */
export const SCHEDULER_HTTP_ROUTES_ENV = {
  DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES: JSON.stringify([
    'distributed.http.scheduler.prometheus',
    'distributed.http.scheduler.info',
    'distributed.http.scheduler.json',
    'distributed.http.scheduler.api',
    'distributed.http.health',
    'distributed.http.proxy',
    'distributed.http.statics',
  ]),
};

export interface RegisteredWorker {
  /** The worker's `--name` (a number when the name was all digits). */
  name: string;
  /** Its comm address, `tcp://127.0.0.1:<port>`. */
  address: string;
}

interface HttpResult {
  status: number;
  body: string;
}

/** One HTTP request; null when nothing answers (refused, reset, timeout). Never throws. */
function call(url: string, timeoutMs: number, method: 'GET' | 'POST' = 'GET', body?: string): Promise<HttpResult | null> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (value: HttpResult | null) => {
      if (!done) {
        done = true;
        resolve(value);
      }
    };
    const headers: Record<string, string | number> = body === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) };
    const req = httpRequest(url, { method, agent: false, timeout: Math.max(50, timeoutMs), headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => finish({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', () => finish(null));
    });
    req.on('timeout', () => {
      req.destroy();
      finish(null);
    });
    req.on('error', () => finish(null));
    req.end(body);
  });
}

function json(result: HttpResult | null): unknown {
  if (!result || result.status !== 200) return undefined;
  try {
    return JSON.parse(result.body);
  } catch {
    return undefined;
  }
}

/** `http://<host>:<dashboardPort>` */
export function dashboardBase(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The workers registered now, or null when the scheduler does not answer (or is not a Dask scheduler with the API routes). */
export async function registeredWorkers(base: string, timeoutMs: number): Promise<RegisteredWorker[] | null> {
  const data = json(await call(`${base}/api/v1/get_workers`, timeoutMs)) as { num_workers?: unknown; workers?: unknown } | undefined;
  if (!data || !Array.isArray(data.workers)) return null;
  return (data.workers as { name?: unknown; address?: unknown }[]).map((w) => ({ name: String(w.name), address: String(w.address) }));
}

/** The scheduler's comm address and dashboard port as it reports them, or null. */
export async function schedulerIdentity(base: string, timeoutMs: number): Promise<{ address: string; dashboardPort: number | null } | null> {
  const data = json(await call(`${base}/json/identity.json`, timeoutMs)) as { address?: unknown; services?: { dashboard?: unknown } } | undefined;
  if (!data || typeof data.address !== 'string') return null;
  const port = data.services?.dashboard;
  return { address: data.address, dashboardPort: typeof port === 'number' ? port : null };
}

/**
 * Ask the scheduler to retire workers gracefully: their unique results are copied to the remaining
 * workers, then they are removed from the scheduler (the processes stay up; the caller stops them).
 * Returns the addresses it retired, or null when the call failed or timed out.
 */
export async function retireWorkers(base: string, addresses: string[], timeoutMs: number): Promise<string[] | null> {
  const data = json(await call(`${base}/api/v1/retire_workers`, timeoutMs, 'POST', JSON.stringify({ workers: addresses })));
  if (!data || typeof data !== 'object') return null;
  return Object.keys(data as Record<string, unknown>);
}
