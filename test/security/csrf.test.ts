// A cookie-authenticated API request must carry the session's CSRF token, however its path is
// spelled: the router decodes `/hub/%61pi/...` to `/hub/api/...` and accepts absolute-form targets
// (`POST http://host/hub/api/...`), so the check must be decided on the route, not on the raw text.
// The same goes for every other decision made by path: JSON errors and the version header for the
// API, and which origin serves published pages.
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { ADMIN_PASSWORD, launchRefinery, type RefineryProcess } from '../helpers/refinery.js';
import { addUser, signIn, type Session } from '../helpers/session.js';
import { reportNotebook } from '../publish/notebooks.js';

describe('the API’s CSRF check whatever the spelling of the path', () => {
  let hub: RefineryProcess;
  let admin: Session;

  before(async () => {
    hub = await launchRefinery();
    await addUser(hub, 'bob', 'bob-password');
    admin = await signIn(hub, 'admin', ADMIN_PASSWORD);
  });
  after(() => hub?.cleanup());

  /** A request as written, request target included (node's fetch would normalize it). */
  const send = (target: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: hub.port, method: init.method ?? 'GET', path: target, headers: { Host: `127.0.0.1:${hub.port}`, ...init.headers } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      });
      req.on('error', reject);
      req.end(init.body);
    });
  const withCookie = (extra: Record<string, string> = {}) => ({ Cookie: admin.cookie, 'Content-Type': 'application/json', ...extra });
  const tokenNotes = async (): Promise<string[]> =>
    ((await (await hub.api('/hub/api/users/admin/tokens')).json()) as { api_tokens: Array<{ note: string }> }).api_tokens.map((t) => t.note);

  test('the plain path: refused without the token, accepted with it', async () => {
    const body = JSON.stringify({ note: 'plain-without' });
    assert.equal((await send('/hub/api/users/admin/tokens', { method: 'POST', headers: withCookie(), body })).status, 403);
    const ok = await send('/hub/api/users/admin/tokens', { method: 'POST', headers: withCookie({ 'X-XSRFToken': admin.xsrf }), body: JSON.stringify({ note: 'plain-with' }) });
    assert.equal(ok.status, 201);
    assert.deepEqual((await tokenNotes()).filter((n) => n.startsWith('plain-')), ['plain-with']);
  });

  for (const target of ['/hub/%61pi/users/admin/tokens', '/%68ub/api/users/admin/tokens', '/hub/ap%69/users/admin/tokens']) {
    test(`a percent-encoded path is the same API route: ${target}`, async () => {
      const note = `encoded ${target}`;
      const res = await send(target, { method: 'POST', headers: withCookie(), body: JSON.stringify({ note }) });
      assert.equal(res.status, 403, `a token was created through ${target} without the CSRF token`);
      assert.match(res.headers['content-type'] ?? '', /application\/json/);
      assert.ok(!(await tokenNotes()).includes(note));
    });
  }

  test('an absolute-form request target is the same API route', async () => {
    const note = 'absolute-form';
    const res = await send(`http://127.0.0.1:${hub.port}/hub/api/users/admin/tokens`, { method: 'POST', headers: withCookie(), body: JSON.stringify({ note }) });
    assert.equal(res.status, 403);
    assert.ok(!(await tokenNotes()).includes(note));
  });

  test('making someone admin through an encoded path needs the token too', async () => {
    const res = await send('/hub/%61pi/users/bob', { method: 'PATCH', headers: withCookie(), body: JSON.stringify({ admin: true }) });
    assert.equal(res.status, 403);
    assert.equal(((await (await hub.api('/hub/api/users/bob')).json()) as { admin: boolean }).admin, false);
  });

  test('the API answers as the API however its path is spelled', async () => {
    for (const target of ['/hub/%61pi/no-such-thing', '/hub/api/no-such-thing', '/hub/%61pi/users/nobody-at-all']) {
      const res = await send(target, { headers: { Authorization: 'token not-a-token' } });
      assert.match(res.headers['content-type'] ?? '', /application\/json/, target);
      assert.ok(res.headers['x-jupyterhub-version'], `${target} carries the version header`);
      assert.equal((JSON.parse(res.body) as { status: number }).status, res.status);
    }
  });
});

describe('which origin serves published pages, decided on the routed path', () => {
  let hub: RefineryProcess;
  let pages: string;
  let slug: string;

  before(async () => {
    hub = await launchRefinery();
    pages = `http://localhost:${hub.port}`;
    const config = parse(await readFile(hub.configPath, 'utf8')) as Record<string, unknown>;
    await writeFile(hub.configPath, stringify({ ...config, public_url: hub.url, publish: { public_url: pages } }));
    await hub.kill();
    await hub.restart();
    await addUser(hub, 'alice', 'alice-password');
    const token = await hub.tokenFor('alice');
    const res = await hub.as(token, '/hub/api/users/alice/publications', { method: 'POST', body: JSON.stringify({ title: 'Public', visibility: 'public', notebook: reportNotebook({ marker: 'page-marker' }) }) });
    assert.equal(res.status, 201);
    slug = ((await res.json()) as { id: string }).id;
  });
  after(() => hub?.cleanup());

  test('the hub’s address sends every spelling of a page to the page origin and never serves it itself', async () => {
    for (const path of [`/p/${slug}`, `/%70/${slug}`, `/%70/${slug}.ipynb`]) {
      const res = await fetch(`${hub.url}${path}`, { redirect: 'manual' });
      const body = await res.text();
      assert.ok(!body.includes('page-marker'), `${path} was served on the hub’s origin`);
      assert.equal(res.status, 302, path);
      assert.equal(new URL(res.headers.get('location')!).origin, pages);
    }
  });
});
