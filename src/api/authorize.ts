import './request-types.js';
import type { FastifyRequest } from 'fastify';
import type { Access } from '../auth/access.js';
import { ApiError } from './errors.js';

export type ResourceFilter = { user: string } | { server: string } | { group: string } | { service: string } | undefined;

function filterText(filter: ResourceFilter): string {
  if (!filter) return '';
  const [kind, value] = Object.entries(filter)[0] as [string, string];
  return `!${kind}=${value}`;
}

/** The request's access, or 403 when it carries no valid credentials. */
export function requireAccess(req: FastifyRequest): Access {
  if (!req.access) throw new ApiError(403, 'Missing or invalid credentials.');
  return req.access;
}

/**
 * Allow the request when it holds any of `scopes` on the resource, as JupyterHub's needs_scope does:
 * 403 without credentials or without the scope at all, 404 when the scope is held only for other
 * resources (so nobody learns which users exist).
 */
export function requireScope(req: FastifyRequest, scopes: string | readonly string[], filter?: ResourceFilter): Access {
  const access = requireAccess(req);
  const list = typeof scopes === 'string' ? [scopes] : scopes;
  const suffix = filterText(filter);
  if (list.some((scope) => access.can(`${scope}${suffix}`))) return access;
  if (filter && list.some((scope) => access.canSome(scope))) throw new ApiError(404, 'No access to resources or resources not found');
  throw new ApiError(403, `Action is not authorized with current scopes; requires any of [${list.join(', ')}]`);
}
