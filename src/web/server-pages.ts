import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HubContext } from '../context.js';
import type { Access } from '../auth/access.js';
import type { ServerRow } from '../db/servers.js';
import { findUser, type UserRow } from '../db/users.js';
import { findServer, serversOfUsers } from '../db/servers.js';
import { serverPrefix } from '../auth/names.js';
import { ServerRequestError } from '../servers/errors.js';
import { progressUrl } from '../api/presenters/server.js';
import { ApiError } from '../api/errors.js';
import { html, type SafeHtml } from './html.js';
import { layout } from './layout.js';
import { checkFormCsrf, layoutUser, pageAccess } from './page-auth.js';
import { safeNext } from './next.js';

type SpawnParams = { user: string; server?: string };

export function serverPages(app: FastifyInstance, ctx: HubContext): void {
  const page = (reply: FastifyReply, access: Access, title: string, body: SafeHtml, scripts: string[] = [], status = 200) =>
    reply.code(status).type('text/html; charset=utf-8').send(layout({ title, body, user: layoutUser(access), csrfToken: access.identity.session?.csrfToken, scripts }));

  const phaseOf = (row: ServerRow | undefined, user: string): 'running' | 'starting' | 'stopping' | 'stopped' => {
    const pending = row ? ctx.servers.pending(user, row.name) : null;
    if (pending === 'spawn' || row?.phase === 'pending') return 'starting';
    if (pending === 'stop' || row?.phase === 'stopping') return 'stopping';
    return row?.phase === 'running' ? 'running' : 'stopped';
  };

  const serverCard = (access: Access, user: UserRow, row: ServerRow | undefined, name: string): SafeHtml => {
    const phase = phaseOf(row, user.name);
    const prefix = serverPrefix(user.name, name);
    const label = name ? name : 'Default server';
    const xsrf = access.identity.session?.csrfToken ?? '';
    const path = `${encodeURIComponent(user.name)}${name ? `/${encodeURIComponent(name)}` : ''}`;
    return html`<article class="server ${phase}" data-server="${name}">
  <header><h2>${label}</h2><span class="status status-${phase}">${phase}</span></header>
  ${row?.last_error && phase === 'stopped' ? html`<p class="error">Last run: ${row.last_error}</p>` : ''}
  ${row?.last_activity ? html`<p class="muted">Last activity <time datetime="${row.last_activity}">${row.last_activity.replace('T', ' ').slice(0, 16)} UTC</time></p>` : ''}
  <div class="actions">
    ${phase === 'running' ? html`<a class="button primary" href="${prefix}">Open</a>` : ''}
    ${phase === 'starting' ? html`<a class="button" href="/hub/spawn-pending/${path}">Show progress</a>` : ''}
    ${phase === 'stopped' ? html`<form method="post" action="/hub/spawn/${path}" class="inline"><input type="hidden" name="_xsrf" value="${xsrf}"><button class="primary">Start</button></form>` : ''}
    ${phase === 'running' || phase === 'starting' ? html`<form method="post" action="/hub/stop/${path}" class="inline"><input type="hidden" name="_xsrf" value="${xsrf}"><button>Stop</button></form>` : ''}
    ${name && phase === 'stopped' ? html`<form method="post" action="/hub/stop/${path}?remove=1" class="inline"><input type="hidden" name="_xsrf" value="${xsrf}"><button class="danger">Delete</button></form>` : ''}
  </div>
</article>`;
  };

  app.get('/hub/home', async (req, reply) => {
    const access = pageAccess(req, reply);
    if (!access) return reply;
    if (access.identity.kind !== 'user') throw new ApiError(403, 'Services have no home page');
    const user = await findUser(ctx.db, access.identity.name);
    if (!user) throw new ApiError(403, 'Your account no longer exists');
    const rows = (await serversOfUsers(ctx.db, [user.id])).get(user.id) ?? [];
    const named = rows.filter((r) => r.name !== '');
    const limit = ctx.config.named_servers.limit_per_user;
    const xsrf = access.identity.session?.csrfToken ?? '';
    const body = html`<section class="home">
  <h1>Your servers</h1>
  <div class="servers">
    ${serverCard(access, user, rows.find((r) => r.name === ''), '')}
    ${named.map((row) => serverCard(access, user, row, row.name))}
  </div>
  ${ctx.config.named_servers.enabled ? html`<form method="post" action="/hub/spawn-named" class="new-server card">
    <input type="hidden" name="_xsrf" value="${xsrf}">
    <label for="server-name">New named server</label>
    <div class="row"><input id="server-name" name="name" pattern="[A-Za-z0-9][A-Za-z0-9._\\-]{0,62}" placeholder="e.g. experiment-2" required>
    <button class="primary">Create and start</button></div>
    ${limit ? html`<p class="muted">You can have up to ${limit} named servers (${named.length} now).</p>` : ''}
  </form>` : ''}
</section>`;
    return page(reply, access, 'Home', body, ['/hub/static/home.js']);
  });

  /** The user named in a spawn URL, when the signed-in person may act on that user's servers. */
  const targetUser = async (access: Access, name: string, scope: 'servers' | 'read:servers', server: string): Promise<UserRow> => {
    if (!access.can(`${scope}!server=${name}/${server}`)) throw new ApiError(403, `You may not manage ${name}'s servers`);
    const user = await findUser(ctx.db, name);
    if (!user) throw new ApiError(404, `No such user: ${name}`);
    return user;
  };

  const spawnPath = (user: string, server: string) => `${encodeURIComponent(user)}${server ? `/${encodeURIComponent(server)}` : ''}`;

  const spawnForm = async (req: FastifyRequest<{ Params: SpawnParams }>, reply: FastifyReply) => {
    const access = pageAccess(req, reply);
    if (!access) return reply;
    const server = req.params.server ?? '';
    const user = await targetUser(access, req.params.user, 'servers', server);
    const next = safeNext((req.query as Record<string, string | undefined>).next, serverPrefix(user.name, server));
    const row = await findServer(ctx.db, user.id, server);
    const phase = phaseOf(row, user.name);
    if (phase === 'running') return reply.redirect(next, 302);
    if (phase === 'starting') return reply.redirect(`/hub/spawn-pending/${spawnPath(user.name, server)}?next=${encodeURIComponent(next)}`, 302);
    const who = user.name === access.identity.name ? 'Your server' : `${user.name}'s server`;
    const body = html`<section class="card narrow spawn">
  <h1>${who}${server ? html` <code>${server}</code>` : ''} is not running</h1>
  ${row?.last_error ? html`<p class="error">The last run ended: ${row.last_error}</p>` : ''}
  <form method="post" action="/hub/spawn/${spawnPath(user.name, server)}?next=${encodeURIComponent(next)}">
    <input type="hidden" name="_xsrf" value="${access.identity.session?.csrfToken ?? ''}">
    <button class="primary" id="start">Start server</button>
  </form>
</section>`;
    return page(reply, access, 'Start server', body);
  };

  const spawnSubmit = async (req: FastifyRequest<{ Params: SpawnParams }>, reply: FastifyReply) => {
    const access = pageAccess(req, reply);
    if (!access) return reply;
    checkFormCsrf(req, access);
    const server = req.params.server ?? '';
    const user = await targetUser(access, req.params.user, 'servers', server);
    const next = safeNext((req.query as Record<string, string | undefined>).next, serverPrefix(user.name, server));
    try {
      await ctx.servers.start(user, server, {}, 0);
    } catch (error) {
      if (error instanceof ServerRequestError && error.kind !== 'conflict') throw new ApiError(400, error.message);
      if (!(error instanceof ServerRequestError)) throw error;
    }
    return reply.redirect(`/hub/spawn-pending/${spawnPath(user.name, server)}?next=${encodeURIComponent(next)}`, 303);
  };

  app.get<{ Params: SpawnParams }>('/hub/spawn/:user', spawnForm);
  app.get<{ Params: SpawnParams }>('/hub/spawn/:user/:server', spawnForm);
  app.post<{ Params: SpawnParams }>('/hub/spawn/:user', spawnSubmit);
  app.post<{ Params: SpawnParams }>('/hub/spawn/:user/:server', spawnSubmit);
  // "Create and start" on the home page: the server name comes from the form
  app.post('/hub/spawn-named', async (req, reply) => {
    const access = pageAccess(req, reply);
    if (!access) return reply;
    const name = String(((req.body ?? {}) as Record<string, unknown>).name ?? '').trim();
    (req.params as SpawnParams) = { user: access.identity.name, server: name };
    if (!name) throw new ApiError(400, 'Give the new server a name');
    return spawnSubmit(req as FastifyRequest<{ Params: SpawnParams }>, reply);
  });

  const pendingPage = async (req: FastifyRequest<{ Params: SpawnParams }>, reply: FastifyReply) => {
    const access = pageAccess(req, reply);
    if (!access) return reply;
    const server = req.params.server ?? '';
    const user = await targetUser(access, req.params.user, 'read:servers', server);
    const next = safeNext((req.query as Record<string, string | undefined>).next, serverPrefix(user.name, server));
    const row = await findServer(ctx.db, user.id, server);
    if (phaseOf(row, user.name) === 'running') return reply.redirect(next, 302);
    const body = html`<section class="card narrow pending" id="spawn-progress" data-progress-url="${progressUrl(user.name, server)}" data-next="${next}">
  <h1>Starting ${user.name === access.identity.name ? 'your server' : `${user.name}'s server`}${server ? html` <code>${server}</code>` : ''}</h1>
  <progress id="progress-bar" max="100" value="0" aria-label="Start progress">0%</progress>
  <p id="progress-message" role="status" aria-live="polite">Waiting for the server…</p>
  <details><summary>Event log</summary><ol id="progress-log"></ol></details>
  <p class="actions" id="progress-actions" hidden><a class="button primary" href="/hub/spawn/${spawnPath(user.name, server)}?next=${encodeURIComponent(next)}">Try again</a> <a class="button" href="/hub/home">Home</a></p>
</section>`;
    return page(reply, access, 'Starting server', body, ['/hub/static/spawn-pending.js']);
  };
  app.get<{ Params: SpawnParams }>('/hub/spawn-pending/:user', pendingPage);
  app.get<{ Params: SpawnParams }>('/hub/spawn-pending/:user/:server', pendingPage);

  const stopSubmit = async (req: FastifyRequest<{ Params: SpawnParams }>, reply: FastifyReply) => {
    const access = pageAccess(req, reply);
    if (!access) return reply;
    checkFormCsrf(req, access);
    const server = req.params.server ?? '';
    if (!access.can(`delete:servers!server=${req.params.user}/${server}`)) throw new ApiError(403, `You may not stop ${req.params.user}'s servers`);
    const user = await findUser(ctx.db, req.params.user);
    if (!user) throw new ApiError(404, `No such user: ${req.params.user}`);
    const remove = (req.query as Record<string, string | undefined>).remove === '1';
    try {
      await ctx.servers.stop(user, server, { remove, waitMs: 5000 });
    } catch (error) {
      if (error instanceof ServerRequestError) throw new ApiError(400, error.message);
      throw error;
    }
    const back = (req.headers.referer ?? '').includes('/hub/admin') ? '/hub/admin' : '/hub/home';
    return reply.redirect(back, 303);
  };
  app.post<{ Params: SpawnParams }>('/hub/stop/:user', stopSubmit);
  app.post<{ Params: SpawnParams }>('/hub/stop/:user/:server', stopSubmit);
}
