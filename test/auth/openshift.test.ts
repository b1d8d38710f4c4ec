// Signing in with OpenShift (auth.type: openshift) through a real browser, against a stand-in that
// follows OpenShift's OAuth server and users/~ API: the person lands on the home page, their
// OpenShift groups are their Refinery groups, the admin group makes an admin, a person outside
// allowed_groups is refused, and a callback this browser did not start is refused.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../../src/util/ports.js';
import { launchBrowser, saveScreenshot, type Browser } from '../helpers/browser.js';
import { startOpenShiftOAuth, type OpenShiftOAuthStandIn } from '../helpers/openshift-oauth.js';
import { launchRefinery, type RefineryProcess } from '../helpers/refinery.js';

let oauth: OpenShiftOAuthStandIn;
let hub: RefineryProcess;
let browser: Browser;

before(async () => {
  const port = await freePort();
  const callback = `http://127.0.0.1:${port}/hub/oauth_callback`;
  oauth = await startOpenShiftOAuth({
    namespace: 'notebooks', serviceAccount: 'refinery-hub', redirectUri: callback,
    users: {
      alice: { password: 'alice-pw', groups: ['data-science', 'physics'] },
      olga: { password: 'olga-pw', groups: ['data-science', 'platform-admins'] },
      mallory: { password: 'mallory-pw', groups: ['contractors'] },
    },
  });
  hub = await launchRefinery({
    port,
    config: {
      auth: {
        type: 'openshift',
        openshift: {
          api_url: oauth.url, client_id: oauth.clientId, client_secret: { env: 'SA_TOKEN' }, oauth_callback_url: callback,
          allowed_groups: ['data-science'], admin_groups: ['platform-admins'],
        },
      },
    },
    env: { SA_TOKEN: oauth.clientSecret },
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await hub?.cleanup();
  await oauth?.close();
});

/** Press "Sign in with OpenShift", sign in on OpenShift's page; the page where it ends. */
async function signInWithOpenShift(username: string, password: string) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${hub.url}/hub/login`);
  await page.click('#login-openshift');
  await page.waitForURL(`${oauth.url}/oauth/authorize**`);
  await page.fill('#inputUsername', username);
  await page.fill('#inputPassword', password);
  await page.click('button[type=submit]');
  await page.waitForLoadState('load');
  return { page, context };
}

interface UserModel { name: string; admin: boolean; groups: string[] }

async function userModel(name: string): Promise<UserModel> {
  const res = await hub.api(`/hub/api/users/${name}`);
  assert.equal(res.status, 200);
  return (await res.json()) as UserModel;
}

describe('auth.type openshift', () => {
  test('alice signs in through OpenShift, lands on her home page, and her OpenShift groups are hers here', { timeout: 60_000 }, async () => {
    const { page, context } = await signInWithOpenShift('alice', 'alice-pw');
    assert.equal(new URL(page.url()).pathname, '/hub/home');
    assert.match(await page.textContent('body') ?? '', /alice/);
    await saveScreenshot(page, 'openshift-signed-in');
    const alice = await userModel('alice');
    assert.deepEqual([...alice.groups].sort(), ['data-science', 'physics']);
    assert.equal(alice.admin, false);
    assert.equal(oauth.tokenRequests.ok, 1, 'the hub traded the code with its client secret and PKCE verifier');
    await context.close();
  });

  test('a member of the admin group is an admin', { timeout: 60_000 }, async () => {
    const { page, context } = await signInWithOpenShift('olga', 'olga-pw');
    assert.equal(new URL(page.url()).pathname, '/hub/home');
    assert.equal((await userModel('olga')).admin, true);
    await context.close();
  });

  test('someone in none of allowed_groups is refused and gets no account', { timeout: 60_000 }, async () => {
    const { page, context } = await signInWithOpenShift('mallory', 'mallory-pw');
    assert.match(await page.textContent('#login-error') ?? '', /not in a group allowed to use this hub/);
    assert.equal((await hub.api('/hub/api/users/mallory')).status, 404);
    await context.close();
  });

  test('a callback this browser did not start is refused, even with a valid code', { timeout: 60_000 }, async () => {
    // the attacker starts a sign-in of their own (their own cookie jar) and stops at the link back to the hub
    const start = await fetch(`${hub.url}/hub/oauth_login`, { redirect: 'manual' });
    const authorize = new URL(start.headers.get('location')!);
    assert.equal(authorize.origin, oauth.url);
    const form = new URLSearchParams(authorize.searchParams);
    form.set('username', 'mallory');
    form.set('password', 'mallory-pw');
    const back = await fetch(`${oauth.url}/oauth/authorize`, { method: 'POST', body: form, redirect: 'manual' });
    const link = back.headers.get('location')!;
    assert.equal(new URL(link).pathname, '/hub/oauth_callback');
    assert.ok(new URL(link).searchParams.get('code'), 'a valid code is in the link');
    const victim = await browser.newContext();
    const victimPage = await victim.newPage();
    const res = await victimPage.goto(link);
    assert.equal(res?.status(), 400);
    assert.match(await victimPage.textContent('#login-error') ?? '', /not one this browser started/);
    assert.equal((await victim.cookies()).filter((c) => c.name.startsWith('refinery-session')).length, 0);
    await victim.close();
  });

  test('the sign-in page offers OpenShift first and keeps a local account for the administrator', { timeout: 30_000 }, async () => {
    const html = await (await fetch(`${hub.url}/hub/login`)).text();
    assert.ok(html.indexOf('id="login-openshift"') < html.indexOf('id="login-submit"'));
    assert.match(html, /<summary>Sign in with a local account<\/summary>/);
  });
});
