import type { FastifyInstance } from 'fastify';
import type { HubContext } from '../../context.js';
import { authenticated, authorize } from '../../policy/authorize.js';
import { findUser } from '../../db/users.js';
import { userModel } from '../models.js';
import { HttpError } from '../../http/errors.js';
import { withIdentifyOwner } from '../../policy/rules.js';

export function rootRoutes(app: FastifyInstance, ctx: HubContext): void {
  app.get('/hub/api/', async () => ({ version: ctx.version }));
  app.get('/hub/api', async () => ({ version: ctx.version }));

  app.get('/hub/api/info', async (req) => {
    authorize(req.access, 'read:hub');
    return {
      version: ctx.version,
      python: 'n/a',
      sys_executable: process.execPath,
      node: process.version,
      authenticator: { class: `refinery.${ctx.authenticator.kind}`, version: ctx.version },
      spawner: { class: `refinery.${ctx.config.spawner.type}`, version: ctx.version },
    };
  });

  /** Who am I: the model of the token's owner plus the token's expanded scopes. */
  app.get('/hub/api/user', async (req) => {
    const access = authenticated(req.access);
    const identity = access.identity;
    let model: Record<string, unknown>;
    if (identity.kind === 'service') {
      model = { kind: 'service', name: identity.name, admin: false, roles: [] };
    } else {
      const user = await findUser(ctx.db, identity.name);
      if (!user) throw new HttpError(403, 'Missing or invalid credentials.');
      // every token may identify its owner, whatever else it may do
      model = await userModel(ctx, req, withIdentifyOwner(access, user.name), user);
    }
    model.token_id = identity.tokenId !== undefined ? `a${identity.tokenId}` : null;
    model.session_id = identity.session?.id ?? null;
    model.scopes = [...identity.scopes].sort();
    return model;
  });
}
