import type { GroupRow } from '../../db/groups.js';
import type { Access } from '../../auth/access.js';

const ACCESS_MAP: ReadonlyArray<[string, readonly string[]]> = [
  ['read:groups', ['kind', 'name', 'properties', 'users']],
  ['read:groups:name', ['kind', 'name']],
  ['read:roles:groups', ['kind', 'name', 'roles']],
];

export function presentGroup(group: GroupRow, members: readonly string[], access: Access): Record<string, unknown> {
  const full: Record<string, unknown> = {
    kind: 'group',
    name: group.name,
    roles: [],
    users: members,
    properties: JSON.parse(group.properties) as Record<string, unknown>,
  };
  const allowed = new Set<string>();
  for (const [scope, keys] of ACCESS_MAP) if (access.can(`${scope}!group=${group.name}`)) for (const k of keys) allowed.add(k);
  const model: Record<string, unknown> = {};
  for (const key of Object.keys(full)) if (allowed.has(key)) model[key] = full[key];
  return model;
}
