// Auth state (auth.enable_auth_state) with a real OpenID Connect provider: the provider's tokens are
// kept encrypted, shown in the API only to holders of admin:auth_state, and a profile's
// `{auth_state: access_token}` gives alice's kernel her current token (refreshed first when it is about
// to run out), while the token appears in no log line, page, spawn plan or process list.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../../src/util/ports.js';
import type { BrowserContext } from 'playwright-core';
import { launchBrowser, type Browser } from '../helpers/browser.js';
import { execute, openKernel } from '../helpers/kernel.js';
import { startOidcProvider, type OidcProviderStandIn } from '../helpers/oidc-provider.js';
import { launchRefinery, SERVICE_TOKEN, startServerAndWait, type RefineryProcess } from '../helpers/refinery.js';

const run = promisify(execFile);
let provider: OidcProviderStandIn;
let hub: RefineryProcess;
let browser: Browser;
let alice: BrowserContext;

before(async () => {
  const port = await freePort();
  const callback = `http://127.0.0.1:${port}/hub/oauth_callback`;
  // tokens that run out within the refresh margin: every start refreshes them first
  provider = await startOidcProvider({ redirectUri: callback, users: { alice: { groups: ['data-science'] } }, accessTokenTtl: 120, refreshTokens: true });
  hub = await launchRefinery({
    port,
    config: {
      auth: {
        type: 'oidc', enable_auth_state: true, crypt_key: { env: 'CRYPT_KEY' },
        oidc: { issuer: provider.issuer, client_id: provider.clientId, client_secret: { env: 'OIDC_SECRET' }, oauth_callback_url: callback, scope: ['openid', 'profile', 'groups', 'offline_access'] },
      },
      profile_list: [{ slug: 'sign-in-token', display_name: 'With my sign-in token', description: 'The provider token in PROVIDER_TOKEN.', overrides: { env: { PROVIDER_TOKEN: { auth_state: 'access_token' } } } }],
    },
    env: { OIDC_SECRET: provider.clientSecret, CRYPT_KEY: randomBytes(32).toString('hex') },
  });
  browser = await launchBrowser();
  alice = await browser.newContext();
  const page = await alice.newPage();
  await page.goto(`${hub.url}/hub/login`);
  await page.click('#login-oidc');
  await page.waitForURL(`${provider.issuer}/**`);
  await page.fill('input[name=login]', 'alice');
  await page.fill('input[name=password]', 'any');
  await page.click('button[type=submit]');
  await page.waitForLoadState('load');
  if (page.url().startsWith(provider.issuer)) await page.click('button[type=submit]');
  await page.waitForURL(`${hub.url}/hub/home`);
});

after(async () => {
  await browser?.close();
  await hub?.cleanup();
  await provider?.close();
});

describe('auth state', () => {
  test('kept encrypted; the API shows it only with admin:auth_state', async () => {
    const asAdmin = (await (await hub.api('/hub/api/users/alice')).json()) as { auth_state: { access_token?: string; refresh_token?: string } | null };
    assert.ok(asAdmin.auth_state?.access_token, 'the admin service sees the access token');
    assert.ok(asAdmin.auth_state?.refresh_token, 'and the refresh token');
    assert.equal(await provider.whoHolds(asAdmin.auth_state.access_token), 'alice');
    const aliceToken = await hub.tokenFor('alice');
    const asAlice = (await (await hub.as(aliceToken, '/hub/api/users/alice')).json()) as Record<string, unknown>;
    assert.ok(!('auth_state' in asAlice), 'her own token, without admin:auth_state, does not');
    const database = await readFile(join(hub.dir.path, 'data', 'refinery.sqlite'));
    assert.ok(!database.includes(asAdmin.auth_state.access_token), 'the database holds no token in the clear');
  });

  test("alice's kernel gets her current token, which is nowhere else to be seen", { timeout: 120_000 }, async () => {
    const stored = ((await (await hub.api('/hub/api/users/alice')).json()) as { auth_state: { access_token: string } }).auth_state.access_token;
    const aliceToken = await hub.tokenFor('alice');
    await startServerAndWait(hub, SERVICE_TOKEN, 'alice', '', { profile: 'sign-in-token' });
    const kernelId = await openKernel(hub, aliceToken, '/user/alice/');
    const inKernel = (await execute(hub, aliceToken, '/user/alice/', kernelId, 'import os; print(os.environ["PROVIDER_TOKEN"])')).trim();
    assert.equal(await provider.whoHolds(inKernel), 'alice', 'a token the provider takes as alice\'s');
    assert.notEqual(inKernel, stored, 'refreshed at the start, since the one from the sign-in was about to run out');
    const now = ((await (await hub.api('/hub/api/users/alice')).json()) as { auth_state: { access_token: string } }).auth_state.access_token;
    assert.equal(now, inKernel, 'the refreshed tokens are kept');

    const plan = await (await hub.as(aliceToken, '/hub/api/users/alice/spawn-plan?profile=sign-in-token')).text();
    const homePage = await alice.newPage();
    const home = await (await homePage.goto(`${hub.url}/hub/home`))!.text();
    const { stdout: processes } = await run('ps', ['-eo', 'args']);
    for (const [where, text] of [['the hub\'s log', hub.output()], ['the spawn plan', plan], ['the home page', home], ['the process list', processes]] as const) {
      assert.ok(!text.includes(inKernel) && !text.includes(stored), `no token in ${where}`);
    }
    assert.match(plan, /"PROVIDER_TOKEN":\{"value":null,"secret":true,"source":"[^"]+","auth_state":"access_token"\}/);
  });
});
