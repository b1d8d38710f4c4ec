import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Access } from '../auth/access.js';
import { safeEqual } from '../auth/secrets.js';
import { ApiError } from '../api/errors.js';

/** The signed-in person's access, or a redirect to the sign-in page (returns undefined then). */
export function pageAccess(req: FastifyRequest, reply: FastifyReply): Access | undefined {
  if (req.access) return req.access;
  void reply.redirect(`/hub/login?next=${encodeURIComponent(req.url)}`, 302);
  return undefined;
}

/** Forms posted from our pages carry the session's CSRF token in `_xsrf`. */
export function checkFormCsrf(req: FastifyRequest, access: Access): void {
  const session = access.identity.session;
  if (!session) return; // token-authenticated requests cannot be forged by another site
  const given = ((req.body ?? {}) as Record<string, string | undefined>)._xsrf;
  if (!given || !safeEqual(given, session.csrfToken)) throw new ApiError(403, 'The form expired or did not come from this site. Reload the page and try again.');
}

export function layoutUser(access: Access): { name: string; admin: boolean } {
  return { name: access.identity.name, admin: access.identity.admin };
}
