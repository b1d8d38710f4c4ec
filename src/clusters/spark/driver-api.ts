/**
 * A Spark driver's monitoring REST API on its UI port (`/api/v1/applications`, `…/<id>/executors`):
 * here, how many executors the Connect server's driver has. Its executors start on the workers only
 * after the driver registered with the master, a few seconds after the Connect server listens; a
 * cluster is ready when they are there, so a notebook's first action does not wait for them.
 */
import { request as httpRequest } from 'node:http';

function getJson(url: string, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { agent: false, timeout: Math.max(100, timeoutMs), headers: { accept: 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > 4 * 1024 * 1024) req.destroy();
        else chunks.push(c);
      });
      res.on('end', () => {
        if (res.statusCode !== 200) return resolve(null);
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch {
          resolve(null);
        }
      });
      res.on('error', () => resolve(null));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
    req.end();
  });
}

/** Active executors (not the driver) of the application whose UI is on `uiPort`, or null when it does not answer. */
export async function driverExecutors(host: string, uiPort: number, timeoutMs: number): Promise<number | null> {
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${uiPort}/api/v1/applications`;
  const apps = await getJson(base, timeoutMs);
  const id = Array.isArray(apps) ? (apps[0] as { id?: unknown } | undefined)?.id : undefined;
  if (typeof id !== 'string') return null;
  const executors = await getJson(`${base}/${encodeURIComponent(id)}/executors`, timeoutMs);
  if (!Array.isArray(executors)) return null;
  return executors.filter((e: { id?: unknown; isActive?: unknown }) => e.id !== 'driver' && e.isActive !== false).length;
}
