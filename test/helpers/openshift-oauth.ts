/**
 * A stand-in for an OpenShift cluster's OAuth server and the one API the hub asks of it, following
 * OpenShift's documented endpoints: /.well-known/oauth-authorization-server on the API server,
 * /oauth/authorize (a sign-in form, as the htpasswd identity provider shows), /oauth/token (the
 * service account as client: client_id system:serviceaccount:<ns>:<sa>, its token as secret, the
 * redirect URI its annotation allows), `sha256~` access tokens, and
 * /apis/user.openshift.io/v1/users/~ answering with the User and its groups. Loopback HTTP only.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { escapeHtml, formBody, sendJson } from './stand-in-http.js';

export interface OpenShiftUser {
  password: string;
  groups: string[];
}

export interface OpenShiftOAuthStandIn {
  url: string;
  clientId: string;
  clientSecret: string;
  /** Token requests answered, by outcome, so tests can see what the hub sent. */
  tokenRequests: { ok: number; refused: number };
  close(): Promise<void>;
}

export async function startOpenShiftOAuth(options: { namespace: string; serviceAccount: string; redirectUri: string; users: Record<string, OpenShiftUser> }): Promise<OpenShiftOAuthStandIn> {
  const clientId = `system:serviceaccount:${options.namespace}:${options.serviceAccount}`;
  const clientSecret = `sa-token-${randomBytes(16).toString('hex')}`;
  const codes = new Map<string, { user: string; redirectUri: string; challenge?: string; method?: string }>();
  const tokens = new Map<string, string>();
  const tokenRequests = { ok: 0, refused: 0 };
  let url = '';

  const authorizeCheck = (params: URLSearchParams): string | undefined => {
    if (params.get('client_id') !== clientId) return 'unauthorized_client';
    if (params.get('redirect_uri') !== options.redirectUri) return 'invalid_request: redirect_uri not allowed for this client';
    if (params.get('response_type') !== 'code') return 'unsupported_response_type';
    const scopes = (params.get('scope') ?? '').split(' ');
    if (!scopes.every((s) => s.startsWith('user:'))) return 'invalid_scope';
    return undefined;
  };

  const loginForm = (params: URLSearchParams, error = '') => `<!doctype html><title>Log in to OpenShift</title>
<h1>Log in to your account</h1>${error ? `<p id="error">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/oauth/authorize">
${[...params].map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`).join('\n')}
<label>Username <input id="inputUsername" name="username"></label>
<label>Password <input id="inputPassword" name="password" type="password"></label>
<button type="submit">Log in</button></form>`;

  const server = createServer((req, res) => {
    void (async () => {
      const here = new URL(req.url ?? '/', url);
      if (req.method === 'GET' && here.pathname === '/.well-known/oauth-authorization-server') {
        return sendJson(res, 200, {
          issuer: url, authorization_endpoint: `${url}/oauth/authorize`, token_endpoint: `${url}/oauth/token`,
          scopes_supported: ['user:check-access', 'user:full', 'user:info', 'user:list-projects', 'user:list-scoped-projects'],
          response_types_supported: ['code', 'token'], grant_types_supported: ['authorization_code', 'implicit'],
          code_challenge_methods_supported: ['plain', 'S256'],
        });
      }
      if (here.pathname === '/oauth/authorize') {
        const params = req.method === 'POST' ? await formBody(req) : here.searchParams;
        const problem = authorizeCheck(params);
        if (problem) return sendJson(res, 400, { error: problem });
        if (req.method === 'GET') return res.writeHead(200, { 'Content-Type': 'text/html' }).end(loginForm(params));
        const username = params.get('username') ?? '';
        const account = options.users[username];
        params.delete('username');
        if (!account || params.get('password') !== account.password) {
          params.delete('password');
          return res.writeHead(401, { 'Content-Type': 'text/html' }).end(loginForm(params, 'Invalid login or password. Please try again.'));
        }
        const code = randomBytes(16).toString('base64url');
        codes.set(code, { user: username, redirectUri: params.get('redirect_uri')!, ...(params.get('code_challenge') ? { challenge: params.get('code_challenge')!, method: params.get('code_challenge_method') ?? 'plain' } : {}) });
        const back = new URL(params.get('redirect_uri')!);
        back.searchParams.set('code', code);
        if (params.get('state')) back.searchParams.set('state', params.get('state')!);
        return res.writeHead(302, { Location: back.toString() }).end();
      }
      if (req.method === 'POST' && here.pathname === '/oauth/token') {
        const form = await formBody(req);
        const refuse = (status: number, error: string) => {
          tokenRequests.refused++;
          sendJson(res, status, { error, error_description: `the stand-in refused: ${error}` });
        };
        if (form.get('client_id') !== clientId || form.get('client_secret') !== clientSecret) return refuse(401, 'unauthorized_client');
        const grant = codes.get(form.get('code') ?? '');
        codes.delete(form.get('code') ?? '');
        if (form.get('grant_type') !== 'authorization_code' || !grant || grant.redirectUri !== form.get('redirect_uri')) return refuse(400, 'invalid_grant');
        if (grant.challenge) {
          const verifier = form.get('code_verifier') ?? '';
          const computed = grant.method === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier;
          if (computed !== grant.challenge) return refuse(400, 'invalid_grant');
        }
        const token = `sha256~${randomBytes(32).toString('base64url')}`;
        tokens.set(token, grant.user);
        tokenRequests.ok++;
        return sendJson(res, 200, { access_token: token, token_type: 'Bearer', expires_in: 86400, scope: 'user:info' });
      }
      if (req.method === 'GET' && here.pathname === '/apis/user.openshift.io/v1/users/~') {
        const user = tokens.get((req.headers.authorization ?? '').replace(/^Bearer /, ''));
        if (!user) return sendJson(res, 401, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
        return sendJson(res, 200, {
          kind: 'User', apiVersion: 'user.openshift.io/v1',
          metadata: { name: user, uid: createHash('sha1').update(user).digest('hex'), resourceVersion: '1' },
          identities: [`htpasswd:${user}`],
          groups: ['system:authenticated', 'system:authenticated:oauth', ...options.users[user]!.groups],
        });
      }
      sendJson(res, 404, { kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404 });
    })().catch((error: unknown) => {
      res.writeHead(500).end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url, clientId, clientSecret, tokenRequests,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
