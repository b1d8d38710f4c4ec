// Publish, end to end, as people do it: a user opens a notebook in JupyterLab (the real one from
// envs/base, with the Publish extension setup installed), presses Publish in the notebook toolbar,
// fills the dialog and gets a link; someone else, signed out, opens the link in a fresh browser and
// sees the notebook rendered (math, the plot, the coloured traceback) and downloads the very file.
// Then the owner publishes again (a new version at the same link) and unpublishes from JupyterLab's
// "My publications": the link answers Gone.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { launchBrowser, saveScreenshot, type Browser } from '../helpers/browser.js';
import { launchRefinery, startServerAndWait, type RefineryProcess } from '../helpers/refinery.js';
import { notebookFileText, reportNotebook } from './notebooks.js';
import { addUser } from '../helpers/session.js';

const LAB_TIMEOUT_MS = 120_000;
const UI_TIMEOUT_MS = 30_000;
const USER = 'ada';
const PASSWORD = 'ada-password-for-publish-tests';

describe('Publish from JupyterLab, open the link signed out', () => {
  let hub: RefineryProcess;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];
  let original: Buffer;

  before(async () => {
    hub = await launchRefinery();
    browser = await launchBrowser();
    await addUser(hub, USER, PASSWORD);
    // the notebook, as JupyterLab would have saved it, in the user's home before the server starts
    const home = join(hub.dataDir, 'users', USER);
    await mkdir(join(home, 'analysis'), { recursive: true });
    original = Buffer.from(notebookFileText(reportNotebook({ title: 'Growth report' })));
    await writeFile(join(home, 'analysis', 'report.ipynb'), original);
    await startServerAndWait(hub, await hub.tokenFor(USER), USER);
  });
  after(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await hub?.cleanup();
  });

  async function freshPage(name: string): Promise<Page> {
    const context = await browser.newContext({ colorScheme: 'light', viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    page.on('console', (message) => {
      if (/content.security.policy/i.test(message.text())) problems.push(`${name}: CSP on ${page.url()}: ${message.text()}`);
      if (message.type() === 'error' && /refinery/i.test(message.text())) problems.push(`${name}: ${message.text()}`);
    });
    page.on('pageerror', (error) => {
      if (/refinery|publish/i.test(`${error.message} ${error.stack ?? ''}`)) problems.push(`${name}: script error: ${error.message}`);
    });
    return page;
  }

  async function scenario(page: Page, name: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (error) {
      await saveScreenshot(page, `failed-${name}`).catch(() => undefined);
      throw error;
    }
  }

  let lab: Page;
  let link = '';

  test('Publish in the notebook toolbar: a dialog, then the link with a Copy button', { timeout: 300_000 }, async () => {
    lab = await freshPage('lab');
    await scenario(lab, 'publish-dialog', async () => {
      await lab.goto(`${hub.url}/hub/login?next=${encodeURIComponent(`/user/${USER}/lab/tree/analysis/report.ipynb`)}`);
      await lab.getByLabel('Username', { exact: true }).fill(USER);
      await lab.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await lab.getByRole('button', { name: 'Sign in' }).click();
      await lab.waitForURL(/\/user\/ada\/lab/, { timeout: LAB_TIMEOUT_MS });
      const button = lab.locator('.jp-NotebookPanel-toolbar .refinery-publish-button');
      await button.waitFor({ state: 'visible', timeout: LAB_TIMEOUT_MS });
      await lab.locator('.jp-NotebookPanel .jp-MarkdownCell').first().waitFor({ state: 'visible', timeout: LAB_TIMEOUT_MS });
      await lab.getByRole('tab', { name: /report\.ipynb/ }).first().waitFor();

      await button.getByRole('button', { name: 'Publish' }).click();
      const dialog = lab.locator('.jp-Dialog');
      await dialog.getByRole('heading', { name: 'Publish report.ipynb' }).or(dialog.getByText('Publish report.ipynb')).first().waitFor();
      const title = dialog.getByLabel('Title');
      assert.equal(await title.inputValue(), 'report', 'the title starts as the file name');
      await title.fill('Growth report');
      const who = dialog.getByLabel('Who can open it');
      assert.deepEqual(await who.locator('option').allTextContents(), ['Anyone with the link', 'Signed-in hub users']);
      await who.selectOption('public');
      await saveScreenshot(lab, 'publish-dialog');
      await dialog.getByRole('button', { name: 'Publish' }).click();

      const url = lab.locator('#refinery-publish-url');
      await url.waitFor({ timeout: UI_TIMEOUT_MS });
      link = await url.inputValue();
      assert.match(link, new RegExp(`^${hub.url}/p/[A-Za-z0-9_-]{22}$`));
      assert.match(await lab.locator('.jp-Dialog').innerText(), /Version 1 · Anyone with the link/);
      await lab.locator('.jp-Dialog').getByRole('button', { name: 'Copy' }).click();
      await lab.getByText('Link copied to the clipboard.').waitFor();
      await saveScreenshot(lab, 'publish-link');
      await lab.locator('.jp-Dialog').getByRole('button', { name: 'Done' }).click();
    });
  });

  test('signed out, in a fresh browser: the rendered notebook, and the download is the very file', { timeout: 120_000 }, async () => {
    assert.ok(link, 'the previous test published a link');
    const reader = await freshPage('reader');
    await scenario(reader, 'published-page', async () => {
      const response = await reader.goto(link);
      assert.equal(response?.status(), 200);
      const csp = response?.headers()['content-security-policy'] ?? '';
      assert.match(csp, /sandbox/);
      assert.doesNotMatch(csp, /allow-same-origin/);
      assert.equal(await reader.context().cookies().then((c) => c.length), 0, 'nothing from the hub in this browser');

      await reader.getByRole('heading', { name: 'Growth report', level: 1 }).first().waitFor();
      // math: KaTeX markup (MathML), inline and display
      const math = reader.locator('.katex math');
      assert.ok((await math.count()) >= 2, 'inline and display math rendered by KaTeX');
      assert.equal(await reader.locator('.katex-error').count(), 0);
      assert.match((await reader.locator('.katex').first().textContent()) ?? '', /E.*=.*m.*c/);
      // the plot: a real PNG, decoded by the browser
      const plot = reader.locator('img[src^="data:image/png"]');
      await plot.waitFor();
      assert.deepEqual(await plot.evaluate((img: HTMLImageElement) => [img.complete, img.naturalWidth, img.naturalHeight]), [true, 160, 100]);
      // the traceback, in colour: red exception names, green line arrow
      const red = reader.locator('.ansi-red-fg', { hasText: 'ZeroDivisionError' }).first();
      await red.waitFor();
      assert.equal(await red.evaluate((el) => getComputedStyle(el).color), 'rgb(231, 92, 88)', 'JupyterLab’s ANSI red');
      assert.ok((await reader.locator('.ansi-green-fg').count()) > 0, 'the line arrow in green');
      assert.match(await reader.locator('main').innerText(), /division by zero/);
      // nothing in it runs
      assert.equal(await reader.locator('script').count(), 0);
      await saveScreenshot(reader, 'published');

      const [download] = await Promise.all([reader.waitForEvent('download'), reader.getByRole('link', { name: /Download/ }).click()]);
      assert.equal(download.suggestedFilename(), 'Growth report.ipynb');
      const file = await download.path();
      assert.ok(file, 'the download finished');
      const bytes = await readFile(file);
      // the very file published: the bytes the hub stored for this version (Publish saves first when
      // JupyterLab holds changes); JupyterLab may save the notebook again afterwards (with real-time
      // collaboration the kernel's full language_info arrives a moment later), so the file on disk
      // now has the same cells but not always the same bytes
      const slug = new URL(link).pathname.split('/').pop()!;
      const model = (await (await hub.api(`/hub/api/users/${USER}/publications/${slug}`)).json()) as { versions: { sha256: string; size: number }[] };
      assert.equal(createHash('sha256').update(bytes).digest('hex'), model.versions[0]!.sha256, 'the download is byte for byte the version published');
      assert.equal(bytes.length, model.versions[0]!.size);
      const cellsOf = (b: Buffer) => (JSON.parse(b.toString('utf8')) as { cells: { source: unknown; outputs?: unknown }[] }).cells.map((c) => [c.source, c.outputs ?? null]);
      const saved = await readFile(join(hub.dataDir, 'users', USER, 'analysis', 'report.ipynb'));
      assert.deepEqual(cellsOf(bytes), cellsOf(saved), 'the same cells as the notebook in JupyterLab');
      assert.deepEqual(cellsOf(bytes).length, (JSON.parse(original.toString('utf8')) as { cells: unknown[] }).cells.length);
    });
    assert.deepEqual(problems, [], problems.join('\n'));
  });

  test('publish again: "update" keeps the link and adds a version; My publications unpublishes it: Gone', { timeout: 180_000 }, async () => {
    assert.ok(link, 'the first test published a link');
    await scenario(lab, 'republish', async () => {
      await lab.locator('.jp-NotebookPanel-toolbar .refinery-publish-button').getByRole('button', { name: 'Publish' }).click();
      const dialog = lab.locator('.jp-Dialog');
      const update = dialog.getByRole('radio', { name: /Update “Growth report”/ });
      await update.waitFor();
      assert.equal(await update.isChecked(), true, 'updating the existing link is the default');
      assert.equal(await dialog.getByLabel('Title').inputValue(), 'Growth report', 'the title as published');
      await dialog.getByRole('button', { name: 'Publish' }).click();
      const url = lab.locator('#refinery-publish-url');
      await url.waitFor();
      assert.equal(await url.inputValue(), link, 'the same link');
      assert.match(await lab.locator('.jp-Dialog').innerText(), /Version 2/);
      await lab.locator('.jp-Dialog').getByRole('button', { name: 'Done' }).click();

      // File menu → My Publications → Unpublish
      await lab.getByRole('menuitem', { name: 'File' }).click();
      await lab.getByRole('menuitem', { name: /My Publications/ }).click();
      const list = lab.locator('.refinery-publish-list');
      const row = list.locator('tr', { hasText: 'Growth report' });
      await row.waitFor();
      assert.match(await row.innerText(), /2 versions/);
      assert.match(await row.innerText(), /analysis\/report\.ipynb/);
      await saveScreenshot(lab, 'my-publications');
      await row.getByRole('button', { name: 'Unpublish Growth report' }).click();
      await row.getByRole('button', { name: 'Yes, unpublish' }).click();
      await list.getByText('Nothing published yet').waitFor();
    });
    const reader = await freshPage('reader-after');
    const gone = await reader.goto(link);
    assert.equal(gone?.status(), 410);
    assert.match(await reader.locator('body').innerText(), /unpublished/i);
    assert.equal((await reader.goto(`${link}/v/1`))?.status(), 410, 'earlier versions too');
    assert.deepEqual(problems, [], problems.join('\n'));
  });

  test('the hub’s “My publications” page: links, versions, who can open them, unpublish', { timeout: 120_000 }, async () => {
    // two versions published the way ada's server does it, for signed-in hub users only
    const token = await hub.tokenFor(USER, { scopes: ['users:activity!user'] });
    const first = await hub.as(token, `/hub/api/users/${USER}/publications`, { method: 'POST', body: JSON.stringify({ title: 'Quarterly numbers', visibility: 'users', path: 'q3.ipynb', notebook: reportNotebook() }) });
    assert.equal(first.status, 201);
    const { id, url } = (await first.json()) as { id: string; url: string };
    const second = await hub.as(token, `/hub/api/users/${USER}/publications/${id}`, { method: 'PUT', body: JSON.stringify({ notebook: reportNotebook({ marker: 'revised' }) }) });
    assert.equal(second.status, 200);

    await scenario(lab, 'hub-publications', async () => {
      await lab.goto(`${hub.url}/hub/home`);
      await lab.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Publications' }).click();
      await lab.waitForURL(`${hub.url}/hub/publications`);
      await lab.getByRole('heading', { name: 'My publications' }).waitFor();
      const row = lab.locator('#publications tr', { hasText: 'Quarterly numbers' });
      await row.waitFor();
      const shown = (await row.innerText()).replace(/\s+/g, ' ');
      assert.match(shown, /Hub users/);
      assert.match(shown, /2 versions/);
      assert.match(shown, /q3\.ipynb/);
      const absolute = async (name: string) => new URL((await row.getByRole('link', { name, exact: true }).getAttribute('href'))!, lab.url()).toString();
      assert.equal(await absolute('Quarterly numbers'), url);
      await row.getByText('2 versions').click();
      assert.equal(await absolute('v1'), `${url}/v/1`);
      await saveScreenshot(lab, 'hub-publications');

      lab.once('dialog', (dialog) => void dialog.accept());
      await Promise.all([lab.waitForEvent('load'), row.getByRole('button', { name: /Unpublish/ }).click()]);
      await lab.getByRole('status').getByText(/unpublished/).waitFor();
      assert.equal(await lab.locator('#publications tr', { hasText: 'Quarterly numbers' }).count(), 0);
    });
    // signed in or not, the link is gone
    assert.equal((await lab.goto(url))?.status(), 410);
    assert.deepEqual(problems, [], problems.join('\n'));
  });
});
