import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { HubContext } from '../../context.js';
import { authorize } from '../../policy/authorize.js';
import { jsonBody, parseBody } from '../body.js';
import { HttpError } from '../../http/errors.js';
import { paginated, paginationParams } from '../pagination.js';
import { presentGroup } from '../../presenters/group.js';
import { addMembers, createGroup, deleteGroup, findGroup, groupMembers, listGroups, removeMembers, setGroupProperties, type GroupRow } from '../../db/groups.js';
import { findUser } from '../../db/users.js';
import type { Access } from '../../policy/access.js';
import { groupNameProblem } from '../../auth/names.js';
import { may } from '../../policy/authorize.js';

const membersSchema = z.strictObject({ users: z.array(z.string()) });
const createOneSchema = z.strictObject({ users: z.array(z.string()).optional(), properties: z.record(z.string(), z.unknown()).optional() });
const createManySchema = z.strictObject({ groups: z.array(z.string()).min(1) });

export function groupRoutes(app: FastifyInstance, ctx: HubContext): void {
  const model = async (group: GroupRow, access: Access) => presentGroup(group, (await groupMembers(ctx.db, [group.id])).get(group.id) ?? [], access);

  const groupFromPath = async (name: string): Promise<GroupRow> => {
    const group = await findGroup(ctx.db, name);
    if (!group) throw new HttpError(404, `No such group: ${name}`);
    return group;
  };

  const userIds = async (names: readonly string[]): Promise<number[]> => {
    const ids: number[] = [];
    const missing: string[] = [];
    for (const name of names) {
      const user = await findUser(ctx.db, name);
      if (user) ids.push(user.id);
      else missing.push(name);
    }
    if (missing.length) throw new HttpError(400, `body.users: no such user${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}`);
    return ids;
  };

  const checkName = (name: string) => {
    const problem = groupNameProblem(name);
    if (problem) throw new HttpError(400, `Invalid group name: ${problem}`);
  };

  app.get('/hub/api/groups', async (req) => {
    const access = authorize(req.access, 'list:groups');
    const { offset, limit } = paginationParams(req);
    const { rows, total } = await listGroups(ctx.db, { offset, limit });
    const visible = rows.filter((g) => may(access, 'list:groups', { group: g.name }));
    const models = [];
    for (const g of visible) models.push(await model(g, access));
    return paginated(req, models, offset, limit, total);
  });

  app.post('/hub/api/groups', async (req, reply) => {
    const access = authorize(req.access, 'admin:groups');
    const body = parseBody(req, createManySchema, 'body');
    body.groups.forEach(checkName);
    for (const name of body.groups) if (await findGroup(ctx.db, name)) throw new HttpError(409, `Group ${name} already exists`);
    const created = [];
    for (const name of body.groups) created.push(await createGroup(ctx.db, name));
    ctx.identities.invalidate();
    reply.code(201);
    return Promise.all(created.map((g) => model(g, access)));
  });

  app.get<{ Params: { name: string } }>('/hub/api/groups/:name', async (req) => {
    const access = authorize(req.access, 'read:groups:name', { group: req.params.name });
    return model(await groupFromPath(req.params.name), access);
  });

  app.post<{ Params: { name: string } }>('/hub/api/groups/:name', async (req, reply) => {
    const access = authorize(req.access, 'admin:groups', { group: req.params.name });
    checkName(req.params.name);
    const body = parseBody(req, createOneSchema, 'body');
    if (await findGroup(ctx.db, req.params.name)) throw new HttpError(409, `Group ${req.params.name} already exists`);
    const ids = await userIds(body.users ?? []);
    const group = await createGroup(ctx.db, req.params.name, body.properties ?? {});
    await addMembers(ctx.db, group.id, ids);
    ctx.identities.invalidate();
    reply.code(201);
    return model(group, access);
  });

  app.delete<{ Params: { name: string } }>('/hub/api/groups/:name', async (req, reply) => {
    authorize(req.access, 'delete:groups', { group: req.params.name });
    const group = await groupFromPath(req.params.name);
    await deleteGroup(ctx.db, group.id);
    ctx.identities.invalidate();
    ctx.revocations.revoked();
    reply.code(204);
  });

  app.post<{ Params: { name: string } }>('/hub/api/groups/:name/users', async (req) => {
    const access = authorize(req.access, 'groups', { group: req.params.name });
    const group = await groupFromPath(req.params.name);
    const body = parseBody(req, membersSchema, 'body');
    await addMembers(ctx.db, group.id, await userIds(body.users));
    ctx.identities.invalidate();
    return model(group, access);
  });

  app.delete<{ Params: { name: string } }>('/hub/api/groups/:name/users', async (req) => {
    const access = authorize(req.access, 'groups', { group: req.params.name });
    const group = await groupFromPath(req.params.name);
    const body = parseBody(req, membersSchema, 'body');
    await removeMembers(ctx.db, group.id, await userIds(body.users));
    ctx.identities.invalidate();
    // servers shared with the group are no longer theirs to use
    ctx.revocations.revoked();
    return model(group, access);
  });

  app.put<{ Params: { name: string } }>('/hub/api/groups/:name/properties', async (req) => {
    const access = authorize(req.access, 'groups', { group: req.params.name });
    const group = await groupFromPath(req.params.name);
    const body = jsonBody(req);
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'body: group properties must be a JSON object');
    await setGroupProperties(ctx.db, group.id, body as Record<string, unknown>);
    return model({ ...group, properties: JSON.stringify(body) }, access);
  });
}
