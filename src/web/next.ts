/**
 * Where a browser may be sent after signing in, spawning or a hand-off: a path on this site, or an
 * absolute URL on one of our own origins. The target is parsed with the WHATWG URL parser (the one
 * browsers use), and what is returned is re-serialized from the parsed form, so the redirect says
 * exactly what was checked: `/\t/evil.com`, `/\evil.com`, `/.//evil.com` and friends all parse to
 * another origin or to a path that would, and fall back.
 */

/** Stands in for "this site" while resolving relative targets; never sent anywhere. */
const PLACEHOLDER = new URL('http://refinery.invalid/');

/**
 * The target as a same-site path (with query and fragment), or undefined when it is not one.
 * `isOwnOrigin` accepts absolute targets on our other origins (the hub's public URL, per-user hosts);
 * those are returned absolute.
 */
export function sameSiteTarget(next: string, isOwnOrigin: (origin: string) => boolean = () => false): string | undefined {
  let url: URL;
  try {
    url = new URL(next, PLACEHOLDER);
  } catch {
    return undefined;
  }
  if (url.username || url.password) return undefined;
  if (url.origin === PLACEHOLDER.origin) {
    const path = `${url.pathname}${url.search}${url.hash}`;
    // a path that a browser would read as another host ('//evil.com' after dot segments are removed)
    if (new URL(path, PLACEHOLDER).origin !== PLACEHOLDER.origin || path.startsWith('//')) return undefined;
    return path;
  }
  if ((url.protocol === 'http:' || url.protocol === 'https:') && isOwnOrigin(url.origin)) return url.href;
  return undefined;
}

/** Only same-site targets may be redirect targets, never another origin; anything else becomes `fallback`. */
export function safeNext(next: string | undefined, fallback = '/hub/home', isOwnOrigin?: (origin: string) => boolean): string {
  if (!next) return fallback;
  return sameSiteTarget(next, isOwnOrigin) ?? fallback;
}

/** Whether `referer` is a page of this site at exactly `pathname` (e.g. '/hub/admin'). */
export function refererIs(referer: string | undefined, host: string | undefined, pathname: string): boolean {
  if (!referer || !host) return false;
  try {
    const url = new URL(referer);
    return url.host === host.toLowerCase() && url.pathname === pathname;
  } catch {
    return false;
  }
}
