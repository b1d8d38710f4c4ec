// Signing in with an OpenID Connect provider (auth.type: oidc) through a real browser, against a real
// provider (oidc-provider, test/helpers/oidc-provider.ts): the person lands on the home page with the
// provider's groups, a member of admin_groups is an admin, someone outside allowed_groups is refused
// with no account, a callback this browser did not start is refused, a code cannot be used twice, and
// a provider that is down gives a clear page and no session.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../../src/util/ports.js';
import { launchBrowser, saveScreenshot, type Browser, type Page } from '../helpers/browser.js';
import { startOidcProvider, type OidcProviderStandIn } from '../helpers/oidc-provider.js';
import { launchRefinery, type RefineryProcess } from '../helpers/refinery.js';
import { waitFor } from '../helpers/tmp.js';

let provider: OidcProviderStandIn;
let hub: RefineryProcess;
let browser: Browser;

before(async () => {
  const port = await freePort();
  const callback = `http://127.0.0.1:${port}/hub/oauth_callback`;
  provider = await startOidcProvider({
    redirectUri: callback,
    users: { alice: { groups: ['data-science', 'physics'] }, olga: { groups: ['data-science', 'platform-admins'] }, mallory: { groups: ['contractors'] } },
  });
  hub = await launchRefinery({
    port,
    config: {
      auth: {
        type: 'oidc',
        oidc: {
          issuer: provider.issuer, client_id: provider.clientId, client_secret: { env: 'OIDC_SECRET' }, oauth_callback_url: callback,
          scope: ['openid', 'profile', 'groups'], login_service: 'Example SSO',
          allowed_groups: ['data-science'], admin_groups: ['platform-admins'], manage_groups: true,
        },
      },
    },
    env: { OIDC_SECRET: provider.clientSecret },
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await hub?.cleanup();
  await provider?.close();
});

/** On the provider's pages: sign in as `login` (any password), then allow. */
async function atProvider(page: Page, login: string): Promise<void> {
  await page.waitForURL(`${provider.issuer}/**`);
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', 'any');
  await page.click('button[type=submit]');
  await page.waitForLoadState('load');
  if (page.url().startsWith(provider.issuer) && (await page.locator('button[type=submit]').count())) {
    await page.click('button[type=submit]'); // consent: Continue
    await page.waitForLoadState('load');
  }
}

async function signIn(login: string) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${hub.url}/hub/login`);
  await page.click('#login-oidc');
  await atProvider(page, login);
  return { page, context };
}

interface UserModel { name: string; admin: boolean; groups: string[] }

async function userModel(name: string): Promise<UserModel> {
  const res = await hub.api(`/hub/api/users/${name}`);
  assert.equal(res.status, 200);
  return (await res.json()) as UserModel;
}

describe('auth.type oidc', () => {
  test('alice signs in with the provider, lands on her home page, and her groups are hers here', { timeout: 60_000 }, async () => {
    const { page, context } = await signIn('alice');
    assert.equal(new URL(page.url()).pathname, '/hub/home');
    assert.match(await page.textContent('body') ?? '', /alice/);
    await saveScreenshot(page, 'oidc-signed-in');
    const alice = await userModel('alice');
    assert.deepEqual([...alice.groups].sort(), ['data-science', 'physics']);
    assert.equal(alice.admin, false);
    assert.ok(provider.tokenRequests.ok >= 1, 'the hub traded the code at the token endpoint');
    await context.close();
  });

  test('a member of admin_groups is an admin', { timeout: 60_000 }, async () => {
    const { page, context } = await signIn('olga');
    assert.equal(new URL(page.url()).pathname, '/hub/home');
    assert.equal((await userModel('olga')).admin, true);
    await context.close();
  });

  test('someone in none of allowed_groups is refused and gets no account', { timeout: 60_000 }, async () => {
    const { page, context } = await signIn('mallory');
    assert.equal(new URL(page.url()).pathname, '/hub/oauth_callback');
    assert.match(await page.textContent('#login-error') ?? '', /not in a group allowed to use this hub/);
    assert.equal((await hub.api('/hub/api/users/mallory')).status, 404);
    assert.equal((await context.cookies()).filter((c) => c.name.startsWith('refinery-session')).length, 0);
    await context.close();
  });

  test('a callback another browser started is refused, and a code is good once', { timeout: 60_000 }, async () => {
    // the attacker's browser starts a sign-in of its own and stops at the link back to the hub
    const attacker = await browser.newContext();
    const page = await attacker.newPage();
    const start = await attacker.request.get(`${hub.url}/hub/oauth_login`, { maxRedirects: 0 });
    const link = await provider.callbackFor(start.headers().location!, 'alice');
    assert.ok(new URL(link).searchParams.get('code'), 'a valid code is in the link');
    const victim = await browser.newContext();
    const victimPage = await victim.newPage();
    const res = await victimPage.goto(link);
    assert.equal(res?.status(), 400);
    assert.match(await victimPage.textContent('#login-error') ?? '', /not one this browser started/);
    assert.equal((await victim.cookies()).filter((c) => c.name.startsWith('refinery-session')).length, 0);
    // the browser that started it may use it, once
    assert.equal((await page.goto(link))?.status(), 200);
    assert.equal(new URL(page.url()).pathname, '/hub/home');
    const again = await page.goto(link);
    assert.equal(again?.status(), 400, 'the same callback a second time is refused');
    await victim.close();
    await attacker.close();
  });

  test('the sign-in page names the provider', async () => {
    const html = await (await fetch(`${hub.url}/hub/login`)).text();
    assert.match(html, /<a class="button primary" id="login-oidc"[^>]*>Sign in with Example SSO<\/a>/);
  });

  test('a provider that goes down before the code is traded: a clear page, the reason in the log, no session', { timeout: 60_000 }, async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const start = await context.request.get(`${hub.url}/hub/oauth_login`, { maxRedirects: 0 });
    const link = await provider.callbackFor(start.headers().location!, 'alice');
    await provider.close();
    const res = await page.goto(link);
    assert.equal(res?.status(), 502);
    assert.match(await page.textContent('#login-error') ?? '', /Example SSO did not confirm who you are/);
    assert.equal((await context.cookies()).filter((c) => c.name.startsWith('refinery-session')).length, 0);
    // the log line comes through the hub's stdout, maybe a moment after the page
    await waitFor(() => /"msg":"sign-in failed"/.test(hub.output()), { timeoutMs: 5000, message: 'the reason in the hub\'s log' });
    await context.close();
  });
});
