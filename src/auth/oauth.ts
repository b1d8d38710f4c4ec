import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/tables.js';
import { findClient, insertCode, takeCode, type OAuthClientRow } from '../db/oauth.js';
import { isExpired, isoAfterSeconds } from '../db/time.js';
import { hashSecret, newSecret, safeEqual } from './secrets.js';
import { issueToken } from './tokens.js';
import { checkScopesExist, ScopeError } from './scopes.js';
import type { Identity } from './identity.js';

/**
 * The OAuth 2 authorization-code provider that single-user servers (`jupyterhub-singleuser`) sign
 * browsers in with, following RFC 6749 and PKCE (RFC 7636) as JupyterHub's provider does.
 */

/** An error the OAuth client is told about, with the RFC 6749 error code. */
export class OAuthError extends Error {
  constructor(readonly code: string, message: string, readonly status = 400) {
    super(message);
    this.name = 'OAuthError';
  }
}

const CODE_LIFETIME_SECONDS = 120;

export interface AuthorizeParams {
  response_type?: string;
  client_id?: string;
  redirect_uri?: string;
  state?: string;
  scope?: string;
  code_challenge?: string;
  code_challenge_method?: string;
}

/** Check an authorization request; errors here are shown to the person, not sent to the redirect URI. */
export async function validateAuthorizeRequest(db: Kysely<Database>, params: AuthorizeParams): Promise<{ client: OAuthClientRow; redirectUri: string; scopes: string[] }> {
  if (!params.client_id) throw new OAuthError('invalid_request', 'missing client_id');
  const client = await findClient(db, params.client_id);
  if (!client) throw new OAuthError('invalid_client', `unknown OAuth client ${JSON.stringify(params.client_id)}`);
  const redirectUri = params.redirect_uri ?? client.redirect_uri;
  if (!redirectMatches(redirectUri, client.redirect_uri)) {
    throw new OAuthError('invalid_request', `redirect_uri ${JSON.stringify(redirectUri)} does not match the one registered for ${client.identifier}`);
  }
  if (params.response_type !== 'code') throw new OAuthError('unsupported_response_type', 'only response_type=code is supported');
  if (params.code_challenge_method && !['S256', 'plain'].includes(params.code_challenge_method)) {
    throw new OAuthError('invalid_request', 'code_challenge_method must be S256 or plain');
  }
  const scopes = (params.scope ?? '').split(/\s+/).filter((s) => s && s !== 'identify');
  try {
    checkScopesExist(scopes);
  } catch (error) {
    if (error instanceof ScopeError) throw new OAuthError('invalid_scope', error.message);
    throw error;
  }
  return { client, redirectUri, scopes };
}

/** The registered redirect is a path; clients may send it as is or as an absolute URL with that path. */
function redirectMatches(given: string, registered: string): boolean {
  if (given === registered) return true;
  try {
    const url = new URL(given);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.pathname === registered && !url.search;
  } catch {
    return false;
  }
}

/** Issue a one-time code and return the URL to send the browser back to. */
export async function grantCode(
  db: Kysely<Database>,
  identity: Identity,
  request: { client: OAuthClientRow; redirectUri: string; scopes: string[]; state?: string; codeChallenge?: string; codeChallengeMethod?: string },
): Promise<string> {
  if (identity.userId === undefined) throw new OAuthError('access_denied', 'only users can authorize servers');
  const code = newSecret(16);
  await insertCode(db, {
    hash: hashSecret(code),
    client_id: request.client.identifier,
    user_id: identity.userId,
    redirect_uri: request.redirectUri,
    scopes: JSON.stringify(request.scopes),
    code_challenge: request.codeChallenge ?? null,
    code_challenge_method: request.codeChallenge ? (request.codeChallengeMethod ?? 'plain') : null,
    session_id: identity.session?.id ?? null,
    expires_at: isoAfterSeconds(CODE_LIFETIME_SECONDS),
  });
  const separator = request.redirectUri.includes('?') ? '&' : '?';
  const query = new URLSearchParams({ code });
  if (request.state !== undefined) query.set('state', request.state);
  return `${request.redirectUri}${separator}${query.toString()}`;
}

export interface TokenParams {
  grant_type?: string;
  code?: string;
  redirect_uri?: string;
  client_id?: string;
  client_secret?: string;
  code_verifier?: string;
}

/** Exchange a code for an access token (the token endpoint). */
export async function exchangeCode(db: Kysely<Database>, params: TokenParams, tokenLifetimeSeconds: number): Promise<Record<string, unknown>> {
  if (params.grant_type !== 'authorization_code') throw new OAuthError('unsupported_grant_type', 'only grant_type=authorization_code is supported');
  if (!params.client_id) throw new OAuthError('invalid_client', 'missing client_id', 401);
  const client = await findClient(db, params.client_id);
  if (!client) throw new OAuthError('invalid_client', 'unknown client', 401);
  if (!params.code) throw new OAuthError('invalid_request', 'missing code');
  const code = await takeCode(db, hashSecret(params.code));
  const usesPkce = !!code?.code_challenge;
  // a public client proves itself with the PKCE verifier; a confidential one with its secret
  if (!usesPkce || params.client_secret !== undefined) {
    if (!params.client_secret || !safeEqual(hashSecret(params.client_secret), client.secret_hash)) throw new OAuthError('invalid_client', 'client authentication failed', 401);
  }
  if (!code || code.client_id !== client.identifier || isExpired(code.expires_at)) throw new OAuthError('invalid_grant', 'the code is invalid, expired or already used');
  if (params.redirect_uri !== undefined && !redirectMatches(params.redirect_uri, client.redirect_uri) && params.redirect_uri !== code.redirect_uri) {
    throw new OAuthError('invalid_grant', 'redirect_uri does not match the authorization request');
  }
  if (code.code_challenge) {
    if (!params.code_verifier) throw new OAuthError('invalid_grant', 'missing code_verifier');
    const computed = code.code_challenge_method === 'S256' ? createHash('sha256').update(params.code_verifier).digest('base64url') : params.code_verifier;
    if (!safeEqual(computed, code.code_challenge)) throw new OAuthError('invalid_grant', 'code_verifier does not match the code challenge');
  }
  const scopes = JSON.parse(code.scopes) as string[];
  const { token } = await issueToken(db, {
    userId: code.user_id,
    scopes,
    note: `OAuth token for ${client.identifier}`,
    expiresIn: tokenLifetimeSeconds,
    oauthClientId: client.identifier,
    sessionId: code.session_id,
    serverKey: client.server_key,
  });
  return { access_token: token, token_type: 'Bearer', expires_in: Math.round(tokenLifetimeSeconds), scope: scopes.join(' ') };
}
