import type { FastifyInstance, FastifyReply } from 'fastify';
import type { HubContext } from '../../context.js';
import { exchangeCode, OAuthError, ReusedCodeError } from '../../auth/oauth.js';
import { tokenRequestParams } from '../oauth-token-request.js';

/**
 * The token endpoint of the OAuth provider single-user servers sign people in with. Its authorization
 * endpoint (GET /hub/api/oauth2/authorize) is a page for a person's browser: web/oauth-consent.ts.
 */
export function oauthRoutes(app: FastifyInstance, ctx: HubContext): void {
  /** The server exchanges the code for a token, server to server. */
  app.post('/hub/api/oauth2/token', async (req, reply) => {
    reply.header('Cache-Control', 'no-store').header('Pragma', 'no-cache');
    try {
      const body = await exchangeCode(ctx.db, tokenRequestParams(req), ctx.config.auth.session_max_age);
      ctx.identities.invalidate();
      return reply.send(body);
    } catch (error) {
      if (error instanceof ReusedCodeError) {
        // the revoked token stops working now, its open WebSockets too
        ctx.identities.invalidate();
        ctx.revocations.revoked();
      }
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
