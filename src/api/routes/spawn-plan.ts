import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { HubContext } from '../../context.js';
import { authorize } from '../../policy/authorize.js';
import { parseBody } from '../body.js';
import { HttpError } from '../../http/errors.js';
import { userFromPath } from '../models.js';
import { groupsOfUsers } from '../../db/users.js';
import { planForUser } from '../../profiles/for-user.js';
import { presentPlan, resolvePlan, SelectionError, type SelectionInput } from '../../profiles/resolve.js';
import { rememberedFor, userOptionsSchema } from '../../profiles/selections.js';
import { findServer } from '../../db/servers.js';
import { presentSpawnOptions } from '../../presenters/catalog.js';
import { serverNameProblem } from '../../auth/names.js';
import { effectiveQuota } from '../../clusters/quota.js';

type Params = { name: string };

/** `?image=spark&size=small&profile=gpu&options.version=3.5&env.FOO=bar&cluster_workers=3&server=lab2` */
function selectionsFromQuery(query: Record<string, string | undefined>): { server: string; selections: SelectionInput } {
  const selections: SelectionInput = {};
  let server = '';
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    if (key === 'server') server = value;
    else if (key === 'image' || key === 'size' || key === 'profile') selections[key] = value;
    else if (key.startsWith('options.')) (selections.options ??= {})[key.slice(8)] = value;
    else if (key.startsWith('env.')) (selections.env ??= {})[key.slice(4)] = value;
    else if (key === 'cluster_workers' || key === 'cluster_worker_cores' || key === 'cluster_worker_memory') selections[key] = value;
    else throw new HttpError(400, `unknown query parameter ${JSON.stringify(key)}: use image, size, profile, options.<key>, env.<NAME>, cluster_workers, cluster_worker_cores, cluster_worker_memory or server`);
  }
  return { server, selections };
}

export function spawnPlanRoutes(app: FastifyInstance, ctx: HubContext): void {
  const plan = async (req: FastifyRequest<{ Params: Params }>, server: string, selections: SelectionInput) => {
    authorize(req.access, 'servers', { server: `${req.params.name}/${server}` });
    const problem = serverNameProblem(server);
    if (problem) throw new HttpError(400, `server: ${problem}`);
    const user = await userFromPath(ctx, req.params.name);
    try {
      return presentPlan(await planForUser(ctx.db, ctx.catalog.current(), user, server, selections, ctx.config.quotas));
    } catch (error) {
      if (error instanceof SelectionError) throw new HttpError(400, `${error.field}: ${error.message}`);
      throw error;
    }
  };

  /** The plan a start would use, without starting anything; secret values are hidden. */
  app.get<{ Params: Params }>('/hub/api/users/:name/spawn-plan', async (req) => {
    const { server, selections } = selectionsFromQuery(req.query as Record<string, string | undefined>);
    return plan(req, server, selections);
  });
  app.post<{ Params: Params }>('/hub/api/users/:name/spawn-plan', async (req) => {
    const server = (req.query as Record<string, string | undefined>).server ?? '';
    return plan(req, server, parseBody(req, userOptionsSchema, 'user_options'));
  });

  /** What the person may pick, and what the form should pre-select (their last choices, else defaults). */
  app.get<{ Params: Params }>('/hub/api/users/:name/spawn-options', async (req) => {
    const server = (req.query as Record<string, string | undefined>).server ?? '';
    authorize(req.access, 'servers', { server: `${req.params.name}/${server}` });
    const user = await userFromPath(ctx, req.params.name);
    const groups = (await groupsOfUsers(ctx.db, [user.id])).get(user.id) ?? [];
    const subject = { user: user.name, groups, server, quota: effectiveQuota(ctx.config.quotas, user.name, groups) };
    const catalog = ctx.catalog.current();
    const row = await findServer(ctx.db, user.id, server);
    const preselected = resolvePlan(catalog, subject, {}, rememberedFor(user.preferences, row?.user_options));
    return { ...presentSpawnOptions(catalog, subject), selected: preselected.selections, warnings: preselected.warnings };
  });
}
