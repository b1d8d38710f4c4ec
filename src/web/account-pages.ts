import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HubContext } from '../context.js';
import type { Access } from '../policy/access.js';
import type { UserRow } from '../db/users.js';
import { deleteToken, findTokenById, tokensOfUser, type TokenRow } from '../db/tokens.js';
import { isExpired } from '../db/time.js';
import { checkTokenScopes, issueToken } from '../auth/tokens.js';
import { ScopeError } from '../policy/scopes.js';
import { setPassword } from '../users/service.js';
import { HttpError } from '../http/errors.js';
import { copyableSecret } from './secret-field.js';
import { html, type SafeHtml } from './html.js';
import { formFields, pageAccess, queryFields, sendPage, xsrfOf, signedInPerson } from './page-auth.js';
import { timeTag } from './format.js';
import { endSessionsOfUser } from '../auth/sessions.js';
import { authorize } from '../policy/authorize.js';

const EXPIRY_CHOICES: ReadonlyArray<{ value: string; label: string; seconds: number | null }> = [
  { value: 'never', label: 'Never', seconds: null },
  { value: '1d', label: '1 day', seconds: 86400 },
  { value: '7d', label: '7 days', seconds: 7 * 86400 },
  { value: '30d', label: '30 days', seconds: 30 * 86400 },
  { value: 'custom', label: 'Custom…', seconds: null },
];
const MAX_CUSTOM_DAYS = 3650;

interface TokenForm {
  note?: string;
  expires?: string;
  days?: string;
  scopes?: string;
  errors?: Partial<Record<'note' | 'expires' | 'days' | 'scopes', string>>;
}

interface PasswordForm {
  errors?: Partial<Record<'current' | 'password' | 'confirm', string>>;
}

/** A text field with its label, hint and (when there is one) the error right under it. */
function fieldError(id: string, error: string | undefined): SafeHtml {
  return error ? html`<p class="field-error" id="${id}-error">${error}</p>` : html``;
}
function describedBy(id: string, error: string | undefined, hint = true): SafeHtml {
  const ids = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return html`${ids ? html` aria-describedby="${ids}"` : ''}${error ? html` aria-invalid="true"` : ''}`;
}

/** "Everything you can do" or a short list of the scopes a token carries. */
function scopeSummary(row: TokenRow): SafeHtml {
  const scopes = JSON.parse(row.scopes) as string[];
  if (scopes.length === 0 || scopes.includes('inherit')) return html`<span class="badge">Full access</span>`;
  const shown = scopes.slice(0, 3);
  const rest = scopes.length - shown.length;
  return html`<span title="${scopes.join(' ')}">${shown.map((s, i) => html`${i ? ', ' : ''}<code>${s}</code>`)}${rest > 0 ? html` <span class="muted">+${rest} more</span>` : ''}</span>`;
}

function expiryCell(row: TokenRow): SafeHtml {
  if (!row.expires_at) return html`<span class="muted">Never</span>`;
  return timeTag(row.expires_at);
}

export function accountPages(app: FastifyInstance, ctx: HubContext): void {
  const me = async (req: FastifyRequest, reply: FastifyReply): Promise<{ access: Access; user: UserRow } | undefined> => {
    const access = pageAccess(req, reply);
    if (!access) return undefined;
    return { access, user: await signedInPerson(ctx.db, access, 'Only people have tokens and passwords here') };
  };

  // ------------------------------------------------------------------------------------------ tokens

  const renderTokens = async (
    reply: FastifyReply,
    access: Access,
    user: UserRow,
    options: { form?: TokenForm; created?: { token: string; row: TokenRow }; notice?: string; status?: number } = {},
  ) => {
    authorize(access, 'read:tokens', { user: user.name }, { hideOthers: false, denied: 'You may not see tokens' });
    const rows = (await tokensOfUser(ctx.db, user.id)).filter((row) => !isExpired(row.expires_at));
    const apiTokens = rows.filter((row) => row.oauth_client_id === 'jupyterhub' && row.server_key === null).reverse();
    const byClient = new Map<string, TokenRow[]>();
    for (const row of rows.filter((r) => r.oauth_client_id !== 'jupyterhub')) {
      byClient.set(row.oauth_client_id, [...(byClient.get(row.oauth_client_id) ?? []), row]);
    }
    const clients = byClient.size
      ? await ctx.db.selectFrom('oauth_clients').select(['identifier', 'description']).where('identifier', 'in', [...byClient.keys()]).execute()
      : [];
    const describe = new Map(clients.map((c) => [c.identifier, c.description]));
    const form = options.form ?? {};
    const errors = form.errors ?? {};
    const xsrf = xsrfOf(access);
    const expires = form.expires ?? 'never';
    const latest = (list: TokenRow[], field: 'created' | 'last_activity') => list.map((r) => r[field]).filter((v): v is string => !!v).sort().at(-1) ?? null;

    const body = html`<div class="page-header">
  <div><h1>API tokens</h1><p class="muted">Tokens let scripts and tools use the Refinery API as you. Treat them like passwords.</p></div>
</div>
${options.notice ? html`<div class="notice success" role="status"><p>${options.notice}</p></div>` : ''}
${options.created
    ? html`<section class="notice success" id="new-token-notice" aria-labelledby="new-token-title" tabindex="-1" data-secret-notice>
  <h2 id="new-token-title">Your new token${options.created.row.note ? html` “${options.created.row.note}”` : ''}</h2>
  <p><strong>Copy it now: it won’t be shown again.</strong> Refinery stores only a fingerprint of it.</p>
  ${copyableSecret('new-token', 'New API token', options.created.token)}
  <p class="small muted">Use it as <code>Authorization: token …</code> in API requests.</p>
</section>`
    : ''}
<section class="card" aria-labelledby="create-title">
  <h2 id="create-title">Create a token</h2>
  <form method="post" action="/hub/token" novalidate>
    <input type="hidden" name="_xsrf" value="${xsrf}">
    <div class="form-row">
      <div class="field grow">
        <label for="token-note">Note</label>
        <input id="token-note" name="note" maxlength="1000" value="${form.note ?? ''}" placeholder="What is this token for?" autocomplete="off"${describedBy('token-note', errors.note)}>
        ${fieldError('token-note', errors.note)}
        <p class="hint" id="token-note-hint">Helps you recognise it later, e.g. “CI pipeline”.</p>
      </div>
      <div class="field shrink">
        <label for="token-expires">Expires in</label>
        <select id="token-expires" name="expires" data-controls="token-days-field"${describedBy('token-expires', errors.expires, false)}>
          ${EXPIRY_CHOICES.map((c) => html`<option value="${c.value}"${c.value === expires ? html` selected` : ''}>${c.label}</option>`)}
        </select>
        ${fieldError('token-expires', errors.expires)}
      </div>
      <div class="field shrink" id="token-days-field" data-show-when="token-expires=custom">
        <label for="token-days">Days (custom)</label>
        <input id="token-days" name="days" type="number" inputmode="numeric" min="1" max="${MAX_CUSTOM_DAYS}" value="${form.days ?? ''}" placeholder="90"${describedBy('token-days', errors.days)}>
        ${fieldError('token-days', errors.days)}
        <p class="hint" id="token-days-hint">Used with “Custom…”.</p>
      </div>
    </div>
    <details class="scopes-details"${form.scopes || errors.scopes ? html` open` : ''}>
      <summary>Limit what the token can do (optional)</summary>
      <div class="field">
        <label for="token-scopes">Scopes</label>
        <input id="token-scopes" name="scopes" value="${form.scopes ?? ''}" placeholder="e.g. read:users!user servers!user" autocomplete="off" spellcheck="false"${describedBy('token-scopes', errors.scopes)}>
        ${fieldError('token-scopes', errors.scopes)}
        <p class="hint" id="token-scopes-hint">Separate with spaces. Leave empty for a token that can do everything you can.</p>
      </div>
    </details>
    <div class="form-actions"><button class="primary" id="create-token">Create token</button></div>
  </form>
</section>

<section class="section" aria-labelledby="tokens-title">
  <div class="section-header"><h2 id="tokens-title">Your tokens</h2><span class="muted small">${apiTokens.length} active</span></div>
  ${apiTokens.length
    ? html`<div class="table-wrap"><table class="stack-table" id="token-table">
  <thead><tr><th scope="col">Note</th><th scope="col">Scopes</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col">Expires</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
  <tbody>
  ${apiTokens.map((row) => html`<tr>
    <th scope="row" data-label="Note">${row.note || html`<span class="muted">No note</span>`} <span class="muted mono small" title="The token's first characters">${row.prefix}…</span></th>
    <td data-label="Scopes" class="scopes">${scopeSummary(row)}</td>
    <td data-label="Created">${timeTag(row.created)}</td>
    <td data-label="Last used">${timeTag(row.last_activity, 'Never used')}</td>
    <td data-label="Expires">${expiryCell(row)}</td>
    <td class="actions-cell"><form method="post" action="/hub/token/a${row.id}/revoke" class="inline" data-confirm="Revoke the token “${row.note || row.prefix}”? Anything using it stops working."><input type="hidden" name="_xsrf" value="${xsrf}"><button class="danger sm">Revoke<span class="sr-only"> token ${row.note || row.prefix}</span></button></form></td>
  </tr>`)}
  </tbody></table></div>`
    : html`<div class="empty-state"><h3>No tokens yet</h3><p>Create one above when a script or tool needs to use the API.</p></div>`}
</section>

${byClient.size
    ? html`<section class="section" aria-labelledby="apps-title">
  <div class="section-header"><h2 id="apps-title">Signed-in servers</h2><span class="muted small">Browser sign-ins to Jupyter servers through Refinery</span></div>
  <div class="table-wrap"><table class="stack-table">
  <thead><tr><th scope="col">Application</th><th scope="col">Signed in</th><th scope="col">Last used</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
  <tbody>
  ${[...byClient].map(([client, list]) => html`<tr>
    <th scope="row" data-label="Application">${describe.get(client) ?? client} ${list.length > 1 ? html`<span class="badge neutral">${list.length} sign-ins</span>` : ''}</th>
    <td data-label="Signed in">${timeTag(latest(list, 'created'))}</td>
    <td data-label="Last used">${timeTag(latest(list, 'last_activity'), 'Never used')}</td>
    <td class="actions-cell"><form method="post" action="/hub/token/client/revoke" class="inline"><input type="hidden" name="_xsrf" value="${xsrf}"><input type="hidden" name="client" value="${client}"><button class="danger sm">Revoke<span class="sr-only"> ${describe.get(client) ?? client}</span></button></form></td>
  </tr>`)}
  </tbody></table></div>
</section>`
    : ''}`;
    return sendPage(reply, access, {
      title: 'Tokens', body, section: 'token', status: options.status ?? 200,
      scripts: ['/hub/static/forms.js'], noStore: !!options.created,
    });
  };

  app.get('/hub/token', async (req, reply) => {
    const who = await me(req, reply);
    if (!who) return reply;
    const query = queryFields(req);
    const notice = query.revoked === '1' ? 'Token revoked.' : query.revoked === 'client' ? 'Sign-in revoked.' : undefined;
    return renderTokens(reply, who.access, who.user, notice ? { notice } : {});
  });

  app.post('/hub/token', async (req, reply) => {
    const who = await me(req, reply);
    if (!who) return reply;
    const { access, user } = who;
    authorize(access, 'tokens', { user: user.name }, { hideOthers: false, denied: 'You may not create tokens' });
    const fields = formFields(req);
    const form: TokenForm = { note: (fields.note ?? '').trim(), expires: fields.expires ?? 'never', days: (fields.days ?? '').trim(), scopes: (fields.scopes ?? '').trim(), errors: {} };
    const errors = form.errors!;
    if (form.note!.length > 1000) errors.note = 'Keep the note under 1000 characters.';
    const choice = EXPIRY_CHOICES.find((c) => c.value === form.expires);
    let expiresIn: number | null = null;
    if (!choice) errors.expires = 'Choose when the token expires.';
    else if (choice.value === 'custom') {
      const days = Number(form.days);
      if (!form.days || !Number.isInteger(days) || days < 1 || days > MAX_CUSTOM_DAYS) errors.days = `Enter a whole number of days from 1 to ${MAX_CUSTOM_DAYS}.`;
      else expiresIn = days * 86400;
    } else expiresIn = choice.seconds;
    let scopes = form.scopes ? form.scopes.split(/[\s,]+/).filter(Boolean) : ['inherit'];
    if (form.scopes) {
      try {
        checkTokenScopes(scopes, user.name, (await ctx.identities.scopesOfUser(user.name)) ?? new Set(), await ctx.identities.groupLookup());
      } catch (error) {
        if (!(error instanceof ScopeError)) throw error;
        errors.scopes = `Not a scope you can give a token: ${error.message}.`;
        scopes = [];
      }
    }
    if (Object.keys(errors).length) return renderTokens(reply, access, user, { form, status: 400 });
    const created = await issueToken(ctx.db, { userId: user.id, scopes, note: form.note || 'Created on the token page', expiresIn });
    ctx.identities.invalidate();
    ctx.log.info({ user: user.name, tokenId: created.row.id }, 'token created on the token page');
    return renderTokens(reply, access, user, { created, status: 201 });
  });

  app.post<{ Params: { id: string } }>('/hub/token/:id/revoke', async (req, reply) => {
    const who = await me(req, reply);
    if (!who) return reply;
    const { access, user } = who;
    authorize(access, 'tokens', { user: user.name }, { hideOthers: false, denied: 'You may not revoke tokens' });
    const match = /^a(\d+)$/.exec(req.params.id);
    const row = match ? await findTokenById(ctx.db, Number(match[1])) : undefined;
    if (!row || row.user_id !== user.id) throw new HttpError(404, 'No such token (it may have been revoked already)');
    await deleteToken(ctx.db, row.id);
    ctx.identities.invalidate();
    return reply.redirect('/hub/token?revoked=1', 303);
  });

  app.post('/hub/token/client/revoke', async (req, reply) => {
    const who = await me(req, reply);
    if (!who) return reply;
    const { access, user } = who;
    authorize(access, 'tokens', { user: user.name }, { hideOthers: false, denied: 'You may not revoke tokens' });
    const client = formFields(req).client ?? '';
    if (!client || client === 'jupyterhub') throw new HttpError(400, 'Which sign-in should be revoked?');
    await ctx.db.deleteFrom('api_tokens').where('user_id', '=', user.id).where('oauth_client_id', '=', client).execute();
    ctx.identities.invalidate();
    return reply.redirect('/hub/token?revoked=client', 303);
  });

  // ---------------------------------------------------------------------------------------- password

  const minLength = () => ctx.config.auth.min_password_length;

  const renderPassword = (reply: FastifyReply, access: Access, options: { form?: PasswordForm; notice?: string; status?: number } = {}) => {
    const errors = options.form?.errors ?? {};
    const local = ctx.authenticator.kind === 'local';
    const body = html`<section class="card narrow" aria-labelledby="password-title">
  <h1 id="password-title">Change password</h1>
  ${options.notice ? html`<div class="notice success" role="status"><p>${options.notice}</p></div>` : ''}
  ${local
    ? html`<form method="post" action="/hub/password" novalidate>
    <input type="hidden" name="_xsrf" value="${xsrfOf(access)}">
    <input type="text" name="username" value="${access.identity.name}" autocomplete="username" hidden>
    <div class="field">
      <label for="current-password">Current password</label>
      <input id="current-password" name="current" type="password" autocomplete="current-password" required${describedBy('current-password', errors.current, false)}>
      ${fieldError('current-password', errors.current)}
    </div>
    <div class="field">
      <label for="new-password">New password</label>
      <input id="new-password" name="password" type="password" autocomplete="new-password" minlength="${minLength()}" required${describedBy('new-password', errors.password)}>
      ${fieldError('new-password', errors.password)}
      <p class="hint" id="new-password-hint">At least ${minLength()} characters.</p>
    </div>
    <div class="field">
      <label for="confirm-password">Confirm new password</label>
      <input id="confirm-password" name="confirm" type="password" autocomplete="new-password" minlength="${minLength()}" required${describedBy('confirm-password', errors.confirm, false)}>
      ${fieldError('confirm-password', errors.confirm)}
    </div>
    <div class="form-actions"><button class="primary" id="change-password">Change password</button></div>
    <p class="hint">Changing it signs you out everywhere else.</p>
  </form>`
    : html`<p>Your password is managed by your organisation’s sign-in service, not by Refinery.</p>`}
</section>`;
    return sendPage(reply, access, { title: 'Change password', body, section: 'password', status: options.status ?? 200 });
  };

  app.get('/hub/password', async (req, reply) => {
    const who = await me(req, reply);
    if (!who) return reply;
    return renderPassword(reply, who.access, queryFields(req).changed === '1' ? { notice: 'Your password has been changed.' } : {});
  });

  app.post('/hub/password', async (req, reply) => {
    const who = await me(req, reply);
    if (!who) return reply;
    const { access, user } = who;
    if (ctx.authenticator.kind !== 'local') throw new HttpError(400, 'Passwords are managed by your sign-in service');
    const fields = formFields(req);
    const current = fields.current ?? '';
    const password = fields.password ?? '';
    const confirm = fields.confirm ?? '';
    const errors: NonNullable<PasswordForm['errors']> = {};
    // guessing the current password from a borrowed session is rate-limited like sign-in
    const key = `${user.name}|password-change`;
    const wait = ctx.loginFailures.checkKey(key);
    if (wait > 0) {
      reply.header('Retry-After', String(wait));
      errors.current = `Too many wrong passwords. Try again in ${Math.ceil(wait / 60)} minute${wait > 60 ? 's' : ''}.`;
      return renderPassword(reply, access, { form: { errors }, status: 429 });
    }
    if (!current) errors.current = 'Enter your current password.';
    if (password.length < minLength()) errors.password = `Use at least ${minLength()} characters.`;
    else if (password === current) errors.password = 'Choose a password different from the current one.';
    if (!errors.password && confirm !== password) errors.confirm = 'The two new passwords do not match.';
    if (!errors.current) {
      const ok = (await ctx.authenticator.authenticate(user.name, current)) === user.name;
      if (!ok) {
        ctx.loginFailures.failKey(key);
        errors.current = 'That is not your current password.';
      }
    }
    if (Object.keys(errors).length) return renderPassword(reply, access, { form: { errors }, status: 400 });
    ctx.loginFailures.resetKey(key);
    await setPassword(ctx, user, password);
    const ended = await endSessionsOfUser(ctx.db, user.id, access.identity.session?.hash);
    ctx.identities.invalidate();
    ctx.log.info({ user: user.name, otherSessionsEnded: ended }, 'password changed');
    return reply.redirect('/hub/password?changed=1', 303);
  });
}
