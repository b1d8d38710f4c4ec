// The hostile notebook (fixtures/xss-payloads.ts) rendered and opened in Chromium: no dialog, no
// request but the page itself, no navigation, no script error; both with the page's CSP and without
// any CSP, so the sanitizing alone is shown to hold, and the CSP to be a second wall, not the only one.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PAGE_CSP, renderNotebook } from '../../src/publish/render/index.js';
import { validateNotebook } from '../../src/publish/validate.js';
import { launchBrowser, saveScreenshot, type Browser } from '../helpers/browser.js';
import { bytes } from './fixtures/notebooks.js';
import { serve, type Served } from './fixtures/serve.js';
import { xssNotebook, xssOptions } from './fixtures/xss-payloads.js';

describe('a hostile notebook in a real browser', () => {
  let browser: Browser;
  let hub: Served;
  let site: Served;

  before(async () => {
    // the hub: another port on this machine; nothing may reach it
    hub = await serve({});
    const { notebook } = validateNotebook(bytes(xssNotebook(hub.origin)), { maxBytes: 50_000_000 });
    const html = renderNotebook(notebook, xssOptions());
    const control = `<!DOCTYPE html><title>control</title><script>alert("control")</script><img src="${hub.origin}/control.png">`;
    site = await serve({ '/with-csp': { body: html, csp: PAGE_CSP }, '/without-csp': { body: html }, '/control': { body: control } });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await site?.close();
    await hub?.close();
  });

  test('control: the harness does see a dialog and a request when a page has them', async () => {
    const page = await browser.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.goto(`${site.origin}/control`, { waitUntil: 'load' });
    await page.waitForTimeout(300);
    await page.close();
    assert.deepEqual(dialogs, ['control']);
    assert.deepEqual(hub.hits.splice(0), ['GET /control.png']);
  });

  for (const variant of ['with-csp', 'without-csp']) {
    test(`no dialog, no request, no navigation (${variant})`, async () => {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      const dialogs: string[] = [];
      const requests: string[] = [];
      const consoleMessages: string[] = [];
      const pageErrors: string[] = [];
      page.on('dialog', (d) => {
        dialogs.push(`${d.type()}: ${d.message()}`);
        void d.dismiss();
      });
      page.on('request', (r) => requests.push(`${r.method()} ${r.url()}`));
      page.on('console', (m) => consoleMessages.push(`${m.type()}: ${m.text()}`));
      page.on('pageerror', (e) => pageErrors.push(e.message));
      page.on('popup', (p) => pageErrors.push(`popup ${p.url()}`));
      const url = `${site.origin}/${variant}`;
      try {
        await page.goto(url, { waitUntil: 'load' });
        // Give everything a chance to fire: timers (meta refresh), animations (onbegin), lazy images
        // below the fold, focus (autofocus, onfocus), hover (onmouseover).
        for (let y = 0; y < 20; y++) {
          await page.mouse.wheel(0, 2000);
          await page.mouse.move(200 + y * 40, 100 + y * 30);
        }
        for (let i = 0; i < 8; i++) await page.keyboard.press('Tab');
        await page.waitForTimeout(1500);

        assert.deepEqual(dialogs, [], 'no alert, confirm or prompt');
        assert.deepEqual(pageErrors, [], 'no script ran (and failed), no popup');
        assert.deepEqual(requests, [`GET ${url}`], 'the page loaded nothing besides itself');
        assert.deepEqual(hub.hits, [], 'nothing reached the other port');
        assert.equal(page.url(), url, 'no navigation (meta refresh, base, forms)');
        if (variant === 'with-csp') {
          // Not even an attempt: a blocked attempt would show as a CSP violation in the console.
          assert.deepEqual(consoleMessages.filter((m) => /Content.Security.Policy|Refused to/i.test(m)), []);
          // the page's own stylesheet applies (its hash is in the CSP): the header is grey
          const header = await page.$eval('.rf-header', (el) => getComputedStyle(el).backgroundColor);
          assert.equal(header, 'rgb(247, 247, 247)');
          // and nothing from the notebook is styled by an inline style
          const styled = await page.$$eval('main [style]', (els) => els.length);
          assert.equal(styled, 0);
          await saveScreenshot(page, 'publish-xss');
        }
      } catch (err) {
        await saveScreenshot(page, `publish-xss-${variant}-failure`).catch(() => undefined);
        throw err;
      } finally {
        await context.close();
      }
    });
  }
});
