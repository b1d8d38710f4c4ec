/**
 * Requests are authorized before their bodies are read: an anonymous request that carries a body
 * is answered at once (403 for the API, the sign-in page for forms) and its connection closed, so
 * nobody can make the hub buffer uploads without signing in. Only routes meant for people who are
 * not signed in yet take a body from them.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Method and route pattern of the routes that accept a body without credentials: the sign-in form,
 * signing out, and OAuth's token exchange (its client authenticates in the body).
 */
const ANONYMOUS_BODY_ROUTES = new Set(['POST /hub/login', 'POST /hub/logout', 'POST /hub/api/oauth2/token']);

export function carriesBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length.trim() !== '0');
}

/** For an onRequest hook (after the credentials are known): the reply sent, or undefined to go on. */
export function refuseAnonymousBody(req: FastifyRequest, reply: FastifyReply, api: boolean): FastifyReply | undefined {
  if (req.access || !carriesBody(req.raw)) return undefined;
  const route = req.routeOptions.url;
  if (route !== undefined && ANONYMOUS_BODY_ROUTES.has(`${req.method} ${route}`)) return undefined;
  // whatever of the body is still on its way is not read: the connection ends with this answer
  reply.header('Connection', 'close');
  if (api) return reply.code(403).type('application/json').send({ status: 403, message: 'Missing or invalid credentials.' });
  return reply.redirect(`/hub/login?next=${encodeURIComponent(req.url)}`, 302);
}
