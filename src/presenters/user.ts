import type { UserRow } from '../db/users.js';
import type { ServerRow } from '../db/servers.js';
import type { Access } from '../policy/access.js';
import { serverPrefix } from '../auth/names.js';
import { serverUrlOn, type UserHosts } from '../servers/user-hosts.js';
import { isActive, presentServer, type ServerModel } from './server.js';
import { mayReadServer, visibleFields } from '../policy/rules.js';
import type { ScopeName } from '../policy/scopes.js';

export interface UserModelContext {
  access: Access;
  groups: readonly string[];
  servers: readonly ServerRow[];
  pendingOf: (user: string, server: string) => 'spawn' | 'stop' | null;
  includeStoppedServers: boolean;
  publicOrigin: string;
  userHosts?: UserHosts | undefined;
  /** The person's auth state, when the caller may read it (admin:auth_state) and there is one. */
  authState?: Record<string, unknown> | undefined;
}

/** Which model keys each scope reveals, as in JupyterHub's user_model. */
const ACCESS_MAP: ReadonlyArray<readonly [ScopeName, readonly string[]]> = [
  ['read:users', ['kind', 'name', 'admin', 'roles', 'groups', 'server', 'pending', 'created', 'last_activity']],
  ['read:users:name', ['kind', 'name', 'admin']],
  ['read:users:groups', ['kind', 'name', 'groups']],
  ['read:users:activity', ['kind', 'name', 'last_activity']],
  ['read:servers', ['kind', 'name', 'servers']],
  ['read:roles:users', ['kind', 'name', 'roles', 'admin']],
  ['admin:auth_state', ['kind', 'name', 'auth_state']],
];

/** JupyterHub's user model, showing only the fields the caller's scopes allow. Empty when none. */
export function presentUser(user: UserRow, ctx: UserModelContext): Record<string, unknown> {
  const allowed = visibleFields(ctx.access, ACCESS_MAP, { user: user.name });
  const defaultServer = ctx.servers.find((s) => s.name === '');
  const defaultPending = defaultServer ? ctx.pendingOf(user.name, '') : null;
  const full: Record<string, unknown> = {
    kind: 'user',
    name: user.name,
    admin: !!user.admin,
    roles: user.admin ? ['admin', 'user'] : ['user'],
    groups: ctx.groups,
    server: defaultServer?.phase === 'running' && defaultPending === null ? serverUrlOn(ctx.userHosts, user.name, serverPrefix(user.name, '')) : null,
    pending: defaultServer ? (defaultPending ?? pendingOfPhase(defaultServer)) : null,
    created: user.created,
    last_activity: user.last_activity,
    auth_state: ctx.authState ?? null,
  };
  const model: Record<string, unknown> = {};
  for (const key of Object.keys(full)) if (allowed.has(key)) model[key] = full[key];
  if (Object.keys(model).length === 0) return model;

  const servers: Record<string, ServerModel> = {};
  for (const row of ctx.servers) {
    const pending = ctx.pendingOf(user.name, row.name);
    if (!isActive(row, pending) && !ctx.includeStoppedServers) continue;
    if (!mayReadServer(ctx.access, user.name, row.name)) continue;
    servers[row.name] = presentServer(row, user.name, pending, ctx.access, ctx.publicOrigin, ctx.userHosts);
  }
  if (allowed.has('servers') || Object.keys(servers).length) model.servers = servers;
  return model;
}

function pendingOfPhase(row: ServerRow): 'spawn' | 'stop' | null {
  return row.phase === 'pending' ? 'spawn' : row.phase === 'stopping' ? 'stop' : null;
}
