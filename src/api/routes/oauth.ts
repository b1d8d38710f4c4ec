import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HubContext } from '../../context.js';
import { exchangeCode, grantCode, OAuthError, validateAuthorizeRequest, type AuthorizeParams, type TokenParams } from '../../auth/oauth.js';
import { jsonBody } from '../body.js';
import { renderMessagePage } from '../../web/message.js';

export function oauthRoutes(app: FastifyInstance, ctx: HubContext): void {
  /** The browser arrives here from a single-user server that wants to know who it is. */
  app.get('/hub/api/oauth2/authorize', async (req, reply) => {
    const params = req.query as AuthorizeParams;
    let request;
    try {
      request = await validateAuthorizeRequest(ctx.db, params);
    } catch (error) {
      if (error instanceof OAuthError) return page(reply, 400, 'Cannot sign in to this server', error.message);
      throw error;
    }
    const access = req.access;
    if (!access || access.identity.via !== 'session') {
      return reply.redirect(`/hub/login?next=${encodeURIComponent(req.url)}`, 302);
    }
    const serverKey = request.client.server_key;
    if (serverKey && !access.can(`access:servers!server=${serverKey}`)) {
      return page(reply, 403, 'No access to this server', `You are signed in as ${access.identity.name}, who may not use the server ${serverKey}.`);
    }
    const location = await grantCode(ctx.db, access.identity, {
      ...request,
      ...(params.state !== undefined ? { state: params.state } : {}),
      ...(params.code_challenge ? { codeChallenge: params.code_challenge } : {}),
      ...(params.code_challenge_method ? { codeChallengeMethod: params.code_challenge_method } : {}),
    });
    return reply.redirect(location, 302);
  });

  /** The server exchanges the code for a token, server to server. */
  app.post('/hub/api/oauth2/token', async (req, reply) => {
    const params = tokenParams(req);
    try {
      const body = await exchangeCode(ctx.db, params, ctx.config.auth.session_max_age);
      ctx.identities.invalidate();
      return reply.header('Cache-Control', 'no-store').send(body);
    } catch (error) {
      if (error instanceof OAuthError) return reply.code(error.status).header('Cache-Control', 'no-store').send({ error: error.code, error_description: error.message });
      throw error;
    }
  });
}

/** Token requests come form-encoded (RFC 6749), sometimes as JSON, with client credentials maybe in Basic auth. */
function tokenParams(req: FastifyRequest): TokenParams {
  let params: Record<string, string> = {};
  const body = req.body;
  if (typeof body === 'string' && (req.headers['content-type'] ?? '').includes('application/x-www-form-urlencoded')) {
    params = Object.fromEntries(new URLSearchParams(body));
  } else if (body && typeof body === 'object') {
    params = body as Record<string, string>;
  } else {
    const parsed = jsonBody(req);
    if (parsed && typeof parsed === 'object') params = parsed as Record<string, string>;
  }
  const basic = /^basic\s+(.+)$/i.exec(req.headers.authorization ?? '');
  if (basic) {
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      params.client_id ??= decodeURIComponent(decoded.slice(0, colon));
      params.client_secret ??= decodeURIComponent(decoded.slice(colon + 1));
    }
  }
  return params;
}

function page(reply: FastifyReply, status: number, title: string, message: string): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8').send(renderMessagePage(title, message));
}
