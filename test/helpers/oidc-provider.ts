// A real OpenID Connect provider for the sign-in tests: `oidc-provider` (a certified implementation),
// on 127.0.0.1 with one confidential client, PKCE required, and people with groups. Its own
// development sign-in and consent pages accept any password; who someone is comes from `login`.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

export interface OidcProviderStandIn {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Who an access token belongs to, asked of the userinfo endpoint as any client would (undefined: not valid). */
  whoHolds(accessToken: string): Promise<string | undefined>;
  /** Codes traded at the token endpoint, by outcome. */
  tokenRequests: { ok: number; refused: number };
  /**
   * Go through the provider's sign-in and consent pages as `login` without a browser, starting at an
   * authorization URL, and return where the provider sends the browser back to (the client's
   * redirect_uri with the code), without going there.
   */
  callbackFor(authorizeUrl: string, login: string): Promise<string>;
  close(): Promise<void>;
}

/** Cookies by name, as one browser would keep them for the provider's origin. */
class CookieJar {
  private readonly cookies = new Map<string, string>();
  take(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

async function walk(issuer: string, start: string, login: string): Promise<string> {
  const jar = new CookieJar();
  let url = start;
  let body: URLSearchParams | undefined;
  for (let step = 0; step < 20; step++) {
    const res = await fetch(url, { method: body ? 'POST' : 'GET', body, headers: { cookie: jar.header() }, redirect: 'manual' });
    jar.take(res);
    body = undefined;
    const location = res.headers.get('location');
    if (location) {
      const next = new URL(location, url).href;
      if (!next.startsWith(issuer)) return next;
      url = next;
      continue;
    }
    const html = await res.text();
    const action = /action="([^"]+)"/.exec(html)?.[1];
    if (!action) throw new Error(`the provider's page at ${url} has no form: ${html.slice(0, 200)}`);
    const prompt = /name="prompt" value="([^"]+)"/.exec(html)?.[1] ?? '';
    body = new URLSearchParams(prompt === 'login' ? { prompt, login, password: 'any' } : { prompt });
    url = new URL(action, url).href;
  }
  throw new Error('the provider kept the sign-in going for more than 20 steps');
}

export async function startOidcProvider(options: {
  redirectUri: string;
  users: Record<string, { groups: string[] }>;
  /** Access tokens' lifetime in seconds (default 3600), and whether refresh tokens are issued. */
  accessTokenTtl?: number;
  refreshTokens?: boolean;
}): Promise<OidcProviderStandIn> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientId = 'refinery-hub';
  const clientSecret = 'refinery-hub-secret-for-tests';
  const provider = new Provider(issuer, {
    clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: [options.redirectUri], grant_types: options.refreshTokens ? ['authorization_code', 'refresh_token'] : ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_post' }],
    claims: { openid: ['sub'], profile: ['preferred_username', 'name'], groups: ['groups'] },
    scopes: ['openid', 'profile', 'groups'],
    pkce: { required: () => true },
    cookies: { keys: ['refinery-oidc-test-cookie-key'] },
    ttl: { AccessToken: options.accessTokenTtl ?? 3600, IdToken: 3600, RefreshToken: 86_400, Interaction: 600, Session: 3600, Grant: 86_400 },
    issueRefreshToken: () => options.refreshTokens ?? false,
    findAccount: (_ctx, id) => ({
      accountId: id,
      claims: () => ({ sub: id, preferred_username: id, name: id, groups: options.users[id]?.groups ?? [] }),
    }),
  });
  const tokenRequests = { ok: 0, refused: 0 };
  provider.on('grant.success', () => void tokenRequests.ok++);
  provider.on('grant.error', () => void tokenRequests.refused++);
  server.on('request', provider.callback());
  return {
    issuer, clientId, clientSecret, tokenRequests,
    callbackFor: (authorizeUrl, login) => walk(issuer, authorizeUrl, login),
    whoHolds: async (accessToken) => {
      const res = await fetch(`${issuer}/me`, { headers: { Authorization: `Bearer ${accessToken}` } });
      return res.ok ? ((await res.json()) as { sub?: string }).sub : undefined;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
