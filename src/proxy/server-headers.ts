/**
 * What a user's server may tell the browser through the proxy. A server runs its owner's code; in path
 * mode it shares the hub's origin (and with per-user hosts, the hub's site), so some response headers
 * would let it reach beyond its own prefix:
 *
 * - `Set-Cookie` for a path outside the server's prefix (a cookie without `Path` gets the directory
 *   of the request, RFC 6265 §5.1.4), with a `Domain` (which widens a cookie to other hosts), with no
 *   name (browsers send a nameless cookie's value as if it were `name=value`), or named like one of the
 *   hub's cookies: dropped;
 * - `Service-Worker-Allowed` wider than the prefix would let a service worker take over the hub's
 *   pages: dropped;
 * - `Clear-Site-Data` clears the hub's cookies and storage too (the whole site): dropped.
 */
import { parseSetCookie } from 'set-cookie-parser';

/** Lowercase names of the response headers `serverHeaderAllowed` has rules for. */
export const GUARDED_RESPONSE_HEADERS: ReadonlySet<string> = new Set(['set-cookie', 'service-worker-allowed', 'clear-site-data']);

export interface ServerHeaderContext {
  /** The route's path prefix, ending in '/', e.g. `/user/alice/` (percent-encoded as requested). */
  prefix: string;
  /** The request's path (no query), for cookies without a Path. */
  requestPath: string;
  /** Whether a cookie name belongs to the hub. */
  isHubCookie(name: string): boolean;
}

/** Whether a guarded response header (see GUARDED_RESPONSE_HEADERS) from a user's server may reach the browser. */
export function serverHeaderAllowed(lowerName: string, value: string, context: ServerHeaderContext): boolean {
  switch (lowerName) {
    case 'set-cookie':
      return setCookieAllowed(value, context);
    case 'service-worker-allowed':
      return pathWithin(value.trim(), context.prefix);
    case 'clear-site-data':
      return false;
    default:
      return true;
  }
}

function setCookieAllowed(header: string, context: ServerHeaderContext): boolean {
  // one header, one cookie (never split on commas: Expires has one); values as sent
  const [cookie] = parseSetCookie(header, { decodeValues: false, split: false, silent: true });
  if (!cookie?.name || context.isHubCookie(cookie.name)) return false;
  if (cookie.domain !== undefined) return false;
  const path = cookie.path !== undefined && cookie.path.startsWith('/') ? cookie.path : defaultCookiePath(context.requestPath);
  return pathWithin(path, context.prefix);
}

/** RFC 6265 §5.1.4: the request path up to, not including, its last '/' ('/' when that leaves nothing). */
export function defaultCookiePath(requestPath: string): string {
  if (!requestPath.startsWith('/')) return '/';
  const last = requestPath.lastIndexOf('/');
  return last === 0 ? '/' : requestPath.slice(0, last);
}

/**
 * Whether every request path that `path` covers (a cookie's path-match, RFC 6265 §5.1.4, or a service
 * worker's scope) lies under `prefix` ('/user/alice/'): `path` is the prefix, the prefix without its
 * final '/', or deeper. Dot segments and backslashes are refused outright: no browser request path
 * contains them, so such a path is nonsense at best.
 */
export function pathWithin(path: string, prefix: string): boolean {
  if (path.includes('\\') || path.split('/').some((segment) => segment === '.' || segment === '..')) return false;
  return path === prefix.slice(0, -1) || path.startsWith(prefix);
}
