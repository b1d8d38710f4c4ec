import type { FastifyInstance, FastifyReply } from 'fastify';
import type { HubContext } from '../../context.js';
import { authorizeParams, exchangeCode, grantCode, OAuthError, validateAuthorizeRequest } from '../../auth/oauth.js';
import { publicOrigin } from '../../web/server-pages.js';
import { oauthErrorReply, renderConsentPage, whoMayAuthorize } from '../../web/oauth-consent.js';
import { tokenRequestParams } from '../oauth-token-request.js';

export function oauthRoutes(app: FastifyInstance, ctx: HubContext): void {
  /**
   * The browser arrives here from a single-user server that wants to know who it is. The server's
   * owner is sent straight back with a code; anyone else who may use the server is asked first.
   */
  app.get('/hub/api/oauth2/authorize', async (req, reply) => {
    const access = req.access;
    if (!access || access.identity.via !== 'session') {
      return reply.redirect(`/hub/login?next=${encodeURIComponent(req.url)}`, 302);
    }
    try {
      const params = authorizeParams(new URL(req.url, 'http://hub').searchParams);
      const request = await validateAuthorizeRequest(ctx.db, params, publicOrigin(ctx, req), access.identity.name);
      const who = whoMayAuthorize(access, request.client);
      if (who === 'forbidden') throw new OAuthError('access_denied', `You are signed in as ${access.identity.name}, who may not use ${request.client.description || request.client.identifier}.`, 403);
      if (who === 'owner') return reply.header('Cache-Control', 'no-store').redirect(await grantCode(ctx.db, access.identity, request), 302);
      return renderConsentPage(reply, access, request, params);
    } catch (error) {
      if (error instanceof OAuthError) return oauthErrorReply(reply, error);
      throw error;
    }
  });

  /** The server exchanges the code for a token, server to server. */
  app.post('/hub/api/oauth2/token', async (req, reply) => {
    reply.header('Cache-Control', 'no-store').header('Pragma', 'no-cache');
    try {
      const body = await exchangeCode(ctx.db, tokenRequestParams(req), ctx.config.auth.session_max_age);
      ctx.identities.invalidate();
      return reply.send(body);
    } catch (error) {
      if (error instanceof OAuthError) return tokenError(reply, error);
      throw error;
    }
  });
}

/** RFC 6749 §5.2: a JSON error; a client that failed to authenticate is told how it may (401). */
function tokenError(reply: FastifyReply, error: OAuthError): FastifyReply {
  if (error.status === 401) reply.header('WWW-Authenticate', 'Basic realm="Refinery OAuth token endpoint"');
  return reply.code(error.status).send({ error: error.code, error_description: error.message });
}
