/**
 * A real browser for tests: Debian's Chromium (/usr/bin/chromium) driven by playwright-core.
 * Never downloads a browser (this machine cannot).
 *
 *   import { launchBrowser, saveScreenshot } from './browser.js';
 *   const browser = await launchBrowser();
 *   after(() => browser.close());
 *   const page = await browser.newPage();
 *   await page.goto(url);
 *   await saveScreenshot(page, 'spawn-form');   // -> test-results/spawn-form.png
 *
 * Each browser.newContext()/newPage() is a fresh profile (no shared cookies between contexts).
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type LaunchOptions, type Page } from 'playwright-core';

export type { Browser, Page };

/** Where Chromium is: REFINERY_CHROMIUM if set, else Debian's /usr/bin/chromium. */
export function chromiumPath(): string {
  return process.env.REFINERY_CHROMIUM ?? '/usr/bin/chromium';
}

/**
 * Flags that make Chromium usable here: as root it needs --no-sandbox; the network is closed, so
 * everything that phones home is off (otherwise it retries refused connections in the background).
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchBrowser(options: Omit<LaunchOptions, 'executablePath'> = {}): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!existsSync(executablePath)) {
    throw new Error(
      `launchBrowser: no Chromium at ${executablePath}. Install Debian's package with \`bash scripts/setup.sh --test\` ` +
        '(as root it runs: apt-get install -y --no-install-recommends chromium). Never `npx playwright install`: it cannot download here.',
    );
  }
  return chromium.launch({
    headless: true,
    timeout: 60_000,
    ...options,
    executablePath,
    args: [...CHROMIUM_ARGS, ...(options.args ?? [])],
  });
}

/** The repository root (the folder with package.json), found from this file's location. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
  return dir;
}

/** test-results/ at the repository root (gitignored); created on demand. */
export async function resultsDir(): Promise<string> {
  const dir = resolve(repoRoot(), 'test-results');
  await mkdir(dir, { recursive: true });
  return dir;
}

/**
 * Save a full-page PNG screenshot to test-results/<name>.png and return its path. Use it at the
 * interesting moments of a browser test, and in a catch/after hook when a step fails, so a person
 * (or the file viewer) can see what the page looked like.
 */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  const safe = name.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/\.png$/i, '');
  const file = join(await resultsDir(), `${safe}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
