import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HubContext } from '../context.js';
import type { Access } from '../policy/access.js';
import type { ServerRow } from '../db/servers.js';
import { findUser, groupsOfUsers, type UserRow } from '../db/users.js';
import { findServer, serversOfUsers } from '../db/servers.js';
import { serverNameProblem } from '../auth/names.js';
import { serverUrl } from '../servers/env.js';
import { ownOrigins, publicOrigin } from '../http/origins.js';
import { ServerRequestError } from '../servers/errors.js';
import { presentPlan, resolvePlan, SelectionError, type PlanSubject, type SelectionInput } from '../profiles/resolve.js';
import { effectiveQuota } from '../clusters/quota.js';
import { rememberedFor } from '../profiles/selections.js';
import { progressUrl } from '../presenters/server.js';
import { HttpError } from '../http/errors.js';
import { html, type SafeHtml } from './html.js';
import { clusterPanel } from './cluster-panel.js';
import { formFields, pageAccess, pageAccessAllowingToken, queryFields, requirePageScope, sendPage, xsrfOf, signedInPerson } from './page-auth.js';
import { statusPill, timeTag, type Phase } from './format.js';
import { renderSpawnForm, resourcesLine } from './spawn-form.js';
import { formCatalog, isSpawnForm, parseSpawnForm, valuesFromPlan, type FieldErrors, type FormValues } from './spawn-form-fields.js';
import { refererIs, safeNext } from './next.js';
import { mayStartServer, mayStopServer } from '../policy/rules.js';
import { authorize, may, serverTarget } from '../policy/authorize.js';
import { sharedWithMe } from './shared-with-me.js';

type SpawnParams = { user: string; server?: string };

/** `alice` or `alice/lab2`, URL-encoded, as used after /hub/spawn/, /hub/stop/ and /hub/spawn-pending/. */
export function spawnPath(user: string, server: string): string {
  return `${encodeURIComponent(user)}${server ? `/${encodeURIComponent(server)}` : ''}`;
}

/** The phase a person sees: the database row, corrected by the operation in flight. */
export function phaseOf(ctx: HubContext, row: ServerRow | undefined, user: string): Phase {
  const pending = row ? ctx.servers.pending(user, row.name) : null;
  if (pending === 'spawn' || row?.phase === 'pending') return 'starting';
  if (pending === 'stop' || row?.phase === 'stopping') return 'stopping';
  return row?.phase === 'running' ? 'running' : 'stopped';
}

/** `hidden` unless the element applies to the phase; page scripts flip it as the phase changes. */
export function showFor(phase: Phase, phases: readonly Phase[]): SafeHtml {
  return html` data-show="${phases.join(' ')}"${phases.includes(phase) ? '' : html` hidden`}`;
}

export function serverPages(app: FastifyInstance, ctx: HubContext): void {
  /** Who the plan is for: the user with their groups, and which server. */
  const subjectOf = async (user: UserRow, server: string): Promise<PlanSubject> => {
    const groups = (await groupsOfUsers(ctx.db, [user.id])).get(user.id) ?? [];
    return { user: user.name, groups, server, quota: effectiveQuota(ctx.config.quotas, user.name, groups) };
  };

  /** What a one-click Start would start: the last settings, else the defaults (null when nothing is offered). */
  const startPreview = async (user: UserRow, row: ServerRow | undefined): Promise<StartPreview | null> => {
    try {
      const catalog = ctx.catalog.current();
      const plan = resolvePlan(catalog, await subjectOf(user, row?.name ?? ''), {}, rememberedFor(user.preferences, row?.user_options));
      const size = plan.selections.size ? catalog.sizes.find((s) => s.name === plan.selections.size) : undefined;
      return { image: plan.image.display_name, size: plan.size?.display_name ?? null, resources: size ? resourcesLine(size) : '', warnings: plan.warnings };
    } catch (error) {
      if (error instanceof SelectionError) return null;
      throw error;
    }
  };

  const serverCard = (access: Access, user: UserRow, row: ServerRow | undefined, name: string, origin: string, index: number, preview: StartPreview | null, clusters: SafeHtml = html``): SafeHtml => {
    const phase = phaseOf(ctx, row, user.name);
    const prefix = serverUrl(ctx.urls, user.name, name);
    const shownUrl = ctx.urls.userHosts ? prefix : `${origin}${prefix}`;
    const label = name ? name : 'Default server';
    const xsrf = xsrfOf(access);
    const path = spawnPath(user.name, name);
    const id = `server-${index}`;
    const lastError = row?.last_error ?? '';
    return html`<article class="card server-card live-server" id="${id}" data-user="${user.name}" data-server="${name}" data-phase="${phase}" data-progress-url="${progressUrl(user.name, name)}" aria-labelledby="${id}-title">
  <div class="card-header">
    <h3 id="${id}-title">${label}</h3>
    ${statusPill(phase)}
  </div>
  <p class="server-url"><span class="muted">URL</span> <a href="${prefix}" class="mono">${shownUrl}</a></p>
  <div class="server-progress" data-role="progress"${phase === 'starting' ? '' : html` hidden`}>
    <progress max="100" value="0" aria-labelledby="${id}-progress-message"></progress>
    <p id="${id}-progress-message" data-role="progress-message" aria-live="polite">Starting…</p>
  </div>
  <p class="error" data-role="error"${lastError && phase === 'stopped' ? '' : html` hidden`}><span class="sr-only">Problem: </span><span data-role="error-text">The last start failed: ${lastError}</span></p>
  ${preview
    ? html`<div class="start-with"${showFor(phase, ['stopped'])}>
    <p><span class="muted">Starts with</span> <strong data-role="start-image">${preview.image}</strong>${preview.size ? html` <span aria-hidden="true">·</span> <span data-role="start-size">${preview.size}</span>` : ''}${preview.resources ? html` <span class="muted">(${preview.resources})</span>` : ''}</p>
    ${preview.warnings.map((w) => html`<p class="start-warning">${w}</p>`)}
  </div>`
    : ''}
  <dl class="meta">
    <div><dt>Last activity</dt><dd data-role="last-activity">${timeTag(row?.last_activity)}</dd></div>
    <div${showFor(phase, ['running'])}><dt>Started</dt><dd data-role="started">${timeTag(row?.started)}</dd></div>
  </dl>
  ${phase === 'running' ? clusters : ''}
  <div class="actions">
    <a class="button primary" href="${prefix}"${showFor(phase, ['running'])}>Open<span class="sr-only"> ${label}</span></a>
    <a class="button" href="/hub/spawn-pending/${path}"${showFor(phase, ['starting'])}>Show progress</a>
    <form method="post" action="/hub/spawn/${path}" class="inline"${showFor(phase, ['stopped'])}><input type="hidden" name="_xsrf" value="${xsrf}"><button class="primary">Start<span class="sr-only"> ${label}</span></button></form>
    <a class="button" href="/hub/spawn/${path}"${showFor(phase, ['stopped'])}>Choose image…<span class="sr-only"> for ${label}</span></a>
    <form method="post" action="/hub/stop/${path}" class="inline"${showFor(phase, ['running', 'starting'])}><input type="hidden" name="_xsrf" value="${xsrf}"><button>Stop<span class="sr-only"> ${label}</span></button></form>
    ${may(access, 'shares', serverTarget(user.name, name)) ? html`<a class="button" href="/hub/share/${path}" data-role="share">Share…<span class="sr-only"> ${label}</span></a>` : ''}
    ${name ? html`<form method="post" action="/hub/stop/${path}?remove=1" class="inline" data-confirm="Delete the server “${name}”? Its record goes away; start a new one with the same name any time."${showFor(phase, ['stopped'])}><input type="hidden" name="_xsrf" value="${xsrf}"><button class="danger">Delete<span class="sr-only"> ${label}</span></button></form>` : ''}
  </div>
</article>`;
  };

  const renderHome = async (req: FastifyRequest, reply: FastifyReply, access: Access, form: { name?: string; error?: string } = {}, status = 200) => {
    const user = await signedInPerson(ctx.db, access, 'Services have no home page');
    // what GET /hub/api/users/{name} with its servers asks
    requirePageScope(access, 'read:servers', { user: user.name }, 'see these servers');
    const rows = (await serversOfUsers(ctx.db, [user.id])).get(user.id) ?? [];
    const named = rows.filter((r) => r.name !== '');
    const limit = ctx.config.named_servers.limit_per_user;
    const origin = publicOrigin(ctx, req);
    const xsrf = xsrfOf(access);
    const atLimit = limit > 0 && named.length >= limit;
    const defaultRow = rows.find((r) => r.name === '');
    const previews = new Map<string, StartPreview | null>();
    for (const row of [defaultRow, ...named]) previews.set(row?.name ?? '', await startPreview(user, row));
    const clusterRows = await ctx.clusters.listOfUser(user.id);
    const panels = new Map<string, SafeHtml>();
    for (const row of [defaultRow, ...named]) {
      const name = row?.name ?? '';
      panels.set(name, await clusterPanel(ctx, access, user.name, clusterRows.filter((c) => c.server_name === name && c.phase !== 'stopped')));
    }
    const body = html`<div class="page-header">
  <div><h1>Your servers</h1><p class="muted">Start a Jupyter server, open it in JupyterLab, stop it when you are done.</p></div>
</div>
<div class="servers" id="servers" data-api-url="/hub/api/users/${encodeURIComponent(user.name)}?include_stopped_servers=1">
  ${serverCard(access, user, defaultRow, '', origin, 0, previews.get('') ?? null, panels.get(''))}
</div>
${ctx.config.named_servers.enabled
    ? html`<section class="section" aria-labelledby="named-heading">
  <div class="section-header">
    <h2 id="named-heading">Named servers</h2>
    ${limit ? html`<span class="muted small">${named.length} of ${limit} used</span>` : ''}
  </div>
  ${named.length
    ? html`<div class="servers" id="named-servers">${named.map((row, i) => serverCard(access, user, row, row.name, origin, i + 1, previews.get(row.name) ?? null, panels.get(row.name)))}</div>`
    : html`<div class="empty-state" id="named-empty"><h3>No named servers yet</h3><p>Named servers run side by side with your default server, each with its own URL: one per project or experiment.</p></div>`}
  <form method="post" action="/hub/spawn-named" class="card new-server" novalidate>
    <input type="hidden" name="_xsrf" value="${xsrf}">
    <div class="form-row">
      <div class="field grow">
        <label for="server-name">New named server</label>
        <input id="server-name" name="name" value="${form.name ?? ''}" placeholder="e.g. experiment-2" autocomplete="off" autocapitalize="none" spellcheck="false" required maxlength="63"
          aria-describedby="server-name-hint${form.error ? ' server-name-error' : ''}"${form.error ? html` aria-invalid="true"` : ''}>
        ${form.error ? html`<p class="field-error" id="server-name-error">${form.error}</p>` : ''}
        <p class="hint" id="server-name-hint">Letters, digits, “.”, “_” and “-”; starts with a letter or digit.${atLimit ? ' You have reached the limit: delete one first.' : ''}</p>
      </div>
      <div class="form-row-buttons">
        <button class="primary" id="create-named"${atLimit ? html` disabled` : ''}>Create and start</button>
        <button name="choose" value="1" id="create-named-choose"${atLimit ? html` disabled` : ''}>Choose image…</button>
      </div>
    </div>
  </form>
</section>`
    : ''}`;
    const shared = await sharedWithMe(ctx, access, user);
    return sendPage(reply, access, { title: 'Home', body: html`${body}${shared}`, scripts: ['/hub/static/servers.js', '/hub/static/forms.js'], section: 'home', status });
  };

  app.get('/hub/home', async (req, reply) => {
    const access = pageAccess(req, reply);
    if (!access) return reply;
    return renderHome(req, reply, access);
  });

  /** The user named in a spawn URL, when the signed-in person may act on that user's servers. */
  const targetUser = async (access: Access, name: string, scope: 'servers' | 'read:servers', server: string): Promise<UserRow> => {
    authorize(access, scope, serverTarget(name, server), { hideOthers: false, denied: `You may not manage ${name}'s servers` });
    const user = await findUser(ctx.db, name);
    if (!user) throw new HttpError(404, `No such user: ${name}`);
    return user;
  };

  const whose = (access: Access, user: UserRow, server: string, capital = false): SafeHtml => {
    const own = user.name === access.identity.name;
    const base = own ? (capital ? 'Your server' : 'your server') : `${user.name}’s server`;
    return html`${base}${server ? html` <code>${server}</code>` : ''}`;
  };

  /** What the spawn and progress pages are about: whose server, where to go next, and its state now. */
  const spawnTarget = async (req: FastifyRequest<{ Params: SpawnParams }>, reply: FastifyReply, scope: 'servers' | 'read:servers') => {
    const access = pageAccess(req, reply);
    if (!access) return undefined;
    const server = req.params.server ?? '';
    const user = await targetUser(access, req.params.user, scope, server);
    const next = safeNext(queryFields(req).next, serverUrl(ctx.urls, user.name, server), ownOrigins(ctx));
    const row = await findServer(ctx.db, user.id, server);
    return { access, user, server, next, row, phase: phaseOf(ctx, row, user.name) };
  };

  /**
   * The spawn form: pre-selected with the last settings (else the defaults), or, after a post that
   * could not be honoured, with what was posted and each problem next to its field.
   */
  const renderForm = async (reply: FastifyReply, target: { access: Access; user: UserRow; server: string; next: string; row: ServerRow | undefined; phase: Phase }, posted?: { values: FormValues; errors: FieldErrors }) => {
    const { access, user, server, next, row, phase } = target;
    const catalog = ctx.catalog.current();
    const subject = await subjectOf(user, server);
    let values: FormValues;
    let warnings: string[] = [];
    let plan: Record<string, unknown> | null = null;
    const form = formCatalog(catalog, subject);
    if (posted) {
      values = posted.values;
    } else {
      try {
        const resolved = resolvePlan(catalog, subject, {}, rememberedFor(user.preferences, row?.user_options));
        values = valuesFromPlan(form, resolved.selections, resolved.cluster);
        warnings = resolved.warnings;
        plan = presentPlan(resolved);
      } catch (error) {
        if (!(error instanceof SelectionError)) throw error;
        const body = html`<section class="card narrow"><h1>Nothing to start yet</h1><p>${capitalize(error.message)}</p><p><a class="button" href="/hub/home">Go home</a></p></section>`;
        return sendPage(reply, access, { title: 'Start server', body, section: 'home', status: 409 });
      }
    }
    const notes: SafeHtml[] = [];
    if (phase === 'stopping') notes.push(html`<div class="notice" role="status"><p>${whose(access, user, server, true)} is still stopping. Give it a moment before starting it again.</p></div>`);
    if (row?.last_error && !posted) notes.push(html`<div class="notice danger"><p class="error">The last start failed: ${row.last_error}</p></div>`);
    const path = spawnPath(user.name, server);
    const body = renderSpawnForm({
      action: `/hub/spawn/${path}?next=${encodeURIComponent(next)}`,
      cancelHref: '/hub/home',
      heading: html`Start ${whose(access, user, server)}`,
      user: user.name,
      server,
      xsrf: xsrfOf(access),
      form,
      values,
      errors: posted?.errors ?? {},
      warnings,
      plan,
      notes,
    });
    return sendPage(reply, access, { title: 'Start server', body, section: 'home', scripts: ['/hub/static/spawn-form.js'], status: posted ? 400 : 200 });
  };

  const spawnForm = async (req: FastifyRequest<{ Params: SpawnParams }>, reply: FastifyReply) => {
    const target = await spawnTarget(req, reply, 'servers');
    if (!target) return reply;
    const { user, server, next, phase } = target;
    const problem = serverNameProblem(server);
    if (problem) throw new HttpError(400, capitalize(problem));
    if (phase === 'running') return reply.redirect(next, 302);
    if (phase === 'starting') return reply.redirect(`/hub/spawn-pending/${spawnPath(user.name, server)}?next=${encodeURIComponent(next)}`, 302);
    return renderForm(reply, target);
  };

  const spawnSubmit = async (req: FastifyRequest<{ Params: SpawnParams }>, reply: FastifyReply) => {
    const access = pageAccess(req, reply);
    if (!access) return reply;
    const server = req.params.server ?? '';
    const user = await targetUser(access, req.params.user, 'servers', server);
    const next = safeNext(queryFields(req).next, serverUrl(ctx.urls, user.name, server), ownOrigins(ctx));
    const fields = formFields(req);
    // the form says what to start; a bare Start button (home, admin, Try again) takes the last settings
    let selections: SelectionInput = {};
    let posted: { values: FormValues; errors: FieldErrors } | undefined;
    const again = async (errors: FieldErrors) => {
      const row = await findServer(ctx.db, user.id, server);
      return renderForm(reply, { access, user, server, next, row, phase: phaseOf(ctx, row, user.name) }, { values: posted!.values, errors });
    };
    if (isSpawnForm(fields)) {
      const parsed = parseSpawnForm(fields, ctx.catalog.current(), await subjectOf(user, server));
      posted = { values: parsed.values, errors: parsed.errors };
      if (Object.keys(parsed.errors).length) return again(parsed.errors);
      selections = parsed.selections;
    }
    try {
      await ctx.servers.launch(user, server, selections, 0);
    } catch (error) {
      if (error instanceof SelectionError) {
        if (posted) return again({ [error.field]: capitalize(error.message) });
        throw new HttpError(400, error.message);
      }
      if (error instanceof ServerRequestError && error.kind !== 'conflict') throw new HttpError(400, error.message);
      if (!(error instanceof ServerRequestError)) throw error;
    }
    return reply.redirect(`/hub/spawn-pending/${spawnPath(user.name, server)}?next=${encodeURIComponent(next)}`, 303);
  };

  // Links that work for anyone: `/hub/user-redirect/lab/tree/x.ipynb` opens the path in the visitor's
  // own default server (JupyterLab's "Copy shareable link" makes these).
  // It reveals nothing but the visitor's own name, so a program's token may follow it too.
  app.get<{ Params: { '*': string } }>('/hub/user-redirect/*', async (req, reply) => {
    const access = pageAccessAllowingToken(req, reply, 'read:users:name');
    if (!access) return reply;
    const rest = req.params['*'].replace(/^\/+/, '');
    const query = req.url.includes('?') ? req.url.slice(req.url.indexOf('?')) : '';
    return reply.redirect(`${serverUrl(ctx.urls, access.identity.name, '')}${rest}${query}`, 302);
  });

  // JupyterHub's /hub/spawn: the signed-in person's own default server (its query, e.g. next, kept)
  app.get('/hub/spawn', async (req, reply) => {
    const access = pageAccess(req, reply);
    if (!access) return reply;
    const user = await signedInPerson(ctx.db, access, 'Only people have servers to start');
    const query = new URL(req.url, 'http://hub.invalid').search;
    return reply.redirect(`/hub/spawn/${encodeURIComponent(user.name)}${query}`, 302);
  });
  app.get<{ Params: SpawnParams }>('/hub/spawn/:user', spawnForm);
  app.get<{ Params: SpawnParams }>('/hub/spawn/:user/:server', spawnForm);
  app.post<{ Params: SpawnParams }>('/hub/spawn/:user', spawnSubmit);
  app.post<{ Params: SpawnParams }>('/hub/spawn/:user/:server', spawnSubmit);
  // "Create and start" on the home page: the server name comes from the form; problems show at the field
  app.post('/hub/spawn-named', async (req, reply) => {
    const access = pageAccess(req, reply);
    if (!access) return reply;
    if (access.identity.kind !== 'user') throw new HttpError(403, 'Services have no named servers');
    const name = (formFields(req).name ?? '').trim();
    const problem = !name ? 'Give the new server a name.' : serverNameProblem(name);
    if (problem) return renderHome(req, reply, access, { name, error: capitalize(problem) }, 400);
    const user = await targetUser(access, access.identity.name, 'servers', name);
    if (formFields(req).choose === '1') {
      // "Choose image…": the spawn form for the new name; the server is created when it starts
      if (!ctx.config.named_servers.enabled) return renderHome(req, reply, access, { name, error: 'Named servers are not enabled.' }, 400);
      // the same rule the start applies (atomically) when the form is sent; here only to say so early
      if (!(await findServer(ctx.db, user.id, name)) && (await ctx.servers.namedServerLimitProblem(user))) {
        return renderHome(req, reply, access, { name, error: `You already have the maximum of ${ctx.config.named_servers.limit_per_user} named servers. Delete one before creating another.` }, 400);
      }
      return reply.redirect(`/hub/spawn/${spawnPath(user.name, name)}`, 303);
    }
    try {
      await ctx.servers.launch(user, name, {}, 0);
    } catch (error) {
      if (error instanceof SelectionError) return renderHome(req, reply, access, { name, error: capitalize(error.message) }, 400);
      if (!(error instanceof ServerRequestError)) throw error;
      if (error.kind !== 'conflict') return renderHome(req, reply, access, { name, error: capitalize(error.message) }, 400);
    }
    const next = serverUrl(ctx.urls, user.name, name);
    return reply.redirect(`/hub/spawn-pending/${spawnPath(user.name, name)}?next=${encodeURIComponent(next)}`, 303);
  });

  const pendingPage = async (req: FastifyRequest<{ Params: SpawnParams }>, reply: FastifyReply) => {
    const target = await spawnTarget(req, reply, 'read:servers');
    if (!target) return reply;
    const { access, user, server, next, row, phase } = target;
    if (phase === 'running') return reply.redirect(next, 302);
    const path = spawnPath(user.name, server);
    // not starting and nothing to report: there is no progress to follow, offer to start it
    const failure = phase === 'stopped' ? row?.last_error ?? null : null;
    if (phase !== 'starting' && failure === null) return reply.redirect(`/hub/spawn/${path}?next=${encodeURIComponent(next)}`, 302);
    const mayStart = mayStartServer(access, user.name, server);
    const body = html`<section class="card medium pending${failure !== null ? ' failed' : ''}" id="spawn-progress" data-progress-url="${progressUrl(user.name, server)}" data-next="${next}" data-state="${failure !== null ? 'failed' : 'starting'}">
  <h1>${failure !== null ? html`${whose(access, user, server, true)} did not start` : html`Starting ${whose(access, user, server)}`}</h1>
  <div class="progress-row">
    <progress id="progress-bar" max="100" value="${failure !== null ? 100 : 0}" aria-labelledby="progress-label"></progress>
    <span class="percent" id="progress-percent" aria-hidden="true">${failure !== null ? '' : '0%'}</span>
  </div>
  <span class="sr-only" id="progress-label">Start progress</span>
  <p id="progress-message" role="status" aria-live="polite">${failure !== null ? 'The server failed to start.' : 'Waiting for the server…'}</p>
  <div class="notice danger failure" id="progress-failure" tabindex="-1"${failure !== null ? '' : html` hidden`}>
    <h2>What went wrong</h2>
    <p id="failure-reason">${failure ?? ''}</p>
    <details id="failure-detail-box" hidden><summary>Last lines of the server's log</summary><pre id="failure-detail"></pre></details>
    <div class="actions">
      ${mayStart ? html`<form method="post" action="/hub/spawn/${path}?next=${encodeURIComponent(next)}" class="inline"><input type="hidden" name="_xsrf" value="${xsrfOf(access)}"><button class="primary" id="try-again">Try again</button></form>
      <a class="button" href="/hub/spawn/${path}?next=${encodeURIComponent(next)}" data-role="choose-again">Choose another image</a>` : ''}
      <a class="button" href="/hub/home">Back to home</a>
    </div>
  </div>
  <details id="progress-details">
    <summary>Event log</summary>
    <ol class="event-log" id="progress-log"></ol>
  </details>
  <noscript><p class="muted">Progress updates need JavaScript. Reload this page to check again; it opens the server once it is ready.</p></noscript>
</section>`;
    return sendPage(reply, access, { title: failure !== null ? 'Server did not start' : 'Starting server', body, scripts: ['/hub/static/spawn-pending.js'], section: 'home' });
  };
  app.get<{ Params: SpawnParams }>('/hub/spawn-pending/:user', pendingPage);
  app.get<{ Params: SpawnParams }>('/hub/spawn-pending/:user/:server', pendingPage);

  const stopSubmit = async (req: FastifyRequest<{ Params: SpawnParams }>, reply: FastifyReply) => {
    const access = pageAccess(req, reply);
    if (!access) return reply;
    const server = req.params.server ?? '';
    if (!mayStopServer(access, req.params.user, server)) throw new HttpError(403, `You may not stop ${req.params.user}'s servers`);
    const user = await findUser(ctx.db, req.params.user);
    if (!user) throw new HttpError(404, `No such user: ${req.params.user}`);
    const query = queryFields(req);
    const remove = query.remove === '1';
    try {
      await ctx.servers.stop(user, server, { remove, waitMs: 5000 });
    } catch (error) {
      if (error instanceof ServerRequestError) throw new HttpError(400, error.message);
      throw error;
    }
    const fallback = refererIs(req.headers.referer, req.headers.host, '/hub/admin') ? '/hub/admin' : '/hub/home';
    return reply.redirect(safeNext(query.next, fallback, ownOrigins(ctx)), 303);
  };
  app.post<{ Params: SpawnParams }>('/hub/stop/:user', stopSubmit);
  app.post<{ Params: SpawnParams }>('/hub/stop/:user/:server', stopSubmit);
}

interface StartPreview {
  image: string;
  size: string | null;
  resources: string;
  warnings: string[];
}

function capitalize(text: string): string {
  const sentence = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(sentence) ? sentence : `${sentence}.`;
}
