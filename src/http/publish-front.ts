// The published pages' own origin (`publish.public_url`), in front of the proxy: it serves pages
// only, and the hub's origin sends `/p/...` there.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HubContext } from '../context.js';
import { originForm, routedSegments } from './request-path.js';
import { hostOf } from './user-host-front.js';

/** The host of the separate page origin, or undefined when pages live on the hub's origin. */
export function publicationPageHost(ctx: HubContext): string | undefined {
  const url = ctx.config.publish.public_url;
  if (!url) return undefined;
  const host = new URL(url).host.toLowerCase();
  const hub = ctx.urls.publicOrigin ? new URL(ctx.urls.publicOrigin).host.toLowerCase() : undefined;
  return host === hub ? undefined : host;
}

/**
 * In front of the proxy (app.ts): on the page origin only `/p/...` exists (no hub pages, no API, no
 * user servers, no WebSockets); on the hub's origin `/p/...` redirects to the page origin.
 */
export function publishFront(ctx: HubContext) {
  const host = () => publicationPageHost(ctx);
  return {
    request(next: (req: IncomingMessage, res: ServerResponse) => void) {
      // without a separate page origin there is nothing to check: keep the proxy's hot path bare
      if (!host()) return next;
      return (req: IncomingMessage, res: ServerResponse): void => {
        const pages = host();
        if (!pages) return next(req, res);
        const url = req.url ?? '/';
        const onPageOrigin = hostOf(req) === pages;
        // decided on the path the router will serve (`/%70/…` is `/p/…` to it), never the raw text
        const isPage = routedSegments(url)?.[0] === 'p';
        if (onPageOrigin) {
          if (isPage) return next(req, res);
          res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', 'Cross-Origin-Resource-Policy': 'same-origin' });
          res.end('Not Found: this address serves published notebooks only.\n');
          return;
        }
        if (isPage && (req.method === 'GET' || req.method === 'HEAD')) {
          res.writeHead(302, { Location: `${ctx.config.publish.public_url}${originForm(url)}`, 'Referrer-Policy': 'no-referrer' });
          res.end();
          return;
        }
        next(req, res);
      };
    },
    upgrade(next: (req: IncomingMessage, socket: Duplex, head: Buffer) => void) {
      return (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
        const pages = host();
        if (pages && hostOf(req) === pages) {
          socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
          return;
        }
        next(req, socket, head);
      };
    },
  };
}
