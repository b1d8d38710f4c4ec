import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { HubContext } from '../../context.js';
import { authorize } from '../../policy/authorize.js';
import { parseBody } from '../body.js';
import { HttpError } from '../../http/errors.js';
import { userFromPath } from '../models.js';
import { presentCluster } from '../../presenters/cluster.js';
import type { ClusterRow } from '../../db/clusters.js';
import { mayReadServer } from '../../policy/rules.js';
import type { ScopeName } from '../../policy/scopes.js';

type ClusterParams = { name: string; server?: string; cluster: string };

const scaleSchema = z.strictObject({ workers: z.number().int().min(0).max(64) });

export function clusterRoutes(app: FastifyInstance, ctx: HubContext): void {
  const model = async (row: ClusterRow, user: string) => presentCluster(row, user, await ctx.clusters.registeredWorkers(row), ctx.urls.userHosts);

  /** Every cluster of the user's servers, with live worker counts and UI links. */
  app.get<{ Params: { name: string } }>('/hub/api/users/:name/clusters', async (req) => {
    const access = authorize(req.access, 'read:servers', { user: req.params.name });
    const user = await userFromPath(ctx, req.params.name);
    const rows = (await ctx.clusters.listOfUser(user.id)).filter((r) => mayReadServer(access, user.name, r.server_name));
    return Promise.all(rows.map((r) => model(r, user.name)));
  });

  const find = async (req: FastifyRequest<{ Params: ClusterParams }>, scope: ScopeName) => {
    const server = req.params.server ?? '';
    authorize(req.access, scope, { server: `${req.params.name}/${server}` });
    const user = await userFromPath(ctx, req.params.name);
    const row = (await ctx.clusters.listOfUser(user.id)).find((r) => r.server_name === server && r.name === req.params.cluster);
    if (!row) throw new HttpError(404, `${user.name}'s server${server ? ` '${server}'` : ''} has no cluster named '${req.params.cluster}'`);
    return { user, row };
  };

  const get = async (req: FastifyRequest<{ Params: ClusterParams }>) => {
    const { user, row } = await find(req, 'read:servers');
    return model(row, user.name);
  };
  /** Resize: `{"workers": 4}`; waits until the workers registered. */
  const scale = async (req: FastifyRequest<{ Params: ClusterParams }>) => {
    const { user, row } = await find(req, 'servers');
    const { workers } = parseBody(req, scaleSchema, 'body');
    const resized = await ctx.clusters.scale(user, row, workers);
    return model(resized, user.name);
  };
  /** Restart on the same addresses (the notebook keeps working with it). */
  const restart = async (req: FastifyRequest<{ Params: ClusterParams }>) => {
    const { user, row } = await find(req, 'servers');
    await ctx.clusters.restart(user, row);
    const fresh = (await ctx.clusters.listOfUser(user.id)).find((r) => r.id === row.id) ?? row;
    return model(fresh, user.name);
  };

  app.get<{ Params: ClusterParams }>('/hub/api/users/:name/clusters/:cluster', get);
  app.get<{ Params: ClusterParams }>('/hub/api/users/:name/servers/:server/clusters/:cluster', get);
  app.patch<{ Params: ClusterParams }>('/hub/api/users/:name/clusters/:cluster', scale);
  app.patch<{ Params: ClusterParams }>('/hub/api/users/:name/servers/:server/clusters/:cluster', scale);
  app.post<{ Params: ClusterParams }>('/hub/api/users/:name/clusters/:cluster/restart', restart);
  app.post<{ Params: ClusterParams }>('/hub/api/users/:name/servers/:server/clusters/:cluster/restart', restart);
}
