// The Storage page in Chromium: a person sees their endpoint, buckets and how to use them; their
// keys appear only when they ask, and the page is keyboard-usable. A screenshot is kept for review.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, saveScreenshot, type Browser } from '../helpers/browser.js';
import { launchRefinery, type RefineryProcess } from '../helpers/refinery.js';
import { addUser } from '../helpers/session.js';

const SECRET = 'tB7kQ2mX9vR4nL6pW1sZ8yC3hF5jD0gA2eU7iO4q';
const PASSWORD = 'grace-password-for-storage-page';

describe('the Storage page in a browser', () => {
  let hub: RefineryProcess;
  let browser: Browser;

  before(async () => {
    hub = await launchRefinery({
      config: {
        storage: { endpoints: [{ name: 'lake', url: 'https://s3.lake.example.org', region: 'eu-central-1' }] },
        profiles: [{ name: 'lake', storage: { endpoint: 'lake', buckets: ['{user}-data', 'team-{group}'], credentials: { source: 'directory', path: 'keys' } } }],
      },
    });
    const keys = join(hub.dir.path, 'keys', 'users', 'grace');
    await mkdir(keys, { recursive: true });
    await writeFile(join(keys, 'AWS_ACCESS_KEY_ID'), 'GRACEACCESSKEY0001\n');
    await writeFile(join(keys, 'AWS_SECRET_ACCESS_KEY'), `${SECRET}\n`);
    await addUser(hub, 'grace', PASSWORD);
    assert.equal((await hub.api('/hub/api/groups/physics', { method: 'POST' })).status, 201);
    assert.equal((await hub.api('/hub/api/groups/physics/users', { method: 'POST', body: JSON.stringify({ users: ['grace'] }) })).status, 200);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await hub?.cleanup();
  });

  test('endpoint, buckets and snippets; keys only on request', async () => {
    const page = await (await browser.newContext({ viewport: { width: 1100, height: 900 } })).newPage();
    await page.goto(`${hub.url}/hub/login`);
    await page.getByLabel('Username', { exact: true }).fill('grace');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await Promise.all([page.waitForURL(/\/hub\/home/), page.getByRole('button', { name: 'Sign in' }).click()]);

    await page.getByRole('link', { name: 'Storage' }).click();
    await page.waitForURL(/\/hub\/storage$/);
    const card = page.getByRole('region', { name: 'lake' });
    const text = (await card.textContent()) ?? '';
    assert.match(text, /https:\/\/s3\.lake\.example\.org/);
    assert.match(text, /eu-central-1/);
    assert.match(text, /grace-data/);
    assert.match(text, /team-physics/);
    assert.ok(!(await page.content()).includes(SECRET), 'no key before asking');

    // snippets open with the keyboard and name her bucket
    await page.getByText('boto3', { exact: true }).focus();
    await page.keyboard.press('Enter');
    assert.match((await page.locator('details.snippet[open] pre').first().textContent()) ?? '', /Bucket="grace-data"/);

    await page.getByRole('button', { name: 'Show my keys' }).focus();
    await Promise.all([page.waitForLoadState('load'), page.keyboard.press('Enter')]);
    await page.locator('#secret-key').waitFor();
    assert.equal(await page.locator('#secret-key').textContent(), SECRET);
    assert.equal(await page.locator('#access-key').textContent(), 'GRACEACCESSKEY0001');
    await saveScreenshot(page, 'storage-page');

    // reloading the address does not show them again (the keys came with the POST only)
    await page.goto(`${hub.url}/hub/storage`);
    assert.ok(!(await page.content()).includes(SECRET));
  });
});
