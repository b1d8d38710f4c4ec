import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HubContext } from '../context.js';
import type { ClusterRow } from '../db/clusters.js';
import type { Access } from '../policy/access.js';
import { findUser } from '../db/users.js';
import { presentCluster } from '../presenters/cluster.js';
import { HttpError } from '../http/errors.js';
import { ServerRequestError } from '../servers/errors.js';
import { html, type SafeHtml } from './html.js';
import { formatBytes, formatCpu } from '../util/units.js';
import { formFields, pageAccess } from './page-auth.js';
import { refererIs } from './next.js';
import { authorize, serverTarget } from '../policy/authorize.js';

const KIND_LABEL: Record<string, string> = { spark: 'Spark', dask: 'Dask' };
const PHASE_TEXT: Record<string, string> = { starting: 'starting', running: 'running', stopping: 'stopping', stopped: 'stopped', failed: 'failed' };

/** A server's clusters on its card: state, workers registered, where to connect, UI links, restart and resize. */
export async function clusterPanel(ctx: HubContext, access: Access, user: string, rows: readonly ClusterRow[]): Promise<SafeHtml> {
  if (rows.length === 0) return html``;
  const items: SafeHtml[] = [];
  for (const row of rows) {
    const model = presentCluster(row, user, await ctx.clusters.registeredWorkers(row), ctx.urls.userHosts);
    const workers = model.workers as { requested: number; registered: number };
    const worker = model.worker as { cores: number; memory: number };
    const action = `/hub/clusters/${encodeURIComponent(user)}/${encodeURIComponent(row.name)}${row.server_name ? `?server=${encodeURIComponent(row.server_name)}` : ''}`;
    const xsrf = access.identity.session?.csrfToken ?? '';
    const running = row.phase === 'running';
    items.push(html`<li class="cluster" data-cluster="${row.name}">
  <div class="cluster-head"><strong>${KIND_LABEL[row.kind] ?? row.kind}</strong> <span class="muted">${row.name}</span> <span class="pill pill-${row.phase}">${PHASE_TEXT[row.phase] ?? row.phase}</span></div>
  <p class="small">Workers <strong data-role="workers">${workers.registered}/${workers.requested}</strong> registered · ${formatCpu(worker.cores)} and ${formatBytes(worker.memory)} each</p>
  ${Object.entries(model.addresses as Record<string, string>).map(([k, v]) => html`<p class="small mono">${k}=${v}</p>`)}
  ${row.last_error ? html`<p class="error small">${row.last_error}</p>` : ''}
  <div class="actions">
    ${running ? Object.entries(model.ui as Record<string, string>).map(([label, href]) => html`<a class="button small" href="${href}" target="_blank" rel="noopener">${label === 'master' ? 'Spark UI' : label === 'dashboard' ? 'Dask dashboard' : label}</a>`) : ''}
    <form method="post" action="${action}/restart" class="inline"><input type="hidden" name="_xsrf" value="${xsrf}"><button class="small">Restart<span class="sr-only"> ${row.name} cluster</span></button></form>
    ${running ? html`<form method="post" action="${action}/scale" class="inline scale-form"><input type="hidden" name="_xsrf" value="${xsrf}"><label class="sr-only" for="workers-${row.id}">Workers</label><input id="workers-${row.id}" name="workers" type="number" min="0" max="64" value="${workers.requested}" class="narrow-input"><button class="small">Resize</button></form>` : ''}
  </div>
</li>`);
  }
  return html`<section class="clusters" aria-label="Clusters"><h4>Clusters</h4><ul class="cluster-list">${items}</ul></section>`;
}

/** Restart and resize from the home page (plain forms; the API does the same for scripts). */
export function clusterPages(app: FastifyInstance, ctx: HubContext): void {
  const act = async (req: FastifyRequest<{ Params: { user: string; cluster: string } }>, reply: FastifyReply, what: 'restart' | 'scale') => {
    const access = pageAccess(req, reply);
    if (!access) return reply;
    const server = ((req.query ?? {}) as Record<string, string | undefined>).server ?? '';
    authorize(access, 'servers', serverTarget(req.params.user, server), { hideOthers: false, denied: `You may not manage ${req.params.user}'s clusters` });
    const user = await findUser(ctx.db, req.params.user);
    if (!user) throw new HttpError(404, `No such user: ${req.params.user}`);
    const row = (await ctx.clusters.listOfUser(user.id)).find((r) => r.server_name === server && r.name === req.params.cluster);
    if (!row) throw new HttpError(404, `No cluster named ${req.params.cluster}`);
    try {
      if (what === 'restart') await ctx.clusters.restart(user, row);
      else {
        const workers = Number(formFields(req).workers);
        if (!Number.isInteger(workers) || workers < 0 || workers > 64) throw new HttpError(400, 'Give a whole number of workers from 0 to 64');
        await ctx.clusters.scale(user, row, workers);
      }
    } catch (error) {
      if (error instanceof ServerRequestError) throw new HttpError(400, error.message);
      throw error;
    }
    return reply.redirect(refererIs(req.headers.referer, req.headers.host, '/hub/admin') ? '/hub/admin' : '/hub/home', 303);
  };
  app.post<{ Params: { user: string; cluster: string } }>('/hub/clusters/:user/:cluster/restart', (req, reply) => act(req, reply, 'restart'));
  app.post<{ Params: { user: string; cluster: string } }>('/hub/clusters/:user/:cluster/scale', (req, reply) => act(req, reply, 'scale'));
}
