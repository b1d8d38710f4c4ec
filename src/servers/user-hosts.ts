/**
 * Per-user hosts (`subdomain_host`): with `subdomain_host: hub.example.org`, the hub answers at
 * https://hub.example.org and alice's servers at https://alice.hub.example.org/user/alice/..., so
 * each person's servers have an origin of their own. Script on alice's pages then cannot read the
 * hub's pages or bob's servers (the browser's same-origin policy), and the hub's session cookie,
 * host-only on the hub's host, never reaches a user's host.
 */
import { createHash } from 'node:crypto';

export interface UserHosts {
  /** `https://hub.example.org` */
  readonly hubOrigin: string;
  /** `hub.example.org` (with `:port` when not the scheme's default) */
  readonly hubHost: string;
  /** `alice.hub.example.org` */
  hostOf(user: string): string;
  /** `https://alice.hub.example.org` */
  originOf(user: string): string;
  /** Whether a Host header (lowercase host[:port]) names a user's host, i.e. one label under the hub's. */
  isUserHost(host: string): boolean;
}

/**
 * Parse `subdomain_host`: a host (`hub.example.org`, `hub.localhost:8000`) or an origin
 * (`https://hub.example.org`). A bare host takes `defaultScheme` (that of `public_url`, else http).
 * Throws an Error saying what is wrong with the value.
 */
export function parseSubdomainHost(value: string, defaultScheme: 'http:' | 'https:' = 'http:'): URL {
  const text = value.trim();
  let url: URL;
  try {
    url = new URL(text.includes('://') ? text : `${defaultScheme}//${text}`);
  } catch {
    throw new Error(`expected a host name such as "hub.example.org" or an origin such as "https://hub.example.org", got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`must be http or https, got ${JSON.stringify(value)}`);
  if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    throw new Error(`must be only a host (and port), without path, query or credentials, got ${JSON.stringify(value)}`);
  }
  if (/^[\d.]+$/.test(url.hostname) || url.hostname.startsWith('[')) throw new Error(`must be a DNS name (user servers get names under it), not an address: ${JSON.stringify(value)}`);
  return url;
}

export function userHostsFrom(subdomainHost: string, publicUrl?: string): UserHosts {
  const scheme = publicUrl && new URL(publicUrl).protocol === 'https:' ? 'https:' : 'http:';
  const url = parseSubdomainHost(subdomainHost, scheme);
  const hubHost = url.host;
  const port = url.port;
  const suffix = `.${url.hostname}`;
  const hostOf = (user: string) => `${dnsLabel(user)}${suffix}${port ? `:${port}` : ''}`;
  return {
    hubOrigin: url.origin,
    hubHost,
    hostOf,
    originOf: (user) => `${url.protocol}//${hostOf(user)}`,
    isUserHost(host) {
      let parsed: URL;
      try {
        parsed = new URL(`${url.protocol}//${host}`);
      } catch {
        return false;
      }
      if (parsed.port !== port || !parsed.hostname.endsWith(suffix)) return false;
      const label = parsed.hostname.slice(0, -suffix.length);
      return label.length > 0 && !label.includes('.');
    },
  };
}

/** A name that is one DNS label as it is: lowercase letters, digits and single inner dashes, not all digits, 40 at most. */
function isPlainLabel(name: string): boolean {
  return name.length <= 40 && /^[a-z0-9-]+$/.test(name) && !name.startsWith('-') && !name.endsWith('-') && !name.includes('--') && !/^\d+$/.test(name);
}

/**
 * A user's name as one DNS label. A name that already is one (`alice`, `data-team`) stays as it is;
 * any other (`a.b`, `a_b`, `ünal`, a long one) becomes `u-<up to 8 of its letters and digits>--<hash>`.
 * Plain labels never contain `--`, encoded ones always do, so two users never share a host.
 */
export function dnsLabel(name: string): string {
  if (isPlainLabel(name)) return name;
  const stub = name.toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 8) || 'x';
  const hash = createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 12);
  return `u-${stub}--${hash}`;
}

/** Where a server is reached: its path, or with per-user hosts the absolute URL on its owner's host. */
export function serverUrlOn(hosts: UserHosts | undefined, user: string, prefix: string): string {
  return hosts ? `${hosts.originOf(user)}${prefix}` : prefix;
}

/** Origins other than the page's own that the hub may send a browser to: the hub's and users' hosts. */
export function ownOriginPredicate(hosts: UserHosts | undefined, publicOrigin: string): (origin: string) => boolean {
  return (origin) => {
    if (publicOrigin && origin === publicOrigin) return true;
    if (!hosts) return false;
    if (origin === hosts.hubOrigin) return true;
    try {
      const url = new URL(origin);
      return url.protocol === new URL(hosts.hubOrigin).protocol && hosts.isUserHost(url.host);
    } catch {
      return false;
    }
  };
}
