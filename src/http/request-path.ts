/**
 * The path of a request target the way the hub's router reads it. Routing decisions outside the
 * router (which origin serves what) must agree with it: the router percent-decodes (`/%70/x` is
 * `/p/x`) and accepts absolute-form targets (`GET http://host/p/x`), so a test on the raw text would
 * see one path while the router serves another.
 */

/** Decoded path segments (`/p/abc` → `['p', 'abc']`), or undefined when the target has no decodable path. */
export function routedSegments(target: string): string[] | undefined {
  let path: string;
  if (target.startsWith('/')) {
    path = target.slice(0, firstOf(target, '?', '#'));
  } else {
    try {
      path = new URL(target).pathname;
    } catch {
      return undefined;
    }
  }
  try {
    return path.split('/').slice(1).map((segment) => decodeURIComponent(segment));
  } catch {
    return undefined;
  }
}

/** The path and query of a request target (absolute-form reduced to origin-form), as a redirect can reuse it. */
export function originForm(target: string): string {
  const url = new URL(target, 'http://refinery.invalid');
  return `${url.pathname}${url.search}`;
}

function firstOf(text: string, ...chars: string[]): number {
  let end = text.length;
  for (const c of chars) {
    const at = text.indexOf(c);
    if (at !== -1 && at < end) end = at;
  }
  return end;
}
