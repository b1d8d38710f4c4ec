// The realistic notebook (fixtures/realistic.ipynb, executed by a real kernel) as a reader sees it in
// Chromium, served with the page's CSP: styled, math laid out, images decoded, colours applied,
// contents navigable, readable on a phone, in light and dark. Screenshots go to test-results/.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PAGE_CSP, renderNotebook } from '../../src/publish/render/index.js';
import { validateNotebook } from '../../src/publish/validate.js';
import { launchBrowser, saveScreenshot, type Browser, type Page } from '../helpers/browser.js';
import { fixture } from './fixtures/notebooks.js';
import { serve, type Served } from './fixtures/serve.js';

describe('the realistic notebook in Chromium', () => {
  let browser: Browser;
  let site: Served;

  before(async () => {
    const { notebook } = validateNotebook(fixture('realistic.ipynb'), { maxBytes: 25_000_000 });
    const options = { title: 'Quarterly sales analysis', downloadUrl: '/p/sales/download', author: 'alice', published: '2026-11-25T10:00:00Z', version: 3 };
    site = await serve({
      '/auto': { body: renderNotebook(notebook, options), csp: PAGE_CSP },
      '/dark': { body: renderNotebook(notebook, { ...options, theme: 'dark' }), csp: PAGE_CSP },
      // as the viewer may serve it: the CSP plus a sandbox (an opaque origin) that allows downloads only
      '/p/sales': { body: renderNotebook(notebook, options), csp: `${PAGE_CSP}; sandbox allow-downloads` },
      '/p/sales/download': {
        body: fixture('realistic.ipynb').toString('utf8'),
        type: 'application/x-ipynb+json',
        headers: { 'content-disposition': 'attachment; filename="Quarterly_sales_analysis.ipynb"' },
      },
    });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await site?.close();
  });

  /** Open a page, recording everything it requests and every console message. */
  async function open(path: string, options: { colorScheme?: 'light' | 'dark'; width?: number } = {}) {
    const context = await browser.newContext({ colorScheme: options.colorScheme ?? 'light', viewport: { width: options.width ?? 1280, height: 900 }, acceptDownloads: true });
    const page = await context.newPage();
    const requests: string[] = [];
    const messages: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => messages.push(`${m.type()}: ${m.text()}`));
    const url = `${site.origin}${path}`;
    await page.goto(url, { waitUntil: 'load' });
    return { page, context, requests, messages, url };
  }

  const style = (page: Page, selector: string, prop: string) =>
    page.$eval(selector, (el, p) => getComputedStyle(el).getPropertyValue(p), prop);

  test('light: styled by its own stylesheet, math, images, colours, prompts; nothing else loaded', async () => {
    const { page, context, requests, messages, url } = await open('/auto');
    try {
      assert.deepEqual(requests, [url], 'one request: the page');
      assert.deepEqual(messages, [], 'no console messages (no CSP violation)');
      assert.equal(await style(page, 'body', 'background-color'), 'rgb(255, 255, 255)');
      assert.equal(await style(page, '.rf-source', 'background-color'), 'rgb(245, 245, 245)', 'code cells are grey: the stylesheet applied');
      assert.equal(await style(page, '.rf-error-output .ansi-red-fg', 'color'), 'rgb(231, 92, 88)', 'traceback colours come from classes');
      assert.equal(await style(page, '.ansi-c28-fg', 'color'), 'rgb(0, 135, 0)', '256-colour palette');
      assert.equal(await style(page, '.hljs-keyword', 'color'), 'rgb(0, 128, 0)', 'JupyterLab keyword green');

      // Math is laid out as MathML: a display fraction is taller than a line of text, inline math sits in its line.
      const math = await page.$$eval('math', (els) => els.map((m) => ({ display: m.getAttribute('display'), h: m.getBoundingClientRect().height, w: m.getBoundingClientRect().width })));
      assert.ok(math.length >= 6);
      assert.ok(math.every((m) => m.w > 0 && m.h > 0), 'every formula has a size');
      const displayHeights = math.filter((m) => m.display === 'block').map((m) => m.h);
      assert.ok(Math.max(...displayHeights) > 30, `display math is tall: ${displayHeights.join(', ')}`);

      // Images are decoded from their data: URIs, at the size the notebook asked for.
      const images = await page.$$eval('img', (els) => els.map((i) => ({ ok: i.complete && i.naturalWidth > 0, w: i.getBoundingClientRect().width, src: i.src.slice(0, 22) })));
      assert.ok(images.length >= 3);
      assert.ok(images.every((i) => i.ok), `every image decodes: ${JSON.stringify(images)}`);
      assert.ok(images.some((i) => i.src === 'data:image/png;base64,' && i.w === 560), 'the chart is 560px wide as asked');

      // What a reader reads: prompts, the traceback, the table.
      const prompts = await page.$$eval('.rf-input .rf-prompt', (els) => els.map((e) => (e as HTMLElement).innerText));
      assert.deepEqual(prompts, ['[1]:', '[2]:', '[3]:', '[4]:', '[5]:', '[6]:', '[7]:', '[8]:', '[9]:', '[ ]:']);
      assert.match(await page.$eval('.rf-error-output', (e) => (e as HTMLElement).innerText), /ValueError: periods must be positive, got 0$/);
      assert.equal(await page.$$eval('table.dataframe', (t) => t.length), 2);

      // The table of contents leads to its heading.
      await page.click('.rf-toc-side a[href="#Trend"]');
      await page.waitForFunction(() => location.hash === '#Trend');
      const top = await page.$eval('#Trend', (h) => h.getBoundingClientRect().top);
      assert.ok(Math.abs(top) < 40, `the heading is at the top after the click (${top})`);
      await page.evaluate(() => window.scrollTo(0, 0));
      await saveScreenshot(page, 'publish-realistic-light');
      assert.deepEqual(requests, [url], 'following the contents loads nothing');
    } finally {
      await context.close();
    }
  });

  test('sandboxed as the viewer may serve it: still styled, and the Download link downloads the notebook', async () => {
    const { page, context, messages } = await open('/p/sales');
    try {
      assert.deepEqual(messages, []);
      assert.equal(await style(page, '.rf-source', 'background-color'), 'rgb(245, 245, 245)');
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('.rf-download')]);
      assert.equal(download.suggestedFilename(), 'Quarterly_sales_analysis.ipynb');
      const file = await download.path();
      assert.ok(file);
      const { readFileSync } = await import('node:fs');
      assert.equal(JSON.parse(readFileSync(file, 'utf8')).nbformat, 4);
    } finally {
      await context.close();
    }
  });

  test('dark: follows the reader’s system when automatic, and can be forced', async () => {
    for (const [path, scheme] of [['/auto', 'dark'], ['/dark', 'light']] as const) {
      const { page, context, messages } = await open(path, { colorScheme: scheme });
      try {
        assert.deepEqual(messages, []);
        assert.equal(await style(page, 'body', 'background-color'), 'rgb(17, 17, 17)', `${path} in a ${scheme} browser`);
        assert.equal(await style(page, '.rf-source', 'background-color'), 'rgb(33, 33, 33)');
        assert.equal(await style(page, '.rf-stderr', 'background-color'), 'rgb(74, 31, 31)');
        if (path === '/dark') await saveScreenshot(page, 'publish-realistic-dark');
      } finally {
        await context.close();
      }
    }
  });

  test('a phone: no sideways scrolling of the page, contents folded above the notebook', async () => {
    const { page, context } = await open('/auto', { width: 390 });
    try {
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 390, `the page is ${width}px wide on a 390px screen`);
      assert.equal(await style(page, '.rf-toc-side', 'display'), 'none');
      assert.equal(await style(page, '.rf-toc-inline', 'display'), 'block');
      // long code lines scroll inside their box
      assert.equal(await style(page, '.rf-source', 'overflow-x'), 'auto');
      const font = Number.parseFloat(await style(page, '.rf-rendered p', 'font-size'));
      assert.ok(font >= 14, `body text is ${font}px`);
      await saveScreenshot(page, 'publish-realistic-phone');
    } finally {
      await context.close();
    }
  });
});
