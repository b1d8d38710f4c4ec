import type { TokenRow } from '../db/tokens.js';

/** JupyterHub shows token ids as `a<number>`. */
export function tokenApiId(row: Pick<TokenRow, 'id'>): string {
  return `a${row.id}`;
}

export function parseTokenApiId(apiId: string): number | undefined {
  const match = /^a(\d+)$/.exec(apiId);
  return match ? Number(match[1]) : undefined;
}

/** The token model. Never includes the token value or its hash. */
export function presentToken(row: TokenRow, owner: { user?: string; service?: string }, scopes: Iterable<string>): Record<string, unknown> {
  return {
    ...(owner.user !== undefined ? { user: owner.user } : { service: owner.service }),
    id: tokenApiId(row),
    kind: 'api_token',
    roles: [],
    scopes: [...scopes].sort(),
    created: row.created,
    last_activity: row.last_activity,
    expires_at: row.expires_at,
    note: row.note,
    session_id: row.session_id,
    oauth_client: row.oauth_client_id === 'jupyterhub' ? 'JupyterHub' : row.oauth_client_id,
  };
}
