// The public port: one HTTP server in front of everything. Published pages' own origin and per-user
// hosts are sorted out first, then the proxy sends `/user/...` to servers and the rest to the hub app.
import type { Server } from 'node:http';
import type { HubContext } from '../context.js';
import { HOST_SESSION_COOKIE, isHubCookieName, SESSION_COOKIE } from '../auth/sessions.js';
import type { ConnectionCap } from '../http/server-limits.js';
import { proxyPolicy } from '../http/proxy-policy.js';
import { publishFront } from '../http/publish-front.js';
import { userHostFront } from '../http/user-host-front.js';
import { createProxy, type ProxyHandlers, type ProxyOptions } from '../proxy/index.js';

export function routePublicPort(server: Server, ctx: HubContext, hubHandler: ProxyHandlers['handleRequest'], connectionCap: ConnectionCap): ProxyHandlers {
  const policy = proxyPolicy(ctx);
  const proxy = createProxy({
    routes: ctx.routes,
    authorize: policy.authorize,
    onMissingRoute: policy.onMissingRoute,
    onUpstreamError: policy.onUpstreamError,
    fallback: hubHandler,
    log: ctx.log.child({ component: 'proxy' }),
    onResponse: (_route, status) => ctx.metrics.proxiedRequests.inc({ code: String(status) }),
    // the hub's sign-in cookie is for the hub: a server runs its owner's code, and an admin visiting it must not hand it their session
    dropCookies: [SESSION_COOKIE, HOST_SESSION_COOKIE],
    // nor may a server set cookies the hub would read (or any outside its own prefix)
    isHubCookie: isHubCookieName,
  });
  // access taken away (a share revoked) closes the WebSockets that were opened with it
  ctx.revocations.onRevoked(() => closeRevokedTunnels(proxy, policy.authorize, ctx));
  // a separate origin for published pages (publish.public_url) serves those pages and nothing else
  const front = publishFront(ctx);
  // with per-user hosts, each host serves only its own: the hub, or one person's servers
  const hosts = ctx.urls.userHosts ? userHostFront(ctx.urls.userHosts, ctx.routes) : undefined;
  server.on('request', connectionCap.request(front.request(hosts ? hosts.request(proxy.handleRequest) : proxy.handleRequest)));
  server.on('upgrade', connectionCap.upgrade(front.upgrade(hosts ? hosts.upgrade(proxy.handleUpgrade) : proxy.handleUpgrade)));
  return proxy;
}

/** Checks every open WebSocket again as if it were being opened now, and closes those no longer allowed. */
function closeRevokedTunnels(proxy: ProxyHandlers, authorize: ProxyOptions['authorize'], ctx: HubContext): void {
  for (const tunnel of proxy.openTunnels()) {
    Promise.resolve(authorize(tunnel.req, tunnel.route)).then((decision) => {
      if (decision.action === 'allow') return;
      ctx.log.info({ prefix: tunnel.route.prefix }, 'closed a WebSocket whose access was revoked');
      tunnel.close();
    }, (error: unknown) => ctx.log.error({ err: String(error) }, 'checking an open WebSocket after a revocation failed'));
  }
}

/** Listen on `listen`; a port in use or one that needs privileges is said so, naming the config file. */
export async function listenOn(server: Server, listen: { host: string; port: number }, source: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const where = `${listen.host}:${listen.port}`;
      if (error.code === 'EADDRINUSE') reject(new Error(`cannot listen on ${where}: the address is already in use (another Refinery?). Set \`listen\` in ${source} to another address.`));
      else if (error.code === 'EACCES') reject(new Error(`cannot listen on ${where}: permission denied (ports below 1024 need privileges). Set \`listen\` in ${source}.`));
      else reject(error);
    });
    server.listen(listen.port, listen.host, () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
  const address = server.address();
  return typeof address === 'object' && address ? address.port : listen.port;
}

/** Stop listening and drop every open connection (streams and WebSockets included). */
export function closePublicPort(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
