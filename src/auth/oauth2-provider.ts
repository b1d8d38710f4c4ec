/**
 * Signing in with a plain OAuth 2 provider whose people are found through its REST API (GitHub,
 * GitLab): the authorization code flow with state and PKCE (S256), the code traded with the client's
 * secret, then `whoIs` asks the API who the token belongs to and their organizations or groups.
 */
import type { ExternalIdentity, ExternalSignIn, PendingSignIn, SignInPolicy } from './external.js';
import { ExternalSignInError } from './external.js';

export interface OAuth2Settings {
  client_id: string;
  oauth_callback_url?: string | undefined;
  scope: string[];
  allowed_users: string[];
  allowed_organizations: string[];
  admin_groups: string[];
  manage_groups: boolean;
}

const TIMEOUT_MS = 10_000;

export abstract class OAuth2SignIn implements ExternalSignIn {
  abstract readonly label: string;
  abstract readonly configKey: string;
  protected abstract readonly authorizeEndpoint: string;
  protected abstract readonly tokenEndpoint: string;
  /** Who the access token belongs to, and their organizations or groups. */
  protected abstract whoIs(accessToken: string): Promise<ExternalIdentity>;

  constructor(
    protected readonly settings: OAuth2Settings,
    private readonly clientSecret: () => string,
    private readonly callbackUrl: () => string,
  ) {}

  get policy(): SignInPolicy {
    const s = this.settings;
    return { allowed_users: s.allowed_users, allowed_groups: s.allowed_organizations, admin_groups: s.admin_groups, manage_groups: s.manage_groups };
  }

  async authorizeUrl({ state, challenge }: PendingSignIn & { challenge: string }): Promise<string> {
    const url = new URL(this.authorizeEndpoint);
    url.searchParams.set('client_id', this.settings.client_id);
    url.searchParams.set('redirect_uri', this.callbackUrl());
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('scope', this.settings.scope.join(' '));
    url.searchParams.set('state', state);
    url.searchParams.set('code_challenge', challenge);
    url.searchParams.set('code_challenge_method', 'S256');
    return url.href;
  }

  async identify(callback: URL, { verifier }: PendingSignIn): Promise<ExternalIdentity> {
    const code = callback.searchParams.get('code');
    if (!code) throw new ExternalSignInError(`${this.label} sent no authorization code back`);
    const body = new URLSearchParams({
      grant_type: 'authorization_code', code, redirect_uri: this.callbackUrl(), code_verifier: verifier,
      client_id: this.settings.client_id, client_secret: this.clientSecret(),
    });
    const res = await fetch(this.tokenEndpoint, {
      method: 'POST', body, headers: { Accept: 'application/json', 'Content-Type': 'application/x-www-form-urlencoded' }, signal: AbortSignal.timeout(TIMEOUT_MS),
    }).catch((error: unknown) => {
      throw new ExternalSignInError(`cannot reach ${this.label}'s token endpoint ${this.tokenEndpoint}: ${String(error)}`);
    });
    // GitHub answers a refused code with 200 and an `error` field
    const token = (await res.json().catch(() => ({}))) as { access_token?: string; scope?: string; error?: string; error_description?: string };
    if (!res.ok || !token.access_token) {
      throw new ExternalSignInError(`${this.label} did not accept the sign-in (${res.status}${token.error ? ` ${token.error}` : ''}${token.error_description ? `: ${token.error_description}` : ''}); check ${this.configKey}.client_id and client_secret`);
    }
    const identity = await this.whoIs(token.access_token);
    return { ...identity, authState: { access_token: token.access_token, ...(token.scope ? { scope: token.scope } : {}) } };
  }

  /** GET an API path with the person's token; errors name the endpoint, never the token. */
  protected async api<T>(url: string, accessToken: string): Promise<T> {
    const res = await fetch(url, { headers: { Accept: 'application/json', Authorization: `Bearer ${accessToken}` }, signal: AbortSignal.timeout(TIMEOUT_MS) }).catch((error: unknown) => {
      throw new ExternalSignInError(`cannot reach ${url}: ${String(error)}`);
    });
    if (!res.ok) throw new ExternalSignInError(`${url} answered ${res.status}`);
    return (await res.json()) as T;
  }
}
