// Every hub page fits the window, from a 1024 px laptop up and down to a phone (390 px): nothing
// wider than the page (no sideways scrolling), and every button and link of its tables and forms
// inside the window, so nothing is cut off. Screenshots of each page at both widths go to
// test-results/width-<page>-<width>.png.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, saveScreenshot, type Browser, type Page } from '../helpers/browser.js';
import { ADMIN_PASSWORD, launchRefinery, type RefineryProcess } from '../helpers/refinery.js';

const WIDTHS = [1024, 1280, 390] as const;
/** Long names, as real deployments have (e-mail-like names from OIDC), to stretch the tables. */
const PEOPLE = ['alexandra.konstantinopoulou', 'bartholomew-fitzgerald-jones', 'chen'];

const PAGES: { name: string; path: string }[] = [
  { name: 'home', path: '/hub/home' },
  { name: 'spawn', path: '/hub/spawn/admin' },
  { name: 'admin', path: '/hub/admin' },
  { name: 'tokens', path: '/hub/token' },
  { name: 'password', path: '/hub/password' },
  { name: 'storage', path: '/hub/storage' },
  { name: 'publications', path: '/hub/publications' },
  { name: 'share', path: '/hub/share/admin' },
];

let hub: RefineryProcess;
let browser: Browser;

before(async () => {
  hub = await launchRefinery();
  browser = await launchBrowser();
  assert.equal((await hub.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: PEOPLE }) })).status, 201);
  const admin = await hub.tokenFor('admin');
  for (const person of PEOPLE.slice(0, 2)) {
    assert.equal((await hub.as(admin, '/hub/api/shares/admin/', { method: 'POST', body: JSON.stringify({ user: person }) })).status, 200);
  }
});

after(async () => {
  await browser?.close();
  await hub?.cleanup();
});

/** What sticks out of the window: the page's own width, and any control beyond its right edge. */
async function overflow(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const problems: string[] = [];
    const width = document.documentElement.clientWidth;
    if (document.documentElement.scrollWidth > width + 1) problems.push(`the page is ${document.documentElement.scrollWidth} px wide in a ${width} px window`);
    for (const el of Array.from(document.querySelectorAll('main a, main button, main input, main select, main textarea'))) {
      const box = el.getBoundingClientRect();
      if (box.width === 0 || box.height === 0) continue; // hidden
      if (box.right > width + 1 || box.left < -1) problems.push(`${el.tagName.toLowerCase()} “${(el.textContent ?? '').trim().slice(0, 40) || el.getAttribute('name') || ''}” spans ${Math.round(box.left)}–${Math.round(box.right)} px`);
    }
    return problems;
  });
}

describe('pages fit the window', () => {
  for (const width of WIDTHS) {
    test(`at ${width} px, every page fits and no control is cut off`, { timeout: 180_000 }, async () => {
      const context = await browser.newContext({ colorScheme: 'light', viewport: { width, height: 900 } });
      try {
        const page = await context.newPage();
        await page.goto(`${hub.url}/hub/login`);
        assert.deepEqual(await overflow(page), [], `sign-in page at ${width} px`);
        await saveScreenshot(page, `width-login-${width}`);
        await page.getByLabel('Username', { exact: true }).fill('admin');
        await page.getByLabel('Password', { exact: true }).fill(ADMIN_PASSWORD);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.waitForURL(/\/hub\/(home|password)/);
        const failures: string[] = [];
        for (const { name, path } of PAGES) {
          const response = await page.goto(`${hub.url}${path}`);
          assert.equal(response?.status(), 200, `${path} answers`);
          await saveScreenshot(page, `width-${name}-${width}`);
          for (const problem of await overflow(page)) failures.push(`${path}: ${problem}`);
        }
        assert.deepEqual(failures, [], `at ${width} px`);
      } finally {
        await context.close();
      }
    });
  }
});
