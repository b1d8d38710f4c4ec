// In path mode a user's server shares the hub's origin: a page bob serves from his own server runs
// with the hub's origin in the browser of whoever opens it. When an admin opens it, bob's script must
// not be able to read the hub's pages (and the CSRF token in them) or its API with the admin's
// cookie, change anything on the hub, plant a sign-in cookie for the hub, or frame hub pages. And
// by default an admin does not open other people's servers at all (`admin_access: false`).
//
// bob's server is the real jupyterhub-singleuser; his "malicious page" is a static file it serves
// from his home (`extra_static_paths`), and his server sends a Set-Cookie for the hub's paths on
// every response (`tornado_settings.headers`): both are configuration any user can write.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { parse, stringify } from 'yaml';
import type { BrowserContext, Page } from 'playwright-core';
import { silentLogger } from '../../src/log.js';
import { createProxy, RouteTable, type ProxyOptions } from '../../src/proxy/index.js';
import { launchBrowser, saveScreenshot, type Browser } from '../helpers/browser.js';
import { ADMIN_PASSWORD, launchRefinery, startServerAndWait, SERVICE_TOKEN, type RefineryProcess } from '../helpers/refinery.js';
import { addUser, signIn, type Session } from '../helpers/session.js';

/** The headers a browser sends with a script's fetch from a page of the same origin. */
const SCRIPT_FETCH = { 'Sec-Fetch-Site': 'same-origin', 'Sec-Fetch-Mode': 'cors', 'Sec-Fetch-Dest': 'empty' };
/** ... and with a link followed or a form submitted on a page of the hub. */
const NAVIGATION = { 'Sec-Fetch-Site': 'same-origin', 'Sec-Fetch-Mode': 'navigate', 'Sec-Fetch-Dest': 'document', 'Sec-Fetch-User': '?1' };

// ---------------------------------------------------------------------------------------------
// What a user's server may send to the browser through the proxy

describe('the proxy keeps a server’s cookies inside its prefix', () => {
  async function proxyInFront(t: TestContext, cookies: string[], extraHeaders: Record<string, string> = {}): Promise<number> {
    const upstream = http.createServer((_req: IncomingMessage, res: ServerResponse) => {
      res.setHeader('Set-Cookie', cookies);
      for (const [k, v] of Object.entries(extraHeaders)) res.setHeader(k, v);
      res.end('ok');
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const routes = new RouteTable();
    routes.set('/user/bob/', `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, { user: 'bob', server: '' });
    // built apart so that this file also compiles against a proxy without the option
    const hubCookies: Record<string, unknown> = { isHubCookie: (name: string) => name.toLowerCase().replace(/^__(?:host|secure)-/, '').startsWith('refinery-') };
    const proxy = createProxy({
      routes,
      log: silentLogger(),
      authorize: () => ({ action: 'allow' }),
      onMissingRoute: (_req, res) => void res.writeHead(404).end(),
      onUpstreamError: (_req, res) => void res.writeHead(503).end(),
      fallback: (_req, res) => void res.writeHead(404).end(),
      ...hubCookies,
    } as ProxyOptions);
    const server = http.createServer(proxy.handleRequest);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => {
      proxy.close();
      server.closeAllConnections();
      server.close();
      upstream.closeAllConnections();
      upstream.close();
    });
    return (server.address() as AddressInfo).port;
  }

  const setCookiesAt = async (port: number, path: string): Promise<{ cookies: string[]; headers: Headers }> => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    await res.text();
    return { cookies: res.headers.getSetCookie().map((c) => c.split(';')[0]!), headers: res.headers };
  };

  test('cookies for the server’s own paths pass; for the hub’s paths, other servers, other hosts or the hub’s names do not', async (t) => {
    const port = await proxyInFront(t, [
      'own=1; Path=/user/bob/',
      'own-exact=1; Path=/user/bob',
      'own-deeper=1; Path=/user/bob/lab/',
      'defaulted=1',
      'hub-path=1; Path=/hub/',
      'root=1; Path=/',
      'lookalike=1; Path=/user/bobby/',
      'other-user=1; Path=/user/alice/',
      'dotted=1; Path=/user/bob/../../hub/',
      'widened=1; Path=/user/bob/; Domain=127.0.0.1',
      'refinery-session=planted; Path=/user/bob/',
      '__Host-Refinery-session=planted; Path=/user/bob/',
      'refinery-login-xsrf=planted; Path=/user/bob/',
      '=refinery-session=nameless; Path=/user/bob/',
      'relative-path=1; Path=hub',
    ]);
    const { cookies } = await setCookiesAt(port, '/user/bob/lab/tree');
    assert.deepEqual(cookies.sort(), ['defaulted=1', 'own-deeper=1', 'own-exact=1', 'own=1', 'relative-path=1'].sort());
  });

  test('without a Path, a cookie takes the request’s directory: outside the prefix when the request is the bare prefix', async (t) => {
    const port = await proxyInFront(t, ['defaulted=1']);
    assert.deepEqual((await setCookiesAt(port, '/user/bob/lab')).cookies, ['defaulted=1'], 'directory /user/bob');
    assert.deepEqual((await setCookiesAt(port, '/user/bob')).cookies, [], 'directory /user: outside');
  });

  test('no service worker wider than the server, and no clearing the whole site’s data', async (t) => {
    const wide = await proxyInFront(t, [], { 'Service-Worker-Allowed': '/', 'Clear-Site-Data': '"cookies", "storage"' });
    const { headers } = await setCookiesAt(wide, '/user/bob/sw.js');
    assert.equal(headers.get('service-worker-allowed'), null);
    assert.equal(headers.get('clear-site-data'), null);
    const own = await proxyInFront(t, [], { 'Service-Worker-Allowed': '/user/bob/lab/' });
    assert.equal((await setCookiesAt(own, '/user/bob/sw.js')).headers.get('service-worker-allowed'), '/user/bob/lab/');
  });
});

// ---------------------------------------------------------------------------------------------
// The hub against requests that a page of a user's server makes with somebody's cookie

describe('the hub and pages of user servers on the same origin', () => {
  let hub: RefineryProcess;
  let browser: Browser;
  let admin: Session;
  let bobSession: Session;
  const contexts: BrowserContext[] = [];

  /** A raw request with the admin's cookie and the given headers (node's fetch cannot send Sec-Fetch-* as a browser does). */
  const raw = (path: string, headers: Record<string, string>, init: { method?: string; body?: string } = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> =>
    new Promise((resolve, reject) => {
      const req = http.request(`${hub.url}${path}`, { method: init.method ?? 'GET', headers: { Cookie: admin.cookie, ...headers } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      });
      req.on('error', reject);
      req.end(init.body);
    });

  const bobIsAdmin = async (): Promise<boolean> => ((await (await hub.api('/hub/api/users/bob')).json()) as { admin: boolean }).admin;

  before(async () => {
    hub = await launchRefinery();
    admin = await signIn(hub, 'admin', ADMIN_PASSWORD);
    await addUser(hub, 'bob', 'bob-password');
    bobSession = await signIn(hub, 'bob', 'bob-password');
    // bob's server: serves his page from his home, and tries to hand every visitor his own hub sign-in
    const home = join(hub.dataDir, 'users', 'bob');
    await mkdir(join(home, '.jupyter'), { recursive: true });
    await mkdir(join(home, 'public'), { recursive: true });
    const bobCookie = bobSession.cookie.split('=').slice(1).join('=');
    await writeFile(join(home, '.jupyter', 'jupyter_server_config.py'), [
      `c.ServerApp.extra_static_paths = [${JSON.stringify(join(home, 'public'))}]`,
      `c.ServerApp.tornado_settings = {"headers": {"Set-Cookie": ${JSON.stringify(`refinery-session=${bobCookie}; Path=/hub/`)}}}`,
      '',
    ].join('\n'));
    await writeFile(join(home, 'public', 'evil.html'), evilPage(bobCookie));
    await startServerAndWait(hub, SERVICE_TOKEN, 'bob');
    browser = await launchBrowser();
  });
  after(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await hub?.cleanup();
  });

  /** The admin, signed in through the sign-in form in a fresh browser profile. */
  async function adminInBrowser(): Promise<Page> {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    await page.goto(`${hub.url}/hub/login`);
    await page.getByLabel('Username', { exact: true }).fill('admin');
    await page.getByLabel('Password', { exact: true }).fill(ADMIN_PASSWORD);
    await Promise.all([page.waitForURL(/\/hub\/home/), page.getByRole('button', { name: 'Sign in' }).click()]);
    return page;
  }

  const signedInAs = async (page: Page): Promise<string | null> => {
    await page.goto(`${hub.url}/hub/home`);
    return page.locator('.who strong').textContent({ timeout: 5_000 }).catch(() => null);
  };

  // ------------------------------------------------------------------ admin_access: false (default)

  test('by default an admin’s sign-in does not reach other people’s servers', async () => {
    const viaProxy = await raw('/user/bob/static/evil.html', NAVIGATION);
    assert.equal(viaProxy.status, 403, 'the proxy refuses the admin at bob’s server');
    assert.doesNotMatch(viaProxy.body, /__results/);
    const me = (await (await fetch(`${hub.url}/hub/api/user`, { headers: { Cookie: admin.cookie, 'X-XSRFToken': admin.xsrf } })).json()) as { scopes: string[] };
    assert.ok(!me.scopes.some((s) => s === 'access:servers' || s === 'shares'), `admin scopes: ${me.scopes.join(' ')}`);
    assert.ok(me.scopes.includes('access:servers!user=admin'), 'their own servers stay theirs');
    assert.ok(me.scopes.includes('admin:servers'), 'and they still manage everyone’s servers');
  });

  test('the admin page’s Open on someone else’s server explains, and leads nowhere', async () => {
    const adminPage = await admin.get('/hub/admin');
    const html = await adminPage.text();
    assert.match(html, /href="\/hub\/admin\/open\/bob"/, 'Open goes through the warning');
    assert.doesNotMatch(html, /href="\/user\/bob\/"/);
    const open = await admin.get('/hub/admin/open/bob');
    assert.equal(open.status, 403);
    const text = await open.text();
    assert.match(text, /admin_access: true/);
    assert.doesNotMatch(text, /href="\/user\/bob\/"/);
  });

  // ------------------------------------------------------------------ admin_access: true

  test('with admin_access the admin is warned before opening bob’s server', async () => {
    const config = parse(await readFile(hub.configPath, 'utf8')) as Record<string, unknown>;
    await writeFile(hub.configPath, stringify({ ...config, admin_access: true }));
    await hub.kill();
    await hub.restart(); // bob's server keeps running and is adopted
    admin = await signIn(hub, 'admin', ADMIN_PASSWORD);
    const open = await admin.get('/hub/admin/open/bob');
    assert.equal(open.status, 200);
    const text = await open.text();
    assert.match(text, /runs code that bob controls/);
    assert.match(text, /id="open-anyway" href="\/user\/bob\/"/);
  });

  test('hub pages are never framed, not even by the same origin', async () => {
    const page = await raw('/hub/home', NAVIGATION);
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-security-policy']), /frame-ancestors 'none'/);
  });

  test('a script’s fetch with the admin’s cookie gets neither a hub page with its token nor the API', async () => {
    const home = await raw('/hub/home', SCRIPT_FETCH);
    assert.doesNotMatch(home.body, /csrf-token/, 'the page with the CSRF token was served to a script');
    assert.ok(!home.body.includes(admin.xsrf));
    assert.equal((await raw('/hub/api/users', SCRIPT_FETCH)).status, 403);
    assert.equal((await raw('/hub/api/users', { ...SCRIPT_FETCH, 'X-XSRFToken': admin.xsrf })).status, 200, 'our own pages’ scripts send the token');
    const login = await raw('/hub/login', { ...SCRIPT_FETCH, Cookie: '' });
    assert.doesNotMatch(login.body, /name="_xsrf"/, 'nor does a script get a sign-in form to sign the visitor in as someone else');
  });

  test('a form posted from a user’s page or another site is refused even with the right token', async () => {
    const post = (headers: Record<string, string>) => raw('/hub/admin/users/bob/admin', { 'Content-Type': 'application/x-www-form-urlencoded', ...NAVIGATION, ...headers }, { method: 'POST', body: new URLSearchParams({ _xsrf: admin.xsrf, admin: '1' }).toString() });
    assert.equal((await post({ Referer: `${hub.url}/user/bob/static/evil.html` })).status, 403);
    assert.equal((await post({ 'Sec-Fetch-Site': 'cross-site', Origin: 'https://evil.example' })).status, 403);
    assert.equal((await post({ 'Sec-Fetch-Site': 'same-site' })).status, 403);
    assert.equal(await bobIsAdmin(), false);
  });

  test('bob’s page, opened by the admin, cannot read the hub or act on it', async (t) => {
    const page = await adminInBrowser();
    try {
      await page.goto(`${hub.url}/user/bob/static/evil.html`);
      await page.waitForFunction(() => document.title === 'done', undefined, { timeout: 30_000 });
      const results = (await page.evaluate(() => (window as unknown as { __results: Record<string, unknown> }).__results));
      t.diagnostic(`what bob's page got: ${JSON.stringify(results)}`);
      await saveScreenshot(page, 'same-origin-evil-page');
      assert.equal(results.tokenFromPage, null, 'the CSRF token was read from a hub page');
      assert.equal(results.apiRead, 403, 'the API answered a script with the admin’s cookie');
      assert.equal(results.apiPatch, 403);
      assert.equal(results.apiPatchEncoded, 403);
      assert.notEqual(results.framed, true, 'a hub page was framed and read');
      assert.notEqual(results.opened, 'read', 'a hub page opened in a window was read');
      assert.equal(await bobIsAdmin(), false, 'bob made himself admin');
      assert.equal(await signedInAs(page), 'admin', 'bob’s server planted his own sign-in for the hub’s paths');
    } catch (error) {
      await saveScreenshot(page, 'failed-same-origin-evil-page').catch(() => undefined);
      throw error;
    }
  });

  test('a sign-in cookie written by bob’s script does not sign the admin in as bob', async () => {
    const page = await adminInBrowser();
    await page.goto(`${hub.url}/user/bob/static/evil.html?toss=1`);
    await page.waitForFunction(() => document.title === 'done', undefined, { timeout: 30_000 });
    assert.notEqual(await signedInAs(page), 'bob', 'the admin now acts as bob on the hub');
  });

  test('a form bob’s page submits in the admin’s window changes nothing', async () => {
    const page = await adminInBrowser();
    await page.goto(`${hub.url}/user/bob/static/evil.html?submit=1`);
    await page.waitForURL(/\/hub\/admin\/users\/bob\/admin/, { timeout: 30_000 });
    assert.equal(await bobIsAdmin(), false, 'bob made himself admin');
    assert.match((await page.content()), /refused|expired/i);
  });
});

/**
 * bob's page: every way a script on the hub's origin might reach the hub with the visitor's cookie.
 * Results land in `window.__results`; the title turns to "done".
 */
function evilPage(bobCookie: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>running</title></head><body>
<p>Nothing to see here.</p>
<script>
(async () => {
  const params = new URLSearchParams(location.search);
  const r = {};
  const get = async (path, init) => {
    try {
      const res = await fetch(path, Object.assign({ credentials: 'same-origin' }, init || {}));
      return { status: res.status, body: await res.text() };
    } catch (e) {
      return { status: 0, body: String(e) };
    }
  };
  if (params.has('toss')) {
    document.cookie = 'refinery-session=${bobCookie}; path=/hub/';
    document.title = 'done';
    return;
  }
  const admin = await get('/hub/admin');
  const match = /name="csrf-token" content="([^"]+)"/.exec(admin.body);
  r.tokenFromPage = match ? match[1] : null;
  if (params.has('submit')) {
    const form = document.createElement('form');
    form.method = 'post';
    form.action = '/hub/admin/users/bob/admin';
    for (const [name, value] of [['_xsrf', r.tokenFromPage || 'unknown'], ['admin', '1']]) {
      const input = document.createElement('input');
      input.type = 'hidden';
      input.name = name;
      input.value = value;
      form.appendChild(input);
    }
    document.body.appendChild(form);
    form.submit();
    return;
  }
  r.apiRead = (await get('/hub/api/users')).status;
  const patch = { method: 'PATCH', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ admin: true }) };
  r.apiPatch = (await get('/hub/api/users/bob', patch)).status;
  r.apiPatchEncoded = (await get('/hub/%61pi/users/bob', patch)).status;
  if (r.tokenFromPage) {
    r.formPost = (await get('/hub/admin/users/bob/admin', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: '_xsrf=' + encodeURIComponent(r.tokenFromPage) + '&admin=1' })).status;
  }
  r.framed = await new Promise((resolve) => {
    const frame = document.createElement('iframe');
    frame.src = '/hub/admin';
    frame.onload = () => {
      try { resolve(/csrf-token/.test(frame.contentDocument.documentElement.innerHTML)); } catch (e) { resolve('blocked: ' + e.name); }
    };
    document.body.appendChild(frame);
    setTimeout(() => resolve('timeout'), 5000);
  });
  r.opened = await new Promise((resolve) => {
    const w = window.open('/hub/admin');
    if (!w) return resolve('no window');
    let tries = 0;
    const poll = () => {
      try {
        if (w.closed) return resolve('closed');
        if (/csrf-token/.test(w.document.documentElement.innerHTML)) return resolve('read');
      } catch (e) {
        return resolve('blocked: ' + e.name);
      }
      if (++tries > 80) return resolve('unread');
      setTimeout(poll, 100);
    };
    poll();
  });
  window.__results = r;
  document.title = 'done';
})();
</script></body></html>
`;
}
