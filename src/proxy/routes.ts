/**
 * The proxy's route table: which path prefix goes to which Jupyter server.
 *
 * Kept apart from the forwarding code so the hub can own and inspect routes (reconcile, admin pages)
 * without touching sockets, and so matching can be tested on its own.
 */

export interface RouteData {
  user: string;
  /** '' is the user's default server. */
  server: string;
}

export interface Route {
  /** Always starts and ends with '/', e.g. '/user/alice/' or '/user/alice/lab2/'. */
  prefix: string;
  /**
   * Origin of the upstream server, e.g. 'http://127.0.0.1:41234'. https targets are verified against
   * Node's CA store; a private CA can be added with NODE_EXTRA_CA_CERTS.
   */
  target: string;
  data: RouteData;
  /** Epoch milliseconds of the last traffic the proxy saw on this route; the culler reads it. */
  lastActivity: number;
}

export class RouteTable {
  readonly #routes = new Map<string, Route>();
  /**
   * Segment count of the deepest prefix. Matching never needs to look deeper than this, so a long
   * notebook path ('/user/alice/lab/tree/a/b/c.ipynb') costs as much as a short one.
   */
  #maxDepth = 0;

  get size(): number {
    return this.#routes.size;
  }

  /**
   * Adds or replaces the route for `prefix`. Replacing updates the existing Route object in place, so
   * open WebSockets and streams keep reporting activity to the route the hub sees.
   */
  set(prefix: string, target: string, data: RouteData): Route {
    const key = normalizePrefix(prefix);
    const url = new URL(target);
    // The request path is forwarded unchanged (servers run with base_url = prefix), so a target path
    // would be silently ignored: refuse it instead.
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/' || url.search || url.hash) {
      throw new Error(`route target must be an http(s) origin like 'http://127.0.0.1:8888': ${target}`);
    }
    const origin = url.origin;
    const existing = this.#routes.get(key);
    if (existing) {
      existing.target = origin;
      existing.data = { ...data };
      return existing;
    }
    const route: Route = { prefix: key, target: origin, data: { ...data }, lastActivity: Date.now() };
    this.#routes.set(key, route);
    this.#maxDepth = Math.max(this.#maxDepth, depth(key));
    return route;
  }

  delete(prefix: string): boolean {
    const key = normalizePrefix(prefix);
    if (!this.#routes.delete(key)) return false;
    if (depth(key) === this.#maxDepth) {
      this.#maxDepth = 0;
      for (const k of this.#routes.keys()) this.#maxDepth = Math.max(this.#maxDepth, depth(k));
    }
    return true;
  }

  get(prefix: string): Route | undefined {
    return this.#routes.get(normalizePrefix(prefix));
  }

  /**
   * Longest prefix that covers `path` on whole segments. Works on the raw request target (a query
   * string is ignored), still percent-encoded: decoding first would let '/user/alice%2Fx' and
   * '/user/alice/x' collide, and the upstream receives the raw form anyway.
   */
  match(path: string): Route | undefined {
    if (this.#routes.size === 0 || path.charCodeAt(0) !== 47 /* / */) return undefined;
    const q = path.indexOf('?');
    if (q !== -1) path = path.slice(0, q);

    // Find where the deepest candidate ends: after #maxDepth segments, or the whole path.
    let end = 0;
    for (let seg = 0; seg < this.#maxDepth; seg++) {
      const slash = path.indexOf('/', end + 1);
      if (slash === -1) {
        // '/user/alice' (no trailing slash) is the same place as '/user/alice/'.
        if (end + 1 < path.length) {
          const route = this.#routes.get(path + '/');
          if (route) return route;
        }
        break;
      }
      end = slash;
    }
    // Walk back one segment at a time; every candidate ends with '/', so '/user/alicex/' never
    // produces '/user/alice/'.
    for (;;) {
      const route = this.#routes.get(path.slice(0, end + 1));
      if (route) return route;
      if (end === 0) return undefined;
      end = path.lastIndexOf('/', end - 1);
    }
  }

  list(): Route[] {
    return [...this.#routes.values()];
  }
}

function normalizePrefix(prefix: string): string {
  if (!prefix.startsWith('/') || prefix.includes('?') || prefix.includes('#')) {
    throw new Error(`route prefix must be a path starting with '/': ${prefix}`);
  }
  return prefix.endsWith('/') ? prefix : prefix + '/';
}

/** Number of segments: '/' → 0, '/user/' → 1, '/user/alice/' → 2. */
function depth(prefix: string): number {
  let n = 0;
  for (let i = 1; i < prefix.length; i++) if (prefix.charCodeAt(i) === 47) n++;
  return n;
}
