import type { FastifyRequest } from 'fastify';
import type { HubContext } from '../context.js';
import type { Access } from '../policy/access.js';
import type { UserRow } from '../db/users.js';
import { findUser, groupsOfUsers } from '../db/users.js';
import { serversOfUsers } from '../db/servers.js';
import { presentUser } from '../presenters/user.js';
import { HttpError } from '../http/errors.js';
import { mayReadAuthState } from '../policy/rules.js';

/** Load what the user presenter needs for many users at once (two queries, not two per user). */
export async function userModels(ctx: HubContext, req: FastifyRequest, access: Access, users: readonly UserRow[]): Promise<Record<string, unknown>[]> {
  const ids = users.map((u) => u.id);
  const [groups, servers] = await Promise.all([groupsOfUsers(ctx.db, ids), serversOfUsers(ctx.db, ids)]);
  const query = req.query as Record<string, string | undefined>;
  const includeStopped = query.include_stopped_servers !== undefined && !['0', 'false'].includes(query.include_stopped_servers.toLowerCase());
  // decrypted only for callers who may read it, one person at a time
  const authStates = new Map<number, Record<string, unknown>>();
  if (ctx.authStates) {
    for (const user of users) {
      if (!mayReadAuthState(access, user.name)) continue;
      const state = await ctx.authStates.read(user.id);
      if (state) authStates.set(user.id, state);
    }
  }
  return users.map((user) =>
    presentUser(user, {
      authState: authStates.get(user.id),
      access,
      groups: groups.get(user.id) ?? [],
      servers: servers.get(user.id) ?? [],
      pendingOf: (u, s) => ctx.servers.pending(u, s),
      includeStoppedServers: includeStopped,
      publicOrigin: ctx.urls.publicOrigin,
      userHosts: ctx.urls.userHosts,
    }),
  );
}

export async function userModel(ctx: HubContext, req: FastifyRequest, access: Access, user: UserRow): Promise<Record<string, unknown>> {
  return (await userModels(ctx, req, access, [user]))[0]!;
}

/** The user named in the path, or 404. Path names are not normalized: they name an existing account. */
export async function userFromPath(ctx: HubContext, name: string): Promise<UserRow> {
  const user = await findUser(ctx.db, name);
  if (!user) throw new HttpError(404, `No such user: ${name}`);
  return user;
}
