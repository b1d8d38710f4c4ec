import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database } from '../db/tables.js';
import { findUser, type UserRow } from '../db/users.js';
import type { Access } from '../policy/access.js';
import { HttpError } from '../http/errors.js';
import type { SafeHtml } from './html.js';
import { layout, type Section } from './layout.js';
import { authorize, may, scopeOn, type Target } from '../policy/authorize.js';
import { mayUseAdminPage } from '../policy/rules.js';
import type { ScopeName } from '../policy/scopes.js';

/**
 * The signed-in person's access, or a redirect to the sign-in page (returns undefined then).
 *
 * Pages answer to the browser session only: an API token, even a valid one, does not sign anyone in
 * here. A token is made for a program and carries only what it was given (an identify-only token
 * that a server's sign-in hands out says who someone is, nothing more), while pages show and change
 * whatever their person may; the few read-only pages that make sense for a program say so with
 * `pageAccessAllowingToken`.
 */
export function pageAccess(req: FastifyRequest, reply: FastifyReply): Access | undefined {
  if (req.access?.identity.via === 'session') return req.access;
  void reply.redirect(`/hub/login?next=${encodeURIComponent(req.url)}`, 302);
  return undefined;
}

/**
 * Like `pageAccess`, for a read-only page that a program may also use: a token counts when it holds
 * `scopeOnOwner` on its owner.
 */
export function pageAccessAllowingToken(req: FastifyRequest, reply: FastifyReply, scopeOnOwner: ScopeName): Access | undefined {
  const access = req.access;
  if (access?.identity.via === 'token' && may(access, scopeOnOwner, { user: access.identity.name })) return access;
  return pageAccess(req, reply);
}

/** A page asks for the scope the REST API asks for the same data or action; 403 naming it when missing. */
export function requirePageScope(access: Access, scopes: ScopeName | readonly ScopeName[], target: Target, what: string): void {
  const needed = (typeof scopes === 'string' ? [scopes] : scopes).map((scope) => scopeOn(scope, target));
  authorize(access, scopes, target, { hideOthers: false, denied: `You may not ${what} (it needs ${needed.length > 1 ? 'one of the scopes' : 'the scope'} ${needed.join(', ')})` });
}

/**
 * The account of the person a page is for; `notAPerson` is the 403 message for a service's token
 * (pages about one's own servers, tokens or storage have nothing to show a service).
 */
export async function signedInPerson(db: Kysely<Database>, access: Access, notAPerson: string): Promise<UserRow> {
  if (access.identity.kind !== 'user') throw new HttpError(403, notAPerson);
  const user = await findUser(db, access.identity.name);
  if (!user) throw new HttpError(403, 'Your account no longer exists');
  return user;
}

export function layoutUser(access: Access): { name: string; admin: boolean } {
  return { name: access.identity.name, admin: mayUseAdminPage(access) };
}

/** The posted form as strings (the first value of repeated fields). */
export function formFields(req: FastifyRequest): Record<string, string | undefined> {
  const body = req.body;
  if (!body || typeof body !== 'object') return {};
  const out: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
    const first = Array.isArray(value) ? value[0] : value;
    if (typeof first === 'string') out[key] = first;
  }
  return out;
}

export function queryFields(req: FastifyRequest): Record<string, string | undefined> {
  const query = (req.query ?? {}) as Record<string, unknown>;
  const out: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(query)) {
    const first = Array.isArray(value) ? value[0] : value;
    if (typeof first === 'string') out[key] = first;
  }
  return out;
}

export interface PageOptions {
  title: string;
  body: SafeHtml;
  scripts?: string[];
  status?: number;
  section?: Section;
  /** Pages that show a secret once must never be stored or re-shown from a cache. */
  noStore?: boolean;
}

/** Send a full page for the signed-in person. */
export function sendPage(reply: FastifyReply, access: Access, options: PageOptions): FastifyReply {
  if (options.noStore) reply.header('Cache-Control', 'no-store');
  return reply
    .code(options.status ?? 200)
    .type('text/html; charset=utf-8')
    .send(layout({
      title: options.title,
      body: options.body,
      user: layoutUser(access),
      csrfToken: access.identity.session?.csrfToken,
      scripts: options.scripts ?? [],
      section: options.section,
    }));
}

/** The session's CSRF token for hidden form fields ('' for token-authenticated requests, which need none). */
export function xsrfOf(access: Access): string {
  return access.identity.session?.csrfToken ?? '';
}
