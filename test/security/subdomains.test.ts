// Per-user hosts (`subdomain_host`): the hub at hub.localhost:PORT, alice's servers at
// alice.hub.localhost:PORT/user/alice/, bob's at bob.hub.localhost:PORT/user/bob/ (Chromium resolves
// *.localhost to the loopback address; node requests set the Host header). alice signs in to her
// server through the real jupyterhub-singleuser and a kernel runs; script on her origin can read
// neither the hub nor bob's server, and cannot act on the hub with her cookie.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { parse, stringify } from 'yaml';
import type { BrowserContext, Page } from 'playwright-core';
import { launchBrowser, saveScreenshot, type Browser } from '../helpers/browser.js';
import { ADMIN_PASSWORD, launchRefinery, startServerAndWait, SERVICE_TOKEN, type RefineryProcess } from '../helpers/refinery.js';
import { addUser } from '../helpers/session.js';
import { ConfigError, parseConfigText } from '../../src/config/load.js';
import { dnsLabel } from '../../src/servers/user-hosts.js';

const LAB_TIMEOUT_MS = 120_000;

describe('per-user hosts', () => {
  let hub: RefineryProcess;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let hubHost: string;
  let aliceHost: string;
  let bobHost: string;
  let aliceToken: string;

  /** A request to the public port with the Host a browser would send for `host`. */
  const at = (host: string, path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: hub.port, path, method: init.method ?? 'GET', headers: { Host: host, ...init.headers } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      });
      req.on('error', reject);
      req.end(init.body);
    });

  before(async () => {
    hub = await launchRefinery();
    hubHost = `hub.localhost:${hub.port}`;
    aliceHost = `alice.hub.localhost:${hub.port}`;
    bobHost = `bob.hub.localhost:${hub.port}`;
    const config = parse(await readFile(hub.configPath, 'utf8')) as Record<string, unknown>;
    await writeFile(hub.configPath, stringify({ ...config, subdomain_host: hubHost }));
    await hub.kill();
    await hub.restart();
    await addUser(hub, 'alice', 'alice-password');
    await addUser(hub, 'bob', 'bob-password');
    await startServerAndWait(hub, SERVICE_TOKEN, 'alice');
    await startServerAndWait(hub, SERVICE_TOKEN, 'bob');
    aliceToken = await hub.tokenFor('alice');
    browser = await launchBrowser();
  });
  after(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await hub?.cleanup();
  });

  test('each host serves its own: the hub, or one person’s servers', async () => {
    assert.equal((await at(hubHost, '/hub/login')).status, 200);
    for (const path of ['/hub/login', '/hub/home', '/hub/api/users', '/user/bob/api/status', '/']) {
      const res = await at(aliceHost, path, { headers: { Authorization: `token ${aliceToken}` } });
      assert.equal(res.status, 404, `${path} on alice's host`);
    }
    const status = await at(aliceHost, '/user/alice/api/status', { headers: { Authorization: `token ${aliceToken}` } });
    assert.equal(status.status, 200, 'her server answers on her host');
    const onHub = await at(hubHost, '/user/alice/lab?x=1');
    assert.equal(onHub.status, 302, 'the hub’s host does not serve her server');
    assert.equal(onHub.headers.location, `http://${aliceHost}/user/alice/lab?x=1`);
    assert.equal((await at(hubHost, '/user/alice/api/status', { method: 'POST', headers: { Authorization: `token ${aliceToken}` } })).status, 404);
  });

  test('the server’s environment, its OAuth redirect and the API speak of her host', async () => {
    const env = JSON.parse(await runInKernel(aliceHost, aliceToken, '/user/alice/', 'import os, json; print(json.dumps({k: v for k, v in os.environ.items() if k.startswith("JUPYTERHUB_")}))')) as Record<string, string>;
    assert.equal(env.JUPYTERHUB_PUBLIC_URL, `http://${aliceHost}/user/alice/`);
    assert.equal(env.JUPYTERHUB_OAUTH_CALLBACK_URL, `http://${aliceHost}/user/alice/oauth_callback`);
    assert.equal(env.JUPYTERHUB_HOST, `http://${hubHost}`, 'the hub, where her server sends people to sign in');
    assert.equal(env.JUPYTERHUB_PUBLIC_HUB_URL, `http://${hubHost}/hub/`);
    assert.match(env.JUPYTERHUB_SERVICE_URL ?? '', /^http:\/\/127\.0\.0\.1:\d+\/user\/alice\/$/, 'where it listens stays on the loopback');
    const model = (await (await hub.api('/hub/api/users/alice')).json()) as { server: string; servers: Record<string, { url: string }> };
    assert.equal(model.server, `http://${aliceHost}/user/alice/`);
    assert.equal(model.servers['']!.url, `http://${aliceHost}/user/alice/`);
  });

  async function signedInPage(name: string, password: string): Promise<Page> {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    await page.goto(`http://${hubHost}/hub/login`);
    await page.getByLabel('Username', { exact: true }).fill(name);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await Promise.all([page.waitForURL(/\/hub\/home/), page.getByRole('button', { name: 'Sign in' }).click()]);
    return page;
  }

  test('alice opens her server from the hub, signs in through it, and lands in JupyterLab on her host', async () => {
    const page = await signedInPage('alice', 'alice-password');
    try {
      const cookies = await page.context().cookies(`http://${hubHost}`);
      const session = cookies.find((c) => c.name === 'refinery-session');
      assert.ok(session, 'signed in on the hub');
      assert.equal(session.domain, 'hub.localhost', 'host-only on the hub’s host');
      const open = page.getByRole('link', { name: /^Open/ }).first();
      assert.equal(await open.getAttribute('href'), `http://${aliceHost}/user/alice/`);
      await open.click();
      await page.waitForURL(new RegExp(`^http://${aliceHost.replace(/\./g, '\\.')}/user/alice/lab`), { timeout: LAB_TIMEOUT_MS });
      await page.locator('.jp-Launcher').first().waitFor({ state: 'visible', timeout: LAB_TIMEOUT_MS });
      await saveScreenshot(page, 'subdomain-jupyterlab');
      assert.ok(!(await page.context().cookies(`http://${aliceHost}`)).some((c) => c.name === 'refinery-session'), 'the hub’s cookie never reaches her host');
    } catch (error) {
      await saveScreenshot(page, 'failed-subdomain-jupyterlab').catch(() => undefined);
      throw error;
    }
  });

  test('a kernel runs on her server through her host', async () => {
    assert.equal((await runInKernel(aliceHost, aliceToken, '/user/alice/', 'print(6 * 7)')).trim(), '42');
  });

  test('script on her origin reads neither the hub nor bob’s server, and cannot act on the hub with her cookie', async () => {
    const page = await signedInPage('alice', 'alice-password');
    await page.goto(`http://${aliceHost}/user/alice/lab`);
    await page.locator('.jp-Launcher').first().waitFor({ state: 'visible', timeout: LAB_TIMEOUT_MS });
    const results = await page.evaluate(async ([hub, bob]) => {
      const read = async (url: string, init: RequestInit = {}) => {
        try {
          const res = await fetch(url, { credentials: 'include', ...init });
          return `read ${res.status}: ${(await res.text()).slice(0, 80)}`;
        } catch (error) {
          return `blocked: ${String(error)}`;
        }
      };
      return {
        hubPage: await read(`http://${hub}/hub/home`),
        hubApi: await read(`http://${hub}/hub/api/user`),
        bobServer: await read(`http://${bob}/user/bob/api/contents`),
        sameHostHub: await read('/hub/home'),
        createToken: await read(`http://${hub}/hub/api/users/alice/tokens`, { method: 'POST', mode: 'no-cors', body: JSON.stringify({ note: 'made from her server' }) }),
        cookies: document.cookie,
      };
    }, [hubHost, bobHost] as const);
    assert.match(results.hubPage, /^blocked/, `hub page: ${results.hubPage}`);
    assert.match(results.hubApi, /^blocked/, `hub API: ${results.hubApi}`);
    assert.match(results.bobServer, /^blocked/, `bob's server: ${results.bobServer}`);
    assert.match(results.sameHostHub, /^read 404/, 'her host serves no hub pages');
    assert.doesNotMatch(results.cookies, /refinery/);
    const tokens = (await (await hub.api('/hub/api/users/alice/tokens')).json()) as { api_tokens: Array<{ note: string }> };
    assert.ok(!tokens.api_tokens.some((t) => t.note === 'made from her server'), 'a request from her server’s origin made a hub token with her cookie');
  });

  test('bob cannot get into alice’s server on her host', async () => {
    const page = await signedInPage('bob', 'bob-password');
    const res = await page.goto(`http://${aliceHost}/user/alice/lab`);
    await page.waitForLoadState('load');
    assert.doesNotMatch(page.url(), /\/user\/alice\/lab/, 'bob landed in alice’s JupyterLab');
    assert.ok(res, 'a response');
    assert.equal(await page.locator('.jp-Launcher').count(), 0);
    const bobToken = await hub.tokenFor('bob');
    assert.equal((await at(aliceHost, '/user/alice/api/contents', { headers: { Authorization: `token ${bobToken}` } })).status, 403);
  });

  /** Run code in a new kernel of the server at `prefix` on `host`, through the public port; resolves with its stdout. */
  async function runInKernel(host: string, token: string, prefix: string, code: string): Promise<string> {
    const created = await at(host, `${prefix}api/kernels`, { method: 'POST', headers: { Authorization: `token ${token}`, 'Content-Type': 'application/json' }, body: '{}' });
    assert.equal(created.status, 201, created.body);
    const kernel = (JSON.parse(created.body) as { id: string }).id;
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${hub.port}${prefix}api/kernels/${kernel}/channels?session_id=${randomUUID()}`, { headers: { Host: host, Authorization: `token ${token}` } });
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('unexpected-response', (_req, res) => reject(new Error(`kernel socket refused: ${res.statusCode}`)));
        ws.once('error', reject);
      });
      try {
        const msgId = randomUUID();
        const output = new Promise<string>((resolve, reject) => {
          let stdout = '';
          const timer = setTimeout(() => reject(new Error(`no reply from the kernel (stdout so far ${JSON.stringify(stdout)})`)), 60_000);
          ws.on('message', (data) => {
            const msg = JSON.parse(data.toString()) as { msg_type?: string; header: { msg_type: string }; parent_header: { msg_id?: string }; content: Record<string, unknown> };
            if (msg.parent_header?.msg_id !== msgId) return;
            if (msg.header.msg_type === 'stream') stdout += String(msg.content.text ?? '');
            if (msg.header.msg_type === 'error') reject(new Error(String(msg.content.evalue)));
            if (msg.header.msg_type === 'status' && msg.content.execution_state === 'idle') {
              clearTimeout(timer);
              resolve(stdout);
            }
          });
        });
        ws.send(JSON.stringify({
          channel: 'shell',
          header: { msg_id: msgId, msg_type: 'execute_request', session: randomUUID(), username: 'test', version: '5.3', date: new Date().toISOString() },
          parent_header: {}, metadata: {},
          content: { code, silent: false, store_history: false, user_expressions: {}, allow_stdin: false, stop_on_error: true },
        }));
        return await output;
      } finally {
        ws.close();
      }
    } finally {
      await at(host, `${prefix}api/kernels/${kernel}`, { method: 'DELETE', headers: { Authorization: `token ${token}` } });
    }
  }
});

describe('subdomain_host in the configuration', () => {
  const problems = (yaml: string): string => {
    try {
      parseConfigText(yaml, 'refinery.yaml');
    } catch (error) {
      if (error instanceof ConfigError) return error.message;
      throw error;
    }
    return '';
  };

  test('a host, an origin, or a clear error naming the key', () => {
    assert.equal(problems('subdomain_host: hub.example.org\n'), '');
    assert.equal(problems('subdomain_host: https://hub.example.org\npublic_url: https://hub.example.org\n'), '');
    assert.match(problems('subdomain_host: https://hub.example.org/hub\n'), /subdomain_host: must be only a host/);
    assert.match(problems('subdomain_host: 10.0.0.1\n'), /subdomain_host: must be a DNS name/);
    assert.match(problems('subdomain_host: hub.example.org\npublic_url: https://other.example.org\n'), /subdomain_host: the hub would be at https:\/\/hub\.example\.org but public_url says https:\/\/other\.example\.org/);
    assert.match(problems('subdomain_host: hub.example.org\npublish: {public_url: "http://pages.hub.example.org"}\n'), /publish\.public_url: pages\.hub\.example\.org is where a user's servers would be/);
  });

  test('every name gets one DNS label of its own', () => {
    assert.equal(dnsLabel('alice'), 'alice');
    assert.equal(dnsLabel('data-team'), 'data-team');
    const labels = ['a.b', 'a_b', 'ünal', 'x--y', '-lead', '1234', 'a'.repeat(41), 'a.b.c', 'u-ab--0000'].map(dnsLabel);
    for (const label of labels) assert.match(label, /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, label);
    assert.equal(new Set(labels).size, labels.length, 'no two names share a label');
    assert.notEqual(dnsLabel('u-ab--0000'), 'u-ab--0000', 'a name that looks encoded is encoded too');
  });
});

describe('per-user hosts over https', () => {
  let hub: RefineryProcess;

  before(async () => {
    hub = await launchRefinery();
    const config = parse(await readFile(hub.configPath, 'utf8')) as Record<string, unknown>;
    // a TLS terminator would stand in front; the hub sees the requests it forwards
    await writeFile(hub.configPath, stringify({ ...config, public_url: `https://hub.localhost:${hub.port}`, subdomain_host: `hub.localhost:${hub.port}` }));
    await hub.kill();
    await hub.restart();
  });
  after(() => hub?.cleanup());

  test('the sign-in cookie is a __Host- cookie, so a user’s host cannot plant one for the hub', async () => {
    const form = await fetch(`${hub.url}/hub/login`);
    const loginXsrf = /name="_xsrf" value="([^"]+)"/.exec(await form.text())![1]!;
    const signedIn = await fetch(`${hub.url}/hub/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: form.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ') },
      body: new URLSearchParams({ _xsrf: loginXsrf, username: 'admin', password: ADMIN_PASSWORD }),
    });
    assert.equal(signedIn.status, 302);
    const session = signedIn.headers.getSetCookie().find((c) => c.startsWith('__Host-refinery-session='));
    assert.ok(session, `the sign-in cookie: ${signedIn.headers.getSetCookie().join(' | ')}`);
    assert.match(session, /; Path=\/;/);
    assert.match(session, /; Secure/);
    assert.doesNotMatch(session, /Domain=/i);
    const value = session.split(';')[0]!.slice('__Host-refinery-session='.length);
    const home = (cookie: string) => fetch(`${hub.url}/hub/home`, { redirect: 'manual', headers: { Cookie: cookie } });
    assert.equal((await home(`__Host-refinery-session=${value}`)).status, 200);
    assert.equal((await home(`refinery-session=${value}`)).status, 302, 'a cookie without the prefix (as another host could set) signs nobody in');
  });
});

