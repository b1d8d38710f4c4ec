import type { Identity, IdentityResolver } from '../auth/identity.js';
import { hasScope } from './scopes.js';

/**
 * What one request may do: the identity's scopes plus the group memberships needed to resolve
 * `!group=` filters, loaded once so every check during the request is synchronous.
 */
export interface Access {
  identity: Identity;
  /** `can('servers!user=alice')`, `can('read:users')` (unfiltered = on everything). */
  can(scope: string): boolean;
  /** Whether the identity holds `base` on at least some resources (list endpoints then filter per item). */
  canSome(base: string): boolean;
}

export async function accessFor(resolver: IdentityResolver, identity: Identity): Promise<Access> {
  const groupsOf = await resolver.groupLookup();
  return {
    identity,
    can: (scope) => hasScope(scope, identity.parsed, groupsOf),
    canSome: (base) => identity.parsed.has(base),
  };
}
