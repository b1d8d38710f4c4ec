import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HubContext } from '../context.js';
import { createSession, endSession, sessionCookieName } from '../auth/sessions.js';
import { findUser } from '../db/users.js';
import { normalizeUsername } from '../auth/names.js';
import { newSecret, safeEqual } from '../auth/secrets.js';
import { html } from './html.js';
import { layout } from './layout.js';
import { safeNext } from './next.js';
import { ownOrigins } from '../http/origins.js';
import { HttpError } from '../http/errors.js';
import { credentialsOf } from '../auth/request.js';
import { fetchMetadataOf, isTopLevelNavigation } from '../http/fetch-metadata.js';
import { foreignSourceProblem, ownHostsOf } from '../http/csrf.js';
import { QueueFullError } from '../util/work-queue.js';

/** Double-submit cookie for the sign-in form, which is posted before any session exists. */
const LOGIN_CSRF_COOKIE = 'refinery-login-xsrf';

export function cookie(name: string, value: string, options: { maxAge?: number; secure: boolean; path?: string }): string {
  const parts = [`${name}=${value}`, `Path=${options.path ?? '/'}`, 'HttpOnly', 'SameSite=Lax'];
  if (options.maxAge !== undefined) parts.push(`Max-Age=${Math.round(options.maxAge)}`);
  if (options.secure) parts.push('Secure');
  return parts.join('; ');
}

export function readCookie(req: FastifyRequest, name: string): string | undefined {
  const match = new RegExp(`(?:^|;\\s*)${name}=([^;]+)`).exec(req.headers.cookie ?? '');
  return match?.[1];
}

/** How long to ask people to wait when password checks are queued up beyond their limit. */
const BUSY_RETRY_SECONDS = 5;

function waitText(seconds: number): string {
  return seconds < 90 ? `${seconds} second${seconds === 1 ? '' : 's'}` : `${Math.ceil(seconds / 60)} minutes`;
}

export function sessionPages(app: FastifyInstance, ctx: HubContext): void {
  const sessionCookie = () => sessionCookieName(ctx.secureCookies, !!ctx.urls.userHosts);
  const clientAddress = (req: FastifyRequest): string => ctx.proxies.clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for']);

  const renderLogin = (reply: FastifyReply, options: { next: string; username?: string; error?: string; status?: number }) => {
    const token = newSecret(16);
    reply.header('Set-Cookie', cookie(LOGIN_CSRF_COOKIE, token, { secure: ctx.secureCookies, path: '/hub/login', maxAge: 3600 }));
    return reply
      .code(options.status ?? 200)
      .type('text/html; charset=utf-8')
      .send(layout({
        title: 'Sign in',
        body: html`<section class="card narrow login">
  <h1>Sign in to Refinery</h1>
  ${options.error ? html`<p class="error" role="alert" id="login-error">${options.error}</p>` : ''}
  ${ctx.externalSignIn ? html`<p><a class="button primary" id="login-${ctx.externalSignIn.configKey.replace('auth.', '')}" href="/hub/oauth_login?next=${encodeURIComponent(options.next)}">Sign in with ${ctx.externalSignIn.label}</a></p>
  <details${options.username ? ' open' : ''}><summary>Sign in with a local account</summary>` : ''}
  <form method="post" action="/hub/login?next=${encodeURIComponent(options.next)}">
    <input type="hidden" name="_xsrf" value="${token}">
    <label for="username">Username</label>
    <input id="username" name="username" autocomplete="username" autocapitalize="none" required autofocus value="${options.username ?? ''}">
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required>
    <button type="submit" class="primary" id="login-submit">Sign in</button>
  </form>
  ${ctx.externalSignIn ? html`</details>` : ''}
</section>`,
      }));
  };

  app.get('/', async (_req, reply) => reply.redirect('/hub/home', 302));
  app.get('/hub', async (_req, reply) => reply.redirect('/hub/home', 302));
  app.get('/hub/', async (_req, reply) => reply.redirect('/hub/home', 302));

  app.get('/hub/login', async (req, reply) => {
    const next = safeNext((req.query as Record<string, string | undefined>).next, undefined, ownOrigins(ctx));
    if (req.access?.identity.via === 'session') return reply.redirect(next, 302);
    // the form's token is for the person looking at the page, not for a script fetching it
    const meta = fetchMetadataOf(req.headers);
    if (meta && !isTopLevelNavigation(meta)) throw new HttpError(403, 'Open the sign-in page in the browser.');
    if (credentialsOf(req.raw, sessionCookie()).conflictingSessions) {
      // someone wrote a second sign-in cookie for this site (a user's page can): start clean
      reply.header('Clear-Site-Data', '"cookies"');
      return renderLogin(reply, { next, error: 'Your browser held two different sign-ins for this site, so neither was used. Sign in again.' });
    }
    return renderLogin(reply, { next });
  });

  // the sign-in form carries a token of its own (a session may not exist yet): see LOGIN_CSRF_COOKIE
  app.post('/hub/login', { config: { ownCsrf: true } }, async (req, reply) => {
    const next = safeNext((req.query as Record<string, string | undefined>).next, undefined, ownOrigins(ctx));
    const form = (req.body ?? {}) as Record<string, string | undefined>;
    const username = (form.username ?? '').trim();
    const password = form.password ?? '';
    const expected = readCookie(req, LOGIN_CSRF_COOKIE);
    // signing someone in as another person is an attack too: only from our own sign-in page
    if (foreignSourceProblem(req.raw, ownHostsOf(req.raw, ctx.urls.publicOrigin))) {
      return renderLogin(reply, { next, username, status: 403, error: 'Sign in from this site’s own sign-in page.' });
    }
    if (!expected || !form._xsrf || !safeEqual(expected, form._xsrf)) {
      return renderLogin(reply, { next, username, status: 403, error: 'Your sign-in form expired. Please try again.' });
    }
    const name = normalizeUsername(username);
    const address = clientAddress(req);
    const { retryAfter, reason } = ctx.loginFailures.check(name, address);
    if (retryAfter > 0) {
      reply.header('Retry-After', String(retryAfter));
      const why = reason === 'total' ? 'There have been too many failed sign-in attempts on this hub.' : 'Too many failed sign-in attempts.';
      return renderLogin(reply, { next, username, status: 429, error: `${why} Try again in ${waitText(retryAfter)}.` });
    }
    let verified: string | null;
    try {
      verified = username && password ? await ctx.authenticator.authenticate(username, password) : null;
    } catch (error) {
      if (!(error instanceof QueueFullError)) throw error;
      ctx.metrics.busyRefusals.inc({ queue: 'passwords' });
      reply.header('Retry-After', String(BUSY_RETRY_SECONDS));
      return renderLogin(reply, { next, username, status: 503, error: `Many people are signing in right now. Try again in ${waitText(BUSY_RETRY_SECONDS)}.` });
    }
    const user = verified ? await findUser(ctx.db, verified) : undefined;
    if (!user) {
      const count = ctx.loginFailures.fail(name, address);
      ctx.metrics.loginFailures.inc();
      ctx.log.warn({ user: name, from: address, failures: count }, 'failed sign-in');
      return renderLogin(reply, { next, username, status: 403, error: 'Invalid username or password.' });
    }
    ctx.loginFailures.succeed(name, address);
    const { cookieValue } = await createSession(ctx.db, user.id, ctx.config.auth.session_max_age);
    ctx.log.info({ user: user.name }, 'signed in');
    reply.header('Set-Cookie', [
      cookie(sessionCookie(), cookieValue, { secure: ctx.secureCookies, maxAge: ctx.config.auth.session_max_age }),
      cookie(LOGIN_CSRF_COOKIE, '', { secure: ctx.secureCookies, path: '/hub/login', maxAge: 0 }),
    ]);
    return reply.redirect(next, 302);
  });

  const logout = async (req: FastifyRequest, reply: FastifyReply) => {
    const value = readCookie(req, sessionCookie());
    if (value) await endSession(ctx.db, value);
    ctx.identities.invalidate();
    reply.header('Set-Cookie', cookie(sessionCookie(), '', { secure: ctx.secureCookies, maxAge: 0 }));
    return reply.redirect('/hub/login', 302);
  };
  // GET works too, as in JupyterHub: signing out is harmless to trigger
  app.get('/hub/logout', logout);
  app.post('/hub/logout', logout);
}
