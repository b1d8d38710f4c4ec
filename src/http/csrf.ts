/**
 * What a request that carries only the session cookie may do. The cookie goes with every request the
 * browser makes to the hub's address, whoever started it: another site's form, or a script on a page
 * of a user's server, which in path mode shares the hub's origin. So:
 *
 * - the cookie identifies a top-level page load by itself, but any other request (fetch, XHR,
 *   EventSource, an image, a frame) only together with the session's CSRF token; without the token
 *   the request is anonymous, so a script cannot read the hub's pages (and the token in them) or its
 *   API with somebody else's cookie;
 * - a state-changing request must also carry the token, and must not come from another site
 *   (`Sec-Fetch-Site`, `Origin`) or from a page under `/user/` (`Referer`).
 *
 * Requests with an API token need none of this: no browser adds one by itself.
 */
import type { IncomingMessage } from 'node:http';
import { safeEqual } from '../auth/secrets.js';
import { fetchMetadataOf, isTopLevelNavigation } from './fetch-metadata.js';

export const UNSAFE_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The CSRF token in the `X-XSRFToken` (or `X-CSRFToken`) header or the `_xsrf` query parameter (EventSource cannot send headers). */
export function csrfTokenOf(req: IncomingMessage): string | undefined {
  const header = single(req.headers['x-xsrftoken']) ?? single(req.headers['x-csrftoken']);
  if (header) return header;
  const url = req.url ?? '';
  const query = url.indexOf('?');
  if (query === -1 || !url.includes('_xsrf=', query)) return undefined;
  return new URLSearchParams(url.slice(query + 1)).get('_xsrf') ?? undefined;
}

/** Whether the session cookie may speak for this request (see the top of this file). */
export function sessionMayIdentify(req: IncomingMessage, sessionCsrfToken: string): boolean {
  const meta = fetchMetadataOf(req.headers);
  if (!meta || isTopLevelNavigation(meta)) return true;
  const given = csrfTokenOf(req);
  return given !== undefined && safeEqual(given, sessionCsrfToken);
}

/**
 * Why a cookie-authenticated state-changing request is refused for where it comes from, or undefined.
 * `ownHosts` are the host[:port] names of the hub (the Host the request came with, the public URL's).
 */
export function foreignSourceProblem(req: IncomingMessage, ownHosts: readonly string[]): string | undefined {
  const meta = fetchMetadataOf(req.headers);
  if (meta && meta.site !== 'same-origin') return `comes from another site (Sec-Fetch-Site: ${meta.site})`;
  const origin = single(req.headers.origin);
  if (origin !== undefined && !ownHosts.includes(hostOf(origin) ?? '')) return `comes from another origin (${origin})`;
  const referer = single(req.headers.referer);
  if (referer !== undefined) {
    const url = parse(referer);
    if (!url || !ownHosts.includes(url.host)) return 'comes from a page of another site';
    if (firstSegment(url.pathname) === 'user') return 'comes from a page of a user’s server';
  }
  return undefined;
}

/** The hub's own host names for a request: the Host it came with and the public URL's. */
export function ownHostsOf(req: IncomingMessage, publicOrigin: string): string[] {
  const hosts: string[] = [];
  // as URL.host writes it: lowercase, without the scheme's default port
  const host = single(req.headers.host)?.toLowerCase().replace(/:(?:80|443)$/, '');
  if (host) hosts.push(host);
  const configured = publicOrigin ? hostOf(publicOrigin) : undefined;
  if (configured && configured !== host) hosts.push(configured);
  return hosts;
}

/** Whether `given` is the session's token. */
export function csrfTokenMatches(given: string | undefined, sessionCsrfToken: string): boolean {
  return given !== undefined && given !== '' && safeEqual(given, sessionCsrfToken);
}

function parse(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

function hostOf(origin: string): string | undefined {
  return parse(origin)?.host;
}

function firstSegment(pathname: string): string {
  const segment = pathname.split('/')[1] ?? '';
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
