import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/tables.js';
import { findClient, insertCode, recordCodeToken, takeCode, usedCode, type OAuthClientRow } from '../db/oauth.js';
import { deleteToken } from '../db/tokens.js';
import { isExpired, isoAfterSeconds } from '../db/time.js';
import { hashSecret, newSecret, safeEqual } from './secrets.js';
import { issueToken } from './tokens.js';
import { redirectUriProblem } from './oauth-redirect.js';
import { resolveRequestedScopes } from './oauth-scopes.js';
import type { Identity } from './identity.js';

/**
 * The OAuth 2 authorization-code provider that single-user servers (`jupyterhub-singleuser`) sign
 * browsers in with, following RFC 6749 and PKCE (RFC 7636) as JupyterHub's provider does. Every
 * client is confidential: the token endpoint always wants its secret, PKCE comes on top of it.
 */

/** An error the OAuth client is told about, with the RFC 6749 error code. */
export class OAuthError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
    /** Set once client and redirect_uri are verified: the error then goes back to the client there (RFC 6749 §4.1.2.1). */
    readonly returnTo?: { redirectUri: string; state: string | undefined },
  ) {
    super(message);
    this.name = 'OAuthError';
  }
}

/** A code presented a second time: the token its first exchange gave has been revoked. */
export class ReusedCodeError extends OAuthError {
  constructor() {
    super('invalid_grant', 'the code was already used; the token issued for it is revoked');
    this.name = 'ReusedCodeError';
  }
}

const CODE_LIFETIME_SECONDS = 120;
/** RFC 7636 §4.2: BASE64URL(SHA-256(verifier)), 43 characters. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
/** RFC 7636 §4.1: 43 to 128 unreserved characters. */
const CODE_VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

const AUTHORIZE_PARAMS = ['response_type', 'client_id', 'redirect_uri', 'state', 'scope', 'code_challenge', 'code_challenge_method'] as const;
export type AuthorizeParams = Partial<Record<(typeof AUTHORIZE_PARAMS)[number], string>>;

/** The parameters of an authorization request; one given twice is refused (RFC 6749 §3.1). */
export function authorizeParams(search: URLSearchParams): AuthorizeParams {
  const params: AuthorizeParams = {};
  for (const name of AUTHORIZE_PARAMS) {
    const values = search.getAll(name);
    if (values.length > 1) throw new OAuthError('invalid_request', `the parameter ${name} was given ${values.length} times`);
    if (values.length === 1) params[name] = values[0];
  }
  return params;
}

/** A verified authorization request: the client is known, the code may go to `redirectUri`. */
export interface AuthorizationRequest {
  client: OAuthClientRow;
  redirectUri: string;
  state: string | undefined;
  /** Raw scopes the token will carry. */
  scopes: string[];
  codeChallenge: string | undefined;
}

/**
 * Check an authorization request from `person`. Errors before the redirect_uri is known to be the
 * client's are for the person's eyes only; later ones carry `returnTo`.
 */
export async function validateAuthorizeRequest(db: Kysely<Database>, params: AuthorizeParams, hubOrigin: string, person: string): Promise<AuthorizationRequest> {
  if (!params.client_id) throw new OAuthError('invalid_request', 'the request has no client_id');
  const client = await findClient(db, params.client_id);
  if (!client) throw new OAuthError('invalid_client', `there is no OAuth client ${JSON.stringify(params.client_id)} (is its server running?)`);
  const redirectUri = params.redirect_uri ?? client.redirect_uri;
  const problem = redirectUriProblem(redirectUri, client.redirect_uri, hubOrigin);
  if (problem) throw new OAuthError('invalid_request', `redirect_uri ${JSON.stringify(redirectUri)} ${problem}; ${client.identifier} must use ${JSON.stringify(client.redirect_uri)}`);

  const returnTo = { redirectUri, state: params.state };
  const refuse = (code: string, message: string) => new OAuthError(code, message, 400, returnTo);
  if (params.response_type !== 'code') throw refuse('unsupported_response_type', 'only response_type=code is supported');
  if (params.code_challenge !== undefined || params.code_challenge_method !== undefined) {
    if (params.code_challenge_method !== 'S256') throw refuse('invalid_request', 'code_challenge_method must be S256 (plain is not accepted)');
    if (!params.code_challenge || !S256_CHALLENGE.test(params.code_challenge)) throw refuse('invalid_request', 'code_challenge must be 43 base64url characters (the SHA-256 of the code verifier)');
  }
  const decision = resolveRequestedScopes(params.scope, { identifier: client.identifier, allowed: storedScopes(client.allowed_scopes), serverKey: client.server_key }, person);
  if ('refused' in decision) throw refuse('invalid_scope', decision.reason);
  return { client, redirectUri, state: params.state, scopes: decision.granted, codeChallenge: params.code_challenge };
}

function storedScopes(json: string): string[] {
  const parsed: unknown = JSON.parse(json);
  return Array.isArray(parsed) ? parsed.filter((s): s is string => typeof s === 'string') : [];
}

/** Where to send the browser with an answer for the client (the code, or an error). */
export function answerLocation(request: { redirectUri: string; state: string | undefined }, answer: Record<string, string>): string {
  const query = new URLSearchParams(answer);
  if (request.state !== undefined) query.set('state', request.state);
  // a verified redirect_uri has no query of its own
  return `${request.redirectUri}?${query.toString()}`;
}

/** Issue a one-time code for `identity` and return the URL to send the browser back to. */
export async function grantCode(db: Kysely<Database>, identity: Identity, request: AuthorizationRequest): Promise<string> {
  if (identity.userId === undefined) throw new OAuthError('access_denied', 'only people can sign in to servers');
  const code = newSecret(16);
  await insertCode(db, {
    hash: hashSecret(code),
    client_id: request.client.identifier,
    user_id: identity.userId,
    redirect_uri: request.redirectUri,
    scopes: JSON.stringify(request.scopes),
    code_challenge: request.codeChallenge ?? null,
    code_challenge_method: request.codeChallenge ? 'S256' : null,
    session_id: identity.session?.id ?? null,
    expires_at: isoAfterSeconds(CODE_LIFETIME_SECONDS),
  });
  return answerLocation(request, { code });
}

export interface TokenParams {
  grant_type?: string;
  code?: string;
  redirect_uri?: string;
  code_verifier?: string;
  /** Client credentials, from the body or HTTP Basic (never both). */
  client_id?: string;
  client_secret?: string;
}

/** Exchange a code for an access token (the token endpoint). */
export async function exchangeCode(db: Kysely<Database>, params: TokenParams, tokenLifetimeSeconds: number): Promise<Record<string, unknown>> {
  const client = await authenticateClient(db, params);
  if (params.grant_type !== 'authorization_code') throw new OAuthError('unsupported_grant_type', 'only grant_type=authorization_code is supported');
  if (!params.code) throw new OAuthError('invalid_request', 'the request has no code');
  // taken (marked used) whatever happens next: a code is good for one attempt
  const hash = hashSecret(params.code);
  const code = await takeCode(db, hash, new Date().toISOString());
  if (!code) {
    // RFC 6749 §4.1.2: a code presented twice is in someone else's hands too; the token it gave goes
    const used = await usedCode(db, hash);
    if (used?.token_id != null) {
      await deleteToken(db, used.token_id);
      throw new ReusedCodeError();
    }
  }
  if (!code || code.client_id !== client.identifier || isExpired(code.expires_at)) throw new OAuthError('invalid_grant', 'the code is invalid, expired, already used or was issued to another client');
  if (params.redirect_uri === undefined ? code.redirect_uri !== client.redirect_uri : params.redirect_uri !== code.redirect_uri) {
    throw new OAuthError('invalid_grant', 'redirect_uri is not the one the code was issued for');
  }
  if (code.code_challenge) {
    if (!params.code_verifier) throw new OAuthError('invalid_grant', 'the code was issued with a code_challenge: code_verifier is required');
    if (!CODE_VERIFIER.test(params.code_verifier)) throw new OAuthError('invalid_grant', 'code_verifier must be 43 to 128 letters, digits or "-._~"');
    const computed = createHash('sha256').update(params.code_verifier).digest('base64url');
    if (!safeEqual(computed, code.code_challenge)) throw new OAuthError('invalid_grant', 'code_verifier does not match the code_challenge');
  } else if (params.code_verifier !== undefined) {
    throw new OAuthError('invalid_grant', 'code_verifier was sent, but the code was issued without a code_challenge');
  }
  const scopes = JSON.parse(code.scopes) as string[];
  const { token, row } = await issueToken(db, {
    userId: code.user_id,
    scopes,
    note: `OAuth token for ${client.identifier}`,
    expiresIn: tokenLifetimeSeconds,
    oauthClientId: client.identifier,
    sessionId: code.session_id,
    serverKey: client.server_key,
  });
  await recordCodeToken(db, hash, row.id);
  return { access_token: token, token_type: 'Bearer', expires_in: Math.round(tokenLifetimeSeconds), scope: scopes.join(' ') };
}

/** The client must prove itself with its secret, PKCE or not (JupyterHub's clients are all confidential). */
async function authenticateClient(db: Kysely<Database>, params: TokenParams): Promise<OAuthClientRow> {
  const failed = new OAuthError('invalid_client', 'client authentication failed: client_id and client_secret are required and must match', 401);
  if (!params.client_id || !params.client_secret) throw failed;
  const client = await findClient(db, params.client_id);
  if (!client || !client.secret_hash || !safeEqual(hashSecret(params.client_secret), client.secret_hash)) throw failed;
  return client;
}
