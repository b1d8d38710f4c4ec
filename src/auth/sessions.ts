import type { Kysely } from 'kysely';
import type { Database } from '../db/tables.js';
import { deleteSession, insertSession, type SessionRow } from '../db/sessions.js';
import { deleteTokensWhere } from '../db/tokens.js';
import { isoAfterSeconds, nowIso } from '../db/time.js';
import { hashSecret, newSecret } from './secrets.js';

/** The hub's sign-in cookie. Path `/` so the proxy can authorize requests to `/user/...` too. */
export const SESSION_COOKIE = 'refinery-session';
/**
 * Its name with per-user hosts over https: a page on alice's host may write a cookie for the parent
 * domain, which the hub's host would receive; a `__Host-` cookie can only be set by the hub's host
 * itself (no Domain, Secure, Path=/), so such a cookie cannot pass for a sign-in.
 */
export const HOST_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;

/** The sign-in cookie's name: `__Host-` where browsers enforce it (https) and subdomains could toss cookies at the hub. */
export function sessionCookieName(secure: boolean, userHosts: boolean): string {
  return secure && userHosts ? HOST_SESSION_COOKIE : SESSION_COOKIE;
}

/**
 * The hub's cookies are all named `refinery-…` (sign-in, the sign-in form's token, published-page
 * grants); with a `__Host-`/`__Secure-` prefix too, which browsers read without regard to case.
 */
export function isHubCookieName(name: string): boolean {
  return name.toLowerCase().replace(/^__(?:host|secure)-/, '').startsWith('refinery-');
}

export async function createSession(db: Kysely<Database>, userId: number, maxAgeSeconds: number): Promise<{ cookieValue: string; session: SessionRow }> {
  const cookieValue = newSecret();
  const now = nowIso();
  const session: SessionRow = {
    hash: hashSecret(cookieValue),
    id: newSecret(16),
    user_id: userId,
    csrf_token: newSecret(16),
    created: now,
    expires_at: isoAfterSeconds(maxAgeSeconds),
    last_seen: now,
  };
  await insertSession(db, session);
  return { cookieValue, session };
}

/** Sign out: the session and every OAuth token it produced (servers' browser logins) stop working. */
export async function endSession(db: Kysely<Database>, cookieValue: string): Promise<void> {
  const row = await deleteSession(db, hashSecret(cookieValue));
  if (row) await deleteTokensWhere(db, { sessionId: row.id });
}

/**
 * End a user's sign-in sessions (all, or all but `keepHash`), with the OAuth tokens they produced:
 * after a password change or reset, nobody stays signed in with the old password.
 */
export async function endSessionsOfUser(db: Kysely<Database>, userId: number, keepHash?: string): Promise<number> {
  let query = db.selectFrom('sessions').select(['hash', 'id']).where('user_id', '=', userId);
  if (keepHash) query = query.where('hash', '!=', keepHash);
  const sessions = await query.execute();
  for (const session of sessions) {
    await db.deleteFrom('sessions').where('hash', '=', session.hash).execute();
    await deleteTokensWhere(db, { sessionId: session.id });
  }
  return sessions.length;
}
