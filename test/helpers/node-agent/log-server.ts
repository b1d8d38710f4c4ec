// The one piece of the kubelet's own HTTPS API the agent serves: GET /containerLogs/<ns>/<pod>/<container>,
// which the API server calls to answer pods/log (`kubectl logs`). Only the API server gets in: it
// must present a client certificate from the cluster's CA (--kubelet-client-certificate).
// Query parameters as the kubelet reads them: tailLines, limitBytes, previous, follow (a running
// container's log is streamed until the container stops or the client goes away).
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface LogSource {
  /** The log file of a container (its previous instance with `previous`), undefined if unknown. */
  logFile(namespace: string, pod: string, container: string, previous: boolean): string | undefined;
  isRunning(namespace: string, pod: string, container: string): boolean;
}

export interface LogServer {
  port: number;
  close(): Promise<void>;
}

export async function startLogServer(tls: { cert: Buffer; key: Buffer; ca: Buffer }, source: LogSource): Promise<LogServer> {
  const server: Server = createServer({ ...tls, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'https://node');
      const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
      if (req.method !== 'GET' || !m) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found\n');
        return;
      }
      const [namespace, pod, container] = m.slice(1).map(decodeURIComponent) as [string, string, string];
      const previous = url.searchParams.get('previous') === 'true';
      const file = source.logFile(namespace, pod, container, previous);
      if (!file) {
        const what = previous ? `previous terminated container "${container}" in pod "${pod}" not found` : `container "${container}" in pod "${pod}" is not available`;
        res.writeHead(400, { 'content-type': 'text/plain' }).end(what);
        return;
      }
      let text = await readFile(file, 'utf8').catch(() => '');
      const tail = url.searchParams.get('tailLines');
      if (tail !== null) {
        const lines = text.split('\n');
        const complete = text.endsWith('\n') ? lines.slice(0, -1) : lines;
        text = complete.slice(Math.max(0, complete.length - Number(tail))).map((l) => `${l}\n`).join('');
      }
      const limit = url.searchParams.get('limitBytes');
      if (limit !== null) text = Buffer.from(text).subarray(0, Number(limit)).toString('utf8');
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write(text);
      if (url.searchParams.get('follow') !== 'true' || previous || limit !== null) {
        res.end();
        return;
      }
      // Follow: send what gets appended until the container stops or the client leaves.
      let offset = (await stat(file).catch(() => ({ size: 0 }))).size;
      let closed = false;
      res.on('close', () => (closed = true));
      while (!closed) {
        const size = (await stat(file).catch(() => ({ size: offset }))).size;
        if (size > offset) {
          await new Promise<void>((resolve) => {
            const stream = createReadStream(file, { start: offset, end: size - 1 });
            stream.on('data', (chunk) => res.write(chunk));
            stream.on('end', resolve);
            stream.on('error', () => resolve());
          });
          offset = size;
        } else if (!source.isRunning(namespace, pod, container)) {
          break;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      res.end();
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
