import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { HubContext } from '../../context.js';
import { authorize } from '../../policy/authorize.js';
import { parseBody } from '../body.js';
import { HttpError } from '../../http/errors.js';
import { userFromPath } from '../models.js';
import { findServer } from '../../db/servers.js';
import { userOptionsSchema } from '../../profiles/selections.js';
import type { ProgressEvent } from '../../servers/progress.js';
import { serverUrl } from '../../servers/env.js';

type ServerParams = { name: string; server?: string };

const stopSchema = z.strictObject({ remove: z.boolean().optional() });

export function serverRoutes(app: FastifyInstance, ctx: HubContext): void {
  const start = async (req: FastifyRequest<{ Params: ServerParams }>, reply: FastifyReply) => {
    const serverName = req.params.server ?? '';
    authorize(req.access, 'servers', { server: `${req.params.name}/${serverName}` });
    const user = await userFromPath(ctx, req.params.name);
    const selections = parseBody(req, userOptionsSchema, 'user_options');
    const { result } = await ctx.servers.launch(user, serverName, selections);
    reply.code(result === 'ready' ? 201 : 202).type('text/plain');
    return '';
  };

  const stop = async (req: FastifyRequest<{ Params: ServerParams }>, reply: FastifyReply) => {
    const serverName = req.params.server ?? '';
    authorize(req.access, 'delete:servers', { server: `${req.params.name}/${serverName}` });
    const user = await userFromPath(ctx, req.params.name);
    const body = parseBody(req, stopSchema, 'body');
    const result = await ctx.servers.stop(user, serverName, { remove: body.remove ?? false });
    reply.code(result === 'stopped' ? 204 : 202).type('text/plain');
    return '';
  };

  /** Server-sent events: the spawn's progress, ending with `ready` or `failed`. */
  const progress = async (req: FastifyRequest<{ Params: ServerParams }>, reply: FastifyReply) => {
    const serverName = req.params.server ?? '';
    authorize(req.access, 'read:servers', { server: `${req.params.name}/${serverName}` });
    const user = await userFromPath(ctx, req.params.name);
    const row = await findServer(ctx.db, user.id, serverName);
    const log = ctx.servers.progressOf(user.name, serverName);
    const pending = ctx.servers.pending(user.name, serverName);
    if (serverName && !row) throw new HttpError(404, `${user.name} has no server named '${serverName}'`);
    const url = serverUrl(ctx.urls, user.name, serverName);
    const readyEvent: ProgressEvent = { progress: 100, ready: true, message: `Server ready at ${url}`, html_message: `Server ready at <a href="${url}">${url}</a>`, url };

    if (row?.phase === 'running' && pending === null) {
      // the whole story of the start that got it running when we still have it, else just "ready"
      const finished = log?.events.at(-1)?.ready ? log.events : [readyEvent];
      sse(reply, finished);
      return reply;
    }
    if (pending !== 'spawn' || !log) {
      const failed = log?.events.at(-1);
      if (failed?.failed) {
        sse(reply, [failed]);
        return reply;
      }
      if (row?.last_error) {
        sse(reply, [{ progress: 100, failed: true, message: `Spawn failed: ${row.last_error}` }]);
        return reply;
      }
      throw new HttpError(400, `${user.name}'s server${serverName ? ` '${serverName}'` : ''} is not starting...`);
    }
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' });
    const keepalive = setInterval(() => res.write(':\n\n'), 15_000);
    let unsubscribe = () => {};
    const end = () => {
      clearInterval(keepalive);
      unsubscribe();
      res.end();
    };
    req.raw.on('close', end);
    unsubscribe = log.subscribe((event) => {
      res.write(`data: ${JSON.stringify(event)}\n\n`);
      if (event.ready || event.failed) setImmediate(end);
    });
    return reply;
  };

  app.post<{ Params: ServerParams }>('/hub/api/users/:name/server', start);
  app.post<{ Params: ServerParams }>('/hub/api/users/:name/servers/:server', start);
  app.delete<{ Params: ServerParams }>('/hub/api/users/:name/server', stop);
  app.delete<{ Params: ServerParams }>('/hub/api/users/:name/servers/:server', stop);
  app.get<{ Params: ServerParams }>('/hub/api/users/:name/server/progress', progress);
  app.get<{ Params: ServerParams }>('/hub/api/users/:name/servers/:server/progress', progress);
}

function sse(reply: FastifyReply, events: ProgressEvent[]): void {
  reply.code(200).header('Content-Type', 'text/event-stream').header('Cache-Control', 'no-cache');
  void reply.send(events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join(''));
}
