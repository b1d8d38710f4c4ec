/**
 * The Spark master's JSON status (`GET http://<host>:<web UI port>/json/`, MasterPage.renderJson):
 * workers with their state, running and finished applications. Readable without Spark's RPC secret.
 */
import { request as httpRequest } from 'node:http';

export interface MasterWorker {
  id: string;
  host: string;
  port: number;
  webuiaddress: string;
  cores: number;
  memory: number;
  /** ALIVE, DEAD, DECOMMISSIONED, UNKNOWN */
  state: string;
}

export interface MasterApp {
  id: string;
  name: string;
  /** Cores granted (running) / held last (finished). */
  cores: number;
  memoryperexecutor?: number;
  state: string;
  user?: string;
}

export interface MasterStatus {
  /** spark://host:port */
  url: string;
  /** ALIVE, STANDBY, RECOVERING, COMPLETING_RECOVERY */
  status: string;
  workers: MasterWorker[];
  aliveworkers: number;
  activeapps: MasterApp[];
  completedapps: MasterApp[];
}

/** The master's status, or null when nothing (or something else) answers in time. */
export function masterStatus(host: string, webPort: number, timeoutMs: number): Promise<MasterStatus | null> {
  const hostForUrl = host.includes(':') ? `[${host}]` : host;
  return new Promise((resolve) => {
    let done = false;
    const finish = (value: MasterStatus | null) => {
      if (!done) {
        done = true;
        resolve(value);
      }
    };
    const req = httpRequest(`http://${hostForUrl}:${webPort}/json/`, { agent: false, timeout: Math.max(100, timeoutMs), headers: { accept: 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > 8 * 1024 * 1024) req.destroy();
        else chunks.push(c);
      });
      res.on('end', () => {
        if (res.statusCode !== 200) return finish(null);
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Partial<MasterStatus>;
          if (typeof body.url !== 'string' || !Array.isArray(body.workers)) return finish(null);
          finish({
            url: body.url,
            status: typeof body.status === 'string' ? body.status : '',
            workers: body.workers,
            aliveworkers: typeof body.aliveworkers === 'number' ? body.aliveworkers : body.workers.filter((w) => w.state === 'ALIVE').length,
            activeapps: Array.isArray(body.activeapps) ? body.activeapps : [],
            completedapps: Array.isArray(body.completedapps) ? body.completedapps : [],
          });
        } catch {
          finish(null);
        }
      });
      res.on('error', () => finish(null));
    });
    req.on('timeout', () => {
      req.destroy();
      finish(null);
    });
    req.on('error', () => finish(null));
    req.end();
  });
}

/** The ALIVE workers registered from these RPC ports. */
export function aliveWorkerPorts(status: MasterStatus): Set<number> {
  return new Set(status.workers.filter((w) => w.state === 'ALIVE').map((w) => w.port));
}
