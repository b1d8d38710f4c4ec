// Signing in with GitHub and with GitLab (auth.type github / gitlab) through a real browser, against
// stand-ins that follow each one's documented OAuth and REST endpoints (test/helpers/git-oauth.ts),
// configured as for GitHub Enterprise and self-managed GitLab (oauth_base_url, api_url): the person
// lands on the home page with their organizations, teams or groups, a member of admin_groups is an
// admin, and someone outside allowed_organizations is refused and gets no account.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../../src/util/ports.js';
import { launchBrowser, type Browser } from '../helpers/browser.js';
import { startGitOAuth, type GitOAuthStandIn, type GitPerson } from '../helpers/git-oauth.js';
import { launchRefinery, type RefineryProcess } from '../helpers/refinery.js';

let browser: Browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

interface UserModel { name: string; admin: boolean; groups: string[] }

for (const flavour of ['github', 'gitlab'] as const) {
  const label = flavour === 'github' ? 'GitHub' : 'GitLab';
  describe(`auth.type ${flavour}`, () => {
    let provider: GitOAuthStandIn;
    let hub: RefineryProcess;
    const people: Record<string, GitPerson> = flavour === 'github'
      ? {
        alice: { password: 'alice-pw', groups: ['datalab'], teams: ['datalab:analysts'] },
        olga: { password: 'olga-pw', groups: ['datalab'], teams: ['datalab:platform'] },
        mallory: { password: 'mallory-pw', groups: ['elsewhere'] },
        pete: { password: 'pete-pw', groups: ['datalab'] },
      }
      : {
        alice: { password: 'alice-pw', groups: ['datalab', 'datalab/analysts'] },
        olga: { password: 'olga-pw', groups: ['datalab', 'platform-admins'] },
        mallory: { password: 'mallory-pw', groups: ['elsewhere'] },
        pete: { password: 'pete-pw', groups: ['datalab'] },
      };

    before(async () => {
      const port = await freePort();
      const callback = `http://127.0.0.1:${port}/hub/oauth_callback`;
      provider = await startGitOAuth(flavour, {
        redirectUri: callback,
        people,
      });
      hub = await launchRefinery({
        port,
        config: {
          auth: {
            type: flavour,
            [flavour]: {
              client_id: provider.clientId, client_secret: { env: 'GIT_SECRET' }, oauth_callback_url: callback,
              oauth_base_url: provider.url, api_url: provider.apiUrl,
              allowed_organizations: ['datalab'], admin_groups: [flavour === 'github' ? 'datalab:platform' : 'platform-admins'], manage_groups: true,
            },
          },
        },
        env: { GIT_SECRET: provider.clientSecret },
      });
    });

    after(async () => {
      await hub?.cleanup();
      await provider?.close();
    });

    const signIn = async (login: string, password: string) => {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${hub.url}/hub/login`);
      await page.click(`#login-${flavour}`);
      await page.waitForURL(`${provider.url}/**`);
      await page.fill('#login_field', login);
      await page.fill('#password', password);
      await page.click('button[type=submit]');
      await page.waitForLoadState('load');
      return { page, context };
    };

    const userModel = async (name: string): Promise<UserModel> => {
      const res = await hub.api(`/hub/api/users/${name}`);
      assert.equal(res.status, 200);
      return (await res.json()) as UserModel;
    };

    test(`alice signs in with ${label} and her ${flavour === 'github' ? 'organizations and teams' : 'groups'} are hers here`, { timeout: 60_000 }, async () => {
      const html = await (await fetch(`${hub.url}/hub/login`)).text();
      assert.match(html, new RegExp(`Sign in with ${label}`));
      const { page, context } = await signIn('alice', 'alice-pw');
      assert.equal(new URL(page.url()).pathname, '/hub/home');
      const alice = await userModel('alice');
      // a GitLab subgroup's full path has a "/", which a Refinery group name cannot: it is left out
      assert.deepEqual([...alice.groups].sort(), flavour === 'github' ? ['datalab', 'datalab:analysts'] : ['datalab']);
      assert.equal(alice.admin, false);
      assert.equal(provider.tokenRequests.ok, 1, 'the code was traded once, with the client secret and the PKCE verifier');
      assert.equal(provider.tokenRequests.refused, 0);
      await context.close();
    });

    test('a member of admin_groups is an admin', { timeout: 60_000 }, async () => {
      const { page, context } = await signIn('olga', 'olga-pw');
      assert.equal(new URL(page.url()).pathname, '/hub/home');
      assert.equal((await userModel('olga')).admin, true);
      await context.close();
    });

    test('someone outside allowed_organizations is refused and gets no account', { timeout: 60_000 }, async () => {
      const { page, context } = await signIn('mallory', 'mallory-pw');
      assert.match(await page.textContent('#login-error') ?? '', /not in a group allowed to use this hub/);
      assert.equal((await hub.api('/hub/api/users/mallory')).status, 404);
      assert.equal((await context.cookies()).filter((c) => c.name.startsWith('refinery-session')).length, 0);
      await context.close();
    });

    test('someone who leaves the organization is refused at the next sign-in, and their sessions end', { timeout: 60_000 }, async () => {
      const first = await signIn('pete', 'pete-pw');
      assert.equal(new URL(first.page.url()).pathname, '/hub/home');
      people.pete!.groups = ['elsewhere'];
      const second = await signIn('pete', 'pete-pw');
      assert.match(await second.page.textContent('#login-error') ?? '', /not in a group allowed to use this hub/);
      await first.page.goto(`${hub.url}/hub/home`);
      assert.equal(new URL(first.page.url()).pathname, '/hub/login', 'the browser pete signed in with before is signed out');
      await first.context.close();
      await second.context.close();
    });
  });
}
