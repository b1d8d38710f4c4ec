import type { FastifyInstance } from 'fastify';
import type { HubContext } from '../context.js';
import { rootRoutes } from './routes/root.js';
import { userRoutes } from './routes/users.js';
import { serverRoutes } from './routes/servers.js';
import { tokenRoutes } from './routes/tokens.js';
import { groupRoutes } from './routes/groups.js';
import { oauthRoutes } from './routes/oauth.js';
import { healthRoutes } from './routes/health.js';
import { spawnPlanRoutes } from './routes/spawn-plan.js';
import { clusterRoutes } from './routes/clusters.js';
import { storageRoutes } from './routes/storage.js';
import { publicationRoutes } from './routes/publications.js';
import { serviceRoutes } from './routes/services.js';
import { proxyRoutes } from './routes/proxy.js';
import { shareRoutes } from './routes/shares.js';

/** The REST API, compatible with JupyterHub's, plus health and metrics. */
export function registerApi(app: FastifyInstance, ctx: HubContext): void {
  rootRoutes(app, ctx);
  userRoutes(app, ctx);
  serverRoutes(app, ctx);
  tokenRoutes(app, ctx);
  groupRoutes(app, ctx);
  oauthRoutes(app, ctx);
  healthRoutes(app, ctx);
  spawnPlanRoutes(app, ctx);
  clusterRoutes(app, ctx);
  storageRoutes(app, ctx);
  publicationRoutes(app, ctx);
  serviceRoutes(app, ctx);
  proxyRoutes(app, ctx);
  shareRoutes(app, ctx);
}
