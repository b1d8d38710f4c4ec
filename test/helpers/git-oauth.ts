/**
 * Stand-ins for GitHub's and GitLab's OAuth servers and the REST endpoints the hub asks of them,
 * following each one's documentation:
 * - GitHub: GET /login/oauth/authorize (a sign-in form), POST /login/oauth/access_token (JSON with
 *   Accept: application/json; a refused code is a 200 with an `error` field, as GitHub answers),
 *   GET /api/user, /api/user/orgs, /api/user/teams (GitHub Enterprise's layout, `api_url`).
 * - GitLab: GET /oauth/authorize, POST /oauth/token (400 with `error` when refused),
 *   GET /api/v4/user, /api/v4/groups?min_access_level=10.
 * Both check client_id, client_secret, redirect_uri and the PKCE verifier (S256), and codes are good
 * once. Loopback HTTP only.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { escapeHtml, formBody, sendJson } from './stand-in-http.js';

export interface GitPerson {
  password: string;
  /** GitHub: organization logins; GitLab: group full paths. */
  groups: string[];
  /** GitHub only: teams as "org:slug". */
  teams?: string[];
}

export interface GitOAuthStandIn {
  /** oauth_base_url */
  url: string;
  /** api_url */
  apiUrl: string;
  clientId: string;
  clientSecret: string;
  tokenRequests: { ok: number; refused: number };
  close(): Promise<void>;
}

export async function startGitOAuth(flavour: 'github' | 'gitlab', options: { redirectUri: string; people: Record<string, GitPerson> }): Promise<GitOAuthStandIn> {
  const paths = flavour === 'github'
    ? { authorize: '/login/oauth/authorize', token: '/login/oauth/access_token', api: '/api' }
    : { authorize: '/oauth/authorize', token: '/oauth/token', api: '/api/v4' };
  const clientId = `${flavour}-client-${randomBytes(4).toString('hex')}`;
  const clientSecret = randomBytes(20).toString('hex');
  const codes = new Map<string, { person: string; redirectUri: string; challenge: string }>();
  const tokens = new Map<string, string>();
  const tokenRequests = { ok: 0, refused: 0 };

  const form = (params: URLSearchParams, error = '') => `<!doctype html><title>Sign in to ${flavour === 'github' ? 'GitHub' : 'GitLab'}</title>
${error ? `<p id="error">${escapeHtml(error)}</p>` : ''}
<form method="post" action="${paths.authorize}">
${[...params].map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`).join('\n')}
<label>Username <input id="login_field" name="login"></label>
<label>Password <input id="password" name="password" type="password"></label>
<button type="submit">Sign in</button></form>`;

  const refuse = (res: ServerResponse, error: string, description: string) => {
    tokenRequests.refused++;
    // GitHub reports token errors with 200; GitLab, as RFC 6749, with 400
    sendJson(res, flavour === 'github' ? 200 : 400, { error, error_description: description });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    if (url.pathname === paths.authorize) {
      const params = req.method === 'POST' ? await formBody(req) : url.searchParams;
      if (params.get('client_id') !== clientId || params.get('redirect_uri') !== options.redirectUri) {
        return void res.writeHead(400, { 'Content-Type': 'text/plain' }).end('The redirect_uri is not associated with this application.');
      }
      if (params.get('code_challenge_method') !== 'S256' || !params.get('code_challenge')) return void res.writeHead(400).end('PKCE S256 is required here');
      if (req.method !== 'POST') return void res.writeHead(200, { 'Content-Type': 'text/html' }).end(form(params));
      const login = params.get('login') ?? '';
      if (options.people[login]?.password !== params.get('password')) return void res.writeHead(200, { 'Content-Type': 'text/html' }).end(form(new URLSearchParams([...params].filter(([k]) => k !== 'login' && k !== 'password')), 'Incorrect username or password.'));
      const code = randomBytes(10).toString('hex');
      codes.set(code, { person: login, redirectUri: options.redirectUri, challenge: params.get('code_challenge')! });
      const back = new URL(options.redirectUri);
      back.searchParams.set('code', code);
      back.searchParams.set('state', params.get('state') ?? '');
      return void res.writeHead(302, { Location: back.href }).end();
    }
    if (url.pathname === paths.token && req.method === 'POST') {
      const body = await formBody(req);
      const code = codes.get(body.get('code') ?? '');
      codes.delete(body.get('code') ?? '');
      if (body.get('client_id') !== clientId || body.get('client_secret') !== clientSecret) return refuse(res, flavour === 'github' ? 'incorrect_client_credentials' : 'invalid_client', 'The client_id and/or client_secret passed are incorrect.');
      if (!code || code.redirectUri !== body.get('redirect_uri')) return refuse(res, flavour === 'github' ? 'bad_verification_code' : 'invalid_grant', 'The code passed is incorrect or expired.');
      if (createHash('sha256').update(body.get('code_verifier') ?? '').digest('base64url') !== code.challenge) return refuse(res, 'invalid_grant', 'The code_verifier does not match the challenge.');
      const token = `${flavour === 'github' ? 'gho' : 'glpat'}_${randomBytes(18).toString('hex')}`;
      tokens.set(token, code.person);
      tokenRequests.ok++;
      return sendJson(res, 200, { access_token: token, token_type: 'bearer', scope: flavour === 'github' ? 'read:org' : 'read_user read_api' });
    }
    const person = tokens.get((req.headers.authorization ?? '').replace(/^Bearer /i, ''));
    if (url.pathname.startsWith(paths.api)) {
      if (!person) return sendJson(res, 401, { message: 'Bad credentials' });
      const who = options.people[person]!;
      const path = url.pathname.slice(paths.api.length);
      if (flavour === 'github') {
        if (path === '/user') return sendJson(res, 200, { login: person, id: 1, name: person });
        if (path === '/user/orgs') return sendJson(res, 200, who.groups.map((login) => ({ login })));
        if (path === '/user/teams') return sendJson(res, 200, (who.teams ?? []).map((t) => ({ slug: t.split(':')[1], organization: { login: t.split(':')[0] } })));
      } else {
        if (path === '/user') return sendJson(res, 200, { username: person, id: 1, name: person });
        if (path === '/groups' && url.searchParams.get('min_access_level') === '10') return sendJson(res, 200, who.groups.map((full_path) => ({ full_path, path: full_path.split('/').pop() })));
      }
    }
    sendJson(res, 404, { message: 'Not Found' });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url, apiUrl: `${url}${paths.api}`, clientId, clientSecret, tokenRequests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
