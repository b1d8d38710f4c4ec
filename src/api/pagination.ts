import type { FastifyRequest } from 'fastify';
import { HttpError } from '../http/errors.js';

export const PAGINATION_MEDIA_TYPE = 'application/jupyterhub-pagination+json';
const DEFAULT_LIMIT = 200;
const MAX_LIMIT = 200;

export function wantsPagination(req: FastifyRequest): boolean {
  return (req.headers.accept ?? '').includes(PAGINATION_MEDIA_TYPE);
}

export function paginationParams(req: FastifyRequest): { offset: number; limit: number } {
  const query = req.query as Record<string, string | undefined>;
  const parse = (name: string, fallback: number) => {
    const raw = query[name];
    if (raw === undefined || raw === '') return fallback;
    if (!/^-?\d+$/.test(raw)) throw new HttpError(400, 'Invalid argument type, offset and limit must be integers');
    return Math.abs(Number(raw));
  };
  const offset = parse('offset', 0);
  const limit = Math.min(MAX_LIMIT, Math.max(1, parse('limit', DEFAULT_LIMIT)));
  return { offset, limit };
}

/** The list itself, or JupyterHub's `{items, _pagination}` form when the client asked for it. */
export function paginated(req: FastifyRequest, items: unknown[], offset: number, limit: number, total: number): unknown {
  if (!wantsPagination(req)) return items;
  const nextOffset = offset + limit;
  let next: { offset: number; limit: number; url: string } | null = null;
  if (nextOffset < total) {
    const url = new URL(req.url, `${req.protocol}://${req.headers.host ?? 'localhost'}`);
    url.searchParams.set('offset', String(nextOffset));
    url.searchParams.set('limit', String(limit));
    next = { offset: nextOffset, limit, url: url.toString() };
  }
  return { items, _pagination: { offset, limit, total, next } };
}
