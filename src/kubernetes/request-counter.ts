/**
 * Requests this hub made to the API server, by verb and resource (`list pods`, `watch events`,
 * `create secrets`): what the hub costs the API server, for the metrics page and the bench.
 */
export class RequestCounter {
  private readonly counts = new Map<string, number>();

  add(verb: string, resource: string): void {
    const key = `${verb} ${resource}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** `{ "list pods": 3, "watch pods": 5, ... }` */
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => a.localeCompare(b)));
  }

  total(): number {
    let sum = 0;
    for (const n of this.counts.values()) sum += n;
    return sum;
  }
}

/**
 * The verb and resource of an API URL, as the API server's audit log names them: GET of a
 * collection is `list` (`watch` with watch=true), GET of one object `get`, POST `create`, PUT
 * `update`, PATCH `patch`, DELETE `delete`. Subresources read `pods/log`.
 */
export function describeRequest(method: string, url: string): { verb: string; resource: string } {
  const parsed = new URL(url);
  // /api/v1/namespaces/ns/pods/name/log or /apis/group/version/namespaces/ns/kind/name
  const parts = parsed.pathname.split('/').filter(Boolean);
  const afterVersion = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  const rest = afterVersion[0] === 'namespaces' && afterVersion.length > 2 ? afterVersion.slice(2) : afterVersion;
  const [resource = '?', name, sub] = rest;
  const m = method.toUpperCase();
  let verb = m.toLowerCase();
  if (m === 'GET') verb = name === undefined ? (parsed.searchParams.get('watch') === 'true' ? 'watch' : 'list') : 'get';
  else if (m === 'POST') verb = 'create';
  else if (m === 'PUT') verb = 'update';
  return { verb, resource: sub ? `${resource}/${sub}` : resource };
}
