/**
 * JupyterHub 5's sharing API: `/shares/{owner}[/{server}]`, `/share-codes/{owner}[/{server}]`,
 * `/users/{name}/shared[...]` and `/groups/{name}/shared[...]`. A server name may be empty (the
 * default server): those paths end in `/`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { HubContext } from '../../context.js';
import { authorize } from '../../policy/authorize.js';
import { mayNameInShare, mayShareServer } from '../../policy/rules.js';
import { ScopeError, checkScopesExist, shareScopesFor } from '../../policy/scopes.js';
import { HttpError } from '../../http/errors.js';
import { parseBody } from '../body.js';
import { paginated, paginationParams } from '../pagination.js';
import { presentShare, presentShareCode } from '../../presenters/share.js';
import { SHARE_CODE_LIFETIME, type ShareTarget } from '../../sharing/service.js';
import { findUser } from '../../db/users.js';
import { findGroup, groupsOfUser } from '../../db/groups.js';
import { listShareCodes, listShares, sharesWith } from '../../db/shares.js';
import type { Access } from '../../policy/access.js';

const scopesField = z.array(z.string()).optional();
const grantSchema = z.strictObject({ user: z.string().min(1).optional(), group: z.string().min(1).optional(), scopes: scopesField });
const codeSchema = z.strictObject({
  scopes: scopesField,
  expires_in: z.number().int().min(SHARE_CODE_LIFETIME.min).max(SHARE_CODE_LIFETIME.max).optional(),
});

type OwnerParams = { Params: { owner: string } };
type ServerParams = { Params: { owner: string; server?: string } };
type SharedParams = { Params: { name: string; owner: string; server?: string } };

/** Exactly one of `user` and `group`, as JupyterHub requires. */
function targetOf(body: { user?: string | undefined; group?: string | undefined }): ShareTarget {
  if (body.user !== undefined && body.group !== undefined) throw new HttpError(400, 'body: expected exactly one of `user` or `group`, not both');
  if (body.user !== undefined) return { user: body.user };
  if (body.group !== undefined) return { group: body.group };
  throw new HttpError(400, 'body: specify exactly one of `user` or `group`');
}

function scopesFor(requested: readonly string[] | undefined, owner: string, server: string): string[] {
  try {
    if (requested) checkScopesExist(requested);
    return shareScopesFor(requested, owner, server);
  } catch (error) {
    if (error instanceof ScopeError) throw new HttpError(400, `body.scopes: ${error.message}`);
    throw error;
  }
}

/** The scopes a grant asks for, refused (403) unless the caller may share the server and holds each one. */
function grantable(access: Access, owner: string, server: string, requested: readonly string[] | undefined): string[] {
  const scopes = scopesFor(requested, owner, server);
  const decision = mayShareServer(access, owner, server, scopes);
  if (!decision.allowed) throw new HttpError(403, `Do not have permission to grant share with scope ${decision.missing}`);
  return scopes;
}

export function shareRoutes(app: FastifyInstance, ctx: HubContext): void {
  const serverName = (req: FastifyRequest<ServerParams>) => req.params.server ?? '';

  const ownerId = async (owner: string): Promise<number> => {
    const user = await findUser(ctx.db, owner);
    if (!user) throw new HttpError(404, `No such user: ${owner}`);
    return user.id;
  };

  // --- shares of an owner's servers

  app.get<OwnerParams>('/hub/api/shares/:owner', async (req) => {
    authorize(req.access, 'read:shares', { user: req.params.owner });
    const page = paginationParams(req);
    const { items, total } = await listShares(ctx.db, { ownerId: await ownerId(req.params.owner) }, page);
    return paginated(req, items.map((s) => presentShare(s, ctx.urls)), page.offset, page.limit, total);
  });

  const listServerShares = async (req: FastifyRequest<ServerParams>) => {
    const server = serverName(req);
    authorize(req.access, 'read:shares', { server: `${req.params.owner}/${server}` });
    const page = paginationParams(req);
    const row = await ctx.sharing.server(req.params.owner, server);
    const { items, total } = await listShares(ctx.db, { serverId: row.id }, page);
    return paginated(req, items.map((s) => presentShare(s, ctx.urls)), page.offset, page.limit, total);
  };

  const grant = async (req: FastifyRequest<ServerParams>) => {
    const owner = req.params.owner;
    const server = serverName(req);
    const access = authorize(req.access, 'shares', { server: `${owner}/${server}` });
    const body = parseBody(req, grantSchema, 'body');
    const target = targetOf(body);
    const scopes = grantable(access, owner, server, body.scopes);
    if (!mayNameInShare(access, target)) {
      throw new HttpError(403, 'user' in target ? "Need scope 'read:users:name' to share with users by name" : "Need scope 'read:groups:name' to share with groups by name");
    }
    return presentShare(await ctx.sharing.grant(owner, server, target, scopes), ctx.urls);
  };

  const revoke = async (req: FastifyRequest<ServerParams>) => {
    const owner = req.params.owner;
    const server = serverName(req);
    authorize(req.access, 'shares', { server: `${owner}/${server}` });
    const body = parseBody(req, grantSchema, 'body');
    const target = targetOf(body);
    // scopes named as JupyterHub lists them: filtered on this server, whatever filter they came with
    const scopes = body.scopes?.length ? scopesFor(body.scopes, owner, server) : undefined;
    const remaining = await ctx.sharing.revoke(owner, server, target, scopes);
    return remaining ? presentShare(remaining, ctx.urls) : {};
  };

  const revokeAll = async (req: FastifyRequest<ServerParams>, reply: { code(n: number): unknown }) => {
    authorize(req.access, 'shares', { server: `${req.params.owner}/${serverName(req)}` });
    await ctx.sharing.revokeAll(req.params.owner, serverName(req));
    reply.code(204);
  };

  // as JupyterHub: an owner's shares and codes are only listed; changes name the server
  for (const path of ['/hub/api/shares/:owner', '/hub/api/share-codes/:owner']) {
    app.route({ method: ['POST', 'PATCH', 'DELETE'], url: path, handler: async () => { throw new HttpError(405, 'Method Not Allowed: name the server, as in /shares/{owner}/{server_name}'); } });
  }

  for (const path of ['/hub/api/shares/:owner/', '/hub/api/shares/:owner/:server']) {
    app.get<ServerParams>(path, listServerShares);
    app.post<ServerParams>(path, grant);
    app.patch<ServerParams>(path, revoke);
    app.delete<ServerParams>(path, revokeAll);
  }

  // --- share codes

  app.get<OwnerParams>('/hub/api/share-codes/:owner', async (req) => {
    authorize(req.access, 'read:shares', { user: req.params.owner });
    const page = paginationParams(req);
    const { items, total } = await listShareCodes(ctx.db, { ownerId: await ownerId(req.params.owner) }, page);
    return paginated(req, items.map((c) => presentShareCode(c, ctx.urls)), page.offset, page.limit, total);
  });

  const listCodes = async (req: FastifyRequest<ServerParams>) => {
    const server = serverName(req);
    authorize(req.access, 'read:shares', { server: `${req.params.owner}/${server}` });
    const page = paginationParams(req);
    const row = await ctx.sharing.server(req.params.owner, server);
    const { items, total } = await listShareCodes(ctx.db, { serverId: row.id }, page);
    return paginated(req, items.map((c) => presentShareCode(c, ctx.urls)), page.offset, page.limit, total);
  };

  const issueCode = async (req: FastifyRequest<ServerParams>) => {
    const owner = req.params.owner;
    const server = serverName(req);
    const access = authorize(req.access, 'shares', { server: `${owner}/${server}` });
    const body = parseBody(req, codeSchema, 'body');
    const scopes = grantable(access, owner, server, body.scopes);
    const { record, code } = await ctx.sharing.issueCode(owner, server, scopes, body.expires_in ?? SHARE_CODE_LIFETIME.default);
    return presentShareCode(record, ctx.urls, code);
  };

  const revokeCodes = async (req: FastifyRequest<ServerParams>, reply: { code(n: number): unknown }) => {
    authorize(req.access, 'shares', { server: `${req.params.owner}/${serverName(req)}` });
    const query = req.query as Record<string, string | undefined>;
    if (query.id !== undefined && query.code !== undefined) throw new HttpError(400, 'query: give at most one of `id` and `code`');
    await ctx.sharing.revokeCodes(req.params.owner, serverName(req), {
      ...(query.id !== undefined ? { id: query.id } : {}),
      ...(query.code !== undefined ? { code: query.code } : {}),
    });
    reply.code(204);
  };

  for (const path of ['/hub/api/share-codes/:owner/', '/hub/api/share-codes/:owner/:server']) {
    app.get<ServerParams>(path, listCodes);
    app.post<ServerParams>(path, issueCode);
    app.delete<ServerParams>(path, revokeCodes);
  }

  // --- what was shared with a person or a group

  app.get<{ Params: { name: string } }>('/hub/api/users/:name/shared', async (req) => {
    authorize(req.access, 'read:users:shares', { user: req.params.name });
    const user = await findUser(ctx.db, req.params.name);
    if (!user) throw new HttpError(404, `No such user: ${req.params.name}`);
    const page = paginationParams(req);
    const groupIds = (await groupsOfUser(ctx.db, user.id)).map((g) => g.id);
    const { items, total } = await sharesWith(ctx.db, { userId: user.id, groupIds }, page);
    return paginated(req, items.map((s) => presentShare(s, ctx.urls)), page.offset, page.limit, total);
  });

  app.get<{ Params: { name: string } }>('/hub/api/groups/:name/shared', async (req) => {
    authorize(req.access, 'read:groups:shares', { group: req.params.name });
    const group = await findGroup(ctx.db, req.params.name);
    if (!group) throw new HttpError(404, `No such group: ${req.params.name}`);
    const page = paginationParams(req);
    const { items, total } = await sharesWith(ctx.db, { groupIds: [group.id] }, page);
    return paginated(req, items.map((s) => presentShare(s, ctx.urls)), page.offset, page.limit, total);
  });

  for (const kind of ['users', 'groups'] as const) {
    const read = kind === 'users' ? 'read:users:shares' : 'read:groups:shares';
    const change = kind === 'users' ? 'users:shares' : 'groups:shares';
    const targetOfPath = (name: string): ShareTarget => (kind === 'users' ? { user: name } : { group: name });
    const scopeTarget = (name: string) => (kind === 'users' ? { user: name } : { group: name });
    const find = async (req: FastifyRequest<SharedParams>) => {
      const server = req.params.server ?? '';
      const share = await ctx.sharing.shareWith(targetOfPath(req.params.name), req.params.owner, server);
      if (!share) throw new HttpError(404, `No such share for ${kind === 'users' ? 'user' : 'group'} ${req.params.name} on ${req.params.owner}/${server}`);
      return share;
    };
    for (const path of [`/hub/api/${kind}/:name/shared/:owner/`, `/hub/api/${kind}/:name/shared/:owner/:server`]) {
      app.get<SharedParams>(path, async (req) => {
        authorize(req.access, read, scopeTarget(req.params.name));
        return presentShare(await find(req), ctx.urls);
      });
      app.delete<SharedParams>(path, async (req, reply) => {
        authorize(req.access, change, scopeTarget(req.params.name));
        await ctx.sharing.leave(await find(req));
        reply.code(204);
      });
    }
  }
}
