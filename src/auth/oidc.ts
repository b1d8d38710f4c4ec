/**
 * Signing in with an OpenID Connect provider through openid-client: discovery, the authorization
 * code flow with PKCE (S256), state and nonce, the ID token's signature, issuer, audience, expiry and
 * nonce checked by the library, then the person's name and groups from the ID token's claims and the
 * userinfo endpoint. The pages that drive it are in src/web/oauth-login-pages.ts.
 */
import * as client from 'openid-client';
import type { OidcAuthConfig } from '../config/oidc-auth.js';
import { ExternalSignInError, type ExternalIdentity, type ExternalSignIn, type PendingSignIn, type SignInPolicy } from './external.js';

/** Plain http is refused except on this machine, where nobody can listen in (a provider run for development). */
function isLoopback(url: URL): boolean {
  return url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
}

function describe(error: unknown): string {
  if (error instanceof client.ResponseBodyError) return `${error.error}${error.error_description ? `: ${error.error_description}` : ''}`;
  if (error instanceof client.AuthorizationResponseError) return `${error.error}${error.error_description ? `: ${error.error_description}` : ''}`;
  if (!(error instanceof Error)) return String(error);
  // openid-client wraps the check that failed; its message names the claim (aud, exp, nonce...)
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error && cause.message !== error.message ? `${error.message}: ${cause.message}` : error.message;
}

/** What is kept of a token response: the tokens and when the access token runs out (seconds since the epoch). */
function authStateOf(tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers): Record<string, unknown> {
  const expiresIn = tokens.expiresIn();
  return {
    access_token: tokens.access_token,
    ...(tokens.refresh_token ? { refresh_token: tokens.refresh_token } : {}),
    ...(tokens.id_token ? { id_token: tokens.id_token } : {}),
    ...(expiresIn !== undefined ? { expires_at: Math.floor(Date.now() / 1000) + expiresIn } : {}),
    ...(tokens.scope ? { scope: tokens.scope } : {}),
    token_type: tokens.token_type,
  };
}

export class OidcSignIn implements ExternalSignIn {
  readonly configKey = 'auth.oidc';
  private configuration: Promise<client.Configuration> | undefined;

  constructor(
    private readonly config: OidcAuthConfig,
    /** The client secret, read from its reference. */
    private readonly clientSecret: () => string,
    /** Where the provider sends people back (known once the hub listens). */
    private readonly callbackUrl: () => string,
  ) {}

  get label(): string {
    return this.config.login_service;
  }

  get policy(): SignInPolicy {
    return this.config;
  }

  /** Discovered once; a failure is tried again at the next sign-in. */
  private discovered(): Promise<client.Configuration> {
    const issuer = new URL(this.config.issuer);
    this.configuration ??= client.discovery(issuer, this.config.client_id, { client_secret: this.clientSecret() }, client.ClientSecretPost(this.clientSecret()), {
      ...(issuer.protocol === 'http:' && isLoopback(issuer) ? { execute: [client.allowInsecureRequests] } : {}),
      timeout: 10,
    }).then((config) => {
      // ID tokens straight from the token endpoint may go unchecked by the letter of the spec when TLS
      // vouches for the provider; their signatures are checked against its published keys all the same
      client.enableNonRepudiationChecks(config);
      return config;
    }).catch((error: unknown) => {
      this.configuration = undefined;
      throw new ExternalSignInError(`cannot use the OpenID Connect provider ${issuer.href} (auth.oidc.issuer): ${describe(error)}`);
    });
    return this.configuration;
  }

  async authorizeUrl(pending: PendingSignIn & { challenge: string }): Promise<string> {
    const config = await this.discovered();
    return client.buildAuthorizationUrl(config, {
      redirect_uri: this.callbackUrl(),
      scope: this.config.scope.join(' '),
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: pending.challenge,
      code_challenge_method: 'S256',
    }).href;
  }

  async identify(callback: URL, pending: PendingSignIn): Promise<ExternalIdentity> {
    const config = await this.discovered();
    // the provider checks redirect_uri against the one the code was issued for: the configured one, not the request's
    const current = new URL(this.callbackUrl());
    current.search = callback.search;
    let tokens;
    try {
      tokens = await client.authorizationCodeGrant(config, current, { pkceCodeVerifier: pending.verifier, expectedState: pending.state, expectedNonce: pending.nonce, idTokenExpected: true });
    } catch (error) {
      throw new ExternalSignInError(`the provider did not accept the sign-in: ${describe(error)}`);
    }
    const idClaims = tokens.claims();
    if (!idClaims) throw new ExternalSignInError('the provider sent no ID token');
    let claims: Record<string, unknown> = { ...idClaims };
    if (!(this.config.username_claim in claims) || !(this.config.claim_groups_key in claims)) {
      try {
        claims = { ...(await client.fetchUserInfo(config, tokens.access_token, idClaims.sub)), ...claims };
      } catch (error) {
        throw new ExternalSignInError(`the provider's userinfo endpoint did not answer: ${describe(error)}`);
      }
    }
    const name = claims[this.config.username_claim];
    if (typeof name !== 'string' || !name) throw new ExternalSignInError(`the provider's answer has no "${this.config.username_claim}" claim (auth.oidc.username_claim)`);
    const groups = claims[this.config.claim_groups_key];
    return { name, groups: Array.isArray(groups) ? [...new Set(groups.filter((g): g is string => typeof g === 'string'))] : [], authState: authStateOf(tokens) };
  }

  async refresh(authState: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (typeof authState.refresh_token !== 'string') throw new ExternalSignInError('the sign-in has no refresh token');
    const config = await this.discovered();
    try {
      const tokens = await client.refreshTokenGrant(config, authState.refresh_token);
      // a provider may keep the refresh token as it is and not send it again
      return { ...authState, ...authStateOf(tokens) };
    } catch (error) {
      throw new ExternalSignInError(`the provider did not refresh the sign-in: ${describe(error)}`);
    }
  }
}
