// Sharing a running server, as people do it in a browser: alice shares her server with bob from the
// home page (the name suggested as she types); bob finds it under "Shared with me", opens it, and
// both edit one notebook live in JupyterLab (real-time collaboration), each seeing the other's
// changes and cursor under their own name. alice revokes: bob's open WebSockets close and his next
// request is refused. Then a share link: carol accepts it after a confirmation and gets in; an
// expired link lets dave in nowhere; carol leaves the share from her home page.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import type { BrowserContext, Page, WebSocket as PageSocket } from 'playwright-core';
import { launchBrowser, saveScreenshot, type Browser } from '../helpers/browser.js';
import { launchRefinery, startServerAndWait, type RefineryProcess } from '../helpers/refinery.js';
import { addUser } from '../helpers/session.js';
import { notebookFileText } from '../publish/notebooks.js';
import { waitFor } from '../helpers/tmp.js';

const LAB_TIMEOUT_MS = 120_000;
const UI_TIMEOUT_MS = 30_000;
const PASSWORD = 'password-for-sharing-tests';
const NOTEBOOK = 'together.ipynb';

describe('Share a server from the home page and work in it together', () => {
  let hub: RefineryProcess;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const pages: Record<string, Page> = {};

  before(async () => {
    hub = await launchRefinery();
    browser = await launchBrowser();
    for (const name of ['alice', 'bob', 'carol', 'dave']) await addUser(hub, name, PASSWORD);
    const home = join(hub.dataDir, 'users', 'alice');
    await mkdir(home, { recursive: true });
    await writeFile(join(home, NOTEBOOK), notebookFileText({
      nbformat: 4, nbformat_minor: 5,
      metadata: { kernelspec: { name: 'python3', display_name: 'Python 3 (ipykernel)', language: 'python' } },
      cells: [{ cell_type: 'code', id: 'first', metadata: {}, execution_count: null, outputs: [], source: '' }],
    }));
    await startServerAndWait(hub, await hub.tokenFor('alice'), 'alice');
  });
  after(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await hub?.cleanup();
  });

  async function signedIn(name: string): Promise<Page> {
    const context = await browser.newContext({ colorScheme: 'light', viewport: { width: 1280, height: 900 } });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    await page.goto(`${hub.url}/hub/login`);
    await page.getByLabel('Username', { exact: true }).fill(name);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/hub\/home/);
    pages[name] = page;
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

  /** JupyterLab at alice's notebook, signing in to her server (with the consent a visitor is asked for). */
  async function openNotebook(page: Page, visitor: boolean): Promise<void> {
    await page.goto(`${hub.url}/user/alice/lab/tree/${NOTEBOOK}`);
    if (visitor) {
      await page.getByRole('heading', { name: /Sign in to/ }).waitFor({ timeout: LAB_TIMEOUT_MS });
      await page.getByRole('button', { name: 'Allow' }).click();
    }
    await page.waitForURL(/\/user\/alice\/lab/, { timeout: LAB_TIMEOUT_MS });
    await page.locator('.jp-NotebookPanel .jp-Cell .cm-content').first().waitFor({ state: 'visible', timeout: LAB_TIMEOUT_MS });
  }

  const firstCell = (page: Page) => page.locator('.jp-NotebookPanel .jp-Cell .cm-content').first();

  test('alice shares her server with bob from the home page, picking his name from the suggestions', { timeout: 120_000 }, async () => {
    const alice = await signedIn('alice');
    await scenario(alice, 'share-page', async () => {
      await alice.locator('#server-0').getByRole('link', { name: /Share…/ }).click();
      await alice.waitForURL(/\/hub\/share\/alice$/);
      await alice.getByLabel('Name').fill('bo');
      await waitFor(async () => (await alice.locator('#share-suggestions option').evaluateAll((options) => options.map((o) => (o as HTMLOptionElement).value))).includes('bob'), { timeoutMs: 10_000, message: 'bob among the suggestions' });
      await alice.getByLabel('Name').fill('bob');
      await alice.getByRole('button', { name: 'Share', exact: true }).click();
      await alice.locator('#share-notice').getByText('Shared with bob.').waitFor();
      assert.deepEqual(await alice.locator('#share-table tbody th').allInnerTexts(), ['bob']);
      await saveScreenshot(alice, 'share-page');
    });
  });

  test('bob finds it under "Shared with me", opens it, and both edit one notebook live', { timeout: 300_000 }, async () => {
    const bob = await signedIn('bob');
    await scenario(bob, 'shared-with-me', async () => {
      const row = bob.locator('#shared-table tr[data-shared="alice/"]');
      await row.waitFor();
      assert.match(await row.innerText(), /alice[\s\S]*Running/);
      await saveScreenshot(bob, 'shared-with-me');
      await row.getByRole('link', { name: /Open/ }).click();
      await bob.getByRole('heading', { name: /Sign in to/ }).waitFor({ timeout: LAB_TIMEOUT_MS });
      await bob.getByRole('button', { name: 'Allow' }).click();
      await bob.waitForURL(/\/user\/alice\/lab/, { timeout: LAB_TIMEOUT_MS });
    });
    await scenario(bob, 'collaboration', async () => {
      await openNotebook(bob, false);
      await openNotebook(pages.alice!, false);
      // whoever types has the focus; the other sees their text, and their cursor labelled with their name
      // the name shows in a flag when the pointer rests on the other's cursor
      const cursorsIn = async (page: Page): Promise<string[]> => {
        const box = await page.locator('.jp-remote-cursor').first().boundingBox().catch(() => null);
        if (!box) return [];
        await page.mouse.move(box.x - 1, box.y + box.height / 2);
        return page.locator('.jp-remote-userFlag').allInnerTexts();
      };
      await pages.alice!.bringToFront();
      await firstCell(pages.alice!).click();
      await pages.alice!.keyboard.type('total = 6 * 7');
      await waitFor(async () => (await firstCell(bob).innerText()).includes('total = 6 * 7'), { timeoutMs: 30_000, message: "alice's typing to appear in bob's notebook" });
      await waitFor(async () => (await cursorsIn(bob)).some((name) => /alice/i.test(name)), { timeoutMs: 30_000, message: "alice's named cursor in bob's editor" });
      await saveScreenshot(bob, 'collaboration-bob');
      await bob.bringToFront();
      await firstCell(bob).click();
      await bob.keyboard.press('End');
      await bob.keyboard.type('  # checked by bob');
      await waitFor(async () => (await firstCell(pages.alice!).innerText()).includes('# checked by bob'), { timeoutMs: 30_000, message: "bob's typing to appear in alice's notebook" });
      await waitFor(async () => (await cursorsIn(pages.alice!)).some((name) => /bob/i.test(name)), { timeoutMs: 30_000, message: "bob's named cursor in alice's editor" });
      await saveScreenshot(pages.alice!, 'collaboration-alice');
      // the shipped images turn JupyterLab's news prompt off (python/jupyterlab-settings)
      for (const page of [bob, pages.alice!]) assert.equal(await page.getByText(/notified about official Jupyter news/).count(), 0, 'no news prompt');
    });
  });

  test('alice revokes: bob\'s open WebSockets close and his next request is refused', { timeout: 120_000 }, async () => {
    const bob = pages.bob!;
    const alice = pages.alice!;
    const open: PageSocket[] = [];
    const closed = new Set<PageSocket>();
    bob.on('websocket', (socket) => {
      if (!socket.url().includes('/user/alice/')) return;
      open.push(socket);
      socket.on('close', () => closed.add(socket));
    });
    // a fresh document connection, so there is a socket this test watches from its start
    await openNotebook(bob, false);
    await waitFor(async () => open.length > 0, { timeoutMs: 30_000, message: 'bob to have a WebSocket open to alice’s server' });
    const before = (await bob.request.get(`${hub.url}/user/alice/api/contents/${NOTEBOOK}?content=0`)).status();
    assert.equal(before, 200, 'bob reads the notebook before the revocation');

    await scenario(alice, 'revoke', async () => {
      await alice.goto(`${hub.url}/hub/share/alice`);
      await alice.locator('#share-table tr[data-share="user:bob"]').getByRole('button', { name: /Revoke/ }).click();
      await alice.locator('#share-notice').getByText('bob no longer has access.').waitFor();
      await alice.locator('#no-shares').waitFor();
    });
    await waitFor(async () => open.length > 0 && open.every((socket) => closed.has(socket)), { timeoutMs: 10_000, message: 'every WebSocket of bob to alice’s server to close' });
    assert.equal((await bob.request.get(`${hub.url}/user/alice/api/contents/${NOTEBOOK}?content=0`)).status(), 403);
    await bob.goto(`${hub.url}/hub/home`);
    await bob.locator('#shared-empty').waitFor();
  });

  test('a share link: carol accepts it after a confirmation and gets in; an expired link lets dave in nowhere; carol leaves from her home page', { timeout: 240_000 }, async () => {
    const alice = pages.alice!;
    let link = '';
    await scenario(alice, 'share-link', async () => {
      await alice.goto(`${hub.url}/hub/share/alice`);
      await alice.getByLabel('Expires in').selectOption({ label: '1 hour' });
      await alice.getByRole('button', { name: 'Create link' }).click();
      link = await alice.locator('#new-link').inputValue();
      assert.match(link, new RegExp(`^${hub.url}/hub/accept-share\\?code=sc_[0-9a-f]{48}$`));
      await saveScreenshot(alice, 'share-link');
    });
    const carol = await signedIn('carol');
    await scenario(carol, 'accept-share', async () => {
      assert.equal((await carol.request.get(`${hub.url}/user/alice/api/status`)).status(), 403, 'carol has no access before accepting');
      await carol.goto(link);
      await carol.getByRole('heading', { name: /Open alice’s default server\?/ }).waitFor();
      assert.equal((await carol.request.get(`${hub.url}/user/alice/api/status`)).status(), 403, 'opening the link alone grants nothing');
      await saveScreenshot(carol, 'accept-share');
      await carol.getByRole('button', { name: 'Accept' }).click();
      await carol.getByRole('heading', { name: /Sign in to/ }).waitFor({ timeout: LAB_TIMEOUT_MS });
      await carol.getByRole('button', { name: 'Allow' }).click();
      await carol.waitForURL(/\/user\/alice\/lab/, { timeout: LAB_TIMEOUT_MS });
    });
    await scenario(carol, 'leave-share', async () => {
      await carol.goto(`${hub.url}/hub/home`);
      carol.once('dialog', (dialog) => void dialog.accept());
      await carol.locator('#shared-table tr[data-shared="alice/"]').getByRole('button', { name: /Leave/ }).click();
      await carol.locator('#shared-empty').waitFor();
      assert.equal((await carol.request.get(`${hub.url}/user/alice/api/status`)).status(), 403, 'carol left');
    });
    // a second link, expired in the database: dave gets nowhere with it
    await alice.goto(`${hub.url}/hub/share/alice`);
    await alice.getByRole('button', { name: 'Create link' }).click();
    const expiredLink = await alice.locator('#new-link').inputValue();
    const db = new Database(join(hub.dataDir, 'refinery.sqlite'));
    try {
      db.prepare('UPDATE share_codes SET expires_at = ? WHERE exchange_count = 0').run(new Date(Date.now() - 1000).toISOString());
    } finally {
      db.close();
    }
    const dave = await signedIn('dave');
    const response = await dave.goto(expiredLink);
    assert.equal(response?.status(), 404);
    await dave.getByText('This share link does not exist or has expired').waitFor();
    assert.equal((await dave.request.get(`${hub.url}/user/alice/api/status`)).status(), 403);
  });
});
