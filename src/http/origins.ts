// Which origins are the hub's own: for full URLs in answers and for where a browser may be sent on.
import type { FastifyRequest } from 'fastify';
import type { HubContext } from '../context.js';
import { ownOriginPredicate } from '../servers/user-hosts.js';

/** Origins besides the page's own that the hub may send a browser on to: its public origin, users' hosts. */
export function ownOrigins(ctx: HubContext): (origin: string) => boolean {
  return ownOriginPredicate(ctx.urls.userHosts, ctx.urls.publicOrigin);
}

/** The origin people reach the hub at: `public_url` when set, else the address the request came in on. */
export function publicOrigin(ctx: HubContext, req: FastifyRequest): string {
  if (ctx.urls.publicOrigin) return ctx.urls.publicOrigin;
  const host = req.headers.host;
  return host ? `${req.protocol}://${host}` : '';
}
