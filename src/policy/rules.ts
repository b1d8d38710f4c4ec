/**
 * Named access rules: decisions that take more than one scope check, or that more than one place
 * (API, pages, proxy) makes. Written once here so the places cannot drift apart.
 */
import type { Access } from './access.js';
import { may, scopeOn, serverTarget } from './authorize.js';
import { hasScope, type GroupLookup, type ParsedScopes, type ScopeName } from './scopes.js';

/**
 * Publishing, changing and unpublishing someone's notebooks: `users:activity` on them, as reporting
 * their activity does. The owner holds it (browser session, or a token that carries it such as an
 * `inherit` token), so does each of their servers' own JUPYTERHUB_API_TOKEN (JupyterHub's `server`
 * role: this is how the JupyterLab Publish button reaches the hub without the browser holding a hub
 * token), and admins hold it through `admin:users`.
 */
export const PUBLISH_SCOPES: readonly ScopeName[] = ['users:activity'];
/** Listing and reading someone's publications, private ones included: also `read:users` on them. */
export const READ_PUBLICATION_SCOPES: readonly ScopeName[] = ['users:activity', 'read:users'];

/** May the request see `owner`'s publications, restricted and private ones included? */
export function mayReadPublicationsOf(access: Access, owner: string): boolean {
  // a server's identify-only sign-in token carries its owner's rights to the owner's own things
  if (access.identity.inheritsOwner === true) return true;
  return READ_PUBLICATION_SCOPES.some((scope) => may(access, scope, { user: owner }));
}

/** May the request publish, change and unpublish `owner`'s notebooks? */
export function mayManagePublicationsOf(access: Access, owner: string): boolean {
  return PUBLISH_SCOPES.some((scope) => may(access, scope, { user: owner }));
}

export function mayUseAdminPage(access: Access): boolean {
  return may(access, 'admin-ui');
}

export function mayStartServer(access: Access, user: string, server: string): boolean {
  return may(access, 'servers', serverTarget(user, server));
}

export function mayStopServer(access: Access, user: string, server: string): boolean {
  return may(access, 'delete:servers', serverTarget(user, server));
}

/** Its model in the API, its clusters, its status. */
export function mayReadServer(access: Access, user: string, server: string): boolean {
  return may(access, 'read:servers', serverTarget(user, server));
}

/** The spawner's state in the server model (pids, pod names). */
export function mayReadServerState(access: Access, user: string, server: string): boolean {
  return may(access, 'admin:server_state', serverTarget(user, server));
}

/** What the person's sign-in provider gave them (tokens): only with admin:auth_state, as in JupyterHub. */
export function mayReadAuthState(access: Access, user: string): boolean {
  return may(access, 'admin:auth_state', { user });
}

/** Fields of a model shown by the scope that reveals them (user and group models). */
export function visibleFields(access: Access, fieldsByScope: readonly (readonly [ScopeName, readonly string[]])[], target: { user: string } | { group: string } | { service: string }): Set<string> {
  const allowed = new Set<string>();
  for (const [scope, keys] of fieldsByScope) if (may(access, scope, target)) for (const key of keys) allowed.add(key);
  return allowed;
}

/**
 * Every token may identify its owner (GET /hub/api/user), whatever else it may do: its access, plus
 * reading the owner's name and groups.
 */
export function withIdentifyOwner(access: Access, owner: string): Access {
  const identifies = (scope: string) => scope === `read:users:name!user=${owner}` || scope === `read:users:groups!user=${owner}`;
  return { ...access, can: (scope) => access.can(scope) || identifies(scope) };
}

/**
 * Who is asking to sign in to a server through OAuth: its owner (no question asked), someone else who
 * may use it (asked for consent), or someone who may not use it at all.
 */
export type ServerSignIn = 'owner' | 'other' | 'forbidden';

export function serverSignIn(access: Access, serverKey: string | null | undefined): ServerSignIn {
  if (!serverKey) return 'forbidden';
  const owner = serverKey.slice(0, serverKey.indexOf('/'));
  if (!may(access, 'access:servers', { server: serverKey })) return 'forbidden';
  return access.identity.kind === 'user' && owner === access.identity.name ? 'owner' : 'other';
}

/**
 * May someone reach a server's pages, kernels and files through the proxy? Asked on every proxied
 * request, before an Access exists, hence on the identity's parsed scopes.
 */
export function mayUseServer(scopes: ParsedScopes, groupsOf: GroupLookup, user: string, server: string): boolean {
  return hasScope(scopeOn('access:servers', serverTarget(user, server)), scopes, groupsOf);
}

/** May the request share `owner/server`, granting `scopes` (each of which it must hold itself)? */
export function mayShareServer(access: Access, owner: string, server: string, scopes: readonly string[]): { allowed: true } | { allowed: false; missing: string } {
  if (!may(access, 'shares', serverTarget(owner, server))) return { allowed: false, missing: scopeOn('shares', serverTarget(owner, server)) };
  const missing = scopes.find((scope) => !access.can(scope));
  return missing === undefined ? { allowed: true } : { allowed: false, missing };
}

/** Sharing with someone by name needs leave to know that name. */
export function mayNameInShare(access: Access, grantee: { user: string } | { group: string }): boolean {
  return 'user' in grantee ? may(access, 'read:users:name', grantee) : may(access, 'read:groups:name', grantee);
}
