/**
 * Whether a `redirect_uri` sent to the authorization endpoint is the one registered for the client.
 * The comparison is exact (RFC 6749 §3.1.2.3; JupyterHub compares strings too): a code may only ever
 * travel to the registered callback, so nothing is normalized on the client's behalf.
 *
 * A registered value is either
 * - a path, such as `/user/alice/oauth_callback` (what a server gets when everything shares the hub's
 *   origin; `jupyterhub-singleuser` sends its `JUPYTERHUB_OAUTH_CALLBACK_URL` verbatim). It matches
 *   itself, or an absolute `http:`/`https:` URL whose origin is the hub's own public origin and whose
 *   path is exactly the registered one, with no user info, query or fragment; or
 * - an absolute URL (a server on its own origin), which matches only itself, character for character.
 *
 * Either way the given value must already be in the form the WHATWG URL parser writes it: anything
 * the parser would rewrite (case in scheme or host, a default port, dot segments, backslashes,
 * surrounding whitespace, an internationalized host) is refused, never tidied into a match.
 */
export function redirectUriProblem(given: string, registered: string, hubOrigin: string): string | undefined {
  if (/[\u0000-\u0020\u007f-\u009f\\]/.test(given)) return 'contains whitespace, a control character or a backslash';
  if (given === registered) return undefined;
  let url: URL;
  try {
    url = new URL(given);
  } catch {
    return registered.startsWith('/') ? 'is neither the registered path nor an absolute URL' : 'is not an absolute URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `uses the scheme ${url.protocol} (only http: and https: are redirect targets)`;
  if (url.username || url.password) return 'carries user info ("name@") before the host';
  if (given.includes('?') || given.includes('#')) return 'carries a query or fragment';
  if (url.href !== given) return `is not written exactly as a URL parser writes it (${url.href})`;
  if (!registered.startsWith('/')) return 'differs from the registered redirect URI';
  const hub = originOf(hubOrigin);
  if (url.origin !== hub) return `points at ${url.origin}, not at this hub (${hub ?? 'no public origin known'})`;
  if (url.pathname !== registered) return 'has a path other than the registered one';
  return undefined;
}

/** `https://hub.example` from a configured URL or a request's scheme and Host; undefined when it is not one. */
function originOf(text: string): string | undefined {
  try {
    const { origin } = new URL(text);
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
}
