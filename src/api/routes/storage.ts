import type { FastifyInstance } from 'fastify';
import type { HubContext } from '../../context.js';
import { authorize } from '../../policy/authorize.js';
import { HttpError } from '../../http/errors.js';
import { userFromPath } from '../models.js';
import { presentStorage } from '../../presenters/storage.js';
import { storageOfUser } from '../../storage/for-user.js';

/**
 * A person's object storage: `GET /hub/api/users/{name}/storage` (endpoints and buckets their
 * servers get; keys are never in the API, only on the storage page on request), and
 * `POST /hub/api/users/{name}/storage/{endpoint}/rotate` for a provisioned key.
 */
export function storageRoutes(app: FastifyInstance, ctx: HubContext): void {
  app.get<{ Params: { name: string } }>('/hub/api/users/:name/storage', async (req) => {
    authorize(req.access, 'read:servers', { user: req.params.name });
    const user = await userFromPath(ctx, req.params.name);
    return (await storageOfUser(ctx.db, ctx.catalog.current(), ctx.storage, user)).map(presentStorage);
  });

  app.post<{ Params: { name: string; endpoint: string } }>('/hub/api/users/:name/storage/:endpoint/rotate', async (req, reply) => {
    authorize(req.access, 'servers', { user: req.params.name });
    const user = await userFromPath(ctx, req.params.name);
    const entries = await storageOfUser(ctx.db, ctx.catalog.current(), ctx.storage, user);
    const entry = entries.find((e) => e.summary?.endpoint === req.params.endpoint);
    if (!entry) throw new HttpError(404, `${user.name} has no object storage at endpoint '${req.params.endpoint}'`);
    if (!entry.summary?.provisioned) throw new HttpError(400, `${user.name}'s keys at endpoint '${req.params.endpoint}' are not provisioned by Refinery; rotate them at their source`);
    await ctx.storage.rotate(req.params.endpoint, user);
    return reply.code(204).send();
  });
}
