/**
 * Sign-in through an outside provider (OpenShift's OAuth server, an OpenID Connect provider):
 * /hub/oauth_login sends the browser there with a fresh state, nonce and PKCE challenge,
 * /hub/oauth_callback takes the answer back, learns who the person is and their groups, applies the
 * sign-in policy (allowed users and groups, admin groups, managed groups), makes or updates their
 * account, and starts a session. The state is bound to the browser that started (a cookie only this
 * path sees), so nobody can finish a sign-in someone else began, and it is used once.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HubContext } from '../context.js';
import { ExternalSignInError, pkcePair, type ExternalSignIn } from '../auth/external.js';
import { newSecret, safeEqual } from '../auth/secrets.js';
import { createSession, sessionCookieName } from '../auth/sessions.js';
import { groupNameProblem, normalizeUsername, usernameProblem } from '../auth/names.js';
import { createUser, findUser, updateUser } from '../db/users.js';
import { deleteSessionsOfUser } from '../db/sessions.js';
import { createGroup, findGroup, setUserGroups } from '../db/groups.js';
import { html } from './html.js';
import { layout } from './layout.js';
import { safeNext } from './next.js';
import { ownOrigins } from '../http/origins.js';
import { cookie, readCookie } from './session-pages.js';

const STATE_COOKIE = 'refinery-oauth-state';
const CALLBACK = '/hub/oauth_callback';
/** How long a person may take at the OAuth server's sign-in page. */
const PENDING_MS = 10 * 60_000;
/** Unfinished sign-ins kept at most (oldest dropped first): a flood of starts cannot fill memory. */
const MAX_PENDING = 10_000;

interface Pending {
  verifier: string;
  nonce: string;
  next: string;
  expires: number;
}

export function oauthLoginPages(app: FastifyInstance, ctx: HubContext, provider: ExternalSignIn): void {
  const pending = new Map<string, Pending>();
  const { label } = provider;

  const failure = (reply: FastifyReply, status: number, message: string) => reply
    .code(status)
    .type('text/html; charset=utf-8')
    .send(layout({
      title: 'Sign-in failed',
      body: html`<section class="card narrow login">
  <h1>Sign-in failed</h1>
  <p class="error" role="alert" id="login-error">${message}</p>
  <p><a class="button primary" href="/hub/login">Try again</a></p>
</section>`,
    }));

  app.get('/hub/oauth_login', async (req, reply) => {
    const next = safeNext((req.query as Record<string, string | undefined>).next, undefined, ownOrigins(ctx));
    const now = Date.now();
    for (const [key, p] of pending) if (p.expires < now || pending.size >= MAX_PENDING) pending.delete(key); else break;
    const state = newSecret(24);
    const nonce = newSecret(24);
    const { verifier, challenge } = pkcePair();
    let target: string;
    try {
      target = await provider.authorizeUrl({ state, nonce, verifier, challenge });
    } catch (error) {
      if (!(error instanceof ExternalSignInError)) throw error;
      ctx.log.error({ err: error.message, provider: provider.configKey }, 'sign-in provider unavailable');
      return failure(reply, 502, `Signing in with ${label} is not possible right now. An administrator can find the reason in the hub's log.`);
    }
    pending.set(state, { verifier, nonce, next, expires: now + PENDING_MS });
    reply.header('Set-Cookie', cookie(STATE_COOKIE, state, { secure: ctx.secureCookies, path: CALLBACK, maxAge: PENDING_MS / 1000 }));
    return reply.redirect(target, 302);
  });

  app.get(CALLBACK, async (req: FastifyRequest, reply) => {
    const query = req.query as Record<string, string | undefined>;
    const state = query.state ?? '';
    const bound = readCookie(req, STATE_COOKIE);
    const entry = pending.get(state);
    reply.header('Set-Cookie', cookie(STATE_COOKIE, '', { secure: ctx.secureCookies, path: CALLBACK, maxAge: 0 }));
    if (!state || !bound || !safeEqual(bound, state) || !entry || entry.expires < Date.now()) {
      return failure(reply, 400, 'This sign-in link is not one this browser started, or it expired. Start again.');
    }
    pending.delete(state);
    if (query.error) return failure(reply, 403, `${label} did not sign you in: ${query.error_description ?? query.error}.`);
    if (!query.code) return failure(reply, 400, `${label} sent no authorization code back.`);

    let identity;
    try {
      identity = await provider.identify(new URL(req.url, 'http://callback.invalid'), { state, nonce: entry.nonce, verifier: entry.verifier });
    } catch (error) {
      if (!(error instanceof ExternalSignInError)) throw error;
      ctx.log.warn({ err: error.message, provider: provider.configKey }, 'sign-in failed');
      return failure(reply, 502, `${label} did not confirm who you are. Try again; if it keeps failing, an administrator can find the reason in the hub's log.`);
    }
    const settings = provider.policy;
    const name = normalizeUsername(identity.name);
    const problem = usernameProblem(name);
    if (problem) return failure(reply, 403, `Your ${label} user name cannot be used here: ${problem}.`);
    const allowedByName = settings.allowed_users.includes(name);
    const refusal = settings.allowed_users.length && !allowedByName && !settings.allowed_groups.length
      ? { log: `not in ${provider.configKey}.allowed_users`, message: `${name} is not allowed to use this hub. Ask an administrator to add you.` }
      : settings.allowed_groups.length && !allowedByName && !identity.groups.some((g) => settings.allowed_groups.includes(g))
        ? { log: `in none of ${provider.configKey}.allowed_groups`, message: `${name} is not in a group allowed to use this hub. Ask an administrator to add you.` }
        : undefined;
    if (refusal) {
      // someone who was let in before and no longer is: their other sign-ins end too
      const former = await findUser(ctx.db, name);
      if (former) {
        await deleteSessionsOfUser(ctx.db, former.id);
        ctx.identities.invalidate();
      }
      ctx.log.warn({ user: name, endedSessions: !!former }, `sign-in refused: ${refusal.log}`);
      return failure(reply, 403, refusal.message);
    }
    const admin = settings.admin_groups.length ? identity.groups.some((g) => settings.admin_groups.includes(g)) : undefined;
    let user = await findUser(ctx.db, name);
    if (!user) user = await createUser(ctx.db, name, admin ?? false);
    else if (admin !== undefined && Boolean(user.admin) !== admin) await updateUser(ctx.db, user.id, { admin: admin ? 1 : 0 });
    if (settings.manage_groups) {
      const ids: number[] = [];
      for (const group of identity.groups) {
        if (groupNameProblem(group)) continue;
        ids.push((await findGroup(ctx.db, group) ?? await createGroup(ctx.db, group)).id);
      }
      await setUserGroups(ctx.db, user.id, ids);
    }
    if (ctx.authStates && identity.authState) await ctx.authStates.save(user.id, identity.authState);
    ctx.identities.invalidate();
    const { cookieValue } = await createSession(ctx.db, user.id, ctx.config.auth.session_max_age);
    ctx.log.info({ user: name, via: provider.configKey, groups: identity.groups.length }, 'signed in');
    reply.header('Set-Cookie', [
      cookie(STATE_COOKIE, '', { secure: ctx.secureCookies, path: CALLBACK, maxAge: 0 }),
      cookie(sessionCookieName(ctx.secureCookies, !!ctx.urls.userHosts), cookieValue, { secure: ctx.secureCookies, maxAge: ctx.config.auth.session_max_age }),
    ]);
    return reply.redirect(entry.next, 302);
  });
}
