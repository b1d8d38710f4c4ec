/**
 * JupyterHub's scope model: names, the subscope hierarchy, filters (`!user=`, `!server=`, `!group=`,
 * `!service=`), expansion, intersection and checks. Decisions are made with these by
 * policy/authorize.ts and policy/rules.ts, and nowhere else.
 */

export interface ScopeDefinition {
  description: string;
  subscopes?: readonly string[];
}

export const SCOPE_TABLE = {
  '(no_scope)': { description: 'Identify the owner of the requesting entity.' },
  self: { description: 'Your own resources' },
  inherit: { description: 'Anything you have access to' },
  'admin-ui': { description: 'Access the admin page.' },
  'admin:users': { description: 'Read, modify, create, and delete users and their authentication state, not including their servers or tokens.', subscopes: ['admin:auth_state', 'users', 'read:roles:users', 'delete:users'] },
  'admin:auth_state': { description: 'Read a user’s authentication state.' },
  users: { description: 'Read and write permissions to user models (excluding servers, tokens and authentication state).', subscopes: ['read:users', 'list:users', 'users:activity'] },
  'delete:users': { description: 'Delete users.' },
  'list:users': { description: 'List users, including at least their names.', subscopes: ['read:users:name'] },
  'read:users': { description: 'Read user models (including the URL of the default server if it is running).', subscopes: ['read:users:name', 'read:users:groups', 'read:users:activity'] },
  'read:users:name': { description: 'Read names of users.' },
  'read:users:groups': { description: 'Read users’ group membership.' },
  'read:users:activity': { description: 'Read time of last user activity.' },
  'read:roles': { description: 'Read role assignments.', subscopes: ['read:roles:users', 'read:roles:services', 'read:roles:groups'] },
  'read:roles:users': { description: 'Read user role assignments.' },
  'read:roles:services': { description: 'Read service role assignments.' },
  'read:roles:groups': { description: 'Read group role assignments.' },
  'users:activity': { description: 'Update time of last user activity.', subscopes: ['read:users:activity'] },
  'admin:servers': { description: 'Read, start, stop, create and delete user servers and their state.', subscopes: ['admin:server_state', 'servers'] },
  'admin:server_state': { description: 'Read and write users’ server state.' },
  servers: { description: 'Start and stop user servers.', subscopes: ['read:servers', 'delete:servers'] },
  'read:servers': { description: 'Read users’ names and their server models (excluding the server state).', subscopes: ['read:users:name'] },
  'delete:servers': { description: 'Stop and delete users’ servers.' },
  tokens: { description: 'Read, write, create and delete user tokens.', subscopes: ['read:tokens'] },
  'read:tokens': { description: 'Read user tokens.' },
  'admin:groups': { description: 'Read and write group information, create and delete groups.', subscopes: ['groups', 'read:roles:groups', 'delete:groups'] },
  groups: { description: 'Read and write group information, including adding/removing any users to/from groups.', subscopes: ['read:groups', 'list:groups'] },
  'list:groups': { description: 'List groups, including at least their names.', subscopes: ['read:groups:name'] },
  'read:groups': { description: 'Read group models.', subscopes: ['read:groups:name'] },
  'read:groups:name': { description: 'Read group names.' },
  'delete:groups': { description: 'Delete groups.' },
  'admin:services': { description: 'Create, read, update, delete services, not including services defined from config files.', subscopes: ['list:services', 'read:services', 'read:roles:services'] },
  'list:services': { description: 'List services, including at least their names.', subscopes: ['read:services:name'] },
  'read:services': { description: 'Read service models.', subscopes: ['read:services:name'] },
  'read:services:name': { description: 'Read service names.' },
  'read:hub': { description: 'Read detailed information about the Hub.' },
  'access:servers': { description: 'Access user servers via API or browser.' },
  'access:services': { description: 'Access services via API or browser.' },
  'users:shares': { description: 'Read and revoke a user’s access to shared servers.', subscopes: ['read:users:shares'] },
  'read:users:shares': { description: 'Read servers shared with a user.' },
  'groups:shares': { description: 'Read and revoke a group’s access to shared servers.', subscopes: ['read:groups:shares'] },
  'read:groups:shares': { description: 'Read servers shared with a group.' },
  'read:shares': { description: 'Read information about shared access to servers.' },
  shares: { description: 'Manage access to shared servers.', subscopes: ['access:servers', 'read:shares', 'users:shares', 'groups:shares'] },
  proxy: { description: 'Read information about the proxy’s routing table, sync the Hub with the proxy and notify the Hub about a new proxy.' },
  shutdown: { description: 'Shutdown the hub.' },
  'read:metrics': { description: 'Read prometheus metrics.' },
} as const satisfies Record<string, ScopeDefinition>;

/** A scope's name without a filter, e.g. `read:servers`: a misspelt one does not compile. */
export type ScopeName = keyof typeof SCOPE_TABLE;

/** The same table, for looking up names that come from outside (config, token requests). */
export const SCOPE_DEFINITIONS: Readonly<Record<string, ScopeDefinition>> = SCOPE_TABLE;

export function isScopeName(name: string): name is ScopeName {
  return Object.hasOwn(SCOPE_TABLE, name);
}

/** Scopes held by everyone with the admin role, as in JupyterHub. */
export const ADMIN_ROLE_SCOPES: readonly ScopeName[] = [
  'admin-ui', 'admin:users', 'admin:servers', 'admin:services', 'tokens', 'admin:groups', 'list:services',
  'read:services', 'read:hub', 'proxy', 'shutdown', 'access:services', 'access:servers', 'read:roles',
  'read:metrics', 'shares',
];

/**
 * The admin role's scopes. Without `admin_access` an admin does not reach other people's servers:
 * `access:servers` goes, and `shares` (which holds it) is replaced by its other parts.
 */
export function adminRoleScopes(adminAccess: boolean): readonly string[] {
  if (adminAccess) return ADMIN_ROLE_SCOPES;
  const withoutAccess = ADMIN_ROLE_SCOPES.filter((scope) => scope !== 'access:servers' && scope !== 'shares');
  const shareParts = (SCOPE_DEFINITIONS.shares!.subscopes ?? []).filter((scope) => scope !== 'access:servers');
  return [...withoutAccess, ...shareParts];
}

/**
 * What people may do with their own servers when sharing is on: share them (`shares`), and name the
 * people and groups they share with, as JupyterHub's documentation sets up its user role for sharing.
 */
export const SHARING_SELF_SCOPES = ['shares!user', 'read:users:name', 'read:groups:name'] as const;

/** Scopes a share may grant: what makes sense on one server. */
export const SHAREABLE_SCOPES: readonly ScopeName[] = ['access:servers', 'read:servers', 'servers', 'delete:servers'];

/**
 * The scopes a share of `owner/server` grants, each filtered on that server: `access:servers` when
 * none are asked for. Throws ScopeError for a scope that does not exist, cannot be shared, or is
 * filtered on anything but this server.
 */
export function shareScopesFor(requested: readonly string[] | undefined, owner: string, server: string): string[] {
  const filter = `server=${owner}/${server}`;
  const out = new Set<string>();
  for (const scope of requested?.length ? requested : ['access:servers']) {
    const [base, given] = splitScope(scope);
    if (!(base in SCOPE_DEFINITIONS)) throw new ScopeError(`unknown scope ${JSON.stringify(scope)}`);
    if (!(SHAREABLE_SCOPES as readonly string[]).includes(base)) {
      throw new ScopeError(`${JSON.stringify(scope)} cannot be shared: a share grants only ${SHAREABLE_SCOPES.join(', ')}`);
    }
    if (given !== undefined && given !== filter) throw new ScopeError(`!${given} not allowed on sharing ${JSON.stringify(scope)}, only !${filter}`);
    out.add(`${base}!${filter}`);
  }
  return [...out].sort();
}

/** What a single-user server's own API token may do (JupyterHub's `server` role). */
export const SERVER_ROLE_SCOPES = ['users:activity!user', 'access:servers!server'] as const;

const SELF_SCOPES = [
  'read:users', 'read:users:name', 'read:users:groups', 'users:shares', 'read:users:shares', 'read:shares',
  'users:activity', 'read:users:activity', 'servers', 'delete:servers', 'read:servers', 'tokens',
  'read:tokens', 'access:servers',
];

export type FilterKind = 'user' | 'server' | 'group' | 'service';
const FILTER_KINDS: ReadonlySet<string> = new Set(['user', 'server', 'group', 'service']);

/** `{ 'read:users': 'all' }` or `{ 'servers': { user: Set(['alice']) } }` */
export type ParsedScopes = Map<string, 'all' | Map<string, Set<string>>>;

/** Who expansions resolve `self`, `!user` and `!server` against. */
export interface ScopeOwner {
  kind: 'user' | 'service';
  name: string;
}

export class ScopeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScopeError';
  }
}

/** Throws ScopeError naming the first scope that does not exist or has a malformed filter. */
export function checkScopesExist(scopes: Iterable<string>): void {
  for (const scope of scopes) {
    const [base, filter] = splitScope(scope);
    if (!(base in SCOPE_DEFINITIONS)) {
      throw new ScopeError(`unknown scope ${JSON.stringify(scope)}`);
    }
    if (filter === undefined) continue;
    if (filter === 'user' || filter === 'server' || filter === 'service') continue;
    const eq = filter.indexOf('=');
    const kind = eq === -1 ? filter : filter.slice(0, eq);
    if (eq === -1 || !FILTER_KINDS.has(kind) || eq === filter.length - 1) {
      throw new ScopeError(`malformed filter in scope ${JSON.stringify(scope)}: expected !user=NAME, !server=USER/NAME, !group=NAME or !service=NAME`);
    }
  }
}

function splitScope(scope: string): [string, string | undefined] {
  const bang = scope.indexOf('!');
  return bang === -1 ? [scope, undefined] : [scope.slice(0, bang), scope.slice(bang + 1)];
}

function addWithSubscopes(name: string, into: Set<string>): void {
  if (into.has(name)) return;
  into.add(name);
  for (const sub of SCOPE_DEFINITIONS[name]?.subscopes ?? []) addWithSubscopes(sub, into);
}

/**
 * Expand raw scopes (role definitions, token requests) into the full set: subscopes added, `self`
 * resolved for users, bare `!user`/`!server`/`!service` filters bound to the owner (and to the server
 * of `serverFilter` for server tokens), then reduced.
 */
export function expandScopes(scopes: Iterable<string>, owner?: ScopeOwner, serverFilter?: string): Set<string> {
  const out = new Set<string>();
  for (const scope of scopes) {
    const [base, filter] = splitScope(scope);
    if (base === 'self') {
      if (owner?.kind === 'user') for (const s of SELF_SCOPES) out.add(`${s}!user=${owner.name}`);
      continue;
    }
    if (base === 'inherit' || base === '(no_scope)') {
      out.add(base);
      continue;
    }
    if (!(base in SCOPE_DEFINITIONS)) continue;
    let boundFilter = filter;
    if (filter === 'user') boundFilter = owner?.kind === 'user' ? `user=${owner.name}` : undefined;
    else if (filter === 'service') boundFilter = owner?.kind === 'service' ? `service=${owner.name}` : undefined;
    else if (filter === 'server') boundFilter = serverFilter ? `server=${serverFilter}` : undefined;
    if (filter !== undefined && boundFilter === undefined) continue; // a bare filter with nothing to bind to grants nothing
    const names = new Set<string>();
    addWithSubscopes(base, names);
    for (const name of names) {
      // server filters make no sense on user-model subscopes (read:servers -> read:users:name)
      if (boundFilter?.startsWith('server=') && name.startsWith('read:user')) continue;
      out.add(boundFilter ? `${name}!${boundFilter}` : name);
    }
  }
  return reduceScopes(out);
}

export function parseScopes(scopes: Iterable<string>): ParsedScopes {
  const parsed: ParsedScopes = new Map();
  for (const scope of scopes) {
    const [base, filter] = splitScope(scope);
    if (filter === undefined) {
      parsed.set(base, 'all');
      continue;
    }
    let filters = parsed.get(base);
    if (filters === 'all') continue;
    if (!filters) {
      filters = new Map();
      parsed.set(base, filters);
    }
    const eq = filter.indexOf('=');
    if (eq <= 0) continue;
    const kind = filter.slice(0, eq);
    const value = filter.slice(eq + 1);
    let values = filters.get(kind);
    if (!values) filters.set(kind, (values = new Set()));
    values.add(value);
  }
  return parsed;
}

export function unparseScopes(parsed: ParsedScopes): Set<string> {
  const out = new Set<string>();
  for (const [base, filters] of parsed) {
    if (filters === 'all') {
      out.add(base);
      continue;
    }
    for (const [kind, values] of filters) for (const value of values) out.add(`${base}!${kind}=${value}`);
  }
  return out;
}

/** Drop filtered scopes already covered by their unfiltered form. */
export function reduceScopes(scopes: Iterable<string>): Set<string> {
  return unparseScopes(parseScopes(scopes));
}

/** Group names of a user, for resolving `!group=` filters. */
export type GroupLookup = (username: string) => ReadonlySet<string>;

/**
 * Does `have` (expanded scopes, or their parsed form) grant `scope`? `scope` is a base scope with an
 * optional concrete filter such as `read:users!user=alice` or `access:servers!server=alice/`.
 * A `!server=alice/x` check is satisfied by `!user=alice`; `!group=` filters are resolved with `groupsOf`.
 */
export function hasScope(scope: string, have: ParsedScopes, groupsOf?: GroupLookup): boolean {
  const [base, filter] = splitScope(scope);
  const held = have.get(base);
  if (held === undefined) return false;
  if (held === 'all') return true;
  if (filter === undefined) return false;
  const eq = filter.indexOf('=');
  const kind = filter.slice(0, eq);
  const value = filter.slice(eq + 1);
  if (held.get(kind)?.has(value)) return true;
  const ownerName = kind === 'server' ? value.slice(0, value.indexOf('/')) : kind === 'user' ? value : undefined;
  if (ownerName === undefined) return false;
  if (kind === 'server' && held.get('user')?.has(ownerName)) return true;
  const groups = held.get('group');
  if (groups && groupsOf) {
    for (const group of groupsOf(ownerName)) if (groups.has(group)) return true;
  }
  return false;
}

/** Does `have` grant `base` for at least some resources? (List endpoints then filter each item.) */
export function hasAnyScope(base: string, have: ParsedScopes): boolean {
  return have.has(base);
}

/**
 * The permissions two expanded scope sets share, e.g. a token's requested scopes and its owner's
 * actual scopes. User, server and group filters are resolved against each other.
 */
export function intersectScopes(a: Iterable<string>, b: Iterable<string>, groupsOf?: GroupLookup): Set<string> {
  const pa = parseScopes(a);
  const pb = parseScopes(b);
  const result: ParsedScopes = new Map();
  for (const [base, fa] of pa) {
    const fb = pb.get(base);
    if (fb === undefined) continue;
    if (fa === 'all') {
      result.set(base, fb === 'all' ? 'all' : cloneFilters(fb));
      continue;
    }
    if (fb === 'all') {
      result.set(base, cloneFilters(fa));
      continue;
    }
    const common = new Map<string, Set<string>>();
    const add = (kind: string, value: string) => {
      let set = common.get(kind);
      if (!set) common.set(kind, (set = new Set()));
      set.add(value);
    };
    for (const [x, y] of [[fa, fb], [fb, fa]] as const) {
      for (const [kind, values] of x) {
        for (const value of values) {
          if (y.get(kind)?.has(value)) add(kind, value);
          else if (kind === 'server' && y.get('user')?.has(value.slice(0, value.indexOf('/')))) add(kind, value);
          else if ((kind === 'user' || kind === 'server') && y.has('group') && groupsOf) {
            const ownerName = kind === 'server' ? value.slice(0, value.indexOf('/')) : value;
            for (const g of groupsOf(ownerName)) if (y.get('group')!.has(g)) add(kind, value);
          }
        }
      }
    }
    if (common.size) result.set(base, common);
  }
  return reduceScopes(unparseScopes(result));
}

function cloneFilters(filters: Map<string, Set<string>>): Map<string, Set<string>> {
  return new Map([...filters].map(([k, v]) => [k, new Set(v)]));
}

/** Scopes that let a token identify its owner (GET /hub/api/user), always granted. */
export function identifyScopes(owner: ScopeOwner): string[] {
  return owner.kind === 'user'
    ? [`read:users:name!user=${owner.name}`, `read:users:groups!user=${owner.name}`]
    : [`read:services:name!service=${owner.name}`];
}

/** Scopes that grant access to one server, as `JUPYTERHUB_OAUTH_ACCESS_SCOPES` lists them. */
export function serverAccessScopes(user: string, server: string): string[] {
  return [`access:servers!server=${user}/${server}`, `access:servers!user=${user}`];
}
