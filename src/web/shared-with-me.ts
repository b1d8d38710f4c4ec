import type { HubContext } from '../context.js';
import type { Access } from '../policy/access.js';
import type { UserRow } from '../db/users.js';
import { may } from '../policy/authorize.js';
import { groupsOfUser } from '../db/groups.js';
import { sharesWith, type ShareRecord } from '../db/shares.js';
import { serverUrl } from '../servers/env.js';
import { html, type SafeHtml } from './html.js';
import { statusPill, timeTag } from './format.js';
import { xsrfOf } from './page-auth.js';

/** The home page's "Shared with me": servers others shared with this person or their groups. */
export async function sharedWithMe(ctx: HubContext, access: Access, user: UserRow): Promise<SafeHtml> {
  if (!may(access, 'read:users:shares', { user: user.name })) return html``;
  const groupIds = (await groupsOfUser(ctx.db, user.id)).map((g) => g.id);
  const { items } = await sharesWith(ctx.db, { userId: user.id, groupIds }, { offset: 0, limit: 200 });
  // one entry per server, even when it is shared both with the person and with a group of theirs
  const byServer = new Map<string, ShareRecord>();
  for (const share of items) if (!byServer.has(`${share.owner}/${share.server}`)) byServer.set(`${share.owner}/${share.server}`, share);
  const shares = [...byServer.values()];
  const xsrf = xsrfOf(access);
  return html`<section class="section" id="shared-with-me" aria-labelledby="shared-heading">
  <div class="section-header"><h2 id="shared-heading">Shared with me</h2><span class="muted small">Servers others opened to you</span></div>
  ${shares.length
    ? html`<div class="table-wrap"><table class="stack-table" id="shared-table">
  <thead><tr><th scope="col">Server</th><th scope="col">Status</th><th scope="col">Shared</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
  <tbody>${shares.map((share) => sharedRow(ctx, share, xsrf))}</tbody></table></div>`
    : html`<div class="empty-state" id="shared-empty"><h3>Nothing shared with you yet</h3><p>When someone shares a server with you or one of your groups, it appears here.</p></div>`}
</section>`;
}

function sharedRow(ctx: HubContext, share: ShareRecord, xsrf: string): SafeHtml {
  const url = serverUrl(ctx.urls, share.owner, share.server);
  const label = `${share.owner}${share.server ? ` / ${share.server}` : ''}`;
  return html`<tr data-shared="${share.owner}/${share.server}">
    <th scope="row" data-label="Server">${label}${share.group !== null ? html` <span class="badge neutral" title="Shared with your group ${share.group}">via ${share.group}</span>` : ''}</th>
    <td data-label="Status">${statusPill(share.running ? 'running' : 'stopped')}</td>
    <td data-label="Shared">${timeTag(share.created)}</td>
    <td class="actions-cell">${share.running ? html`<a class="button primary sm" href="${url}">Open<span class="sr-only"> ${label}</span></a>` : html`<span class="muted small">Opens when ${share.owner} starts it</span>`}
      ${share.user !== null ? html`<form method="post" action="/hub/shared/leave" class="inline" data-confirm="Leave ${label}? You can open it again only if ${share.owner} shares it again."><input type="hidden" name="_xsrf" value="${xsrf}"><input type="hidden" name="owner" value="${share.owner}"><input type="hidden" name="server" value="${share.server}"><button class="sm">Leave<span class="sr-only"> ${label}</span></button></form>` : ''}</td>
  </tr>`;
}
