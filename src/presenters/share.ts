import type { ShareCodeRecord, ShareRecord } from '../db/shares.js';
import { serverUrl, type HubUrls } from '../servers/env.js';

/** The part of a server model a share shows: whose, which, where, and whether it runs. */
export interface SharedServerModel {
  user: { name: string };
  name: string;
  url: string;
  full_url: string | null;
  ready: boolean;
}

function sharedServer(record: { owner: string; server: string; running: boolean }, urls: HubUrls): SharedServerModel {
  const url = serverUrl(urls, record.owner, record.server);
  return {
    user: { name: record.owner },
    name: record.server,
    url,
    full_url: urls.userHosts ? url : urls.publicOrigin ? `${urls.publicOrigin}${url}` : null,
    ready: record.running,
  };
}

/** JupyterHub's Share model. */
export function presentShare(share: ShareRecord, urls: HubUrls): Record<string, unknown> {
  return {
    server: sharedServer(share, urls),
    scopes: share.scopes,
    user: share.user !== null ? { name: share.user } : null,
    group: share.group !== null ? { name: share.group } : null,
    kind: share.group !== null ? 'group' : 'user',
    created_at: share.created,
  };
}

/** JupyterHub's ShareCode model; the code and its accept URLs only when it was just issued. */
export function presentShareCode(code: ShareCodeRecord, urls: HubUrls, issued?: string): Record<string, unknown> {
  const model: Record<string, unknown> = {
    server: sharedServer(code, urls),
    scopes: code.scopes,
    id: `sc_${code.id}`,
    created_at: code.created,
    expires_at: code.expiresAt,
    exchange_count: code.exchangeCount,
    last_exchanged_at: code.lastExchangedAt,
  };
  if (issued !== undefined) {
    const acceptUrl = acceptShareUrl(issued);
    model.code = issued;
    model.accept_url = acceptUrl;
    model.full_accept_url = urls.publicOrigin ? `${urls.publicOrigin}${acceptUrl}` : null;
  }
  return model;
}

export function acceptShareUrl(code: string): string {
  return `/hub/accept-share?${new URLSearchParams({ code }).toString()}`;
}
