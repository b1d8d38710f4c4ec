import type { GroupRow } from '../db/groups.js';
import type { Access } from '../policy/access.js';
import { visibleFields } from '../policy/rules.js';
import type { ScopeName } from '../policy/scopes.js';

const ACCESS_MAP: ReadonlyArray<readonly [ScopeName, readonly string[]]> = [
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
  const allowed = visibleFields(access, ACCESS_MAP, { group: group.name });
  const model: Record<string, unknown> = {};
  for (const key of Object.keys(full)) if (allowed.has(key)) model[key] = full[key];
  return model;
}
