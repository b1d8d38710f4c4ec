import type { FastifyInstance, FastifyReply } from 'fastify';
import type { HubContext } from '../context.js';
import type { Access } from '../policy/access.js';
import { answerLocation, authorizeParams, grantCode, OAuthError, validateAuthorizeRequest, type AuthorizationRequest, type AuthorizeParams } from '../auth/oauth.js';
import { describeGrantedScopes } from '../auth/oauth-scopes.js';
import { serverPrefix } from '../auth/names.js';
import { html } from './html.js';
import { sendPage, xsrfOf } from './page-auth.js';
import { pageCsp } from '../http/page-csp.js';
import { renderMessagePage } from './message.js';
import { publicOrigin } from '../http/origins.js';
import { serverSignIn } from '../policy/rules.js';

/**
 * The consent step of the OAuth provider. A server's owner signs in to it without a question; anyone
 * else who may use it (an admin, someone it is shared with) is shown what the server would get and
 * decides, on a form that carries the session's CSRF token.
 */

/** Where the consent form posts: a page route, so the form's `_xsrf` field is what proves it came from us. */
export const CONSENT_ACTION = '/hub/oauth2/authorize';

/** An OAuth error: back to the client when its redirect_uri is verified, else a page for the person. */
export function oauthErrorReply(reply: FastifyReply, error: OAuthError): FastifyReply {
  reply.header('Cache-Control', 'no-store');
  if (error.returnTo) return reply.redirect(answerLocation(error.returnTo, { error: error.code, error_description: error.message }), 302);
  const title = error.status === 403 ? 'No access to this server' : 'Cannot sign in to this server';
  return reply.code(error.status).type('text/html; charset=utf-8').send(renderMessagePage(title, `${error.message} (OAuth error: ${error.code})`, { href: '/hub/home', text: 'Go home' }));
}

/** "alice’s default server" or "alice’s server “lab2”", and its address. */
function describeServer(serverKey: string): { name: string; path: string } {
  const slash = serverKey.indexOf('/');
  const owner = serverKey.slice(0, slash);
  const server = serverKey.slice(slash + 1);
  return { name: server ? `${owner}’s server “${server}”` : `${owner}’s default server`, path: serverPrefix(owner, server) };
}

export function renderConsentPage(reply: FastifyReply, access: Access, request: AuthorizationRequest, params: AuthorizeParams): FastifyReply {
  const server = describeServer(request.client.server_key ?? '/');
  const person = access.identity.name;
  const body = html`<section class="card narrow" aria-labelledby="consent-title">
  <h1 id="consent-title">Sign in to ${server.name}?</h1>
  <p>The server at <code>${server.path}</code> asks to sign you in as <strong>${person}</strong>. It is not your server: only continue if you meant to open it.</p>
  <p>If you allow it, it gets a token, valid while you stay signed in here, that lets it:</p>
  <ul id="consent-scopes">${describeGrantedScopes(request.scopes, person).map((line) => html`<li>${line}</li>`)}</ul>
  <form method="post" action="${CONSENT_ACTION}">
    <input type="hidden" name="_xsrf" value="${xsrfOf(access)}">
    ${Object.entries(params).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}
    <div class="form-actions">
      <button class="primary" name="decision" value="allow">Allow</button>
      <button name="decision" value="deny">Deny</button>
    </div>
  </form>
</section>`;
  reply.header('X-Frame-Options', 'DENY');
  // with per-user hosts the answer redirects to the server's own origin, which form-action must allow
  const target = absoluteOrigin(request.redirectUri);
  if (target) reply.header('Content-Security-Policy', pageCsp([target]));
  return sendPage(reply, access, { title: `Sign in to ${server.name}?`, body, noStore: true });
}

/**
 * The authorization endpoint, at JupyterHub's address under /hub/api/ (registered with the API routes,
 * so it shares their answers to unknown methods); it answers a browser, with redirects and pages.
 */
export function oauthAuthorizePage(app: FastifyInstance, ctx: HubContext): void {
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
      const who = serverSignIn(access, request.client.server_key);
      if (who === 'forbidden') throw new OAuthError('access_denied', `You are signed in as ${access.identity.name}, who may not use ${request.client.description || request.client.identifier}.`, 403);
      if (who === 'owner') return reply.header('Cache-Control', 'no-store').redirect(await grantCode(ctx.db, access.identity, request), 302);
      return renderConsentPage(reply, access, request, params);
    } catch (error) {
      if (error instanceof OAuthError) return oauthErrorReply(reply, error);
      throw error;
    }
  });
}

export function oauthConsentPages(app: FastifyInstance, ctx: HubContext): void {
  /** The answer from the consent form: the request is checked again from scratch, then granted or refused. */
  app.post(CONSENT_ACTION, async (req, reply) => {
    const access = req.access;
    if (!access || access.identity.via !== 'session') return reply.redirect('/hub/login', 303);
    const fields = formSearch(req.body);
    try {
      const request = await validateAuthorizeRequest(ctx.db, authorizeParams(fields), publicOrigin(ctx, req), access.identity.name);
      if (serverSignIn(access, request.client.server_key) === 'forbidden') throw new OAuthError('access_denied', `You are signed in as ${access.identity.name}, who may not use ${request.client.description || request.client.identifier}.`, 403);
      if (fields.get('decision') !== 'allow') {
        return reply.header('Cache-Control', 'no-store').redirect(answerLocation(request, { error: 'access_denied', error_description: `${access.identity.name} did not allow the sign-in` }), 303);
      }
      return reply.header('Cache-Control', 'no-store').redirect(await grantCode(ctx.db, access.identity, request), 303);
    } catch (error) {
      if (error instanceof OAuthError) return oauthErrorReply(reply, error);
      throw error;
    }
  });
}

/** The origin of an absolute redirect URI (a path has none: it stays on the hub's origin). */
function absoluteOrigin(uri: string): string | undefined {
  if (!URL.canParse(uri)) return undefined;
  const origin = new URL(uri).origin;
  return origin === 'null' ? undefined : origin;
}

/** The posted form as URLSearchParams, repeated fields kept (so a parameter given twice is noticed). */
function formSearch(body: unknown): URLSearchParams {
  const search = new URLSearchParams();
  if (!body || typeof body !== 'object') return search;
  for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
    for (const item of Array.isArray(value) ? value : [value]) if (typeof item === 'string') search.append(key, item);
  }
  return search;
}
