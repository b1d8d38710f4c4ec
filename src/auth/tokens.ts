import type { Kysely } from 'kysely';
import type { Database } from '../db/tables.js';
import { insertToken, type TokenRow } from '../db/tokens.js';
import { isoAfterSeconds, nowIso } from '../db/time.js';
import { hashSecret, newSecret } from './secrets.js';
import { checkScopesExist, expandScopes, intersectScopes, ScopeError, type GroupLookup } from '../policy/scopes.js';

export interface TokenRequest {
  userId?: number | null;
  serviceName?: string | null;
  /** Raw scopes; `['inherit']` means everything the owner can do. */
  scopes: readonly string[];
  note?: string;
  /** Seconds until it stops working; omitted = never. */
  expiresIn?: number | null;
  oauthClientId?: string;
  sessionId?: string | null;
  serverKey?: string | null;
}

/** The longest lifetime a token may be given: 100 years, well inside what dates can hold. */
export const MAX_TOKEN_LIFETIME_SECONDS = 100 * 365 * 86400;

/**
 * A requested token lifetime, the way JupyterHub's API reads `expires_in`: omitted, null or 0 mean
 * the token does not expire; otherwise a whole, positive number of seconds. Anything else (a
 * fraction, a negative number, 1e308) is a RangeError whose message says what is accepted.
 */
export function tokenLifetime(expiresIn: unknown): number | null {
  if (expiresIn === undefined || expiresIn === null || expiresIn === 0) return null;
  if (typeof expiresIn !== 'number' || !Number.isInteger(expiresIn) || expiresIn < 0) {
    throw new RangeError(`must be null, 0 (no expiry) or a positive whole number of seconds, got ${JSON.stringify(expiresIn) ?? String(expiresIn)}`);
  }
  if (expiresIn > MAX_TOKEN_LIFETIME_SECONDS) throw new RangeError(`must be at most ${MAX_TOKEN_LIFETIME_SECONDS} seconds (100 years), got ${expiresIn}`);
  return expiresIn;
}

/** Create a token. The returned `token` is the only time its value exists outside the caller. */
export async function issueToken(db: Kysely<Database>, request: TokenRequest): Promise<{ token: string; row: TokenRow }> {
  const token = newSecret(16); // 32 hex characters, like JupyterHub's tokens
  const row = await insertToken(db, {
    hash: hashSecret(token),
    prefix: token.slice(0, 4),
    user_id: request.userId ?? null,
    service_name: request.serviceName ?? null,
    scopes: JSON.stringify(request.scopes),
    note: request.note ?? '',
    created: nowIso(),
    expires_at: request.expiresIn ? isoAfterSeconds(request.expiresIn) : null,
    last_activity: null,
    oauth_client_id: request.oauthClientId ?? 'jupyterhub',
    session_id: request.sessionId ?? null,
    server_key: request.serverKey ?? null,
  });
  return { token, row };
}

/** Register a token whose value comes from configuration (services' api_token). */
export async function registerKnownToken(db: Kysely<Database>, token: string, serviceName: string): Promise<void> {
  const hash = hashSecret(token);
  await db.deleteFrom('api_tokens').where('service_name', '=', serviceName).where('hash', '!=', hash).execute();
  const existing = await db.selectFrom('api_tokens').select('id').where('hash', '=', hash).executeTakeFirst();
  if (existing) {
    await db.updateTable('api_tokens').set({ service_name: serviceName, user_id: null, scopes: '["inherit"]' }).where('id', '=', existing.id).execute();
    return;
  }
  await insertToken(db, {
    hash, prefix: token.slice(0, 4), user_id: null, service_name: serviceName, scopes: '["inherit"]',
    note: `service ${serviceName} (from configuration)`, created: nowIso(), expires_at: null, last_activity: null,
    oauth_client_id: 'jupyterhub', session_id: null, server_key: null,
  });
}

/**
 * Check scopes requested for a new token against what its owner holds: each must exist and be held
 * in full (a token can never do more than its owner). Throws ScopeError naming the first that is not.
 */
export function checkTokenScopes(requested: readonly string[], owner: string, ownerScopes: ReadonlySet<string>, groupsOf: GroupLookup): void {
  checkScopesExist(requested);
  if (requested.includes('inherit')) return;
  for (const scope of requested) {
    const wanted = expandScopes([scope], { kind: 'user', name: owner });
    const held = intersectScopes(wanted, ownerScopes, groupsOf);
    if ([...wanted].some((s) => !held.has(s))) throw new ScopeError(`${owner} does not hold ${JSON.stringify(scope)}`);
  }
}
