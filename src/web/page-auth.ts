import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database } from '../db/tables.js';
import { findUser, type UserRow } from '../db/users.js';
import type { Access } from '../auth/access.js';
import { safeEqual } from '../auth/secrets.js';
import { ApiError } from '../api/errors.js';
import type { SafeHtml } from './html.js';
import { layout, type Section } from './layout.js';

/** The signed-in person's access, or a redirect to the sign-in page (returns undefined then). */
export function pageAccess(req: FastifyRequest, reply: FastifyReply): Access | undefined {
  if (req.access) return req.access;
  void reply.redirect(`/hub/login?next=${encodeURIComponent(req.url)}`, 302);
  return undefined;
}

/**
 * The account of the person a page is for; `notAPerson` is the 403 message for a service's token
 * (pages about one's own servers, tokens or storage have nothing to show a service).
 */
export async function signedInPerson(db: Kysely<Database>, access: Access, notAPerson: string): Promise<UserRow> {
  if (access.identity.kind !== 'user') throw new ApiError(403, notAPerson);
  const user = await findUser(db, access.identity.name);
  if (!user) throw new ApiError(403, 'Your account no longer exists');
  return user;
}

/** Forms posted from our pages carry the session's CSRF token in `_xsrf`. */
export function checkFormCsrf(req: FastifyRequest, access: Access): void {
  const session = access.identity.session;
  if (!session) return; // token-authenticated requests cannot be forged by another site
  const given = formFields(req)._xsrf;
  if (!given || !safeEqual(given, session.csrfToken)) throw new ApiError(403, 'The form expired or did not come from this site. Reload the page and try again.');
}

export function layoutUser(access: Access): { name: string; admin: boolean } {
  return { name: access.identity.name, admin: access.can('admin-ui') };
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
