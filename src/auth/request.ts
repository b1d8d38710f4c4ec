import type { IncomingMessage } from 'node:http';
import type { Identity, IdentityResolver } from './identity.js';
import { SESSION_COOKIE } from './sessions.js';

export interface Credentials {
  token?: string;
  session?: string;
  /**
   * The request carried more than one session cookie with different values: one was set by someone
   * else (a page of a user's server can write cookies for the hub's paths), so none of them counts.
   */
  conflictingSessions?: true;
}

const patterns = new Map<string, RegExp>();
function sessionPattern(name: string): RegExp {
  let pattern = patterns.get(name);
  if (!pattern) patterns.set(name, (pattern = new RegExp(`(?:^|;\\s*)${name.replace(/[^\w-]/g, '\\$&')}=([^;]*)`, 'g')));
  return pattern;
}
const AUTH_HEADER = /^(?:token|bearer)\s+(\S+)\s*$/i;

/**
 * The credentials a request carries: an API token (`Authorization: token|Bearer ...`, or `?token=`
 * as JupyterHub also accepts) and the hub's session cookie. Cheap: runs on every proxied request.
 */
export function credentialsOf(req: IncomingMessage, sessionCookie: string = SESSION_COOKIE): Credentials {
  const out: Credentials = {};
  const header = req.headers.authorization;
  if (header) {
    const match = AUTH_HEADER.exec(header);
    if (match) out.token = match[1];
  }
  const url = req.url ?? '';
  if (!out.token && url.includes('token=')) {
    const query = url.indexOf('?');
    if (query !== -1) {
      const value = new URLSearchParams(url.slice(query + 1)).get('token');
      if (value) out.token = value;
    }
  }
  const cookie = req.headers.cookie;
  if (cookie?.includes(sessionCookie)) {
    const values = new Set([...cookie.matchAll(sessionPattern(sessionCookie))].map((match) => match[1]!.trim()).filter(Boolean));
    if (values.size === 1) out.session = [...values][0];
    else if (values.size > 1) out.conflictingSessions = true;
  }
  return out;
}

/** A token, when given, decides; otherwise the session cookie. */
export async function identify(resolver: IdentityResolver, credentials: Credentials): Promise<Identity | null> {
  if (credentials.token) return resolver.fromToken(credentials.token);
  if (credentials.session) return resolver.fromSession(credentials.session);
  return null;
}

/** The same from cache only, for the proxy's fast path: undefined means "ask `identify`". */
export function identifyCached(resolver: IdentityResolver, credentials: Credentials): Identity | null | undefined {
  if (credentials.token) return resolver.peek('token', credentials.token);
  if (credentials.session) return resolver.peek('session', credentials.session);
  return null;
}
