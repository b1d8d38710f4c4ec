import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import type { HubContext } from '../context.js';
import { registerApi } from '../api/index.js';
import { registerPages } from '../web/index.js';
import { ApiError } from '../api/errors.js';
import { accessFor } from '../auth/access.js';
import { credentialsOf, identify } from '../auth/request.js';
import { safeEqual } from '../auth/secrets.js';
import { renderMessagePage } from '../web/message.js';
import { refuseAnonymousBody } from './unread-bodies.js';
import { HUB_BODY_LIMIT } from './server-limits.js';

const API_PREFIX = '/hub/api/';
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Pages get a strict policy: scripts and styles only from the hub itself, never framed by others. */
const PAGE_CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'; object-src 'none'";

function isApi(url: string): boolean {
  return url.startsWith(API_PREFIX) || url === '/hub/api' || url.startsWith('/hub/metrics') || url.startsWith('/hub/health');
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
    const identity = await identify(ctx.identities, credentialsOf(req.raw));
    req.access = identity ? await accessFor(ctx.identities, identity) : null;
    return refuseAnonymousBody(req, reply, isApi(req.url));
  });
  // cookie-authenticated API calls must prove they come from our pages (tokens need no such proof)
  app.addHook('preHandler', async (req) => {
    const identity = req.access?.identity;
    if (!identity?.session || !UNSAFE_METHODS.has(req.method) || !isApi(req.url)) return;
    const header = req.headers['x-xsrftoken'] ?? req.headers['x-csrf-token'];
    const given = Array.isArray(header) ? header[0] : header;
    if (!given || !safeEqual(given, identity.session.csrfToken)) {
      throw new ApiError(403, "'_xsrf' argument missing or incorrect: send the X-XSRFToken header with cookie-authenticated API requests");
    }
  });
  app.addHook('onSend', async (req, reply, payload) => {
    const type = String(reply.getHeader('content-type') ?? '');
    if (type.startsWith('text/html')) {
      reply.header('Content-Security-Policy', PAGE_CSP);
      reply.header('X-Content-Type-Options', 'nosniff');
      reply.header('Referrer-Policy', 'same-origin');
    }
    if (isApi(req.url)) reply.header('X-JupyterHub-Version', ctx.version);
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    ctx.metrics.requestDuration.observe(
      { method: req.method, handler: req.routeOptions.url ?? 'unmatched', code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  app.setErrorHandler(async (error: Error & { statusCode?: number; code?: string }, req: FastifyRequest, reply: FastifyReply) => {
    const status = error instanceof ApiError ? error.status : error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    const message = status === 500 ? 'Internal Server Error' : clientMessage(error);
    if (status === 500) ctx.log.error({ err: error, url: req.url.split('?')[0], method: req.method }, 'request failed');
    if (error instanceof ApiError) for (const [k, v] of Object.entries(error.headers)) reply.header(k, v);
    if (isApi(req.url)) return reply.code(status).type('application/json').send({ status, message });
    return reply.code(status).type('text/html; charset=utf-8').send(renderMessagePage(status === 404 ? 'Page not found' : `Error ${status}`, message, { href: '/hub/home', text: 'Go home' }));
  });
  app.setNotFoundHandler(async (req, reply) => {
    if (isApi(req.url)) return reply.code(404).send({ status: 404, message: 'Not Found' });
    return reply.code(404).type('text/html; charset=utf-8').send(renderMessagePage('Page not found', `There is nothing at ${req.url.split('?')[0]}.`, { href: '/hub/home', text: 'Go home' }));
  });

  // API bodies arrive as text whatever their Content-Type and the routes parse them: JupyterHub
  // clients often send JSON labelled as a form, or unlabelled. Pages get ordinary form parsing.
  await app.register(async (api) => {
    api.removeAllContentTypeParsers();
    api.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    registerApi(api, ctx);
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
