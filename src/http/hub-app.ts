import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import type { HubContext } from '../context.js';
import { registerApi } from '../api/index.js';
import { registerPages } from '../web/index.js';
import { oauthAuthorizePage } from '../web/oauth-consent.js';
import { HttpError, httpErrorOf } from './errors.js';
import { accessFor } from '../policy/access.js';
import { credentialsOf, identify } from '../auth/request.js';
import { sessionCookieName } from '../auth/sessions.js';
import { pageCsp } from './page-csp.js';
import { renderMessagePage } from '../web/message.js';
import { csrfTokenMatches, csrfTokenOf, foreignSourceProblem, ownHostsOf, sessionMayIdentify, UNSAFE_METHODS } from './csrf.js';
import { refuseAnonymousBody } from './unread-bodies.js';
import { HUB_BODY_LIMIT } from './server-limits.js';

/**
 * Pages get a strict policy: scripts and styles only from the hub itself, and never framed, not even
 * by a page of the same origin (in path mode a user's server is one).
 */
const PAGE_CSP = pageCsp();

/** Decided on the route the router chose (the decoded path), never on the raw URL: `/hub/%61pi/...` is an API route too. */
function isApi(req: FastifyRequest): boolean {
  return req.routeOptions.config?.api === true;
}

/** The `_xsrf` field of a posted form (pages parse forms into objects; API bodies stay text). */
function formCsrfToken(body: unknown): string | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const value = (body as Record<string, unknown>)._xsrf;
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === 'string' ? first : undefined;
}

/**
 * The hub's HTTP application (pages and REST API) as a request handler the proxy falls back to.
 * `serverFactory` hands Fastify the public server the proxy owns, so both share one port.
 */
export async function createHubApp(ctx: HubContext, server: Server): Promise<{ app: FastifyInstance; handle: (req: IncomingMessage, res: ServerResponse) => void }> {
  let handle: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const app = Fastify({
    logger: false,
    bodyLimit: HUB_BODY_LIMIT,
    serverFactory: (handler) => {
      handle = handler;
      return server;
    },
  });

  app.decorateRequest('access', null);
  app.addHook('onRequest', async (req, reply) => {
    let identity = await identify(ctx.identities, credentialsOf(req.raw, sessionCookieName(ctx.secureCookies, !!ctx.urls.userHosts)));
    // the session cookie alone speaks only for top-level page loads; a fetch needs the CSRF token too
    if (identity?.session && !sessionMayIdentify(req.raw, identity.session.csrfToken)) identity = null;
    req.access = identity ? await accessFor(ctx.identities, identity) : null;
    return refuseAnonymousBody(req, reply, isApi(req));
  });
  // cookie-authenticated changes must come from our own pages (tokens need no such proof)
  app.addHook('preHandler', async (req) => {
    const session = req.access?.identity.session;
    if (!session || !UNSAFE_METHODS.has(req.method) || req.routeOptions.config?.ownCsrf) return;
    const api = isApi(req);
    const problem = foreignSourceProblem(req.raw, ownHostsOf(req.raw, ctx.urls.publicOrigin));
    if (problem) {
      throw new HttpError(403, api
        ? `Cookie-authenticated API requests are accepted only from the hub's own pages; this one ${problem}`
        : `This form was refused: it ${problem}. Use the hub's own pages.`);
    }
    if (!csrfTokenMatches(csrfTokenOf(req.raw) ?? formCsrfToken(req.body), session.csrfToken)) {
      throw new HttpError(403, api
        ? "'_xsrf' argument missing or incorrect: send the X-XSRFToken header with cookie-authenticated API requests"
        : 'The form expired or did not come from this site. Reload the page and try again.');
    }
  });
  app.addHook('onSend', async (req, reply, payload) => {
    const type = String(reply.getHeader('content-type') ?? '');
    if (type.startsWith('text/html')) {
      // a page may widen its own form targets (see page-csp.ts); everything else gets the strict one
      if (!reply.hasHeader('Content-Security-Policy')) reply.header('Content-Security-Policy', PAGE_CSP);
      reply.header('X-Content-Type-Options', 'nosniff');
      reply.header('Referrer-Policy', 'same-origin');
      reply.header('X-Frame-Options', 'DENY');
      // a window a user's page opens onto the hub loses its handle on it (unless that page asks for the same)
      reply.header('Cross-Origin-Opener-Policy', 'same-origin');
    }
    if (isApi(req)) reply.header('X-JupyterHub-Version', ctx.version);
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    ctx.metrics.requestDuration.observe(
      { method: req.method, handler: req.routeOptions.url ?? 'unmatched', code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  app.setErrorHandler(async (error: Error & { statusCode?: number; code?: string }, req: FastifyRequest, reply: FastifyReply) => {
    const answer = httpErrorOf(error);
    const status = answer ? answer.status : error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    const message = status === 500 ? 'Internal Server Error' : answer ? answer.message : clientMessage(error);
    if (status === 500) ctx.log.error({ err: error, url: req.url.split('?')[0], method: req.method }, 'request failed');
    if (answer) for (const [k, v] of Object.entries(answer.headers)) reply.header(k, v);
    if (isApi(req)) return reply.code(status).type('application/json').send({ status, message });
    return reply.code(status).type('text/html; charset=utf-8').send(renderMessagePage(status === 404 ? 'Page not found' : `Error ${status}`, message, { href: '/hub/home', text: 'Go home' }));
  });
  app.setNotFoundHandler(async (req, reply) => {
    return reply.code(404).type('text/html; charset=utf-8').send(renderMessagePage('Page not found', `There is nothing at ${req.url.split('?')[0]}.`, { href: '/hub/home', text: 'Go home' }));
  });

  // API bodies arrive as text whatever their Content-Type and the routes parse them: JupyterHub
  // clients often send JSON labelled as a form, or unlabelled. Pages get ordinary form parsing.
  await app.register(async (api) => {
    api.removeAllContentTypeParsers();
    api.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    api.addHook('onRoute', (route) => {
      route.config = { ...route.config, api: true };
    });
    registerApi(api, ctx);
    oauthAuthorizePage(api, ctx);
    // anything else under /hub/api is an API 404 (JSON), decided by the router like every other route
    const notFound = async (_req: FastifyRequest, reply: FastifyReply) => reply.code(404).send({ status: 404, message: 'Not Found' });
    api.all('/hub/api/*', notFound);
  });
  await app.register(async (pages) => {
    await pages.register(formbody);
    registerPages(pages, ctx);
  });
  await app.ready();
  if (!handle) throw new Error('hub app did not receive its request handler');
  return { app, handle };
}

function clientMessage(error: Error & { code?: string }): string {
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return 'Request body is too large';
  if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return 'Unsupported Content-Type';
  return error.message;
}
