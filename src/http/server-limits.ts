/**
 * Limits on the public port against clients that are slow or many on purpose: a deadline for the
 * request line and headers (slowloris), a deadline for a whole request including its body, and a
 * cap on connections from one client address.
 *
 * The deadlines cover receiving a request only. What follows it is not limited: a response may
 * stream for as long as it likes (server-sent progress events, kernel output), and a WebSocket
 * leaves the HTTP server's hands once upgraded, so open notebooks are never cut off.
 *
 *   http:
 *     headers_timeout: 20s
 *     request_timeout: 5m
 *     max_connections_per_address: 256
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TrustedProxies } from './trusted-proxies.js';

/** Bodies of hub requests (API and forms); the publish upload has its own limit (publish.max_size). */
export const HUB_BODY_LIMIT = 1024 * 1024;

/** `http:` in the configuration (src/config/schema.ts). */
export interface HttpLimits {
  headers_timeout: number;
  request_timeout: number;
  max_connections_per_address: number;
}

/** The public server with its deadlines; checked every second, so a deadline is kept to about a second. */
export function createPublicServer(limits: HttpLimits): http.Server {
  const headersMs = Math.max(1, Math.round(limits.headers_timeout * 1000));
  const requestMs = Math.round(limits.request_timeout * 1000);
  const server = http.createServer({
    headersTimeout: requestMs > 0 ? Math.min(headersMs, requestMs) : headersMs,
    requestTimeout: requestMs,
    connectionsCheckingInterval: 1000,
  });
  // longer than the idle timeout of the load balancers usually put in front (60 s)
  server.keepAliveTimeout = 65_000;
  return server;
}

const BUSY_MESSAGE = 'Too many connections from your address. Close some tabs or try again shortly.\n';

/**
 * At most `max` open connections per client address (trusted proxies exempt). A connection beyond
 * that is not served: a request on it gets 503 with Retry-After and the connection is closed, and
 * one that sends nothing is closed after a few seconds. (Refusing in the request handlers rather
 * than when the socket connects keeps the HTTP parser from ever acting on it.)
 */
export class ConnectionCap {
  private readonly open = new Map<string, number>();
  private readonly refused = new WeakSet<Socket>();

  constructor(private readonly max: number, private readonly proxies: TrustedProxies) {}

  attach(server: http.Server): void {
    if (this.max <= 0) return;
    server.on('connection', (socket: Socket) => {
      const address = socket.remoteAddress;
      if (!address || this.proxies.trusts(address)) return;
      const count = (this.open.get(address) ?? 0) + 1;
      if (count > this.max) {
        this.refused.add(socket);
        setTimeout(() => socket.destroy(), 5000).unref();
        return;
      }
      this.open.set(address, count);
      socket.once('close', () => {
        const left = (this.open.get(address) ?? 1) - 1;
        if (left <= 0) this.open.delete(address);
        else this.open.set(address, left);
      });
    });
  }

  request(next: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
    return (req: http.IncomingMessage, res: http.ServerResponse): void => {
      if (!this.refused.has(req.socket)) return next(req, res);
      res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Retry-After': '5', Connection: 'close' });
      res.end(BUSY_MESSAGE);
    };
  }

  upgrade<H>(next: (req: http.IncomingMessage, socket: Duplex, head: H) => void) {
    return (req: http.IncomingMessage, socket: Duplex, head: H): void => {
      if (!this.refused.has(req.socket)) return next(req, socket, head);
      socket.on('error', () => undefined);
      socket.end(`HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(BUSY_MESSAGE)}\r\nConnection: close\r\n\r\n${BUSY_MESSAGE}`);
    };
  }
}
