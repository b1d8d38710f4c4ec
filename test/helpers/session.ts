// A browser-like session over plain HTTP: sign in through the form, then fetch pages and post forms
// with the session cookie and CSRF token.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import type { RefineryProcess } from './refinery.js';

const CLI = join(resolve(import.meta.dirname, '..', '..', '..'), 'dist', 'src', 'cli.js');

export interface Session {
  cookie: string;
  xsrf: string;
  get(path: string): Promise<Response>;
  post(path: string, fields: Record<string, string>, options?: { withXsrf?: boolean }): Promise<Response>;
}

export function setCookies(res: Response): string[] {
  return res.headers.getSetCookie().map((c) => c.split(';')[0]!);
}

/** Sign in the way the browser does: the sign-in form's token and cookie, then the session cookie. */
export async function signIn(hub: RefineryProcess, username: string, password: string): Promise<Session> {
  const form = await fetch(`${hub.url}/hub/login`);
  const loginCookie = setCookies(form).join('; ');
  const loginXsrf = /name="_xsrf" value="([^"]+)"/.exec(await form.text())?.[1];
  assert.ok(loginXsrf, 'the sign-in form carries a token');
  const res = await fetch(`${hub.url}/hub/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: loginCookie },
    body: new URLSearchParams({ _xsrf: loginXsrf, username, password }),
  });
  assert.equal(res.status, 302, `signing in as ${username}`);
  const cookie = setCookies(res).filter((c) => c.startsWith('refinery-session=')).join('; ');
  const home = await (await fetch(`${hub.url}/hub/home`, { headers: { Cookie: cookie } })).text();
  const xsrf = /<meta name="csrf-token" content="([^"]+)">/.exec(home)?.[1];
  assert.ok(xsrf, 'pages carry the session CSRF token');
  return {
    cookie,
    xsrf,
    get: (path) => fetch(`${hub.url}${path}`, { redirect: 'manual', headers: { Cookie: cookie } }),
    post: (path, fields, options = {}) =>
      fetch(`${hub.url}${path}`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: cookie },
        body: new URLSearchParams({ ...(options.withXsrf === false ? {} : { _xsrf: xsrf }), ...fields }),
      }),
  };
}


/** `refinery users add NAME --password-stdin` against the running hub's configuration. */
export function addUser(hub: RefineryProcess, name: string, password: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, 'users', 'add', name, '--password-stdin', '--config', hub.configPath], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolvePromise() : reject(new Error(`users add ${name}: exit ${code}: ${output}`))));
    child.stdin.end(password);
  });
}
