import type { ServerRow } from '../db/servers.js';
import type { Access } from '../policy/access.js';
import { serverUrlOn, type UserHosts } from '../servers/user-hosts.js';
import { serverPrefix } from '../auth/names.js';
import { mayReadServerState } from '../policy/rules.js';

export interface ServerModel {
  name: string;
  full_name: string;
  last_activity: string | null;
  started: string | null;
  pending: 'spawn' | 'stop' | null;
  ready: boolean;
  stopped: boolean;
  url: string;
  user_options: Record<string, unknown>;
  progress_url: string;
  full_url: string | null;
  full_progress_url: string | null;
  state?: Record<string, unknown>;
}

export function progressUrl(user: string, server: string): string {
  const base = `/hub/api/users/${encodeURIComponent(user)}`;
  return server ? `${base}/servers/${encodeURIComponent(server)}/progress` : `${base}/server/progress`;
}

/** JupyterHub's server model. The spawner state only for holders of `admin:server_state`. */
export function presentServer(
  row: ServerRow,
  user: string,
  pending: 'spawn' | 'stop' | null,
  access: Access,
  publicOrigin: string,
  userHosts?: UserHosts,
): ServerModel {
  // with per-user hosts, as in JupyterHub, the server's url is absolute: it is on its owner's host
  const url = serverUrlOn(userHosts, user, serverPrefix(user, row.name));
  const progress = progressUrl(user, row.name);
  const ready = row.phase === 'running' && pending === null;
  const model: ServerModel = {
    name: row.name,
    full_name: `${user}/${row.name}`,
    last_activity: row.last_activity,
    started: row.started,
    pending: pending ?? (row.phase === 'pending' ? 'spawn' : row.phase === 'stopping' ? 'stop' : null),
    ready,
    stopped: row.phase === 'stopped',
    url,
    user_options: JSON.parse(row.user_options) as Record<string, unknown>,
    progress_url: progress,
    full_url: userHosts ? url : publicOrigin ? `${publicOrigin}${url}` : null,
    full_progress_url: publicOrigin ? `${publicOrigin}${progress}` : null,
  };
  if (mayReadServerState(access, user, row.name)) {
    model.state = row.spawner_state ? (JSON.parse(row.spawner_state) as Record<string, unknown>) : {};
  }
  return model;
}

/** Servers that count as existing in a user model: active ones, or all with include_stopped_servers. */
export function isActive(row: ServerRow, pending: 'spawn' | 'stop' | null): boolean {
  return row.phase !== 'stopped' || pending !== null;
}
