import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HubContext } from '../context.js';
import type { Access } from '../policy/access.js';
import type { ServerRow } from '../db/servers.js';
import { serversOfUsers } from '../db/servers.js';
import { findUser, listUsers, type UserRow } from '../db/users.js';
import { serverUrl } from '../servers/env.js';
import { changeUser, createOneUser, removeUser, setPassword, UserRequestError } from '../users/service.js';
import { HttpError } from '../http/errors.js';
import { copyableSecret } from './secret-field.js';
import { html, type SafeHtml } from './html.js';
import { formFields, pageAccess, queryFields, requirePageScope, sendPage, xsrfOf } from './page-auth.js';
import { statusPill, timeTag } from './format.js';
import { phaseOf, showFor, spawnPath } from './server-pages.js';
import { endSessionsOfUser } from '../auth/sessions.js';
import { generatePassword } from '../auth/passwords.js';
import type { CatalogStatus } from '../profiles/catalog.js';
import { basename } from 'node:path';
import type { Isolation } from '../host/people.js';
import { authorize, serverTarget, type Target } from '../policy/authorize.js';
import { mayUseAdminPage } from '../policy/rules.js';
import type { ScopeName } from '../policy/scopes.js';

const PAGE_SIZE = 20;

interface View {
  q: string;
  page: number;
}

interface AddForm {
  name?: string;
  admin?: boolean;
  error?: string;
}

interface RenderOptions {
  view: View;
  add?: AddForm;
  /** A password shown once: for a new user or after a reset. */
  secret?: { user: string; password: string; kind: 'created' | 'reset' };
  notice?: string;
  error?: string;
  status?: number;
}

const DONE: Readonly<Record<string, (user: string) => string>> = {
  'admin-granted': (user) => `${user} is now an admin.`,
  'admin-removed': (user) => `${user} is no longer an admin.`,
  deleted: (user) => `User ${user} was deleted.`,
};

/** /hub/admin with the current filter and page, plus anything else. */
function adminUrl(view: View, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams();
  if (view.q) params.set('q', view.q);
  if (view.page > 1) params.set('page', String(view.page));
  for (const [k, v] of Object.entries(extra)) params.set(k, v);
  const query = params.toString();
  return `/hub/admin${query ? `?${query}` : ''}`;
}

function viewOf(fields: Record<string, string | undefined>): View {
  const page = Number.parseInt(fields.page ?? '1', 10);
  return { q: (fields.q ?? '').trim().slice(0, 255), page: Number.isFinite(page) && page > 0 ? page : 1 };
}

/** Hidden fields that carry the filter and page through a form post. */
function viewFields(view: View): SafeHtml {
  return html`${view.q ? html`<input type="hidden" name="q" value="${view.q}">` : ''}${view.page > 1 ? html`<input type="hidden" name="page" value="${view.page}">` : ''}`;
}

export function adminPages(app: FastifyInstance, ctx: HubContext): void {
  /** Signed in with the admin-ui scope; otherwise a 403 page (or the sign-in redirect). */
  const adminAccess = (req: FastifyRequest, reply: FastifyReply): Access | undefined => {
    const access = pageAccess(req, reply);
    if (!access) return undefined;
    if (!mayUseAdminPage(access)) {
      void sendPage(reply, access, {
        title: 'Not allowed',
        status: 403,
        body: html`<section class="card narrow" id="forbidden"><h1>403 · Not allowed</h1><p>The admin page is only for Refinery administrators. Ask one if you need something changed.</p><p><a class="button" href="/hub/home">Go home</a></p></section>`,
      });
      return undefined;
    }
    return access;
  };

  const requireScope = (access: Access, scope: ScopeName, target: Target, what: string) => {
    authorize(access, scope, target, { denied: `You may not ${what}` });
  };

  const serverItem = (access: Access, user: UserRow, row: ServerRow | undefined, name: string, view: View): SafeHtml => {
    const phase = phaseOf(ctx, row, user.name);
    const path = spawnPath(user.name, name);
    const back = encodeURIComponent(adminUrl(view));
    const label = name || 'default';
    const xsrf = xsrfOf(access);
    const what = html`<span class="sr-only"> ${user.name}’s ${name ? `server ${name}` : 'default server'}</span>`;
    return html`<li class="live-server" data-user="${user.name}" data-server="${name}" data-phase="${phase}">
  <span class="server-label">${name ? html`<code>${label}</code>` : html`<span class="muted">${label}</span>`}</span>
  ${statusPill(phase)}
  <span class="muted small server-activity"><span class="sr-only">Last activity: </span><span data-role="last-activity" data-empty="">${timeTag(row?.last_activity, '')}</span></span>
  <span class="actions">
    <a class="button sm" href="${user.name === access.identity.name ? serverUrl(ctx.urls, user.name, name) : `/hub/admin/open/${path}`}"${showFor(phase, ['running'])}>Open${what}</a>
    <form method="post" action="/hub/spawn/${path}?next=${back}" class="inline"${showFor(phase, ['stopped'])}><input type="hidden" name="_xsrf" value="${xsrf}"><button class="sm">Start${what}</button></form>
    <form method="post" action="/hub/stop/${path}?next=${back}" class="inline"${showFor(phase, ['running', 'starting'])}><input type="hidden" name="_xsrf" value="${xsrf}"><button class="sm">Stop${what}</button></form>
  </span>
</li>`;
  };

  const userRow = (access: Access, user: UserRow, servers: ServerRow[], view: View): SafeHtml => {
    const self = user.name === access.identity.name;
    const xsrf = xsrfOf(access);
    const path = encodeURIComponent(user.name);
    const named = servers.filter((s) => s.name !== '');
    const who = html`<span class="sr-only"> ${user.name}</span>`;
    return html`<tr data-user-row="${user.name}">
  <th scope="row" data-label="User" class="user-cell"><span class="user-name">${user.name}</span> ${user.admin ? html`<span class="badge">admin</span>` : ''} ${self ? html`<span class="badge neutral">you</span>` : ''}</th>
  <td data-label="Servers"><ul class="server-list">
    ${serverItem(access, user, servers.find((s) => s.name === ''), '', view)}
    ${named.map((row) => serverItem(access, user, row, row.name, view))}
  </ul></td>
  <td data-label="Activity" class="activity-cell"><span class="muted">Last active</span> ${timeTag(user.last_activity)}<br><span class="muted">Created</span> ${timeTag(user.created)}</td>
  <td class="actions-cell"><div class="actions">
    ${self
      ? html`<span class="muted small">Your own account</span>`
      : html`<form method="post" action="/hub/admin/users/${path}/admin" class="inline">
      <input type="hidden" name="_xsrf" value="${xsrf}">${viewFields(view)}
      <input type="hidden" name="admin" value="${user.admin ? '0' : '1'}">
      <button class="sm">${user.admin ? 'Remove admin' : 'Make admin'}${who}</button>
    </form>
    <form method="post" action="/hub/admin/users/${path}/password" class="inline" data-confirm="Reset ${user.name}’s password? The old one stops working and they are signed out.">
      <input type="hidden" name="_xsrf" value="${xsrf}">${viewFields(view)}
      <button class="sm">Reset password${who}</button>
    </form>
    <a class="button danger sm" href="/hub/admin/users/${path}/delete${view.q || view.page > 1 ? adminUrl(view).slice('/hub/admin'.length) : ''}">Delete${who}</a>`}
  </div></td>
</tr>`;
  };

  const renderAdmin = async (reply: FastifyReply, access: Access, options: RenderOptions) => {
    const { view } = options;
    let { rows, total } = await listUsers(ctx.db, { offset: (view.page - 1) * PAGE_SIZE, limit: PAGE_SIZE, nameContains: view.q || undefined, sort: { field: 'name', descending: false } });
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    if (view.page > pages && total > 0) {
      view.page = pages;
      ({ rows, total } = await listUsers(ctx.db, { offset: (view.page - 1) * PAGE_SIZE, limit: PAGE_SIZE, nameContains: view.q || undefined, sort: { field: 'name', descending: false } }));
    }
    const servers = await serversOfUsers(ctx.db, rows.map((u) => u.id));
    const add = options.add ?? {};
    const xsrf = xsrfOf(access);
    const first = total ? (view.page - 1) * PAGE_SIZE + 1 : 0;
    const last = Math.min(total, view.page * PAGE_SIZE);
    const catalogStatus = ctx.catalog.status();
    const body = html`<div class="page-header">
  <div><h1>Admin</h1><p class="muted">People, their servers and their rights.</p></div>
</div>
${isolationNotice(ctx.people.isolation())}
${catalogError(catalogStatus)}
${options.error ? html`<div class="notice danger" role="alert"><p>${options.error}</p></div>` : ''}
${options.notice ? html`<div class="notice success" role="status"><p>${options.notice}</p></div>` : ''}
${options.secret
    ? html`<section class="notice success" id="password-notice" aria-labelledby="password-notice-title" tabindex="-1" data-secret-notice>
  <h2 id="password-notice-title">${options.secret.kind === 'created' ? html`User <strong>${options.secret.user}</strong> created` : html`New password for <strong>${options.secret.user}</strong>`}</h2>
  <p><strong>Copy the password now: it won’t be shown again.</strong> Give it to ${options.secret.user} privately; they can change it on their Password page.</p>
  ${copyableSecret('new-password', `Password for ${options.secret.user}`, options.secret.password)}
</section>`
    : ''}
<section class="card" aria-labelledby="add-user-title">
  <h2 id="add-user-title">Add a user</h2>
  <form method="post" action="/hub/admin/users" novalidate>
    <input type="hidden" name="_xsrf" value="${xsrf}">${viewFields(view)}
    <div class="form-row">
      <div class="field grow">
        <label for="new-user-name">Username</label>
        <input id="new-user-name" name="name" value="${add.name ?? ''}" required autocomplete="off" autocapitalize="none" spellcheck="false" maxlength="255"
          aria-describedby="new-user-name-hint${add.error ? ' new-user-name-error' : ''}"${add.error ? html` aria-invalid="true"` : ''}>
        ${add.error ? html`<p class="field-error" id="new-user-name-error">${add.error}</p>` : ''}
        <p class="hint" id="new-user-name-hint">Stored in lowercase. A password is generated and shown once.</p>
      </div>
      <label class="check"><input type="checkbox" name="admin" value="1" id="new-user-admin"${add.admin ? html` checked` : ''}> Administrator</label>
      <button class="primary" id="add-user">Add user</button>
    </div>
  </form>
</section>

<div class="toolbar">
  <form method="get" action="/hub/admin" role="search">
    <div class="field">
      <label for="user-filter">Filter by name</label>
      <input id="user-filter" name="q" type="search" value="${view.q}" placeholder="Part of a username" autocomplete="off" autocapitalize="none" spellcheck="false">
    </div>
    <button>Filter</button>
    ${view.q ? html`<a class="button link" href="/hub/admin">Clear</a>` : ''}
  </form>
  <span class="muted small" id="user-count" aria-live="polite">${total} user${total === 1 ? '' : 's'}${view.q ? html` matching “${view.q}”` : ''}</span>
</div>
${rows.length
    ? html`<div class="table-wrap"><table class="stack-table" id="users-table">
  <caption class="sr-only">Users</caption>
  <thead><tr><th scope="col">User</th><th scope="col">Servers</th><th scope="col">Activity</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
  <tbody>
  ${rows.map((user) => userRow(access, user, servers.get(user.id) ?? [], view))}
  </tbody>
</table></div>`
    : html`<div class="empty-state"><h3>${view.q ? 'No users match' : 'No users yet'}</h3><p>${view.q ? html`Nobody’s name contains “${view.q}”. <a href="/hub/admin">Show everyone</a>.` : 'Add one above.'}</p></div>`}
${pages > 1
    ? html`<nav class="pagination" aria-label="Pages of users">
  <span class="muted">Showing ${first}–${last} of ${total}</span>
  <span class="pages">
    ${view.page > 1 ? html`<a class="button sm" rel="prev" href="${adminUrl({ ...view, page: view.page - 1 })}">← Previous</a>` : ''}
    <span class="muted">Page ${view.page} of ${pages}</span>
    ${view.page < pages ? html`<a class="button sm" rel="next" href="${adminUrl({ ...view, page: view.page + 1 })}">Next →</a>` : ''}
  </span>
</nav>`
    : ''}
${catalogSection(catalogStatus)}`;
    return sendPage(reply, access, {
      title: 'Admin', body, section: 'admin', status: options.status ?? 200,
      scripts: ['/hub/static/servers.js', '/hub/static/forms.js'], noStore: !!options.secret,
    });
  };

  app.get('/hub/admin', async (req, reply) => {
    const access = adminAccess(req, reply);
    if (!access) return reply;
    // what GET /hub/api/users (with their servers) asks
    requirePageScope(access, 'list:users', undefined, 'list users');
    requirePageScope(access, 'read:servers', undefined, 'see everyone’s servers');
    const query = queryFields(req);
    const done = query.done ? DONE[query.done] : undefined;
    return renderAdmin(reply, access, { view: viewOf(query), ...(done && query.user ? { notice: done(query.user) } : {}) });
  });

  app.post('/hub/admin/users', async (req, reply) => {
    const access = adminAccess(req, reply);
    if (!access) return reply;
    requireScope(access, 'admin:users', undefined, 'add users');
    const fields = formFields(req);
    const view = viewOf(fields);
    const add: AddForm = { name: (fields.name ?? '').trim(), admin: fields.admin === '1' || fields.admin === 'on' };
    if (!add.name) return renderAdmin(reply, access, { view, add: { ...add, error: 'Enter a username.' }, status: 400 });
    const password = generatePassword(ctx.config.auth.min_password_length);
    try {
      const user = await createOneUser(ctx, add.name, { admin: add.admin ?? false, password });
      ctx.log.info({ user: user.name, admin: !!user.admin, by: access.identity.name }, 'user created on the admin page');
      return renderAdmin(reply, access, { view, secret: { user: user.name, password, kind: 'created' }, status: 201 });
    } catch (error) {
      if (!(error instanceof UserRequestError)) throw error;
      return renderAdmin(reply, access, { view, add: { ...add, error: sentence(error.message) }, status: error.kind === 'conflict' ? 409 : 400 });
    }
  });

  const targetOf = async (name: string): Promise<UserRow> => {
    const user = await findUser(ctx.db, name);
    if (!user) throw new HttpError(404, `No such user: ${name}`);
    return user;
  };

  app.post<{ Params: { name: string } }>('/hub/admin/users/:name/admin', async (req, reply) => {
    const access = adminAccess(req, reply);
    if (!access) return reply;
    const fields = formFields(req);
    const view = viewOf(fields);
    requireScope(access, 'admin:users', { user: req.params.name }, `change ${req.params.name}`);
    const user = await targetOf(req.params.name);
    const admin = fields.admin === '1';
    if (!admin && user.name === access.identity.name) {
      return renderAdmin(reply, access, { view, error: 'You cannot remove your own admin rights; ask another admin.', status: 400 });
    }
    await changeUser(ctx, user, { admin });
    ctx.log.info({ user: user.name, admin, by: access.identity.name }, 'admin rights changed');
    return reply.redirect(adminUrl(view, { done: admin ? 'admin-granted' : 'admin-removed', user: user.name }), 303);
  });

  app.post<{ Params: { name: string } }>('/hub/admin/users/:name/password', async (req, reply) => {
    const access = adminAccess(req, reply);
    if (!access) return reply;
    const view = viewOf(formFields(req));
    requireScope(access, 'admin:users', { user: req.params.name }, `reset ${req.params.name}'s password`);
    const user = await targetOf(req.params.name);
    if (user.name === access.identity.name) {
      return renderAdmin(reply, access, { view, error: 'Change your own password on the Password page.', status: 400 });
    }
    const password = generatePassword(ctx.config.auth.min_password_length);
    await setPassword(ctx, user, password);
    await endSessionsOfUser(ctx.db, user.id);
    ctx.identities.invalidate();
    ctx.log.info({ user: user.name, by: access.identity.name }, 'password reset on the admin page');
    return renderAdmin(reply, access, { view, secret: { user: user.name, password, kind: 'reset' } });
  });

  /**
   * "Open" on someone else's server. Their server runs their code: in the admin's browser that code
   * acts with the admin's sign-in (in path mode it even shares the hub's address). So this says so
   * first, and only with `admin_access: true` leads on at all.
   */
  const openOther = async (req: FastifyRequest<{ Params: { user: string; server?: string } }>, reply: FastifyReply) => {
    const access = adminAccess(req, reply);
    if (!access) return reply;
    const server = req.params.server ?? '';
    const user = await targetOf(req.params.user);
    const prefix = serverUrl(ctx.urls, user.name, server);
    const label = html`${user.name}’s ${server ? html`server <code>${server}</code>` : 'default server'}`;
    if (user.name === access.identity.name) return reply.redirect(prefix, 302);
    if (!ctx.config.admin_access) {
      return sendPage(reply, access, {
        title: 'Not allowed', status: 403, section: 'admin',
        body: html`<section class="card narrow" id="open-refused"><h1>Opening other people’s servers is turned off</h1>
  <p>${label} runs code that ${user.name} controls. Opened in your browser, that code would act with your sign-in, as an administrator.</p>
  <p>Administrators may open other people’s servers only when the configuration says <code>admin_access: true</code>. You can still start, stop and delete them here.</p>
  <p><a class="button" href="/hub/admin">Back to Admin</a></p></section>`,
      });
    }
    requirePageScope(access, 'access:servers', serverTarget(user.name, server), `open ${user.name}'s server`);
    return sendPage(reply, access, {
      title: `Open ${user.name}’s server`, section: 'admin',
      body: html`<section class="card narrow" id="open-confirm" aria-labelledby="open-title"><h1 id="open-title">Open ${label}?</h1>
  <div class="notice warning"><p><strong>The server runs code that ${user.name} controls, and it will run in your browser with your sign-in.</strong> A notebook or extension there could act as you, an administrator, for as long as the page is open.</p></div>
  <p>Open it only if you need to, and close it when you are done.</p>
  <div class="form-actions"><a class="button danger solid" id="open-anyway" href="${prefix}">Open ${label}</a> <a class="button" href="/hub/admin">Cancel</a></div>
</section>`,
    });
  };
  app.get<{ Params: { user: string } }>('/hub/admin/open/:user', openOther);
  app.get<{ Params: { user: string; server: string } }>('/hub/admin/open/:user/:server', openOther);

  app.get<{ Params: { name: string } }>('/hub/admin/users/:name/delete', async (req, reply) => {
    const access = adminAccess(req, reply);
    if (!access) return reply;
    const view = viewOf(queryFields(req));
    requireScope(access, 'delete:users', { user: req.params.name }, `delete ${req.params.name}`);
    const user = await targetOf(req.params.name);
    if (user.name === access.identity.name) throw new HttpError(400, 'You cannot delete your own account.');
    const servers = (await serversOfUsers(ctx.db, [user.id])).get(user.id) ?? [];
    const active = servers.filter((s) => phaseOf(ctx, s, user.name) !== 'stopped');
    const body = html`<section class="card narrow" aria-labelledby="delete-title">
  <h1 id="delete-title">Delete ${user.name}?</h1>
  <p>This removes the account with its tokens and sign-ins, deletes the object storage Refinery made for it (its buckets and everything in them) and moves its home directory where only administrators of this machine can reach it. It cannot be undone.</p>
  ${active.length ? html`<div class="notice warning"><p>${active.length === 1 ? 'Its running server is stopped first.' : `Its ${active.length} running servers are stopped first.`}</p></div>` : ''}
  <form method="post" action="/hub/admin/users/${encodeURIComponent(user.name)}/delete" class="form-actions">
    <input type="hidden" name="_xsrf" value="${xsrfOf(access)}">${viewFields(view)}
    <button class="danger solid" id="confirm-delete">Delete ${user.name}</button>
    <a class="button" href="${adminUrl(view)}">Cancel</a>
  </form>
</section>`;
    return sendPage(reply, access, { title: `Delete ${user.name}`, body, section: 'admin' });
  });

  app.post<{ Params: { name: string } }>('/hub/admin/users/:name/delete', async (req, reply) => {
    const access = adminAccess(req, reply);
    if (!access) return reply;
    const view = viewOf(formFields(req));
    requireScope(access, 'delete:users', { user: req.params.name }, `delete ${req.params.name}`);
    const user = await targetOf(req.params.name);
    if (user.name === access.identity.name) return renderAdmin(reply, access, { view, error: 'You cannot delete your own account.', status: 400 });
    try {
      await removeUser(ctx, user);
    } catch (error) {
      if (!(error instanceof UserRequestError)) throw error;
      return renderAdmin(reply, access, { view, error: sentence(error.message), status: 409 });
    }
    ctx.log.info({ user: user.name, by: access.identity.name }, 'user deleted on the admin page');
    return reply.redirect(adminUrl(view, { done: 'deleted', user: user.name }), 303);
  });
}

/** A standing warning when people's servers all run as the hub's own account. */
function isolationNotice(isolation: Isolation): SafeHtml | string {
  if (isolation.isolated) return '';
  return html`<section class="notice warning" id="isolation-warning" aria-labelledby="isolation-warning-title">
  <h2 id="isolation-warning-title">People are not isolated from each other on this machine</h2>
  <p>${isolation.message}</p>
  <p class="small">Run Refinery as root (each person then gets a system account of their own; see <code>spawner.local</code>), or use Kubernetes, where people must be kept apart.</p>
</section>`;
}

/** The file a rejected reload was about: named first in the error, else the profiles file, else the main file. */
function rejectedFile(status: CatalogStatus): string {
  const named = /^(.+?): invalid configuration/.exec(status.error ?? '')?.[1];
  const file = named ?? status.sources.at(-1);
  return file ? basename(file) : 'the configuration';
}

/** A rejected edit of the catalog, prominently: people keep getting the previous catalog until it is fixed. */
function catalogError(status: CatalogStatus): SafeHtml {
  if (!status.error) return html``;
  const file = rejectedFile(status);
  return html`<section class="notice danger catalog-error" role="alert" id="catalog-error" aria-labelledby="catalog-error-title">
  <h2 id="catalog-error-title">Your last edit of ${file} was rejected</h2>
  <p>The previous configuration stays in force: people still get the images, sizes and profiles loaded ${timeTag(status.loadedAt)}. Fix the file and save it again: Refinery reloads it by itself (or run <code>refinery reload</code>).</p>
  <pre>${status.error}</pre>
  <p class="muted small">Rejected ${timeTag(status.errorAt)}.</p>
</section>`;
}

/** Where the catalog in force came from, and when it was loaded. */
function catalogSection(status: CatalogStatus): SafeHtml {
  return html`<section class="card catalog-status section" aria-labelledby="catalog-title" id="catalog-status">
  <h2 id="catalog-title">Images and profiles</h2>
  <p>${status.error ? html`<span class="status status-stopping">Last edit rejected</span>` : html`<span class="status status-running">In force</span>`} Loaded ${timeTag(status.loadedAt)}${status.sources.length
    ? html` from <span class="file-list-inline">${status.sources.map((f, i) => html`${i ? ', ' : ''}<code title="${f}">${basename(f)}</code>`)}</span>.`
    : ' from the built-in catalog.'}</p>
  <p class="muted small">Edits to these files are picked up automatically; <code>refinery reload</code> forces a reload. A broken edit is reported here and the previous configuration stays in force.</p>
</section>`;
}

function sentence(text: string): string {
  const s = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}
