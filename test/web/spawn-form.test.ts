// The spawn form in a real browser (Debian's Chromium) against `refinery start` run as its own
// process, with a catalog of its own in a profiles file: seven images (all started from envs/base,
// so they start quickly), three sizes, admin profiles and a KubeSpawner-style profile_list with an
// "Other…" choice. Everything asserted is what a person sees or what reaches their server.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { launchBrowser, resultsDir, saveScreenshot, type Browser } from '../helpers/browser.js';
import { ADMIN_PASSWORD, json, launchRefinery, type RefineryProcess } from '../helpers/refinery.js';
import { execute } from '../helpers/kernel.js';
import { tmpDir, waitFor, type TmpDir } from '../helpers/tmp.js';

/** The little of the DOM these tests read inside the page (the project compiles without the DOM types). */
declare const window: { scrollTo(x: number, y: number): void };
declare const document: {
  activeElement: { id: string; getAttribute(name: string): string | null } | null;
  documentElement: { scrollWidth: number; clientWidth: number };
};

const REPO = resolve(import.meta.dirname, '..', '..', '..');
const LAB_TIMEOUT_MS = 120_000;
const UI_TIMEOUT_MS = 30_000;
const MAP_TOKEN = 'map-token-that-must-stay-hidden';

/** Seven images (so the search box shows), three sizes, an admin profile and two offered profiles. */
function testCatalog(options: { withGeo?: boolean } = {}): Record<string, unknown> {
  const local = { environment: join(REPO, 'envs', 'base') };
  const images = [
    { name: 'python', display_name: 'Python', description: 'JupyterLab with a Python kernel: the essentials for scripts, notebooks and small analyses.', contents: ['Python 3.11', { name: 'JupyterLab', version: '4.6' }, { name: 'IPython kernel', version: '7.4' }], order: 10, default: true, local, env: { GREETING: 'hello from the image' } },
    { name: 'geo', display_name: 'Geospatial', description: 'GeoPandas, Shapely and GDAL for maps, projections and spatial joins.', contents: ['Python 3.11', { name: 'GeoPandas', version: '1.0' }, { name: 'Shapely', version: '2.0' }, 'GDAL'], order: 20, recommended: true, sizes: ['small', 'medium'], local, env: { MAP_TOKEN: { secret: { env: 'REFINERY_TEST_MAP_TOKEN' } } } },
    { name: 'ml', display_name: 'Machine learning', description: 'PyTorch and scikit-learn for training models on CPUs.', contents: [{ name: 'PyTorch', version: '2.5' }, { name: 'scikit-learn', version: '1.6' }, 'pandas'], order: 30, sizes: ['medium', 'large'], local },
    { name: 'r', display_name: 'R', description: 'R with the IRkernel and the tidyverse.', contents: [{ name: 'R', version: '4.4' }, 'tidyverse', 'IRkernel'], order: 40, local },
    { name: 'julia', display_name: 'Julia', description: 'Julia with IJulia, Plots and DataFrames.', contents: [{ name: 'Julia', version: '1.11' }, 'DataFrames.jl'], order: 50, local },
    { name: 'sql', display_name: 'SQL and dashboards', description: 'JupySQL, DuckDB and Voilà for queries and small dashboards.', contents: ['DuckDB', 'JupySQL', 'Voilà'], order: 60, local },
    { name: 'legacy', display_name: 'Python 3.9 (legacy)', description: 'The old team image, kept for notebooks that have not moved yet.', contents: ['Python 3.9', { name: 'JupyterLab', version: '3.6' }], order: 90, deprecated: 'Retired on 30 June. Move to Python: your notebooks run unchanged.', sizes: ['small'], local },
  ].filter((i) => options.withGeo !== false || i.name !== 'geo');
  const forImages = options.withGeo === false ? ['python'] : ['python', 'geo'];
  return {
    images,
    sizes: [
      { name: 'small', display_name: 'Small', description: 'Editing notebooks and light work.', default: true, cpu: { guarantee: 0.5, limit: 1 }, memory: { guarantee: '1G', limit: '2G' } },
      { name: 'medium', display_name: 'Medium', description: 'Most analyses.', cpu: { guarantee: 1, limit: 2 }, memory: { guarantee: '2G', limit: '4G' } },
      { name: 'large', display_name: 'Large', description: 'Big data frames in memory.', cpu: { guarantee: 2, limit: 4 }, memory: { guarantee: '4G', limit: '8G' } },
    ],
    profiles: [{ name: 'team-defaults', env: { TEAM: 'data' } }],
    profile_list: [
      { slug: 'standard', display_name: 'Standard', description: 'Your home directory and the image as it is.', default: true, images: forImages },
      {
        slug: 'tooling', display_name: 'Pinned tool version', description: 'Installs a chosen version of the team’s tools when the server starts.', images: forImages,
        overrides: { env: { TEAM_TOOLS: 'pinned' } },
        profile_options: {
          version: {
            display_name: 'Tool version',
            choices: {
              stable: { display_name: 'Stable (2.4)', default: true, overrides: { env: { TOOL_VERSION: '2.4' } } },
              preview: { display_name: 'Preview (3.0 beta)', description: 'May change without notice.', overrides: { env: { TOOL_VERSION: '3.0b1' } } },
            },
            unlisted_choice: {
              enabled: true, display_name: 'Version', display_name_in_choices: 'Other version…',
              validation_regex: '^[0-9]+\\.[0-9]+$', validation_regex_error_message: 'Give a version like 2.3',
              overrides: { env: { TOOL_VERSION: '{value}' } },
            },
          },
        },
      },
    ],
  };
}

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

interface PageOptions {
  viewport?: { width: number; height: number };
  colorScheme?: 'light' | 'dark';
  javaScriptEnabled?: boolean;
  storageState?: Awaited<ReturnType<BrowserContext['storageState']>>;
}

/** A fresh browser profile, watched for CSP violations and script errors on hub pages. */
async function freshPage(options: PageOptions = {}): Promise<Page> {
  const context = await browser.newContext({
    colorScheme: options.colorScheme ?? 'light',
    viewport: options.viewport ?? { width: 1200, height: 860 },
    javaScriptEnabled: options.javaScriptEnabled ?? true,
    ...(options.storageState ? { storageState: options.storageState } : {}),
  });
  contexts.add(context);
  const page = await context.newPage();
  page.setDefaultTimeout(UI_TIMEOUT_MS);
  page.on('console', (message) => {
    if (/content security policy|not a valid regular expression/i.test(message.text())) problems.push(`${page.url()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => {
    if (page.url().includes('/hub/')) problems.push(`script error on ${page.url()}: ${error.message}`);
  });
  return page;
}

async function scenario(name: string, page: Page, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (error) {
    await saveScreenshot(page, `failed-${name}`).catch(() => undefined);
    throw error;
  }
}

async function submit(page: Page, target: Locator): Promise<void> {
  await Promise.all([page.waitForEvent('load', { timeout: UI_TIMEOUT_MS }), target.click()]);
}

async function signIn(page: Page, hub: RefineryProcess): Promise<void> {
  await page.goto(`${hub.url}/hub/login`);
  await page.getByLabel('Username', { exact: true }).fill('admin');
  await page.getByLabel('Password', { exact: true }).fill(ADMIN_PASSWORD);
  await submit(page, page.getByRole('button', { name: 'Sign in' }));
  assert.equal(new URL(page.url()).pathname, '/hub/home');
}

/** What a person reads: the rendered text (blocks apart), whitespace collapsed. */
async function text(locator: Locator): Promise<string> {
  return (await locator.innerText()).replace(/\s+/g, ' ').trim();
}

async function waitForText(locator: Locator, pattern: RegExp, timeoutMs = UI_TIMEOUT_MS): Promise<string> {
  const started = Date.now();
  let last = '';
  while (Date.now() - started < timeoutMs) {
    last = await text(locator).catch(() => '');
    if (pattern.test(last)) return last;
    await locator.page().waitForTimeout(150);
  }
  throw new Error(`timed out waiting for ${pattern} in ${locator}; last text: ${JSON.stringify(last)}`);
}

/** The card (label) of an image or size radio, as a person sees and clicks it. */
function card(page: Page, name: string): Locator {
  return page.locator('label.choice-card', { has: page.getByRole('radio', { name, exact: true }) });
}

describe('the spawn form', () => {
  let hub: RefineryProcess;
  let dir: TmpDir;
  let profilesFile: string;
  /** The signed-in admin's cookies, for pages opened in other colour schemes and sizes. */
  let session: PageOptions['storageState'];

  before(async () => {
    dir = await tmpDir('spawn-form');
    profilesFile = join(dir.path, 'profiles.yaml');
    await writeFile(profilesFile, stringify(testCatalog()));
    // this catalog is about profiles: the embedded store's own profile would be listed among those applied
    hub = await launchRefinery({ config: { profiles_file: profilesFile, storage: { embedded: false } }, env: { REFINERY_TEST_MAP_TOKEN: MAP_TOKEN } });
  });
  after(async () => {
    await hub?.cleanup();
    await dir?.cleanup();
  });

  test('pick an image and a size with mouse and keyboard, add a variable, review, start, land in JupyterLab; next time it is pre-selected', { timeout: 400_000 }, async () => {
    const page = await freshPage();
    await scenario('spawn-form', page, async () => {
      await signIn(page, hub);
      session = await page.context().storageState();
      const home = page.getByRole('article', { name: 'Default server' });
      assert.match(await text(home), /Starts with Python · Small \(1 CPU · 2 GB\)/, 'the card says what a one-click Start starts');
      await submit(page, home.getByRole('link', { name: 'Choose image… for Default server' }));
      assert.equal(new URL(page.url()).pathname, '/hub/spawn/admin');
      await page.getByRole('heading', { name: 'Start your server' }).waitFor();

      // the catalog as cards: default pre-selected, badges, contents, deprecation
      const images = page.getByRole('group', { name: /^Image/ });
      assert.equal(await images.getByRole('radio').count(), 7);
      assert.equal(await page.getByRole('radio', { name: 'Python', exact: true }).isChecked(), true, 'the default image is pre-selected');
      assert.match(await text(card(page, 'Geospatial')), /Recommended/);
      assert.match(await text(card(page, 'Geospatial')), /GeoPandas 1\.0/);
      assert.match(await text(card(page, 'Python 3.9 (legacy)')), /Deprecated: Retired on 30 June\. Move to Python/);
      assert.equal(await page.getByRole('radio', { name: 'Small', exact: true }).isChecked(), true, 'the default size is pre-selected');
      assert.match(await text(card(page, 'Medium')), /2 CPUs · 4 GB/);
      assert.match(await text(card(page, 'Small')), /1 CPU · 2 GB.*0\.5 CPU, 1 GB guaranteed/);

      // more than six images: a search box that filters by contents too
      const search = page.getByRole('searchbox', { name: 'Search images' });
      await search.fill('geopandas');
      assert.equal(await page.locator('label.choice-card[data-image-card]:visible').count(), 1);
      assert.equal(await card(page, 'Geospatial').isVisible(), true);
      assert.match(await text(page.locator('[data-role="image-count"]')), /1 of 7 images/);
      await search.fill('no such thing');
      await page.getByText('No image matches your search.').waitFor();
      await search.fill('');
      assert.equal(await page.locator('label.choice-card[data-image-card]:visible').count(), 7);

      // a click on a card picks it; sizes that image does not allow are disabled
      await card(page, 'Geospatial').click();
      assert.equal(await page.getByRole('radio', { name: 'Geospatial' }).isChecked(), true);
      assert.equal(await page.getByRole('radio', { name: 'Large', exact: true }).isDisabled(), true);
      assert.match(await text(card(page, 'Large')), /Not available with Geospatial/);
      // arrow keys move through the cards like any radio group
      await page.getByRole('radio', { name: 'Geospatial' }).focus();
      await page.keyboard.press('ArrowRight');
      assert.equal(await page.getByRole('radio', { name: 'Machine learning' }).isChecked(), true);
      assert.equal(await page.getByRole('radio', { name: 'Small', exact: true }).isDisabled(), true, 'machine learning starts at medium');
      assert.equal(await page.getByRole('radio', { name: 'Medium', exact: true }).isChecked(), true, 'an allowed size is picked instead');
      assert.equal(await page.getByRole('group', { name: /^Profile/ }).isVisible(), false, 'no profiles for this image');
      await page.keyboard.press('ArrowLeft');
      assert.equal(await page.getByRole('radio', { name: 'Geospatial' }).isChecked(), true);
      assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('value')), 'geo', 'focus stays on the checked card');
      await page.getByRole('radio', { name: 'Medium', exact: true }).focus();
      await page.keyboard.press('ArrowLeft');
      assert.equal(await page.getByRole('radio', { name: 'Small', exact: true }).isChecked(), true);
      await page.keyboard.press('ArrowRight');
      assert.equal(await page.getByRole('radio', { name: 'Medium', exact: true }).isChecked(), true);
      assert.match(await text(page.getByRole('complementary')), /Image Geospatial Size Medium 2 CPUs · 4 GB/);

      // an offered profile with an option that accepts a typed-in value
      const profiles = page.getByRole('group', { name: /^Profile/ });
      assert.equal(await profiles.getByRole('radio', { name: 'Standard' }).isChecked(), true, 'the default profile');
      assert.equal(await page.getByLabel('Tool version', { exact: true }).isVisible(), false, 'options of an unselected profile are hidden');
      await profiles.getByRole('radio', { name: 'Pinned tool version' }).check();
      await page.getByLabel('Tool version', { exact: true }).selectOption({ label: 'Other version…' });
      const version = page.getByLabel('Version', { exact: true });
      assert.equal(await page.evaluate(() => document.activeElement?.id), await version.getAttribute('id'), 'the text field gets the focus');
      assert.equal(await version.getAttribute('pattern'), '^[0-9]+\\.[0-9]+$');
      await version.fill('2.x');

      // the person's own variable
      await page.getByRole('button', { name: 'Add a variable' }).click();
      await page.getByLabel('Name of variable 1').fill('MY_VAR');
      await page.getByLabel('Value of variable 1').fill('hello from the form');

      // the review panel asks the hub; its objection shows next to the field
      await page.getByText('Review what will start').click();
      const review = page.locator('#review-body');
      const versionError = page.locator('#opt--tooling--version-error');
      await waitForText(versionError, /^Give a version like 2\.3\.$/);
      await waitForText(review, /Give a version like 2\.3/);
      // Start checks the same rule before sending anything
      await page.getByRole('button', { name: 'Start server' }).click();
      assert.equal(new URL(page.url()).pathname, '/hub/spawn/admin', 'not sent');
      assert.equal(await version.getAttribute('aria-invalid'), 'true');
      assert.equal(await page.evaluate(() => document.activeElement?.id), await version.getAttribute('id'));

      await version.fill('2.7');
      const plan = await waitForText(review, /TOOL_VERSION 2\.7 from option version/);
      assert.equal(await versionError.isVisible(), false, 'the error goes once the value is right');
      assert.match(plan, /MY_VAR hello from the form set by you/);
      assert.match(plan, /MAP_TOKEN hidden from image geo/);
      assert.match(plan, /TEAM data from profile team-defaults/);
      assert.match(plan, /CPU 1 CPU guaranteed, up to 2 CPUs/);
      assert.match(plan, /Memory 2 GB guaranteed, up to 4 GB/);
      assert.match(plan, /Profiles applied team-defaults tooling/i);
      assert.ok(!(await page.content()).includes(MAP_TOKEN), 'secrets never reach the page');
      await saveScreenshot(page, 'spawn-form');

      await submit(page, page.getByRole('button', { name: 'Start server' }));
      assert.match(page.url(), /\/hub\/spawn-pending\/admin/);
      await page.waitForURL(/\/user\/admin\/lab/, { timeout: LAB_TIMEOUT_MS });
      await page.locator('.jp-Launcher').first().waitFor({ state: 'visible', timeout: LAB_TIMEOUT_MS });

      // what was picked is what the server got
      const model = await json<{ servers: Record<string, { user_options: Record<string, unknown> }> }>(hub.api('/hub/api/users/admin'));
      assert.deepEqual(model.servers['']!.user_options, { image: 'geo', size: 'medium', profile: 'tooling', options: { version: '2.7' }, env: { MY_VAR: 'hello from the form' } });
      const token = await hub.tokenFor('admin');
      const kernel = await json<{ id: string }>(hub.as(token, '/user/admin/api/kernels', { method: 'POST', body: JSON.stringify({ name: 'python3' }), headers: { 'Content-Type': 'application/json' } }));
      const printed = await execute(hub, token, '/user/admin/', kernel.id, "import os; print(os.environ['MY_VAR'], os.environ['TOOL_VERSION'], os.environ['MAP_TOKEN'] == '" + MAP_TOKEN + "', os.environ['MEM_LIMIT'])");
      assert.equal(printed.trim(), 'hello from the form 2.7 True 4000000000');

      // stop, and the form remembers everything
      await page.goto(`${hub.url}/hub/home`);
      const running = page.getByRole('article', { name: 'Default server' });
      await submit(page, running.getByRole('button', { name: 'Stop Default server' }));
      await waitForText(running.locator('.status'), /^Stopped$/, 60_000);
      await page.reload();
      assert.match(await text(page.getByRole('article', { name: 'Default server' })), /Starts with Geospatial · Medium \(2 CPUs · 4 GB\)/);
      await submit(page, page.getByRole('link', { name: 'Choose image… for Default server' }));
      assert.equal(await page.getByRole('radio', { name: 'Geospatial' }).isChecked(), true);
      assert.equal(await page.getByRole('radio', { name: 'Medium', exact: true }).isChecked(), true);
      assert.equal(await page.getByRole('radio', { name: 'Pinned tool version' }).isChecked(), true);
      assert.equal(await page.getByLabel('Tool version', { exact: true }).inputValue(), 'unlisted_choice');
      assert.equal(await page.getByLabel('Version', { exact: true }).inputValue(), '2.7');
      assert.equal(await page.getByLabel('Name of variable 1').inputValue(), 'MY_VAR');
      assert.equal(await page.getByLabel('Value of variable 1').inputValue(), 'hello from the form');
      // a row goes with its Remove button
      await page.getByRole('button', { name: 'Remove variable 1' }).click();
      await page.getByText('No variables of your own.').waitFor();
    });
  });

  test('without JavaScript every control still works and the hub puts each problem next to its field', { timeout: 120_000 }, async () => {
    const page = await freshPage({ javaScriptEnabled: false, storageState: session });
    await scenario('spawn-form-nojs', page, async () => {
      await page.goto(`${hub.url}/hub/spawn/admin`);
      assert.equal(await page.locator('label.choice-card[data-image-card]:visible').count(), 7, 'all cards show');
      assert.equal(await page.getByRole('searchbox').isVisible(), false, 'no search box that would do nothing');
      // remembered variable plus empty rows to fill in
      assert.equal(await page.getByLabel('Name of variable 1').inputValue(), 'MY_VAR');
      assert.equal(await page.getByLabel('Name of variable 4').inputValue(), '');

      // a size this image does not allow
      await card(page, 'Large').click();
      const sent = async () => {
        const [response] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST' && r.url().includes('/hub/spawn/admin')), page.getByRole('button', { name: 'Start server' }).click()]);
        await page.waitForLoadState('load');
        return response.status();
      };
      assert.equal(await sent(), 400);
      assert.match(await text(page.locator('#size-error')), /No size "large" is offered to you; choose one of small, medium/);
      assert.match(await text(page.getByRole('alert')), /One thing needs fixing/);
      assert.equal(await page.getByRole('radio', { name: 'Large', exact: true }).isChecked(), true, 'what was picked is kept');

      // "Other…" with a value the regex refuses
      await card(page, 'Medium').click();
      await page.getByLabel('Tool version', { exact: true }).selectOption({ label: 'Other version…' });
      await page.getByLabel('Version', { exact: true }).fill('latest');
      assert.equal(await sent(), 400);
      assert.equal(await text(page.locator('#opt--tooling--version-error')), 'Give a version like 2.3.');
      assert.equal(await page.getByLabel('Version', { exact: true }).inputValue(), 'latest', 'what was typed is kept');
      assert.equal(await page.getByLabel('Version', { exact: true }).getAttribute('aria-invalid'), 'true');
      await saveScreenshot(page, 'spawn-form-error');

      // a variable Refinery sets itself, next to that row
      await page.getByLabel('Version', { exact: true }).fill('2.8');
      await page.getByLabel('Name of variable 2').fill('JUPYTERHUB_USER');
      await page.getByLabel('Value of variable 2').fill('someone-else');
      assert.equal(await sent(), 400);
      assert.match(await text(page.locator('#env-error-1')), /JUPYTERHUB_USER is set by Refinery itself and cannot be changed/);
      assert.equal(await page.locator('#env-error-0').isVisible(), false);
      // and a value without a name
      await page.getByLabel('Name of variable 2').fill('');
      assert.equal(await sent(), 400);
      assert.match(await text(page.locator('#env-error-1')), /Give this variable a name, or clear its value/);
      const model = await json<{ servers: Record<string, { user_options: Record<string, unknown> }> }>(hub.api('/hub/api/users/admin?include_stopped_servers=1'));
      assert.deepEqual(model.servers['']!.user_options.options, { version: '2.7' }, 'nothing was started');
    });
  });

  test('dark mode and phone width', { timeout: 120_000 }, async () => {
    for (const [name, options] of [
      ['spawn-form-dark', { colorScheme: 'dark', viewport: { width: 1200, height: 860 } }],
      ['spawn-form-phone', { viewport: { width: 390, height: 844 } }],
      ['spawn-form-phone-dark', { colorScheme: 'dark', viewport: { width: 390, height: 844 } }],
    ] as const) {
      const page = await freshPage({ ...options, storageState: session });
      await scenario(name, page, async () => {
        await page.goto(`${hub.url}/hub/spawn/admin`);
        await page.getByRole('radio', { name: 'Pinned tool version' }).check();
        await page.getByText('Review what will start').click();
        await waitForText(page.locator('#review-body'), /TOOL_VERSION/);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.ok(overflow <= 0, `${name}: the page scrolls sideways by ${overflow}px`);
        await saveScreenshot(page, name);
        if (options.viewport.width < 640) {
          // on a phone Start stays at the bottom of the screen while choosing
          await page.evaluate(() => window.scrollTo(0, 0));
          const bar = page.locator('.start-bar');
          assert.equal(await bar.getByRole('button', { name: 'Start server' }).isVisible(), true);
          const box = await bar.boundingBox();
          assert.ok(box && box.y + box.height <= 844 + 1 && box.y > 700, `the start bar sits at the bottom of the screen: ${JSON.stringify(box)}`);
          assert.match(await text(bar), /Geospatial · Medium/);
          await page.screenshot({ path: join(await resultsDir(), `${name}-screen.png`) });
        }
      });
    }
  });

  test('a broken profiles file: the admin page says so, spawning goes on with the previous catalog; a fixed one without the last image warns', { timeout: 300_000 }, async () => {
    const page = await freshPage({ storageState: session });
    await scenario('catalog-rejected', page, async () => {
      await page.goto(`${hub.url}/hub/admin`);
      assert.equal(await page.locator('#catalog-error').count(), 0);
      assert.match(await text(page.locator('#catalog-status')), /In force Loaded .* from refinery\.yaml, profiles\.yaml/);

      await writeFile(profilesFile, 'images: [\n  - broken');
      await waitFor(async () => {
        await page.goto(`${hub.url}/hub/admin`);
        return (await page.locator('#catalog-error').count()) > 0;
      }, { timeoutMs: 15_000, intervalMs: 500, message: 'the rejection notice on the admin page' });
      const notice = page.getByRole('alert');
      assert.match(await text(notice.getByRole('heading')), /^Your last edit of profiles\.yaml was rejected$/);
      assert.match(await text(notice), /The previous configuration stays in force/);
      assert.match(await text(notice), /profiles\.yaml: invalid configuration - line \d+, column \d+/);
      await saveScreenshot(page, 'admin-catalog-rejected');

      // people still start servers, from the catalog that was in force
      await page.goto(`${hub.url}/hub/home`);
      await submit(page, page.getByRole('article', { name: 'Default server' }).getByRole('button', { name: 'Start Default server' }));
      await page.waitForURL(/\/user\/admin\/lab/, { timeout: LAB_TIMEOUT_MS });
      await page.locator('.jp-Launcher').first().waitFor({ state: 'visible', timeout: LAB_TIMEOUT_MS });
      const model = await json<{ servers: Record<string, { user_options: Record<string, unknown> }> }>(hub.api('/hub/api/users/admin'));
      assert.equal(model.servers['']!.user_options.image, 'geo');
      assert.equal((await hub.api('/hub/api/users/admin/server', { method: 'DELETE' })).status < 300, true);
      await waitFor(async () => !(await json<{ servers: Record<string, unknown> }>(hub.api('/hub/api/users/admin'))).servers[''], { timeoutMs: 60_000, message: 'the server to stop' });

      // a good edit replaces it; the image used last time is gone, and the form says so
      await writeFile(profilesFile, stringify(testCatalog({ withGeo: false })));
      await waitFor(async () => {
        await page.goto(`${hub.url}/hub/admin`);
        return (await page.locator('#catalog-error').count()) === 0;
      }, { timeoutMs: 15_000, intervalMs: 500, message: 'the notice to go after a good edit' });
      await page.goto(`${hub.url}/hub/home`);
      assert.match(await text(page.getByRole('article', { name: 'Default server' })), /The image you used last time \(geo\) is no longer offered; using python instead/);
      await page.goto(`${hub.url}/hub/spawn/admin`);
      assert.match(await text(page.locator('#spawn-warnings')), /The image you used last time \(geo\) is no longer offered; using python instead/);
      assert.equal(await page.getByRole('radio', { name: 'Python', exact: true }).isChecked(), true);
      assert.equal(await page.getByRole('radio', { name: 'Geospatial' }).count(), 0);
    });
  });

  test('a new named server: "Choose image…" on home opens the form for it, and it starts with what was picked', { timeout: 200_000 }, async () => {
    const page = await freshPage({ storageState: session });
    await scenario('named-server-form', page, async () => {
      await page.goto(`${hub.url}/hub/home`);
      await page.getByLabel('New named server').fill('exp-1');
      await submit(page, page.getByRole('button', { name: 'Choose image…', exact: true }));
      assert.equal(new URL(page.url()).pathname, '/hub/spawn/admin/exp-1');
      await page.getByRole('heading', { name: 'Start your server exp-1' }).waitFor();
      await card(page, 'R').click();
      assert.equal(await page.getByRole('group', { name: /^Profile/ }).isVisible(), false, 'R has no profiles');
      await page.getByText('Review what will start').click();
      await waitForText(page.locator('#review-body'), /Image R r/);
      await submit(page, page.getByRole('button', { name: 'Start server' }));
      await page.waitForURL(/\/user\/admin\/exp-1\/lab/, { timeout: LAB_TIMEOUT_MS });
      const model = await json<{ servers: Record<string, { user_options: Record<string, unknown> }> }>(hub.api('/hub/api/users/admin'));
      const options = model.servers['exp-1']!.user_options;
      assert.equal(options.image, 'r');
      assert.deepEqual(options.env, { MY_VAR: 'hello from the form' }, 'the variables from last time came along');
      assert.ok([202, 204].includes((await hub.api('/hub/api/users/admin/servers/exp-1', { method: 'DELETE', body: JSON.stringify({ remove: true }) })).status));
      // a bad name is refused at the field, as with "Create and start"
      await page.goto(`${hub.url}/hub/home`);
      await page.getByLabel('New named server').fill('../x');
      await submit(page, page.getByRole('button', { name: 'Choose image…', exact: true }));
      assert.match(await text(page.locator('#server-name-error')), /not allowed/);
    });
  });
});
