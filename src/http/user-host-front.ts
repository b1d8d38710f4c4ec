/**
 * In front of the proxy with per-user hosts (`subdomain_host`): which host serves what.
 *
 * - `alice.hub.example.org` serves alice's servers (`/user/alice/...`) and nothing else: no hub pages,
 *   no API, nobody else's servers;
 * - the hub's host (and any other name the listener is reached by, such as the loopback address
 *   servers call the API on) serves the hub and never a user's server: a page load of
 *   `/user/alice/...` there is sent to alice's host, anything else under `/user/` is 404.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { RouteTable } from '../proxy/routes.js';
import type { UserHosts } from '../servers/user-hosts.js';
import { originForm, routedSegments } from './request-path.js';

export function hostOf(req: IncomingMessage): string {
  return String(req.headers.host ?? '').toLowerCase();
}

/** The user whose servers a request is for on a user's host, when the host is theirs: undefined otherwise. */
function ownerOnUserHost(req: IncomingMessage, hosts: UserHosts, routes: RouteTable): string | undefined {
  const url = req.url ?? '/';
  const segments = routedSegments(url);
  const user = segments?.[0] === 'user' ? segments[1] : undefined;
  if (!user || hosts.hostOf(user) !== hostOf(req)) return undefined;
  // the route the proxy will pick must be that user's too (it matches on the raw path)
  const route = routes.match(url);
  return !route || route.data.user === user ? user : undefined;
}

const NOT_HERE_HEADERS = { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', 'Cross-Origin-Resource-Policy': 'same-origin' };

export function userHostFront(hosts: UserHosts, routes: RouteTable) {
  return {
    request(next: (req: IncomingMessage, res: ServerResponse) => void) {
      return (req: IncomingMessage, res: ServerResponse): void => {
        if (hosts.isUserHost(hostOf(req))) {
          if (ownerOnUserHost(req, hosts, routes) !== undefined) return next(req, res);
          res.writeHead(404, NOT_HERE_HEADERS);
          res.end('Not Found: this address serves one person’s servers under /user/<name>/ only.\n');
          return;
        }
        const url = req.url ?? '/';
        const segments = routedSegments(url);
        if (segments?.[0] === 'user') {
          const user = segments[1];
          if (user && (req.method === 'GET' || req.method === 'HEAD')) {
            res.writeHead(302, { Location: `${hosts.originOf(user)}${originForm(url)}`, 'Content-Length': 0 });
            res.end();
            return;
          }
          res.writeHead(404, NOT_HERE_HEADERS);
          res.end('Not Found: servers are reached at their owners’ own addresses.\n');
          return;
        }
        next(req, res);
      };
    },
    upgrade(next: (req: IncomingMessage, socket: Duplex, head: Buffer) => void) {
      return (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
        const onUserHost = hosts.isUserHost(hostOf(req));
        const theirs = onUserHost && ownerOnUserHost(req, hosts, routes) !== undefined;
        const hubPath = !onUserHost && routedSegments(req.url ?? '/')?.[0] !== 'user';
        if (theirs || hubPath) return next(req, socket, head);
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      };
    },
  };
}
