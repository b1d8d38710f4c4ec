import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HubContext } from '../context.js';
import type { ProxyDecision, Route } from '../proxy/index.js';
import type { Identity } from '../auth/identity.js';
import { credentialsOf, identify, identifyCached } from '../auth/request.js';
import { sessionCookieName } from '../auth/sessions.js';
import { mayUseServer } from '../policy/rules.js';
import { findUser } from '../db/users.js';
import { serversOfUsers } from '../db/servers.js';
import { serverPrefix } from '../auth/names.js';
import { hostOf } from './user-host-front.js';

/**
 * The hub's side of the proxy: who may reach which server (asked on every request and WebSocket
 * upgrade, answered from cache almost always), and what to say when a server is not there.
 */
export function proxyPolicy(ctx: HubContext) {
  const decide = (identity: Identity | null, req: IncomingMessage, route: Pick<Route, 'data'>, hadToken: boolean): ProxyDecision | Promise<ProxyDecision> => {
    if (!identity) {
      if (hadToken) return { action: 'deny', status: 403, message: 'Invalid or expired token' };
      if (isBrowserNavigation(req)) return { action: 'redirect', location: `/hub/login?next=${encodeURIComponent(req.url ?? '/')}` };
      return { action: 'deny', status: 403, message: 'Missing or invalid credentials: sign in or send an API token' };
    }
    const { user, server } = route.data;
    const groups = ctx.identities.cachedGroupLookup();
    if (groups) return mayUseServer(identity.parsed, groups, user, server) ? ALLOW : denied(identity, route);
    return ctx.identities.groupLookup().then((lookup) => (mayUseServer(identity.parsed, lookup, user, server) ? ALLOW : denied(identity, route)));
  };

  const authorize = (req: IncomingMessage, route: Pick<Route, 'data'>): ProxyDecision | Promise<ProxyDecision> => {
    let credentials = credentialsOf(req, sessionCookieName(ctx.secureCookies, !!ctx.urls.userHosts));
    // On a user's own host the browser holds no hub sign-in (the session cookie is host-only on the
    // hub's host): the server's own sign-in through the hub's OAuth decides who gets in, as with
    // JupyterHub's subdomains. An API token is still checked here.
    const hosts = ctx.urls.userHosts;
    if (hosts && hosts.isUserHost(hostOf(req))) {
      if (!credentials.token) return ALLOW;
      credentials = { token: credentials.token };
    }
    const cached = identifyCached(ctx.identities, credentials);
    if (cached !== undefined) return decide(cached, req, route, !!credentials.token);
    return identify(ctx.identities, credentials).then((identity) => decide(identity, req, route, !!credentials.token));
  };

  /**
   * `/user/<name>/...` with no route. Someone who may not use that server gets exactly the answer
   * they would get were it running (sign in, or 403), so nobody learns whose servers run; those who
   * may are sent to start it (browsers) or told it is not running (424, API clients).
   */
  const missingRoute = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const target = await missingTarget(ctx, req);
    const decision = await authorize(req, { data: { user: target.user, server: target.server } });
    if (decision.action === 'allow') {
      // `/user/%61lice/` is alice's server, spelled so that the raw-path route table misses it:
      // send the client to the spelling it knows, or the spawn page would send it straight back
      const canonical = canonicalUrl(ctx, req.url ?? '/', target);
      if (canonical) return void res.writeHead(307, { Location: canonical, 'Content-Length': 0 }).end();
      return notRunning(ctx, req, res, target);
    }
    if (decision.action === 'redirect') return void res.writeHead(302, { Location: decision.location, 'Content-Length': 0 }).end();
    const body = Buffer.from(decision.message);
    res.writeHead(decision.status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length });
    res.end(body);
  };

  return {
    authorize,

    onMissingRoute(req: IncomingMessage, res: ServerResponse): void {
      missingRoute(req, res).catch((error: unknown) => {
        ctx.log.error({ err: String(error) }, 'answering a request for a stopped server failed');
        if (!res.headersSent) res.writeHead(500).end('Internal Server Error');
      });
    },

    /** The server did not answer: find out whether it died, and if so record it and treat it as stopped. */
    onUpstreamError(req: IncomingMessage, res: ServerResponse, route: Route, error: Error): void {
      (async () => {
        const user = await findUser(ctx.db, route.data.user);
        const row = user ? (await serversOfUsers(ctx.db, [user.id])).get(user.id)?.find((s) => s.name === route.data.server) : undefined;
        if (user && row && !ctx.servers.hasOperation(user.name, row.name) && !(await ctx.servers.isAlive(row))) {
          await ctx.servers.markStopped(row, user.name, 'the server stopped unexpectedly');
          return notRunning(ctx, req, res, { user: user.name, server: row.name, known: true });
        }
        ctx.log.warn({ user: route.data.user, server: route.data.server, err: error.message }, 'server did not answer');
        if (!res.headersSent) res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`The server at ${route.prefix} is not answering. Try again in a moment.`);
      })().catch(() => {
        if (!res.headersSent) res.writeHead(503).end();
      });
    },
  };
}

const ALLOW: ProxyDecision = { action: 'allow' };

/** Names no server: which of someone's servers exist or run is not told to those who may not use them. */
function denied(identity: Identity, route: Pick<Route, 'data'>): ProxyDecision {
  return { action: 'deny', status: 403, message: `${identity.name} may not access this server of ${route.data.user}` };
}

/** A top-level page load in a browser, as opposed to an API call, XHR or WebSocket. */
function isBrowserNavigation(req: IncomingMessage): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  if (req.headers.upgrade) return false;
  const mode = req.headers['sec-fetch-mode'];
  if (mode) return mode === 'navigate';
  return !(req.url ?? '').includes('/api/') && (req.headers.accept ?? '').includes('text/html');
}

/** Whose server, and which, a `/user/<name>/[<server>/]...` URL means (a named one only if it exists). */
async function missingTarget(ctx: HubContext, req: IncomingMessage): Promise<{ user: string; server: string; known: boolean }> {
  const path = (req.url ?? '/').split('?')[0]!;
  const segments = path.split('/'); // ['', 'user', name, maybe server, ...]
  const userName = safeDecode(segments[2] ?? '');
  const user = userName ? await findUser(ctx.db, userName) : undefined;
  let serverName = '';
  if (user && segments[3]) {
    const candidate = safeDecode(segments[3]);
    const servers = (await serversOfUsers(ctx.db, [user.id])).get(user.id) ?? [];
    if (servers.some((s) => s.name === candidate)) serverName = candidate;
  }
  return { user: user?.name ?? userName, server: serverName, known: !!user };
}

/**
 * The same URL with the server's prefix spelled as the route table knows it, when that server runs
 * and the URL spelled it otherwise; else undefined.
 */
function canonicalUrl(ctx: HubContext, url: string, target: { user: string; server: string }): string | undefined {
  const prefix = serverPrefix(target.user, target.server);
  if (!ctx.routes.get(prefix)) return undefined;
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const rest = path.split('/').slice(target.server ? 4 : 3).join('/');
  const canonical = `${prefix}${rest}${q < 0 ? '' : url.slice(q)}`;
  return canonical === url ? undefined : canonical;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Answer for a server the requester may use but that does not run: start it (browsers) or 424. */
async function notRunning(ctx: HubContext, req: IncomingMessage, res: ServerResponse, server: { user: string; server: string; known: boolean }): Promise<void> {
  const url = req.url ?? '/';
  const name = server.user;
  const serverName = server.server;
  if (isBrowserNavigation(req)) {
    const pending = server.known && ctx.servers.pending(name, serverName) === 'spawn';
    // with per-user hosts this is the user's host: the spawn page is on the hub's, and it comes back here
    const hosts = ctx.urls.userHosts;
    const hub = hosts ? hosts.hubOrigin : '';
    const back = hosts ? `${hosts.originOf(name)}${url}` : url;
    const target = `${hub}/hub/${pending ? 'spawn-pending' : 'spawn'}/${encodeURIComponent(name)}${serverName ? `/${encodeURIComponent(serverName)}` : ''}?next=${encodeURIComponent(back)}`;
    res.writeHead(302, { Location: target }).end();
    return;
  }
  const prefix = serverPrefix(name, serverName);
  res.writeHead(424, { 'Content-Type': 'application/json' }).end(JSON.stringify({ status: 424, message: `The server at ${prefix} is not running` }));
}
