import { checkScopesExist, expandScopes, intersectScopes, ScopeError, SCOPE_DEFINITIONS, type ScopeOwner } from '../policy/scopes.js';

/**
 * Which scopes an OAuth token from a client may carry, decided the way JupyterHub's provider does:
 * a request may name only scopes within the client's allowed scopes (anything else refuses the
 * whole request with `invalid_scope`), the scopes that identify the person and reach the client's
 * own server are always granted, and no `scope` at all means the allowed scopes. What the
 * person themselves does not hold is dropped later, every time the token is used (a token never
 * exceeds its owner).
 */

/** Raw scopes that let a token say whose it is (`GET /hub/api/user`); bare `!user` binds to the token's owner. */
export const IDENTIFY_SCOPES = ['read:users:name!user', 'read:users:groups!user'] as const;

/** The raw scope that lets a token in to one server. */
export function serverAccessScope(serverKey: string): string {
  return `access:servers!server=${serverKey}`;
}

/** What a server's OAuth client is allowed: identifying the person who signs in, and that one server. */
export function serverClientAllowedScopes(serverKey: string): string[] {
  return [...IDENTIFY_SCOPES, serverAccessScope(serverKey)];
}

/** Scopes every token from the client carries, whatever it asked for. */
function requiredScopes(serverKey: string | null): string[] {
  return serverKey ? [...IDENTIFY_SCOPES, serverAccessScope(serverKey)] : [...IDENTIFY_SCOPES];
}

export interface ScopeClient {
  identifier: string;
  /** Raw scopes, as stored with the client. */
  allowed: readonly string[];
  serverKey: string | null;
}

export type ScopeDecision = { granted: string[] } | { refused: string; reason: string };

/**
 * Resolve the space-separated `scope` parameter of an authorization request for `person`.
 * `identify` (JupyterHub's old name for "just tell me who it is") is accepted and adds nothing.
 */
export function resolveRequestedScopes(scopeParam: string | undefined, client: ScopeClient, person: string): ScopeDecision {
  const required = requiredScopes(client.serverKey);
  const allowedRaw = [...new Set([...client.allowed, ...required])];
  if (!scopeParam) return { granted: allowedRaw.sort() };
  const requested = [...new Set(scopeParam.split(' ').filter((s) => s && s !== 'identify'))];
  try {
    checkScopesExist(requested);
  } catch (error) {
    if (error instanceof ScopeError) return { refused: requested.find((s) => !isKnown(s)) ?? requested[0]!, reason: error.message };
    throw error;
  }
  const owner: ScopeOwner = { kind: 'user', name: person };
  const serverFilter = client.serverKey ?? undefined;
  const allowed = expandScopes(allowedRaw, owner, serverFilter);
  for (const scope of requested) {
    const wanted = expandScopes([scope], owner, serverFilter);
    const within = intersectScopes(wanted, allowed);
    if (wanted.size === 0 || [...wanted].some((s) => !within.has(s))) {
      return { refused: scope, reason: `${client.identifier} may not ask for ${JSON.stringify(scope)}; it may ask for ${allowedRaw.map((s) => JSON.stringify(s)).join(', ')}` };
    }
  }
  return { granted: [...new Set([...requested, ...required])].sort() };
}

function isKnown(scope: string): boolean {
  try {
    checkScopesExist([scope]);
    return true;
  } catch {
    return false;
  }
}

/**
 * What granted scopes let a server do, in words for the consent page. The person's own name and
 * groups come as one line; anything else is the scope's definition and whom it is limited to.
 */
export function describeGrantedScopes(granted: readonly string[], person: string): string[] {
  const lines: string[] = [];
  const identify = new Set<string>(IDENTIFY_SCOPES);
  if (granted.some((s) => identify.has(s))) lines.push(`Know who you are: your username (${person}) and the groups you belong to`);
  for (const scope of granted) {
    if (identify.has(scope)) continue;
    const bang = scope.indexOf('!');
    const base = bang === -1 ? scope : scope.slice(0, bang);
    const filter = bang === -1 ? '' : scope.slice(bang + 1);
    const definition = SCOPE_DEFINITIONS[base]?.description ?? base;
    lines.push(`${definition.replace(/\.$/, '')}${filterWords(filter, person)}`);
  }
  return lines;
}

function filterWords(filter: string, person: string): string {
  if (!filter) return ' (all of them)';
  if (filter === 'user') return ` (yours, as ${person})`;
  const eq = filter.indexOf('=');
  const kind = filter.slice(0, eq);
  const value = filter.slice(eq + 1);
  if (kind === 'server') {
    const slash = value.indexOf('/');
    const owner = value.slice(0, slash);
    const name = value.slice(slash + 1);
    return name ? `: only ${owner}’s server “${name}”` : `: only ${owner}’s default server`;
  }
  return `: only ${kind} ${value}`;
}
