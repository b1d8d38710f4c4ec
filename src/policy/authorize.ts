/**
 * The one place a request's scopes are checked. API routes, pages and the proxy ask here (directly
 * or through the named rules in rules.ts), so a rule changes in one place and a misspelt scope does
 * not compile.
 */
import type { Access } from './access.js';
import { AccessDenied } from './errors.js';
import type { ScopeName } from './scopes.js';

/** What a scope is checked on: the whole hub (no target), or one user, server (`user/name`), group or service. */
export type Target = { user: string } | { server: string } | { group: string } | { service: string } | undefined;

/** `read:servers!server=alice/lab`: the scope as held scopes are matched against. */
export function scopeOn(scope: ScopeName, target?: Target): string {
  if (!target) return scope;
  const [kind, value] = Object.entries(target)[0] as [string, string];
  return `${scope}!${kind}=${value}`;
}

/** The server key scopes use: `alice/` for alice's default server, `alice/lab` for a named one. */
export function serverTarget(user: string, server: string): Target {
  return { server: `${user}/${server}` };
}

/** Whether the request holds `scope` on `target`. */
export function may(access: Access, scope: ScopeName, target?: Target): boolean {
  return access.can(scopeOn(scope, target));
}

/** Whether the request holds `scope` on at least some resources (list endpoints then filter each item). */
export function maySome(access: Access, scope: ScopeName): boolean {
  return access.canSome(scope);
}

/** The request's access; denied (403) when it carries no valid credentials. */
export function authenticated(access: Access | null | undefined): Access {
  if (!access) throw new AccessDenied(false, 'Missing or invalid credentials.');
  return access;
}

export interface DenialOptions {
  /** The message of a 403 (default: JupyterHub's, naming the scopes). */
  denied?: string;
  /**
   * Answer 404 when the scope is held only on other resources, as JupyterHub's API does so nobody
   * learns what exists (default). Pages about one's own things say what is missing instead.
   */
  hideOthers?: boolean;
}

/**
 * Allow the request when it holds any of `scopes` on `target`; otherwise throw AccessDenied: 403
 * without credentials or without the scope at all, 404 when it is held only for other resources.
 */
export function authorize(access: Access | null | undefined, scopes: ScopeName | readonly ScopeName[], target?: Target, options: DenialOptions = {}): Access {
  const holder = authenticated(access);
  const list: readonly ScopeName[] = typeof scopes === 'string' ? [scopes] : scopes;
  if (list.some((scope) => may(holder, scope, target))) return holder;
  if (target && (options.hideOthers ?? true) && list.some((scope) => maySome(holder, scope))) {
    throw new AccessDenied(true, 'No access to resources or resources not found');
  }
  throw new AccessDenied(false, options.denied ?? `Action is not authorized with current scopes; requires any of [${list.join(', ')}]`);
}
