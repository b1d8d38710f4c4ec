import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { HubContext } from '../../context.js';
import { authorize } from '../../policy/authorize.js';
import { countUsers } from '../../db/users.js';

export function healthRoutes(app: FastifyInstance, ctx: HubContext): void {
  /** For load balancers and orchestrators: 200 when the database answers. */
  app.get('/hub/health', async (_req, reply) => {
    try {
      await sql`select 1`.execute(ctx.db);
      return { status: 'ok', version: ctx.version };
    } catch {
      return reply.code(503).send({ status: 'unavailable', reason: 'database is not answering' });
    }
  });

  app.get('/hub/metrics', async (req, reply) => {
    authorize(req.access, 'read:metrics');
    // counted at scrape time: users come and go through the API and the CLI between reconcile passes
    ctx.metrics.totalUsers.set(await countUsers(ctx.db));
    const { contentType, body } = await ctx.metrics.render();
    return reply.type(contentType).send(body);
  });
}
