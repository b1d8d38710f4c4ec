// The spawn form's cluster card with the built-in catalog, in a real browser: the Spark image comes
// with a private Spark cluster whose workers, cores and memory per worker are controls showing the
// person's quota; a size beyond it is refused next to the control; 1 worker picked on the form is
// the cluster the server gets, and a new kernel's SparkSession is a Spark Connect session on it.
// Without JavaScript the same fields work as plain number inputs. The page fits at 1024 and 390 px.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { launchBrowser, saveScreenshot, type Browser } from '../helpers/browser.js';
import { ADMIN_PASSWORD, json, launchRefinery, type RefineryProcess } from '../helpers/refinery.js';
import { execute, openKernel } from '../helpers/kernel.js';
import { machineQuota } from '../../src/clusters/quota.js';

declare const document: { documentElement: { scrollWidth: number; clientWidth: number } };

const UI_TIMEOUT_MS = 30_000;
const LAB_TIMEOUT_MS = 240_000;
const GiB = 1024 ** 3;

let browser: Browser;
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

async function freshPage(options: { viewport?: { width: number; height: number }; javaScriptEnabled?: boolean } = {}): Promise<Page> {
  const context = await browser.newContext({ viewport: options.viewport ?? { width: 1200, height: 900 }, javaScriptEnabled: options.javaScriptEnabled ?? true });
  contexts.add(context);
  const page = await context.newPage();
  page.setDefaultTimeout(UI_TIMEOUT_MS);
  page.on('console', (message) => {
    if (/content security policy/i.test(message.text())) problems.push(`${page.url()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => {
    if (page.url().includes('/hub/')) problems.push(`script error on ${page.url()}: ${error.message}`);
  });
  return page;
}

async function submit(page: Page, target: Locator): Promise<void> {
  await Promise.all([page.waitForEvent('load', { timeout: UI_TIMEOUT_MS }), target.click()]);
}

async function signIn(page: Page, hub: RefineryProcess): Promise<void> {
  await page.goto(`${hub.url}/hub/login`);
  await page.getByLabel('Username', { exact: true }).fill('admin');
  await page.getByLabel('Password', { exact: true }).fill(ADMIN_PASSWORD);
  await submit(page, page.getByRole('button', { name: 'Sign in' }));
}

/** Click an image's card, as a person does (the radio itself is drawn by the card). */
async function pick(page: Page, image: string): Promise<void> {
  await page.locator('label.choice-card', { has: page.getByRole('radio', { name: image, exact: true }) }).click();
}

async function text(locator: Locator): Promise<string> {
  return (await locator.innerText()).replace(/\s+/g, ' ').trim();
}

async function waitForText(locator: Locator, pattern: RegExp): Promise<string> {
  const started = Date.now();
  let last = '';
  while (Date.now() - started < UI_TIMEOUT_MS) {
    last = await text(locator).catch(() => '');
    if (pattern.test(last)) return last;
    await locator.page().waitForTimeout(150);
  }
  throw new Error(`timed out waiting for ${pattern}; last text: ${JSON.stringify(last)}`);
}

async function fitsWidth(page: Page): Promise<void> {
  const { scrollWidth, clientWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth }));
  assert.ok(scrollWidth <= clientWidth, `the page scrolls sideways at ${clientWidth} px (${scrollWidth} px wide)`);
}

describe('the spawn form with the built-in catalog: clusters', () => {
  let hub: RefineryProcess;
  /** This machine's default quota: what the form must show as limits. */
  const quota = machineQuota();

  before(async () => {
    hub = await launchRefinery({});
  });
  after(async () => {
    await hub?.cleanup();
  });

  test('the Spark image shows its cluster with limits; 1 worker picked is the cluster started, and a new kernel runs Spark Connect on it', { timeout: 600_000 }, async () => {
    const page = await freshPage();
    try {
      await signIn(page, hub);
      await page.goto(`${hub.url}/hub/spawn/admin`);
      const cluster = page.getByRole('group', { name: /^Cluster/ });
      // the default image (Python) starts no cluster: no card
      assert.equal(await cluster.isVisible(), false);
      await pick(page, 'Spark');
      await cluster.waitFor({ state: 'visible' });
      const workers = cluster.getByRole('spinbutton', { name: 'Workers' });
      const cores = cluster.getByRole('spinbutton', { name: 'Cores per worker' });
      const memory = cluster.getByRole('spinbutton', { name: 'Memory per worker (GiB)' });
      assert.deepEqual([await workers.inputValue(), await cores.inputValue(), await memory.inputValue()], ['2', '1', '1']);
      const shown = await text(cluster);
      assert.match(shown, /A private Spark cluster starts with your server/);
      assert.match(shown, new RegExp(`2 of at most ${quota.max_workers} workers`));
      // the master's core counts: what is left for 2 workers
      assert.match(shown, new RegExp(`1 of at most ${Math.floor((quota.max_cores! - 1) / 2)} cores per worker`));
      assert.match(shown, new RegExp(`Your quota: at most ${quota.max_workers} workers, ${quota.max_cores} cores, ${quota.max_memory! / GiB} GiB`));
      assert.equal(await cluster.locator('input[type="range"]').first().isVisible(), true, 'sliders beside the fields with JavaScript');

      // beyond the quota: refused next to the control, naming the limit
      await workers.fill(String(quota.max_workers! + 1));
      const error = cluster.locator('[data-error-for="cluster_workers"]');
      await waitForText(error, /max_workers/);
      assert.match(await text(error), new RegExp(`at most ${quota.max_workers} \\(max_workers\\)`));
      assert.equal(await workers.getAttribute('aria-invalid'), 'true');

      // 1 worker: the limits follow, the review shows it
      await workers.fill('1');
      await waitForText(cluster.locator('[data-limit="workers"]'), /^1 of at most/);
      await error.waitFor({ state: 'hidden' });
      await page.getByText('Review what will start').click();
      await waitForText(page.locator('#review-body'), /spark: 1 worker × 1 core, 1 GiB each, Spark Connect/);
      await cluster.scrollIntoViewIfNeeded();
      await saveScreenshot(page, 'spawn-form-cluster');

      await submit(page, page.getByRole('button', { name: 'Start server' }).first());
      await page.waitForURL(/\/user\/admin\/lab/, { timeout: LAB_TIMEOUT_MS });
    } catch (error) {
      await saveScreenshot(page, 'failed-spawn-form-cluster').catch(() => undefined);
      throw error;
    }

    const model = await json<{ servers: Record<string, { user_options: Record<string, unknown> }> }>(hub.api('/hub/api/users/admin'));
    assert.equal(model.servers['']!.user_options.cluster_workers, 1);
    const clusters = await json<{ kind: string; state: string; connect: boolean; workers: { requested: number; registered: number }; addresses: Record<string, string> }[]>(hub.api('/hub/api/users/admin/clusters'));
    assert.equal(clusters.length, 1);
    assert.deepEqual([clusters[0]!.kind, clusters[0]!.state, clusters[0]!.connect, clusters[0]!.workers], ['spark', 'running', true, { requested: 1, registered: 1 }]);
    assert.match(clusters[0]!.addresses.SPARK_REMOTE ?? '', /^sc:\/\/localhost:\d+/);

    const token = await hub.tokenFor('admin');
    const kernel = await openKernel(hub, token, '/user/admin/');
    const out = await execute(hub, token, '/user/admin/', kernel, [
      'from pyspark.sql import SparkSession',
      'spark = SparkSession.builder.getOrCreate()',
      'print(type(spark).__module__, spark.range(10).count())',
    ].join('\n'), 180_000, { allowStderr: true });
    assert.equal(out.trim(), 'pyspark.sql.connect.session 10');
    await hub.api('/hub/api/users/admin/server', { method: 'DELETE' });
  });

  test('without JavaScript: plain number fields; a size beyond the quota comes back with the error beside the field', { timeout: 120_000 }, async () => {
    const page = await freshPage({ javaScriptEnabled: false });
    await signIn(page, hub);
    await page.goto(`${hub.url}/hub/spawn/admin`);
    const cluster = page.getByRole('group', { name: /^Cluster/ });
    assert.match(await text(cluster), /With Spark and Dask; other images start no cluster/);
    assert.equal(await cluster.locator('input[type="range"]').first().isVisible(), false);
    await pick(page, 'Dask');
    await cluster.getByRole('spinbutton', { name: 'Memory per worker (GiB)' }).fill(String(quota.max_memory! / GiB));
    await submit(page, page.getByRole('button', { name: 'Start server' }).first());
    const error = page.locator('[data-error-for="cluster_worker_memory"]');
    assert.match(await text(error), /for the scheduler is .* GiB; your cluster quota allows .* \(max_memory\)/);
    assert.match(await text(page.locator('#error-summary')), /Memory per worker:/);
    assert.equal(new URL(page.url()).pathname, '/hub/spawn/admin', 'the form again, nothing started');
  });

  test('the cluster card fits at 1024 and 390 px', { timeout: 60_000 }, async () => {
    for (const width of [1024, 390]) {
      const page = await freshPage({ viewport: { width, height: 900 } });
      await signIn(page, hub);
      await page.goto(`${hub.url}/hub/spawn/admin`);
      await pick(page, 'Spark');
      const cluster = page.getByRole('group', { name: /^Cluster/ });
      await cluster.waitFor({ state: 'visible' });
      await fitsWidth(page);
      const box = await cluster.boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= width, `the cluster card is inside the page at ${width} px`);
      await cluster.scrollIntoViewIfNeeded();
      await saveScreenshot(page, `spawn-form-cluster-${width}`);
    }
  });
});
