// Talking to the hub's OAuth provider as a browser and as a single-user server would.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import type { RefineryProcess } from './refinery.js';
import type { Session } from './session.js';

export interface OAuthAnswer {
  status: number;
  /** The Location header, when the answer is a redirect. */
  location: string | undefined;
  body: string;
}

async function answer(res: Response): Promise<OAuthAnswer> {
  return { status: res.status, location: res.headers.get('location') ?? undefined, body: await res.text() };
}

/** GET the authorization endpoint with these query parameters, as `session`'s browser (or signed out). */
export async function authorize(hub: RefineryProcess, session: Session | null, params: Record<string, string> | URLSearchParams): Promise<OAuthAnswer> {
  const query = params instanceof URLSearchParams ? params : new URLSearchParams(params);
  const res = await fetch(`${hub.url}/hub/api/oauth2/authorize?${query.toString()}`, { redirect: 'manual', headers: session ? { Cookie: session.cookie } : {} });
  return answer(res);
}

/** The query parameters of a redirect's Location (relative to the hub). */
export function locationParams(hub: RefineryProcess, location: string | undefined): URLSearchParams {
  assert.ok(location, 'a redirect');
  return new URL(location, hub.url).searchParams;
}

/** POST the token endpoint with these form fields (and optionally an Authorization header). */
export async function requestToken(hub: RefineryProcess, fields: Record<string, string> | URLSearchParams, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${hub.url}/hub/api/oauth2/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body: fields instanceof URLSearchParams ? fields : new URLSearchParams(fields),
  });
  const text = await res.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { unparsed: text };
  }
  return { status: res.status, body, headers: res.headers };
}

/** `Authorization: Basic` as RFC 6749 §2.3.1 has it (each part form-encoded first). */
export function basicAuth(id: string, secret: string): string {
  const encode = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(id)}:${encode(secret)}`).toString('base64')}`;
}

/** A PKCE verifier and its S256 challenge. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/**
 * The environment a running server was started with, read from /proc (tests run as root), e.g.
 * its JUPYTERHUB_API_TOKEN, which is its OAuth client secret.
 */
export async function serverEnv(hub: RefineryProcess, user: string, server = ''): Promise<Record<string, string>> {
  const res = await hub.api(`/hub/api/users/${encodeURIComponent(user)}`);
  const model = (await res.json()) as { servers?: Record<string, { state?: { pid?: number } }> };
  const pid = model.servers?.[server]?.state?.pid;
  assert.ok(pid, `${user}/${server} is running with a pid`);
  const env: Record<string, string> = {};
  for (const entry of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

/** One page load as a browser makes it (node:http: fetch always says `Sec-Fetch-Mode: cors`). */
function navigate(url: URL, cookie: string): Promise<{ status: number; location: string | undefined; setCookies: string[]; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { Cookie: cookie, Accept: 'text/html', 'Sec-Fetch-Mode': 'navigate', 'Sec-Fetch-Dest': 'document', 'Sec-Fetch-Site': 'same-origin' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, setCookies: res.headers['set-cookie'] ?? [], body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Open a server in a browser that is signed in to the hub, following redirects the way a browser
 * does (cookies kept, same origin only): the server sends it to the hub's authorization endpoint,
 * the hub back to the server's callback, the server on to the page. Returns every hop and the end.
 */
export async function openServerInBrowser(hub: RefineryProcess, session: Session, path: string): Promise<{ hops: string[]; status: number; body: string; authorizeUrl: URL | undefined }> {
  const jar = new Map<string, string>(session.cookie.split('; ').map((c) => [c.slice(0, c.indexOf('=')), c.slice(c.indexOf('=') + 1)]));
  const hops: string[] = [];
  let authorizeUrl: URL | undefined;
  let url = new URL(path, hub.url);
  for (let i = 0; i < 10; i++) {
    hops.push(`${url.pathname}${url.search}`);
    if (url.pathname === '/hub/api/oauth2/authorize') authorizeUrl = url;
    const res = await navigate(url, [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
    for (const cookie of res.setCookies) {
      const pair = cookie.split(';')[0]!;
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (value === '' || value === '""' || /max-age=0/i.test(cookie)) jar.delete(name);
      else jar.set(name, value);
    }
    if (res.status < 300 || res.status >= 400 || !res.location) return { hops, status: res.status, body: res.body, authorizeUrl };
    const next = new URL(res.location, url);
    if (next.origin !== new URL(hub.url).origin) {
      hops.push(next.href);
      return { hops, status: res.status, body: res.body, authorizeUrl };
    }
    url = next;
  }
  throw new Error(`too many redirects: ${hops.join(' -> ')}`);
}
