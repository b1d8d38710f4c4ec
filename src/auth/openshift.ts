/**
 * Signing in with OpenShift: the OAuth 2 authorization-code flow against the cluster's OAuth server
 * (endpoints discovered from the API server's /.well-known/oauth-authorization-server, PKCE S256
 * when offered), then who the person is from the API server's `users/~`, with their groups. The
 * pages that drive it are in src/web/oauth-login-pages.ts.
 */
import type { OpenShiftAuthConfig } from '../config/openshift-auth.js';
import { ExternalSignInError, type ExternalIdentity, type ExternalSignIn, type PendingSignIn, type SignInPolicy } from './external.js';

interface Endpoints {
  authorization_endpoint: string;
  token_endpoint: string;
  code_challenge_methods_supported?: string[];
}

export class OpenShiftOAuth implements ExternalSignIn {
  readonly label = 'OpenShift';
  readonly configKey = 'auth.openshift';
  private endpoints: Promise<Endpoints> | undefined;

  constructor(
    private readonly config: OpenShiftAuthConfig,
    /** The client secret, read from its reference when the config was loaded. */
    private readonly clientSecret: () => string,
    /** Where the OAuth server sends people back (known once the hub listens). */
    private readonly callbackUrl: () => string,
  ) {}

  get policy(): SignInPolicy {
    return { ...this.config, allowed_users: [] };
  }

  private async discover(): Promise<Endpoints> {
    const url = new URL('/.well-known/oauth-authorization-server', this.config.api_url);
    const res = await fetch(url, { headers: { Accept: 'application/json' }, signal: AbortSignal.timeout(10_000) }).catch((error: unknown) => {
      throw new ExternalSignInError(`cannot reach the OpenShift API server at ${this.config.api_url} (auth.openshift.api_url): ${String(error)}`);
    });
    if (!res.ok) throw new ExternalSignInError(`the OpenShift API server answered ${res.status} for ${url.pathname} (auth.openshift.api_url)`);
    const body = (await res.json()) as Partial<Endpoints>;
    if (!body.authorization_endpoint || !body.token_endpoint) throw new ExternalSignInError(`${url} names no authorization and token endpoints`);
    return body as Endpoints;
  }

  /** Discovered once; a failure is retried at the next sign-in. */
  private async endpointsOf(): Promise<Endpoints> {
    this.endpoints ??= this.discover().catch((error: unknown) => {
      this.endpoints = undefined;
      throw error;
    });
    return this.endpoints;
  }

  async authorizeUrl({ state, challenge }: PendingSignIn & { challenge: string }): Promise<string> {
    const endpoints = await this.endpointsOf();
    const url = new URL(endpoints.authorization_endpoint);
    url.searchParams.set('client_id', this.config.client_id);
    url.searchParams.set('redirect_uri', this.callbackUrl());
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('scope', this.config.scope.join(' '));
    url.searchParams.set('state', state);
    if (endpoints.code_challenge_methods_supported?.includes('S256')) {
      url.searchParams.set('code_challenge', challenge);
      url.searchParams.set('code_challenge_method', 'S256');
    }
    return url.toString();
  }

  /** Trade the code for an access token, then ask the API server who it belongs to. */
  async identify(callback: URL, { verifier }: PendingSignIn): Promise<ExternalIdentity> {
    const code = callback.searchParams.get('code');
    if (!code) throw new ExternalSignInError('OpenShift sent no authorization code back');
    const endpoints = await this.endpointsOf();
    const body = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: this.callbackUrl(), client_id: this.config.client_id, client_secret: this.clientSecret() });
    if (endpoints.code_challenge_methods_supported?.includes('S256')) body.set('code_verifier', verifier);
    const res = await fetch(endpoints.token_endpoint, {
      method: 'POST', body, headers: { Accept: 'application/json', 'Content-Type': 'application/x-www-form-urlencoded' }, signal: AbortSignal.timeout(10_000),
    }).catch((error: unknown) => {
      throw new ExternalSignInError(`cannot reach OpenShift's token endpoint: ${String(error)}`);
    });
    const token = (await res.json().catch(() => ({}))) as { access_token?: string; error?: string; error_description?: string };
    if (!res.ok || !token.access_token) {
      throw new ExternalSignInError(`OpenShift did not accept the sign-in (${res.status}${token.error ? ` ${token.error}` : ''}${token.error_description ? `: ${token.error_description}` : ''}); check auth.openshift.client_id and the service account's oauth-redirectreference annotation`);
    }
    const me = await fetch(new URL('/apis/user.openshift.io/v1/users/~', this.config.api_url), {
      headers: { Accept: 'application/json', Authorization: `Bearer ${token.access_token}` }, signal: AbortSignal.timeout(10_000),
    });
    if (!me.ok) throw new ExternalSignInError(`the OpenShift API server did not say who signed in (${me.status} for users/~)`);
    const user = (await me.json()) as { metadata?: { name?: string }; groups?: string[] | null };
    const name = user.metadata?.name;
    if (!name) throw new ExternalSignInError('the OpenShift API server answered users/~ without a user name');
    // system:authenticated and the like are every signed-in person's, not teams
    return { name, groups: [...new Set((user.groups ?? []).filter((g) => !g.startsWith('system:')))], authState: { access_token: token.access_token } };
  }
}
