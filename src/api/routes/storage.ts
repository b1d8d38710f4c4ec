import type { FastifyInstance } from 'fastify';
import type { HubContext } from '../../context.js';
import { requireScope } from '../authorize.js';
import { ApiError } from '../errors.js';
import { userFromPath } from '../models.js';
import { presentStorage } from '../presenters/storage.js';
import { storageOfUser } from '../../storage/for-user.js';
import { StorageError } from '../../storage/service.js';

/**
 * A person's object storage: `GET /hub/api/users/{name}/storage` (endpoints and buckets their
 * servers get; keys are never in the API, only on the storage page on request), and
 * `POST /hub/api/users/{name}/storage/{endpoint}/rotate` for a provisioned key.
 */
export function storageRoutes(app: FastifyInstance, ctx: HubContext): void {
  app.get<{ Params: { name: string } }>('/hub/api/users/:name/storage', async (req) => {
    requireScope(req, 'read:servers', { user: req.params.name });
    const user = await userFromPath(ctx, req.params.name);
    return (await storageOfUser(ctx.db, ctx.catalog.current(), ctx.storage, user)).map(presentStorage);
  });

  app.post<{ Params: { name: string; endpoint: string } }>('/hub/api/users/:name/storage/:endpoint/rotate', async (req, reply) => {
    requireScope(req, 'servers', { user: req.params.name });
    const user = await userFromPath(ctx, req.params.name);
    const entries = await storageOfUser(ctx.db, ctx.catalog.current(), ctx.storage, user);
    const entry = entries.find((e) => e.summary?.endpoint === req.params.endpoint);
    if (!entry) throw new ApiError(404, `${user.name} has no object storage at endpoint '${req.params.endpoint}'`);
    if (!entry.summary?.provisioned) throw new ApiError(400, `${user.name}'s keys at endpoint '${req.params.endpoint}' are not provisioned by Refinery; rotate them at their source`);
    try {
      await ctx.storage.rotate(req.params.endpoint, user);
    } catch (error) {
      if (error instanceof StorageError) throw new ApiError(502, error.message);
      throw error;
    }
    return reply.code(204).send();
  });
}
