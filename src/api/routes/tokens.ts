import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { HubContext } from '../../context.js';
import { authorize } from '../../policy/authorize.js';
import { parseBody } from '../body.js';
import { HttpError } from '../../http/errors.js';
import { userFromPath, userModel } from '../models.js';
import { deleteToken, findTokenById, tokensOfUser } from '../../db/tokens.js';
import { checkTokenScopes, issueToken, tokenLifetime } from '../../auth/tokens.js';
import { ADMIN_ROLE_SCOPES, SERVER_ROLE_SCOPES, ScopeError } from '../../policy/scopes.js';
import type { UserRow } from '../../db/users.js';
import { isExpired } from '../../db/time.js';
import { parseTokenApiId, presentToken } from '../../presenters/token.js';
import type { TokenRow } from '../../db/tokens.js';

/** JupyterHub's built-in roles, which token requests may name instead of scopes. */
const ROLE_SCOPES = { token: ['inherit'], user: ['self'], server: [...SERVER_ROLE_SCOPES], admin: [...ADMIN_ROLE_SCOPES] } as const;

const createSchema = z.strictObject({
  expires_in: z.unknown().optional(),
  note: z.string().max(1000).optional(),
  scopes: z.array(z.string()).optional(),
  roles: z.array(z.string()).optional(),
});

export function tokenRoutes(app: FastifyInstance, ctx: HubContext): void {
  const effectiveScopes = (row: TokenRow, user: UserRow) => ctx.identities.scopesOfUserToken(row, user);

  app.get<{ Params: { name: string } }>('/hub/api/users/:name/tokens', async (req) => {
    authorize(req.access, 'read:tokens', { user: req.params.name });
    const user = await userFromPath(ctx, req.params.name);
    const rows = (await tokensOfUser(ctx.db, user.id)).filter((row) => !isExpired(row.expires_at));
    const models = [];
    for (const row of rows) models.push(presentToken(row, { user: user.name }, await effectiveScopes(row, user)));
    return { api_tokens: models };
  });

  app.post<{ Params: { name: string } }>('/hub/api/users/:name/tokens', async (req, reply) => {
    const access = authorize(req.access, 'tokens', { user: req.params.name });
    const user = await userFromPath(ctx, req.params.name);
    const body = parseBody(req, createSchema, 'body');
    let expiresIn: number | null;
    try {
      expiresIn = tokenLifetime(body.expires_in);
    } catch (error) {
      throw new HttpError(400, `body.expires_in: ${(error as Error).message}`);
    }
    if (body.roles?.length) {
      const unknown = body.roles.filter((r) => !(r in ROLE_SCOPES));
      if (unknown.length) throw new HttpError(400, `body.roles: no such role ${JSON.stringify(unknown[0])}`);
    }
    let scopes = body.scopes ?? [];
    for (const role of body.roles ?? []) scopes = [...scopes, ...ROLE_SCOPES[role as keyof typeof ROLE_SCOPES]];
    if (scopes.length === 0) scopes = ['inherit'];
    try {
      checkTokenScopes(scopes, user.name, (await ctx.identities.scopesOfUser(user.name)) ?? new Set(), await ctx.identities.groupLookup());
    } catch (error) {
      if (!(error instanceof ScopeError)) throw error;
      // unknown scopes are a malformed request; scopes the owner lacks are a refusal, as in JupyterHub
      const unknown = /unknown scope|malformed filter/.test(error.message);
      throw new HttpError(unknown ? 400 : 403, unknown ? `body.scopes: ${error.message}` : `Not assigning requested scopes: ${error.message}`);
    }
    const { token, row } = await issueToken(ctx.db, {
      userId: user.id, scopes, note: body.note || (access.identity.name === user.name && access.identity.kind === 'user' ? 'Requested via api' : `Requested via api by ${access.identity.kind} ${access.identity.name}`), expiresIn,
    });
    ctx.identities.invalidate();
    reply.code(201);
    return { ...presentToken(row, { user: user.name }, await effectiveScopes(row, user)), token };
  });

  /**
   * JupyterHub's older way to ask for a token (deprecated there, still answered): a new token for the
   * signed-in person, with everything they may do. Credentials in the body are not taken here; a
   * caller without a valid token or session gets 403, as JupyterHub answers one it cannot authenticate.
   */
  app.post('/hub/api/authorizations/token', async (req, reply) => {
    const access = req.access;
    if (!access || access.identity.kind !== 'user') throw new HttpError(403, 'The user can not be authenticated.');
    authorize(access, 'tokens', { user: access.identity.name });
    const user = await userFromPath(ctx, access.identity.name);
    const { token } = await issueToken(ctx.db, { userId: user.id, scopes: ['inherit'], note: 'Requested via deprecated api', expiresIn: null });
    ctx.identities.invalidate();
    reply.code(200);
    return { token, warning: 'POST /hub/api/authorizations/token is deprecated: use POST /hub/api/users/{name}/tokens', user: await userModel(ctx, req, access, user) };
  });

  const findOwned = async (userName: string, apiId: string): Promise<{ row: TokenRow; user: UserRow }> => {
    const user = await userFromPath(ctx, userName);
    const id = parseTokenApiId(apiId);
    const row = id === undefined ? undefined : await findTokenById(ctx.db, id);
    if (!row || row.user_id !== user.id || isExpired(row.expires_at)) throw new HttpError(404, `No such token: ${apiId}`);
    return { row, user };
  };

  app.get<{ Params: { name: string; id: string } }>('/hub/api/users/:name/tokens/:id', async (req) => {
    authorize(req.access, 'read:tokens', { user: req.params.name });
    const { row, user } = await findOwned(req.params.name, req.params.id);
    return presentToken(row, { user: user.name }, await effectiveScopes(row, user));
  });

  app.delete<{ Params: { name: string; id: string } }>('/hub/api/users/:name/tokens/:id', async (req, reply) => {
    authorize(req.access, 'tokens', { user: req.params.name });
    const { row } = await findOwned(req.params.name, req.params.id);
    await deleteToken(ctx.db, row.id);
    ctx.identities.invalidate();
    // WebSockets opened with the token close with it
    ctx.revocations.revoked();
    reply.code(204);
  });
}
