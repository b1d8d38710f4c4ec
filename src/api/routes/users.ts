import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { HubContext } from '../../context.js';
import { authorize } from '../../policy/authorize.js';
import { parseBody } from '../body.js';
import { HttpError } from '../../http/errors.js';
import { paginated, paginationParams } from '../pagination.js';
import { userFromPath, userModel, userModels } from '../models.js';
import { listUsers, type UserSort, type UserStateFilter } from '../../db/users.js';
import { groupMembers, findGroup } from '../../db/groups.js';
import { updateUser } from '../../db/users.js';
import { changeUser, createOneUser, createUsers, removeUser } from '../../users/service.js';

const createManySchema = z.strictObject({ usernames: z.array(z.string()), admin: z.boolean().optional() });
const createOneSchema = z.strictObject({ admin: z.boolean().optional(), groups: z.array(z.string()).optional(), roles: z.array(z.string()).optional() });
const patchSchema = z.strictObject({ name: z.string().optional(), admin: z.boolean().optional(), groups: z.array(z.string()).optional(), roles: z.array(z.string()).optional(), auth_state: z.record(z.string(), z.unknown()).optional() });
const activitySchema = z.strictObject({
  last_activity: z.iso.datetime({ offset: true }).optional(),
  servers: z.record(z.string(), z.strictObject({ last_activity: z.iso.datetime({ offset: true }) }).loose()).optional(),
});

export function userRoutes(app: FastifyInstance, ctx: HubContext): void {
  app.get('/hub/api/users', async (req) => {
    const access = authorize(req.access, 'list:users');
    const query = req.query as Record<string, string | undefined>;
    const { offset, limit } = paginationParams(req);
    const state = query.state;
    if (state !== undefined && state !== '' && !['active', 'inactive', 'ready'].includes(state)) {
      throw new HttpError(400, `Unrecognized state filter: ${JSON.stringify(state)}, expected one of active, inactive, ready`);
    }
    const sort = parseSort(query.sort);
    // holders of list:users for some users only see those users (JupyterHub's post-filter)
    const allowed = access.identity.parsed.get('list:users');
    let names: string[] | undefined;
    if (allowed !== undefined && allowed !== 'all') {
      names = [...(allowed.get('user') ?? [])];
      for (const groupName of allowed.get('group') ?? []) {
        const group = await findGroup(ctx.db, groupName);
        if (group) names.push(...((await groupMembers(ctx.db, [group.id])).get(group.id) ?? []));
      }
    }
    const { rows, total } = await listUsers(ctx.db, {
      offset, limit, state: (state || undefined) as UserStateFilter, names, sort,
      nameContains: query.name_filter || undefined,
    });
    return paginated(req, await userModels(ctx, req, access, rows), offset, limit, total);
  });

  app.post('/hub/api/users', async (req, reply) => {
    const access = authorize(req.access, 'admin:users');
    const body = parseBody(req, createManySchema, 'body');
    if (body.usernames.length === 0) throw new HttpError(400, 'body.usernames: give at least one username');
    const created = await createUsers(ctx, body.usernames, body.admin ?? false);
    reply.code(201);
    return userModels(ctx, req, access, created);
  });

  app.get<{ Params: { name: string } }>('/hub/api/users/:name', async (req) => {
    const access = authorize(req.access, 'read:users:name', { user: req.params.name });
    const user = await userFromPath(ctx, req.params.name);
    return userModel(ctx, req, access, user);
  });

  app.post<{ Params: { name: string } }>('/hub/api/users/:name', async (req, reply) => {
    const access = authorize(req.access, 'admin:users', { user: req.params.name });
    const body = parseBody(req, createOneSchema, 'body');
    if (body.roles?.length) throw new HttpError(400, 'body.roles: custom roles are not supported; use "admin"');
    const user = await createOneUser(ctx, req.params.name, { admin: body.admin ?? false });
    reply.code(201);
    return userModel(ctx, req, access, user);
  });

  app.patch<{ Params: { name: string } }>('/hub/api/users/:name', async (req) => {
    const access = authorize(req.access, 'admin:users', { user: req.params.name });
    const body = parseBody(req, patchSchema, 'body');
    if (body.roles !== undefined || body.groups !== undefined || body.auth_state !== undefined) {
      const field = body.roles !== undefined ? 'roles' : body.groups !== undefined ? 'groups' : 'auth_state';
      throw new HttpError(400, `body.${field}: cannot be changed here${field === 'groups' ? '; use /hub/api/groups/{name}/users' : ''}`);
    }
    if (body.name === undefined && body.admin === undefined) throw new HttpError(400, 'body: give at least one of "name" or "admin"');
    const user = await userFromPath(ctx, req.params.name);
    if (body.admin === false && access.identity.kind === 'user' && access.identity.name === user.name) {
      throw new HttpError(400, 'You cannot remove your own admin rights; ask another admin');
    }
    const changed = await changeUser(ctx, user, body);
    return userModel(ctx, req, access, changed);
  });

  app.delete<{ Params: { name: string } }>('/hub/api/users/:name', async (req, reply) => {
    const access = authorize(req.access, 'delete:users', { user: req.params.name });
    const user = await userFromPath(ctx, req.params.name);
    if (access.identity.kind === 'user' && access.identity.name === user.name) throw new HttpError(400, 'Cannot delete yourself!');
    await removeUser(ctx, user);
    reply.code(204);
  });

  app.post<{ Params: { name: string } }>('/hub/api/users/:name/activity', async (req) => {
    authorize(req.access, 'users:activity', { user: req.params.name });
    const user = await userFromPath(ctx, req.params.name);
    const body = parseBody(req, activitySchema, 'body');
    const latest = (a: string | null, b: string | undefined) => (!b ? a : !a || Date.parse(b) > Date.parse(a) ? new Date(b).toISOString() : a);
    if (body.last_activity) await updateUser(ctx.db, user.id, { last_activity: latest(user.last_activity, body.last_activity) });
    for (const [serverName, info] of Object.entries(body.servers ?? {})) {
      const row = await ctx.db.selectFrom('servers').selectAll().where('user_id', '=', user.id).where('name', '=', serverName).executeTakeFirst();
      if (!row) throw new HttpError(400, `body.servers: ${user.name} has no server named ${JSON.stringify(serverName)}`);
      await ctx.db.updateTable('servers').set({ last_activity: latest(row.last_activity, info.last_activity) }).where('id', '=', row.id).execute();
      await updateUser(ctx.db, user.id, { last_activity: latest(user.last_activity, info.last_activity) });
    }
    return {};
  });
}

function parseSort(raw: string | undefined): UserSort | undefined {
  if (!raw) return undefined;
  const descending = raw.startsWith('-');
  const field = descending ? raw.slice(1) : raw;
  if (field !== 'id' && field !== 'name' && field !== 'last_activity') {
    throw new HttpError(400, `sort: unsupported field ${JSON.stringify(field)}, expected id, name or last_activity`);
  }
  return { field, descending };
}
