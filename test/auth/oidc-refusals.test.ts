// What the hub refuses from an OpenID Connect provider, each with a page that says the sign-in
// failed, the reason in the hub's log, and no session: an ID token for another audience, one that has
// expired, one signed with a key the provider does not publish, one with another nonce.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../../src/util/ports.js';
import { launchBrowser, type Browser } from '../helpers/browser.js';
import { launchRefinery, type RefineryProcess } from '../helpers/refinery.js';
import { waitFor } from '../helpers/tmp.js';
import { startRogueOidcProvider, type RogueMode, type RogueOidcProvider } from '../helpers/rogue-oidc.js';

let provider: RogueOidcProvider;
let hub: RefineryProcess;
let browser: Browser;

before(async () => {
  const port = await freePort();
  const callback = `http://127.0.0.1:${port}/hub/oauth_callback`;
  provider = await startRogueOidcProvider({ redirectUri: callback });
  hub = await launchRefinery({
    port,
    config: { auth: { type: 'oidc', oidc: { issuer: provider.issuer, client_id: provider.clientId, client_secret: { env: 'OIDC_SECRET' }, oauth_callback_url: callback } } },
    env: { OIDC_SECRET: provider.clientSecret },
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await hub?.cleanup();
  await provider?.close();
});

const cases: [RogueMode, RegExp][] = [
  ['wrong-audience', /aud/],
  ['expired', /exp/],
  ['unpublished-key', /signature|key/i],
  ['wrong-nonce', /nonce/],
];

describe('ID tokens the hub refuses', () => {
  for (const [mode, reason] of cases) {
    test(`${mode}: a clear page, the reason in the log, no session`, { timeout: 30_000 }, async () => {
      provider.mode = mode;
      const logged = hub.output().length;
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${hub.url}/hub/oauth_login`);
      await page.waitForURL(`${hub.url}/hub/oauth_callback**`);
      assert.match(await page.textContent('#login-error') ?? '', /did not confirm who you are/);
      assert.equal((await context.cookies()).filter((c) => c.name.startsWith('refinery-session')).length, 0, 'no session');
      // the log line comes through the hub's stdout, maybe a moment after the page
      const log = await waitFor(() => hub.output().slice(logged).split('\n').find((l) => l.includes('"msg":"sign-in failed"')), { timeoutMs: 5000, message: 'the reason in the hub\'s log' });
      assert.match(log, reason, `the log says why: ${log}`);
      assert.equal((await hub.api('/hub/api/users/alice')).status, 404, 'no account was made');
      await context.close();
    });
  }
});
