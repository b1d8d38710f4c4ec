// What a new person sees on a fresh hub with nothing configured (no storage, no profiles, no
// clusters: only the address, the data directory and the test harness's service token): they sign
// in, pick Spark, watch the progress, and land in JupyterLab with a 2-worker Spark cluster; in a new
// notebook `spark.range(10).count()` answers and boto3 lists their own bucket in the embedded object
// store with no arguments. Screenshots: the spawn form's cluster controls, the progress page, the
// notebook, and the Storage page.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { launchBrowser, saveScreenshot, type Browser } from '../helpers/browser.js';
import { ADMIN_PASSWORD, json, launchRefinery, type RefineryProcess } from '../helpers/refinery.js';
import { waitFor } from '../helpers/tmp.js';

const UI_TIMEOUT_MS = 30_000;
const LAB_TIMEOUT_MS = 300_000;
const NOTEBOOK = 'first.ipynb';

describe('the first run: sign in, pick Spark, compute and store', () => {
  let hub: RefineryProcess;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  before(async () => {
    hub = await launchRefinery();
    browser = await launchBrowser();
    context = await browser.newContext({ colorScheme: 'light', viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(UI_TIMEOUT_MS);
  });
  after(async () => {
    await context?.close().catch(() => undefined);
    await browser?.close();
    await hub?.cleanup();
  });

  async function scenario(name: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (error) {
      await saveScreenshot(page, `failed-first-run-${name}`).catch(() => undefined);
      throw error;
    }
  }

  test('pick Spark on the spawn form: a 2-worker cluster comes with it; the progress shows; JupyterLab opens', { timeout: 600_000 }, async () => {
    await scenario('spawn', async () => {
      await page.goto(`${hub.url}/hub/login`);
      await page.getByLabel('Username', { exact: true }).fill('admin');
      await page.getByLabel('Password', { exact: true }).fill(ADMIN_PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(/\/hub\/(home|password)/);
      await page.goto(`${hub.url}/hub/spawn/admin`);
      await page.locator('label.choice-card', { has: page.getByRole('radio', { name: 'Spark', exact: true }) }).click();
      const cluster = page.getByRole('group', { name: /^Cluster/ });
      await cluster.waitFor({ state: 'visible' });
      assert.equal(await cluster.getByRole('spinbutton', { name: 'Workers' }).inputValue(), '2');
      await cluster.scrollIntoViewIfNeeded();
      await saveScreenshot(page, 'first-run-spawn-form');
      await page.getByRole('button', { name: 'Start server' }).first().click();
      await page.waitForURL(/\/hub\/spawn-pending\/admin/);
      await waitFor(async () => Number(await page.locator('#spawn-progress progress').getAttribute('value').catch(() => '0')) > 0, { timeoutMs: 60_000, message: 'the progress bar to move' });
      await saveScreenshot(page, 'first-run-progress');
      await page.waitForURL(/\/user\/admin\/lab/, { timeout: LAB_TIMEOUT_MS });
    });
    const clusters = await json<{ kind: string; state: string; connect: boolean; workers: { requested: number; registered: number } }[]>(hub.api('/hub/api/users/admin/clusters'));
    assert.deepEqual(clusters.map((c) => [c.kind, c.state, c.connect, c.workers.registered]), [['spark', 'running', true, 2]]);
  });

  test('in a new notebook, Spark counts and boto3 lists the person\'s own bucket, with no configuration', { timeout: 600_000 }, async () => {
    await scenario('notebook', async () => {
      const created = await page.request.put(`${hub.url}/user/admin/api/contents/${NOTEBOOK}`, {
        headers: { 'X-XSRFToken': await xsrfOfServer(page) },
        data: { type: 'notebook', content: { nbformat: 4, nbformat_minor: 5, metadata: { kernelspec: { name: 'python3', display_name: 'Python 3 (ipykernel)', language: 'python' } }, cells: [{ cell_type: 'code', id: 'first', metadata: {}, execution_count: null, outputs: [], source: '' }] } },
      });
      assert.equal(created.status(), 201, await created.text());
      await page.goto(`${hub.url}/user/admin/lab/tree/${NOTEBOOK}`);
      await page.locator('.jp-NotebookPanel .jp-Cell .cm-content').first().waitFor({ timeout: LAB_TIMEOUT_MS });
      // the kernel has connected (a cell run before that is not sent)
      await page.locator('.jp-StatusBar-Widget').getByText(/Python 3 \(ipykernel\) \| Idle/).waitFor({ timeout: LAB_TIMEOUT_MS });
      await runCell(page, 0, 'from pyspark.sql import SparkSession\nspark = SparkSession.builder.getOrCreate()\nspark.range(10).count()');
      await waitFor(async () => (await outputOf(page, 0)) === '10', { timeoutMs: 240_000, message: 'spark.range(10).count() to answer 10' });
      await runCell(page, 1, 'import os, boto3\nboto3.client("s3").list_objects_v2(Bucket=os.environ["S3_BUCKET"])["Name"]');
      await waitFor(async () => (await outputOf(page, 1)) === "'admin'", { timeoutMs: 60_000, message: 'boto3 to list the bucket named after the person' });
      await saveScreenshot(page, 'first-run-notebook');
    });
  });

  test('the Storage page shows the embedded store and the person\'s bucket', { timeout: 60_000 }, async () => {
    await scenario('storage', async () => {
      await page.goto(`${hub.url}/hub/storage`);
      const main = page.locator('main');
      await main.getByText('embedded', { exact: false }).first().waitFor();
      assert.match(await main.innerText(), /admin/);
      await saveScreenshot(page, 'first-run-storage');
    });
  });
});

/** jupyter_server's XSRF cookie, which its API wants echoed in a header for cookie-authenticated writes. */
async function xsrfOfServer(page: Page): Promise<string> {
  const cookies = await page.context().cookies();
  return cookies.find((c) => c.name === '_xsrf')?.value ?? '';
}

async function runCell(page: Page, index: number, code: string): Promise<void> {
  const cells = page.locator('.jp-NotebookPanel .jp-Cell');
  if (index > 0) {
    await page.keyboard.press('Escape');
    await page.keyboard.press('b'); // a new cell below, in command mode
    await cells.nth(index).waitFor();
  }
  await cells.nth(index).locator('.cm-content').click();
  await page.keyboard.insertText(code);
  await page.keyboard.press('Shift+Enter');
}

/** The cell's result (its last expression's value), without the prompt or anything logged. */
async function outputOf(page: Page, index: number): Promise<string> {
  return (await page.locator('.jp-NotebookPanel .jp-Cell').nth(index).locator('.jp-OutputArea-executeResult .jp-OutputArea-output').innerText().catch(() => '')).trim();
}
