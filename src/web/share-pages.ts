/**
 * Sharing pages: the owner's page for one server (people and groups, share links, revocation), the
 * name suggestions it asks for as you type, and the page where someone accepts a share link. The
 * same rules as the sharing API decide (policy/rules.ts); the same service does the work.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import type { HubContext } from '../context.js';
import type { Access } from '../policy/access.js';
import { may, serverTarget } from '../policy/authorize.js';
import { mayNameInShare, mayShareServer } from '../policy/rules.js';
import { shareScopesFor } from '../policy/scopes.js';
import { listShareCodes, listShares, type ShareCodeRecord, type ShareRecord } from '../db/shares.js';
import { SharingError, type ShareTarget } from '../sharing/service.js';
import { acceptShareUrl } from '../presenters/share.js';
import { serverUrl } from '../servers/env.js';
import { publicOrigin } from '../http/origins.js';
import { HttpError } from '../http/errors.js';
import { copyableSecret } from './secret-field.js';
import { html, type SafeHtml } from './html.js';
import { timeTag } from './format.js';
import { formFields, pageAccess, queryFields, requirePageScope, sendPage, xsrfOf } from './page-auth.js';
import { spawnPath } from './server-pages.js';

type ShareParams = { user: string; server?: string };

/** How long a share link stays valid: the choices offered (seconds). */
const LINK_LIFETIMES = [
  { value: 3600, label: '1 hour' },
  { value: 86400, label: '1 day' },
  { value: 7 * 86400, label: '1 week' },
  { value: 30 * 86400, label: '30 days' },
] as const;

/** Most names suggested at once. */
const SUGGESTIONS = 10;

interface ShareView {
  notice?: string;
  error?: string;
  form?: { kind?: string; name?: string };
  /** A link just made: shown this once. */
  link?: { url: string; expiresAt: string };
  status?: number;
}

function serverLabel(owner: string, server: string, viewer: string): string {
  const whose = owner === viewer ? 'your' : `${owner}’s`;
  return server ? `${whose} server “${server}”` : `${whose} default server`;
}

export function sharePages(app: FastifyInstance, ctx: HubContext): void {
  const sharePath = (owner: string, server: string) => `/hub/share/${spawnPath(owner, server)}`;

  const renderSharePage = async (_req: FastifyRequest, reply: FastifyReply, access: Access, owner: string, server: string, view: ShareView = {}) => {
    const row = await ctx.sharing.server(owner, server);
    const page = { offset: 0, limit: 200 };
    const shares = (await listShares(ctx.db, { serverId: row.id }, page)).items;
    const codes = (await listShareCodes(ctx.db, { serverId: row.id }, page)).items;
    const xsrf = xsrfOf(access);
    const action = sharePath(owner, server);
    const label = serverLabel(owner, server, access.identity.name);
    const kind = view.form?.kind === 'group' ? 'group' : 'user';
    const body = html`<div class="page-header"><div><h1>Share ${label}</h1>
  <p class="muted">People you share with open this server in their own browser, under their own name, and edit the same notebooks with you live. They can run code as you on it: share only with people you trust.</p></div></div>
${view.notice ? html`<div class="notice success" role="status" id="share-notice"><p>${view.notice}</p></div>` : ''}
${view.error ? html`<div class="notice danger" role="alert" id="share-error"><p>${view.error}</p></div>` : ''}
<section class="card" aria-labelledby="share-with-title">
  <h2 id="share-with-title">Share with a person or a group</h2>
  <form method="post" action="${action}" class="share-form" novalidate>
    <input type="hidden" name="_xsrf" value="${xsrf}">
    <input type="hidden" name="action" value="grant">
    <div class="form-row">
      <div class="field shrink">
        <label for="share-kind">Share with</label>
        <select id="share-kind" name="kind">
          <option value="user"${kind === 'user' ? html` selected` : ''}>Person</option>
          <option value="group"${kind === 'group' ? html` selected` : ''}>Group</option>
        </select>
      </div>
      <div class="field grow">
        <label for="share-name">Name</label>
        <input id="share-name" name="name" value="${view.form?.name ?? ''}" list="share-suggestions" autocomplete="off" autocapitalize="none" spellcheck="false" required
          data-suggest-url="/hub/share-suggestions" placeholder="Start typing a name">
        <datalist id="share-suggestions"></datalist>
      </div>
      <div class="form-row-buttons"><button class="primary" id="share-grant">Share</button></div>
    </div>
  </form>
</section>
<section class="section" aria-labelledby="shares-title">
  <div class="section-header"><h2 id="shares-title">Who has access</h2><span class="muted small">${shares.length} ${shares.length === 1 ? 'share' : 'shares'}</span></div>
  ${shares.length
    ? html`<div class="table-wrap"><table class="stack-table" id="share-table">
  <thead><tr><th scope="col">Shared with</th><th scope="col">Since</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
  <tbody>${shares.map((share) => shareRow(share, action, xsrf))}</tbody></table></div>
  <form method="post" action="${action}" class="section-actions" data-confirm="Revoke every share of this server? Everyone but you loses access at once."><input type="hidden" name="_xsrf" value="${xsrf}"><input type="hidden" name="action" value="revoke-all"><button class="danger sm" id="revoke-all">Revoke all</button></form>`
    : html`<div class="empty-state" id="no-shares"><h3>Only you</h3><p>Nobody else can open this server.</p></div>`}
</section>
<section class="section" aria-labelledby="links-title">
  <div class="section-header"><h2 id="links-title">Share links</h2><span class="muted small">Anyone signed in who opens a link can accept it, until it expires</span></div>
  ${view.link
    ? html`<section class="notice success" id="new-link-notice" aria-labelledby="new-link-title" tabindex="-1" data-secret-notice>
  <h3 id="new-link-title">Your new share link</h3>
  <p><strong>Copy it now: it won’t be shown again.</strong> It expires ${timeTag(view.link.expiresAt)}.</p>
  ${copyableSecret('new-link', 'New share link', view.link.url)}
</section>`
    : ''}
  <form method="post" action="${action}" class="card" novalidate>
    <input type="hidden" name="_xsrf" value="${xsrf}">
    <input type="hidden" name="action" value="link">
    <div class="form-row">
      <div class="field shrink">
        <label for="link-expires">Expires in</label>
        <select id="link-expires" name="expires_in">${LINK_LIFETIMES.map((c) => html`<option value="${c.value}"${c.value === 86400 ? html` selected` : ''}>${c.label}</option>`)}</select>
      </div>
      <div class="form-row-buttons"><button id="create-link">Create link</button></div>
    </div>
  </form>
  ${codes.length
    ? html`<div class="table-wrap"><table class="stack-table" id="link-table">
  <thead><tr><th scope="col">Link</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Accepted</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
  <tbody>${codes.map((code) => codeRow(code, action, xsrf))}</tbody></table></div>`
    : ''}
</section>
<p class="section"><a href="/hub/home">Back to your servers</a></p>`;
    return sendPage(reply, access, { title: 'Share', body, section: 'home', status: view.status ?? 200, scripts: ['/hub/static/share.js', '/hub/static/forms.js'], noStore: !!view.link });
  };

  /** The owner and server of a share page, for someone who may share it. */
  const target = (req: FastifyRequest<{ Params: ShareParams }>, access: Access) => {
    const owner = req.params.user;
    const server = req.params.server ?? '';
    requirePageScope(access, 'shares', serverTarget(owner, server), 'share this server');
    return { owner, server };
  };

  const showSharePage = async (req: FastifyRequest<{ Params: ShareParams }>, reply: FastifyReply) => {
    const access = pageAccess(req, reply);
    if (!access) return reply;
    const { owner, server } = target(req, access);
    const done = queryFields(req).done;
    return renderSharePage(req, reply, access, owner, server, done ? { notice: done } : {});
  };

  const changeShares = async (req: FastifyRequest<{ Params: ShareParams }>, reply: FastifyReply) => {
    const access = pageAccess(req, reply);
    if (!access) return reply;
    const { owner, server } = target(req, access);
    const fields = formFields(req);
    const back = (notice: string) => reply.redirect(`${sharePath(owner, server)}?${new URLSearchParams({ done: notice }).toString()}`, 303);
    const who = (): ShareTarget | undefined => {
      const name = (fields.name ?? '').trim();
      if (!name) return undefined;
      return fields.kind === 'group' ? { group: name } : { user: name };
    };
    try {
      switch (fields.action) {
        case 'grant': {
          const grantee = who();
          if (!grantee) return renderSharePage(req, reply, access, owner, server, { error: 'Name the person or group to share with.', form: { kind: fields.kind ?? 'user' }, status: 400 });
          const scopes = shareScopesFor(undefined, owner, server);
          if (!mayShareServer(access, owner, server, scopes).allowed || !mayNameInShare(access, grantee)) throw new HttpError(403, 'You may not share this server with them');
          await ctx.sharing.grant(owner, server, grantee, scopes);
          return back(`Shared with ${'user' in grantee ? grantee.user : `the group ${grantee.group}`}.`);
        }
        case 'revoke': {
          const grantee = who();
          if (!grantee) throw new HttpError(400, 'name: which share to revoke');
          await ctx.sharing.revoke(owner, server, grantee);
          return back(`${'user' in grantee ? grantee.user : `The group ${grantee.group}`} no longer has access.`);
        }
        case 'revoke-all':
          await ctx.sharing.revokeAll(owner, server);
          return back('Nobody else has access now.');
        case 'link': {
          const lifetime = LINK_LIFETIMES.find((c) => String(c.value) === fields.expires_in)?.value;
          if (!lifetime) throw new HttpError(400, `expires_in: choose one of ${LINK_LIFETIMES.map((c) => c.label).join(', ')}`);
          const scopes = shareScopesFor(undefined, owner, server);
          if (!mayShareServer(access, owner, server, scopes).allowed) throw new HttpError(403, 'You may not share this server');
          const { record, code } = await ctx.sharing.issueCode(owner, server, scopes, lifetime);
          return renderSharePage(req, reply, access, owner, server, { link: { url: `${publicOrigin(ctx, req)}${acceptShareUrl(code)}`, expiresAt: record.expiresAt }, status: 201 });
        }
        case 'revoke-link':
          await ctx.sharing.revokeCodes(owner, server, { id: fields.id ?? '' });
          return back('The link no longer works.');
        default:
          throw new HttpError(400, 'action: not one this page knows');
      }
    } catch (error) {
      if (error instanceof SharingError && error.status === 400) {
        return renderSharePage(req, reply, access, owner, server, { error: error.message.replace(/^body\.(user|group): /, ''), form: { kind: fields.kind ?? 'user', name: fields.name ?? '' }, status: 400 });
      }
      throw error;
    }
  };

  app.get<{ Params: ShareParams }>('/hub/share/:user', showSharePage);
  app.get<{ Params: ShareParams }>('/hub/share/:user/:server', showSharePage);
  app.post<{ Params: ShareParams }>('/hub/share/:user', changeShares);
  app.post<{ Params: ShareParams }>('/hub/share/:user/:server', changeShares);

  // names to share with, as the owner types: people and groups the asker may name (read:users:name, read:groups:name)
  app.get('/hub/share-suggestions', async (req) => {
    const access = req.access;
    if (!access || access.identity.kind !== 'user') throw new HttpError(403, 'Sign in to see names');
    const { q = '', kind = 'user' } = queryFields(req);
    const prefix = q.trim().toLowerCase();
    if (!prefix) return [];
    // names may hold `_`, which LIKE would take as a wildcard: escaped, with the escape character said (SQLite has none by default)
    const startsWith = sql<boolean>`name like ${`${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`} escape '\\'`;
    if (kind === 'group') {
      const rows = await ctx.db.selectFrom('groups').select('name').where(startsWith).orderBy('name').limit(SUGGESTIONS * 5).execute();
      return rows.map((r) => r.name).filter((name) => may(access, 'read:groups:name', { group: name })).slice(0, SUGGESTIONS);
    }
    const rows = await ctx.db.selectFrom('users').select('name').where(startsWith).where('name', '!=', access.identity.name).orderBy('name').limit(SUGGESTIONS * 5).execute();
    return rows.map((r) => r.name).filter((name) => may(access, 'read:users:name', { user: name })).slice(0, SUGGESTIONS);
  });

  // leaving a server someone shared with you (a group's share is left by leaving the group)
  app.post('/hub/shared/leave', async (req, reply) => {
    const access = pageAccess(req, reply);
    if (!access) return reply;
    const me = access.identity.name;
    requirePageScope(access, 'users:shares', { user: me }, 'leave shared servers');
    const { owner = '', server = '' } = formFields(req);
    const share = await ctx.sharing.shareWith({ user: me }, owner, server);
    if (share) await ctx.sharing.leave(share);
    return reply.redirect('/hub/home#shared-with-me', 303);
  });

  // accepting a share link: a confirmation first, so opening a link never grants anything by itself
  app.get('/hub/accept-share', async (req, reply) => {
    const access = pageAccess(req, reply);
    if (!access) return reply;
    const code = await ctx.sharing.findCode(queryFields(req).code ?? '');
    if (!code) throw new HttpError(404, 'This share link does not exist or has expired. Ask for a new one.');
    if (code.owner === access.identity.name) throw new HttpError(403, 'This is a link to your own server: share it with someone else.');
    const xsrf = xsrfOf(access);
    const label = serverLabel(code.owner, code.server, access.identity.name);
    const body = html`<section class="card medium" aria-labelledby="accept-title">
  <h1 id="accept-title">Open ${label}?</h1>
  <p><strong>${code.owner}</strong> shared ${code.server ? html`their server <code>${code.server}</code>` : 'their server'} with anyone who has this link.</p>
  <ul>${code.scopes.map((scope) => html`<li>${describeShareScope(scope)}</li>`)}</ul>
  <p class="muted">You will see their notebooks and files and can run code on their server. ${code.running ? 'It is running now.' : 'It is not running now: it opens once they start it.'} The link expires ${timeTag(code.expiresAt)}.</p>
  <form method="post" action="/hub/accept-share" class="form-actions">
    <input type="hidden" name="_xsrf" value="${xsrf}">
    <input type="hidden" name="code" value="${queryFields(req).code ?? ''}">
    <button class="primary" id="accept-share">Accept</button>
    <a class="button" href="/hub/home">Not now</a>
  </form>
</section>`;
    return sendPage(reply, access, { title: 'Accept a share', body, section: 'home', noStore: true });
  });

  app.post('/hub/accept-share', async (req, reply) => {
    const access = pageAccess(req, reply);
    if (!access) return reply;
    if (access.identity.kind !== 'user') throw new HttpError(403, 'Only people accept shares');
    const code = await ctx.sharing.findCode(formFields(req).code ?? '');
    if (!code) throw new HttpError(400, 'This share link does not exist or has expired. Ask for a new one.');
    const share = await ctx.sharing.exchange(code, access.identity.name);
    ctx.log.info({ user: access.identity.name, owner: share.owner, server: share.server }, 'share link accepted');
    return reply.redirect(share.running ? serverUrl(ctx.urls, share.owner, share.server) : '/hub/home#shared-with-me', 303);
  });
}

function shareRow(share: ShareRecord, action: string, xsrf: string): SafeHtml {
  const kind = share.user !== null ? 'user' : 'group';
  const name = share.user ?? share.group ?? '';
  return html`<tr data-share="${kind}:${name}">
    <th scope="row" data-label="Shared with">${kind === 'group' ? html`<span class="badge neutral">Group</span> ` : ''}${name}</th>
    <td data-label="Since">${timeTag(share.created)}</td>
    <td class="actions-cell"><form method="post" action="${action}" class="inline"><input type="hidden" name="_xsrf" value="${xsrf}"><input type="hidden" name="action" value="revoke"><input type="hidden" name="kind" value="${kind}"><input type="hidden" name="name" value="${name}"><button class="danger sm">Revoke<span class="sr-only"> ${name}</span></button></form></td>
  </tr>`;
}

function codeRow(code: ShareCodeRecord, action: string, xsrf: string): SafeHtml {
  const id = `sc_${code.id}`;
  return html`<tr data-code="${id}">
    <th scope="row" data-label="Link" class="mono">${id}</th>
    <td data-label="Created">${timeTag(code.created)}</td>
    <td data-label="Expires">${timeTag(code.expiresAt)}</td>
    <td data-label="Accepted">${code.exchangeCount === 1 ? '1 time' : `${code.exchangeCount} times`}</td>
    <td class="actions-cell"><form method="post" action="${action}" class="inline"><input type="hidden" name="_xsrf" value="${xsrf}"><input type="hidden" name="action" value="revoke-link"><input type="hidden" name="id" value="${id}"><button class="danger sm">Revoke<span class="sr-only"> link ${id}</span></button></form></td>
  </tr>`;
}

/** What a shared scope lets someone do, in words. */
function describeShareScope(scope: string): string {
  const base = scope.slice(0, scope.indexOf('!') === -1 ? undefined : scope.indexOf('!'));
  switch (base) {
    case 'access:servers': return 'Open the server: notebooks, files, terminals and kernels';
    case 'read:servers': return 'See whether the server runs';
    case 'servers': return 'Start and stop the server';
    case 'delete:servers': return 'Stop the server';
    default: return scope;
  }
}
