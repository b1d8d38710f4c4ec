import type { FastifyInstance } from 'fastify';
import type { HubContext } from '../../context.js';
import { paginationParams } from '../pagination.js';
import { authorize } from '../../policy/authorize.js';

/**
 * JupyterHub's /proxy. Refinery's proxy is part of the hub (src/proxy), so its route table is the
 * hub's own and can be neither out of sync nor elsewhere: a sync (POST) has nothing to do and a new
 * proxy address (PATCH) is not taken; both answer 200 as JupyterHub does.
 */
export function proxyRoutes(app: FastifyInstance, ctx: HubContext): void {
  app.get('/hub/api/proxy', async (req) => {
    authorize(req.access, 'proxy');
    const { offset, limit } = paginationParams(req);
    const routes = ctx.routes.list().sort((a, b) => a.prefix.localeCompare(b.prefix)).slice(offset, offset + limit);
    // configurable-http-proxy's table: routespec -> target and the data the hub attached
    return Object.fromEntries(routes.map((r) => [r.prefix, { routespec: r.prefix, target: r.target, data: { user: r.data.user, server_name: r.data.server } }]));
  });

  app.post('/hub/api/proxy', async (req, reply) => {
    authorize(req.access, 'proxy');
    return reply.code(200).send();
  });

  app.patch('/hub/api/proxy', async (req, reply) => {
    authorize(req.access, 'proxy');
    ctx.log.info('PATCH /hub/api/proxy: the proxy is built into Refinery; no other proxy address is used');
    return reply.code(200).send();
  });
}
