/**
 * Bench entry for Refinery's proxy: an http server with createProxy, one route, and the work the hub
 * does per request: read the session cookie, look the session up in an in-memory Map (the hub keeps
 * the same cache in front of its database), check the owner, strip the session cookie before the
 * user's server sees it, and count the response in a prom-client counter as the hub's metrics hook does.
 * Usage: node refinery-proxy-server.js <upstream-origin> <session-cookie-value>
 * Prints `READY <port>` when listening.
 */
import http, { type IncomingMessage } from 'node:http';
import { Counter, Registry } from 'prom-client';
import { silentLogger } from '../../src/log.js';
import { createProxy, RouteTable, type ProxyDecision, type Route } from '../../src/proxy/index.js';

const [target, sessionId] = process.argv.slice(2);
if (!target || !sessionId) throw new Error('usage: refinery-proxy-server <upstream-origin> <session-id>');

interface Session {
  user: string;
  admin: boolean;
  expires: number;
}
const sessions = new Map<string, Session>();
// A realistic number of other sessions, so the lookup is not into a one-entry map.
for (let i = 0; i < 5000; i++) sessions.set(`s${i}-${Math.random().toString(36).slice(2)}`, { user: `user${i}`, admin: false, expires: Date.now() + 3_600_000 });
sessions.set(sessionId, { user: 'alice', admin: false, expires: Date.now() + 3_600_000 });

const COOKIE = 'refinery-session=';
const allow: ProxyDecision = { action: 'allow' };
const denied: ProxyDecision = { action: 'deny', status: 403, message: 'Forbidden' };
const login: ProxyDecision = { action: 'redirect', location: '/hub/login' };

function sessionFrom(req: IncomingMessage): Session | undefined {
  const cookie = req.headers.cookie;
  if (cookie === undefined) return undefined;
  const at = cookie.indexOf(COOKIE);
  if (at === -1) return undefined;
  const start = at + COOKIE.length;
  const end = cookie.indexOf(';', start);
  return sessions.get(end === -1 ? cookie.slice(start) : cookie.slice(start, end));
}

function authorize(req: IncomingMessage, route: Route): ProxyDecision {
  const session = sessionFrom(req);
  if (session === undefined || session.expires < Date.now()) return login;
  return session.admin || session.user === route.data.user ? allow : denied;
}

const registry = new Registry();
const proxied = new Counter({ name: 'refinery_proxy_requests_total', help: 'x', labelNames: ['code'] as const, registers: [registry] });

const routes = new RouteTable();
routes.set('/user/alice/', target, { user: 'alice', server: '' });
const proxy = createProxy({
  routes,
  log: silentLogger(),
  authorize,
  onMissingRoute: (_req, res) => {
    res.writeHead(404);
    res.end();
  },
  onUpstreamError: (_req, res) => {
    res.writeHead(503);
    res.end();
  },
  fallback: (_req, res) => {
    res.writeHead(404);
    res.end();
  },
  onResponse: (_route, status) => proxied.labels(String(status)).inc(),
  dropCookies: ['refinery-session'],
});

const server = http.createServer({ keepAliveTimeout: 5000 }, proxy.handleRequest);
server.on('upgrade', proxy.handleUpgrade);
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`READY ${typeof addr === 'object' && addr ? addr.port : 0}\n`);
});
process.on('SIGTERM', () => {
  proxy.close();
  process.exit(0);
});
