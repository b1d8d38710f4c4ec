import type { FastifyInstance } from 'fastify';
import type { HubContext } from '../../context.js';
import { HttpError } from '../../http/errors.js';
import { authorize, may } from '../../policy/authorize.js';
import { presentService } from '../../presenters/service.js';

/** The configured services (JupyterHub's /services), read-only: they come from the configuration file. */
export function serviceRoutes(app: FastifyInstance, ctx: HubContext): void {
  const services = () => ctx.config.services;

  // a dict by name, as JupyterHub answers (its OpenAPI description says a list)
  app.get('/hub/api/services', async (req) => {
    const access = authorize(req.access, 'list:services');
    const out: Record<string, unknown> = {};
    for (const service of services()) {
      if (may(access, 'list:services', { service: service.name })) out[service.name] = presentService(service, access);
    }
    return out;
  });

  app.get<{ Params: { name: string } }>('/hub/api/services/:name', async (req) => {
    const access = authorize(req.access, ['read:services', 'read:services:name', 'read:roles:services'], { service: req.params.name });
    const service = services().find((s) => s.name === req.params.name);
    if (!service) throw new HttpError(404, `No such service: ${req.params.name}`);
    return presentService(service, access);
  });
}
