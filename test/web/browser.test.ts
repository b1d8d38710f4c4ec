// The hub's pages in a real browser (Debian's Chromium), against `refinery start` run as its own
// process and a real JupyterLab from envs/base. Everything asserted is what a person would see:
// text, headings, where the browser ends up. Any Content-Security-Policy violation or script error
// on a hub page fails the test it happened in.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { launchBrowser, saveScreenshot, type Browser } from '../helpers/browser.js';
import { ADMIN_PASSWORD, launchRefinery, type RefineryProcess } from '../helpers/refinery.js';
import { waitFor } from '../helpers/tmp.js';

const LAB_TIMEOUT_MS = 120_000;
const UI_TIMEOUT_MS = 30_000;

let browser: Browser;
/** Problems seen by any page since the last check: CSP violations and uncaught errors in hub scripts. */
const problems: string[] = [];
const contexts = new Set<BrowserContext>();

before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  for (const context of contexts) await context.close().catch(() => undefined);
  await browser?.close();
});
afterEach(() => {
  const seen = problems.splice(0);
  assert.deepEqual(seen, [], `the pages reported problems:\n${seen.join('\n')}`);
});

/** A fresh browser profile (no cookies), light colour scheme, watched for CSP violations and script errors. */
async function freshPage(options: { viewport?: { width: number; height: number } } = {}): Promise<Page> {
  const context = await browser.newContext({ colorScheme: 'light', viewport: options.viewport ?? { width: 1200, height: 860 } });
  contexts.add(context);
  const page = await context.newPage();
  page.setDefaultTimeout(UI_TIMEOUT_MS);
  page.on('console', (message) => {
    if (/content security policy/i.test(message.text())) problems.push(`CSP on ${page.url()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => {
    if (page.url().includes('/hub/')) problems.push(`script error on ${page.url()}: ${error.message}`);
  });
  return page;
}

async function closePage(page: Page): Promise<void> {
  const context = page.context();
  contexts.delete(context);
  await context.close();
}

/** Run a browser scenario; on failure keep a screenshot of where it stopped. */
async function scenario(name: string, page: Page, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (error) {
    await saveScreenshot(page, `failed-${name}`).catch(() => undefined);
    throw error;
  }
}

/** Click something that submits a form and wait for the page it leads to. */
async function submit(page: Page, target: Locator): Promise<void> {
  await Promise.all([page.waitForEvent('load', { timeout: UI_TIMEOUT_MS }), target.click()]);
}

/** Submit a form that first asks "are you sure?"; accept, and return what it asked. */
async function confirmAndSubmit(page: Page, target: Locator): Promise<string> {
  const asked = page.waitForEvent('dialog', { timeout: UI_TIMEOUT_MS }).then(async (dialog) => {
    const message = dialog.message();
    await dialog.accept();
    return message;
  });
  await submit(page, target);
  return asked;
}

async function signIn(page: Page, hub: RefineryProcess, username: string, password: string): Promise<void> {
  if (!page.url().includes('/hub/login')) await page.goto(`${hub.url}/hub/login`);
  await page.getByLabel('Username', { exact: true }).fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await submit(page, page.getByRole('button', { name: 'Sign in' }));
}

async function text(locator: Locator): Promise<string> {
  return ((await locator.textContent()) ?? '').replace(/\s+/g, ' ').trim();
}

/** Wait until the locator's text matches (for things a page script updates in place). */
async function waitForText(locator: Locator, pattern: RegExp, timeoutMs = UI_TIMEOUT_MS): Promise<void> {
  const started = Date.now();
  let last = '';
  while (Date.now() - started < timeoutMs) {
    last = await text(locator).catch(() => '');
    if (pattern.test(last)) return;
    await locator.page().waitForTimeout(200);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${pattern} in ${locator}; last text: ${JSON.stringify(last)}`);
}

/** Add a user on the admin page (as the signed-in admin) and return the password shown once. */
async function addUser(page: Page, hub: RefineryProcess, name: string, options: { admin?: boolean } = {}): Promise<{ name: string; password: string }> {
  await page.goto(`${hub.url}/hub/admin`);
  await page.getByLabel('Username', { exact: true }).fill(name);
  if (options.admin) await page.getByLabel('Administrator').check();
  await submit(page, page.getByRole('button', { name: 'Add user' }));
  const created = name.toLowerCase();
  const notice = page.getByRole('region', { name: `User ${created} created` });
  await notice.waitFor();
  assert.match(await text(notice), /won’t be shown again/);
  const password = await page.getByLabel(`Password for ${created}`, { exact: true }).inputValue();
  assert.ok(password.length >= 16, `a generated password of at least 16 characters, got ${password.length}`);
  return { name: created, password };
}

describe('hub pages in a browser', () => {
  let hub: RefineryProcess;
  /** The admin's signed-in page, shared by the tests that act as admin (each can also run alone). */
  let admin: Page;
  const asAdmin = async (): Promise<Page> => {
    if (admin && !admin.isClosed()) return admin;
    admin = await freshPage();
    await signIn(admin, hub, 'admin', ADMIN_PASSWORD);
    assert.equal(new URL(admin.url()).pathname, '/hub/home');
    return admin;
  };

  before(async () => {
    hub = await launchRefinery();
  });
  after(async () => {
    await hub?.cleanup();
  });

  test('admin signs in, starts the default server from home, follows its progress and lands in JupyterLab', { timeout: 300_000 }, async () => {
    admin = await freshPage();
    await scenario('start-server', admin, async () => {
      await admin.goto(`${hub.url}/hub/home`);
      assert.match(admin.url(), /\/hub\/login\?next=%2Fhub%2Fhome$/, 'signed out, home sends to the sign-in page');
      await signIn(admin, hub, 'admin', ADMIN_PASSWORD);
      assert.equal(new URL(admin.url()).pathname, '/hub/home');
      await admin.getByRole('heading', { name: 'Your servers' }).waitFor();
      const card = admin.getByRole('article', { name: 'Default server' });
      assert.match(await text(card), /Stopped/);
      assert.match(await text(card), new RegExp(`${hub.url}/user/admin/`), 'the server URL is shown');
      assert.match(await text(admin.locator('main')), /No named servers yet/, 'an empty state for named servers');
      await saveScreenshot(admin, 'home');

      await submit(admin, card.getByRole('button', { name: 'Start Default server' }));
      assert.match(admin.url(), /\/hub\/spawn-pending\/admin\?next=/);
      await admin.getByRole('heading', { name: 'Starting your server' }).waitFor();
      await admin.getByText('Event log').click();
      await admin.locator('#progress-log li').first().waitFor();
      await saveScreenshot(admin, 'spawn-pending');

      await admin.waitForURL(/\/user\/admin\/lab/, { timeout: LAB_TIMEOUT_MS });
      await admin.locator('.jp-Launcher').first().waitFor({ state: 'visible', timeout: LAB_TIMEOUT_MS });
      await saveScreenshot(admin, 'jupyterlab');

      // back home: the server is running, can be opened, and stopping it shows without a reload
      await admin.goto(`${hub.url}/hub/home`);
      const running = admin.getByRole('article', { name: 'Default server' });
      assert.match(await text(running), /Running/);
      await running.getByRole('link', { name: 'Open Default server' }).waitFor();
      await saveScreenshot(admin, 'home-running');
      await submit(admin, running.getByRole('button', { name: 'Stop Default server' }));
      await waitForText(admin.getByRole('article', { name: 'Default server' }).locator('.status'), /^Stopped$/, 60_000);
      await admin.getByRole('article', { name: 'Default server' }).getByRole('button', { name: 'Start Default server' }).waitFor();
    });
  });

  test('home follows a server started elsewhere: progress in its card, then Running, without a reload', { timeout: 300_000 }, async () => {
    const admin = await asAdmin();
    await scenario('live-home', admin, async () => {
      // a named server started through the API, as a script or another tab would
      const started = hub.api('/hub/api/users/admin/servers/lab2', { method: 'POST' });
      await waitFor(async () => {
        const model = (await (await hub.api('/hub/api/users/admin')).json()) as { servers?: Record<string, { pending: string | null }> };
        return model.servers?.lab2?.pending === 'spawn';
      }, { timeoutMs: 30_000, intervalMs: 50, message: 'lab2 to be starting' });
      await admin.goto(`${hub.url}/hub/home`);
      await admin.evaluate(() => {
        (globalThis as Record<string, unknown>).stillTheSamePage = true;
      });
      const card = admin.getByRole('article', { name: 'lab2' });
      assert.match(await text(card), /Starting/);
      await card.getByRole('progressbar').waitFor();
      await saveScreenshot(admin, 'home-starting');
      await waitForText(card.getByText(/^(Starting|Running)$/), /^Running$/, LAB_TIMEOUT_MS);
      await card.getByRole('link', { name: 'Open lab2' }).waitFor();
      assert.equal(await admin.evaluate(() => (globalThis as Record<string, unknown>).stillTheSamePage), true, 'updated in place, not by reloading');
      assert.ok([201, 202].includes((await started).status));

      await submit(admin, card.getByRole('button', { name: 'Stop lab2' }));
      await waitForText(card.getByText(/^(Running|Stopping|Stopped)$/), /^Stopped$/, 60_000);
      assert.match(await confirmAndSubmit(admin, card.getByRole('button', { name: 'Delete lab2' })), /Delete the server “lab2”/);
      await admin.getByText('No named servers yet').waitFor();
    });
  });

  test('a wrong password says "Invalid username or password", never which part was wrong', { timeout: 60_000 }, async () => {
    const page = await freshPage();
    await scenario('wrong-password', page, async () => {
      await signIn(page, hub, 'admin', 'not-the-password');
      assert.equal(new URL(page.url()).pathname, '/hub/login');
      const wrongPassword = await text(page.getByRole('alert'));
      assert.match(wrongPassword, /Invalid username or password/);
      await signIn(page, hub, 'nobody-by-this-name', 'not-the-password');
      const unknownUser = await text(page.getByRole('alert'));
      assert.equal(unknownUser, wrongPassword, 'an unknown user and a wrong password look the same');
      const body = await text(page.locator('body'));
      assert.doesNotMatch(body, /(no such|unknown|does not exist|not found|incorrect password|wrong password)/i);
      // the typed user name is kept, the password is not
      assert.equal(await page.getByLabel('Password', { exact: true }).inputValue(), '');
      await page.goto(`${hub.url}/hub/home`);
      assert.match(page.url(), /\/hub\/login/, 'still signed out');
    });
    await closePage(page);
  });

  test('the admin page adds a user whose generated password signs them in; they get 403 on /hub/admin', { timeout: 120_000 }, async () => {
    const admin = await asAdmin();
    await scenario('add-user', admin, async () => {
      // problems with the name show next to the field
      await admin.goto(`${hub.url}/hub/admin`);
      await admin.getByLabel('Username', { exact: true }).fill('bad/name');
      await submit(admin, admin.getByRole('button', { name: 'Add user' }));
      await admin.getByText(/Invalid username/).waitFor();
      assert.equal(await admin.getByLabel('Username', { exact: true }).inputValue(), 'bad/name', 'what was typed is kept');

      const dana = await addUser(admin, hub, 'Dana');
      assert.equal(dana.name, 'dana');
      const row = admin.getByRole('row', { name: /^dana/ });
      assert.match(await text(row), /Stopped/);
      await saveScreenshot(admin, 'admin');

      const page = await freshPage();
      await scenario('new-user-signs-in', page, async () => {
        await signIn(page, hub, 'dana', dana.password);
        assert.equal(new URL(page.url()).pathname, '/hub/home');
        assert.match(await text(page.locator('header')), /Signed in as dana/);
        assert.equal(await page.getByRole('link', { name: 'Admin' }).count(), 0, 'no Admin link for a non-admin');
        const response = await page.goto(`${hub.url}/hub/admin`);
        assert.equal(response?.status(), 403);
        assert.match(await text(page.locator('main')), /not allowed/i);
      });
      await closePage(page);

      // the admin's view after a reload: the password is not shown again
      await admin.goto(`${hub.url}/hub/admin?q=dan`);
      assert.doesNotMatch(await admin.content(), new RegExp(dana.password));
      assert.match(await text(admin.getByRole('table')), /dana/);
    });
  });

  test('after 5 wrong passwords the 6th attempt is refused, even with the right password', { timeout: 120_000 }, async () => {
    const erin = await addUser(await asAdmin(), hub, 'erin');
    const page = await freshPage();
    await scenario('too-many', page, async () => {
      for (let attempt = 1; attempt <= 5; attempt++) {
        await signIn(page, hub, 'erin', `wrong-${attempt}`);
        assert.match(await text(page.getByRole('alert')), /Invalid username or password/, `attempt ${attempt}`);
      }
      await signIn(page, hub, 'erin', erin.password);
      assert.equal(new URL(page.url()).pathname, '/hub/login', 'not signed in');
      assert.match(await text(page.getByRole('alert')), /Too many/);
      await page.goto(`${hub.url}/hub/home`);
      assert.match(page.url(), /\/hub\/login/);
    });
    await closePage(page);
  });

  test('tokens page: a new token is shown once, works, and can be revoked', { timeout: 120_000 }, async () => {
    const admin = await asAdmin();
    await scenario('tokens', admin, async () => {
      await admin.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: hub.url });
      await admin.goto(`${hub.url}/hub/token`);
      await admin.getByRole('heading', { name: 'API tokens' }).waitFor();
      await admin.getByLabel('Note').fill('CI pipeline');
      await admin.getByLabel('Expires in').selectOption({ label: '7 days' });
      await submit(admin, admin.getByRole('button', { name: 'Create token' }));
      const notice = admin.getByRole('region', { name: /Your new token/ });
      assert.match(await text(notice), /won’t be shown again/);
      const token = await admin.getByLabel('New API token').inputValue();
      assert.match(token, /^[0-9a-f]{32}$/);
      await notice.getByRole('button', { name: 'Copy' }).click();
      await waitForText(notice.locator('.copy-status'), /Copied/);
      await saveScreenshot(admin, 'tokens');

      const me = await hub.as(token, '/hub/api/user');
      assert.equal(me.status, 200);
      assert.equal(((await me.json()) as { name: string }).name, 'admin');

      // listed with its note and expiry, never its value again
      await admin.goto(`${hub.url}/hub/token`);
      assert.doesNotMatch(await admin.content(), new RegExp(token));
      const row = admin.getByRole('row', { name: /CI pipeline/ });
      assert.match(await text(row), /Full access/);
      assert.match(await text(row), /next week|in 7 days/);
      assert.match(await text(row), /Never used|just now|minute/);

      // a custom expiry needs a number of days
      await admin.getByLabel('Expires in').selectOption({ label: 'Custom…' });
      await admin.getByLabel('Days (custom)').fill('0');
      await submit(admin, admin.getByRole('button', { name: 'Create token' }));
      await admin.getByText(/whole number of days/).waitFor();

      const asked = await confirmAndSubmit(admin, admin.getByRole('row', { name: /CI pipeline/ }).getByRole('button', { name: /Revoke/ }));
      assert.match(asked, /Revoke the token “CI pipeline”/);
      await admin.getByText('Token revoked.').waitFor();
      assert.equal(await admin.getByRole('row', { name: /CI pipeline/ }).count(), 0);
      assert.equal((await hub.as(token, '/hub/api/user')).status, 403);
    });
  });

  test('changing the password: the old one stops working, the new one signs in', { timeout: 120_000 }, async () => {
    const frank = await addUser(await asAdmin(), hub, 'frank');
    const page = await freshPage();
    await scenario('password', page, async () => {
      await signIn(page, hub, 'frank', frank.password);
      await page.getByRole('link', { name: 'Password' }).click();
      await page.getByRole('heading', { name: 'Change password' }).waitFor();
      // mistakes show next to the fields
      await page.getByLabel('Current password').fill('not-it');
      await page.getByLabel('New password', { exact: true }).fill('short');
      await submit(page, page.getByRole('button', { name: 'Change password' }));
      await page.getByText('That is not your current password.').waitFor();
      await page.getByText('Use at least 8 characters.').waitFor();

      await page.getByLabel('Current password').fill(frank.password);
      await page.getByLabel('New password', { exact: true }).fill('a-brand-new-password');
      await page.getByLabel('Confirm new password').fill('a-brand-new-password');
      await submit(page, page.getByRole('button', { name: 'Change password' }));
      await page.getByText('Your password has been changed.').waitFor();

      await submit(page, page.getByRole('button', { name: 'Sign out' }));
      await signIn(page, hub, 'frank', frank.password);
      assert.match(await text(page.getByRole('alert')), /Invalid username or password/);
      await signIn(page, hub, 'frank', 'a-brand-new-password');
      assert.equal(new URL(page.url()).pathname, '/hub/home');
    });
    await closePage(page);
  });

  test('admin actions: make admin, reset password, delete after confirming', { timeout: 120_000 }, async () => {
    const admin = await asAdmin();
    await scenario('admin-actions', admin, async () => {
      const gina = await addUser(admin, hub, 'gina');
      await submit(admin, admin.getByRole('row', { name: /^gina/ }).getByRole('button', { name: 'Make admin gina' }));
      await admin.getByText('gina is now an admin.').waitFor();
      assert.match(await text(admin.getByRole('row', { name: /^gina/ })), /admin/);
      // an admin cannot demote or delete themselves: no such buttons on their own row
      const own = admin.getByRole('row', { name: /^admin/ });
      assert.equal(await own.getByRole('button', { name: /Remove admin/ }).count(), 0);
      assert.equal(await own.getByRole('link', { name: /Delete/ }).count(), 0);

      assert.match(await confirmAndSubmit(admin, admin.getByRole('row', { name: /^gina/ }).getByRole('button', { name: 'Reset password gina' })), /Reset gina’s password/);
      const fresh = await admin.getByLabel('Password for gina', { exact: true }).inputValue();
      assert.notEqual(fresh, gina.password);
      const page = await freshPage();
      await signIn(page, hub, 'gina', gina.password);
      assert.match(await text(page.getByRole('alert')), /Invalid username or password/, 'the old password no longer works');
      await signIn(page, hub, 'gina', fresh);
      assert.equal(new URL(page.url()).pathname, '/hub/home');
      await closePage(page);

      await submit(admin, admin.getByRole('row', { name: /^gina/ }).getByRole('link', { name: 'Delete gina' }));
      await admin.getByRole('heading', { name: 'Delete gina?' }).waitFor();
      await submit(admin, admin.getByRole('button', { name: 'Delete gina' }));
      await admin.getByText('User gina was deleted.').waitFor();
      assert.equal(await admin.getByRole('row', { name: /^gina/ }).count(), 0);
    });
  });

  test('the admin page filters by name and pages through many users', { timeout: 120_000 }, async () => {
    const admin = await asAdmin();
    // many users at once through the API (the admin page is about seeing them)
    const names = Array.from({ length: 23 }, (_, i) => `pager${String(i).padStart(2, '0')}`);
    const res = await hub.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: names }) });
    assert.equal(res.status, 201);
    await scenario('admin-pages', admin, async () => {
      await admin.goto(`${hub.url}/hub/admin`);
      await admin.getByLabel('Filter by name').fill('pager');
      await submit(admin, admin.getByRole('button', { name: 'Filter' }));
      assert.match(await text(admin.locator('#user-count')), /23 users matching “pager”/);
      assert.match(await text(admin.getByRole('navigation', { name: 'Pages of users' })), /Showing 1–20 of 23/);
      assert.equal(await admin.getByRole('row', { name: /^pager/ }).count(), 20);
      await submit(admin, admin.getByRole('link', { name: /Next/ }));
      assert.match(await text(admin.getByRole('navigation', { name: 'Pages of users' })), /Showing 21–23 of 23/);
      assert.equal(await admin.getByRole('row', { name: /^pager/ }).count(), 3);
      assert.match(await text(admin.getByRole('table')), /pager22/);
      await admin.getByLabel('Filter by name').fill('zzz-nobody');
      await submit(admin, admin.getByRole('button', { name: 'Filter' }));
      await admin.getByText('No users match').waitFor();
    });
  });

  test('signing out ends the session: home then asks to sign in', { timeout: 60_000 }, async () => {
    const admin = await asAdmin();
    await scenario('sign-out', admin, async () => {
      await admin.goto(`${hub.url}/hub/home`);
      await submit(admin, admin.getByRole('button', { name: 'Sign out' }));
      assert.equal(new URL(admin.url()).pathname, '/hub/login');
      await admin.getByRole('heading', { name: 'Sign in to Refinery' }).waitFor();
      await admin.goto(`${hub.url}/hub/home`);
      assert.match(admin.url(), /\/hub\/login\?next=%2Fhub%2Fhome$/);
    });
    await closePage(admin);
  });
});

describe('a server that fails to start', () => {
  let hub: RefineryProcess;
  before(async () => {
    // what runs is the image's (the catalog's default image would start a working JupyterLab)
    hub = await launchRefinery({
      config: { images: [{ name: 'broken', display_name: 'Broken', default: true, local: { command: ['/bin/sh', '-c', 'sleep 1.5; echo "no notebook environment here" >&2; exit 3'] } }] },
    });
  });
  after(async () => {
    await hub?.cleanup();
  });

  test('the progress page shows the reason and a Try again button', { timeout: 120_000 }, async () => {
    const page = await freshPage();
    await scenario('spawn-failed', page, async () => {
      await signIn(page, hub, 'admin', ADMIN_PASSWORD);
      await submit(page, page.getByRole('button', { name: 'Start Default server' }));
      assert.match(page.url(), /\/hub\/spawn-pending\/admin/);
      await page.getByRole('heading', { name: 'Your server did not start' }).waitFor();
      assert.match(await text(page.locator('#progress-failure')), /exited with code 3/);
      await page.getByRole('button', { name: 'Try again' }).waitFor();
      await page.getByRole('link', { name: 'Choose another image' }).waitFor();
      await saveScreenshot(page, 'spawn-failed');

      await submit(page, page.getByRole('button', { name: 'Try again' }));
      await page.getByRole('heading', { name: 'Your server did not start' }).waitFor();
      await page.goto(`${hub.url}/hub/home`);
      assert.match(await text(page.getByRole('article', { name: 'Default server' })), /The last start failed: .*exited with code 3/);
    });
    await closePage(page);
  });
});
