// The test helpers themselves: a throwaway PostgreSQL, a real Chromium, temp dirs and waitFor.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import { launchBrowser, saveScreenshot } from './browser.js';
import { startPostgres } from './postgres.js';
import { tmpDir, waitFor } from './tmp.js';

const execFileP = promisify(execFile);

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

describe('tmpDir', () => {
  test('creates an empty private directory and cleanup removes it with its contents', async () => {
    const dir = await tmpDir('harness/../x');
    assert.match(dir.path, /refinery-harness_.._x-/);
    assert.equal((await stat(dir.path)).isDirectory(), true);
    await writeFile(join(dir.path, 'f.txt'), 'hi');
    await dir.cleanup();
    assert.equal(existsSync(dir.path), false);
    await dir.cleanup(); // twice is fine
  });
});

describe('waitFor', () => {
  test('returns the first truthy value', async () => {
    let calls = 0;
    const value = await waitFor(() => (++calls >= 3 ? { calls } : undefined), { intervalMs: 5 });
    assert.deepEqual(value, { calls: 3 });
  });

  test('times out with what it waited for and the last error', async () => {
    await assert.rejects(
      waitFor(
        () => {
          throw new Error('connection refused');
        },
        { timeoutMs: 150, intervalMs: 20, message: 'the hub to answer' },
      ),
      (err: Error) => {
        assert.match(err.message, /timed out after \d+ ms \(\d+ attempts\) waiting for the hub to answer; last error: connection refused/);
        return true;
      },
    );
  });
});

describe('startPostgres', () => {
  // These check the private cluster itself, so they ignore REFINERY_TEST_POSTGRES_URL.
  const privateCluster = { externalUrl: '' };

  test('starts a private cluster that runs queries, and stop() shuts it down', async () => {
    const db = await startPostgres(privateCluster);
    try {
      assert.match(db.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/refinery_test$/);
      await withClient(db.url, async (client) => {
        assert.deepEqual((await client.query('select 1 as one')).rows, [{ one: 1 }]);
        assert.equal((await client.query('select current_database() as d')).rows[0].d, 'refinery_test');
        await client.query('create table notebooks (id serial primary key, name text not null)');
        await client.query("insert into notebooks (name) values ('a.ipynb'), ('b.ipynb')");
        const { rows } = await client.query('select name from notebooks order by id');
        assert.deepEqual(rows.map((r) => r.name), ['a.ipynb', 'b.ipynb']);
      });
    } finally {
      await db.stop();
    }
    await db.stop(); // idempotent
    await assert.rejects(withClient(db.url, (c) => c.query('select 1')), /ECONNREFUSED|connect/);
  });

  test('a cluster whose test process ends without stop() does not outlive it', async () => {
    // A child process starts a cluster and simply ends: the exit hook must take the server down.
    const helper = new URL('./postgres.js', import.meta.url).href;
    const script = `const { startPostgres } = await import(${JSON.stringify(helper)}); const db = await startPostgres({ externalUrl: '' }); console.log(db.url);`;
    const { stdout } = await execFileP(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000 });
    const url = stdout.trim();
    assert.match(url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/refinery_test$/);
    await waitFor(
      () => withClient(url, (c) => c.query('select 1')).then(() => false, (err: Error) => /ECONNREFUSED/.test(err.message)),
      { timeoutMs: 15_000, message: `the orphaned cluster at ${url} to go away` },
    );
  });

  test('fails (does not skip) with install instructions when the server binaries are missing', async () => {
    await assert.rejects(
      startPostgres({ binDir: '/nonexistent/postgresql/bin', externalUrl: '' }),
      /PostgreSQL server binaries not found \(looked for \/nonexistent\/postgresql\/bin\/initdb\).*apt-get install -y --no-install-recommends postgresql/,
    );
  });

  test('two clusters run side by side, isolated', async () => {
    const [a, b] = await Promise.all([startPostgres(privateCluster), startPostgres(privateCluster)]);
    try {
      assert.notEqual(a.url, b.url);
      await withClient(a.url, (c) => c.query('create table only_in_a (x int)'));
      const inB = await withClient(b.url, (c) => c.query("select to_regclass('only_in_a') as t"));
      assert.equal(inB.rows[0].t, null);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  test('with REFINERY_TEST_POSTGRES_URL, creates a fresh database there and drops it on stop()', async () => {
    const server = await startPostgres(privateCluster);
    const saved = process.env.REFINERY_TEST_POSTGRES_URL;
    try {
      process.env.REFINERY_TEST_POSTGRES_URL = server.url;
      const db = await startPostgres();
      if (saved === undefined) delete process.env.REFINERY_TEST_POSTGRES_URL;
      else process.env.REFINERY_TEST_POSTGRES_URL = saved;
      assert.notEqual(db.database, 'refinery_test');
      assert.match(db.database, /^refinery_test_\d+_/);
      await withClient(db.url, async (c) => {
        assert.equal((await c.query('select current_database() as d')).rows[0].d, db.database);
        await c.query('create table t (x int)');
      });
      await db.stop();
      const left = await withClient(server.url, (c) => c.query('select 1 from pg_database where datname = $1', [db.database]));
      assert.equal(left.rowCount, 0, 'the per-test database is dropped');
    } finally {
      if (saved === undefined) delete process.env.REFINERY_TEST_POSTGRES_URL;
      else process.env.REFINERY_TEST_POSTGRES_URL = saved;
      await server.stop();
    }
  });
});

describe('launchBrowser', () => {
  test('renders a page in headless Chromium and saves a screenshot', async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      const html = '<!doctype html><title>Refinery harness</title><h1 id="greeting">Hello from Chromium</h1>';
      await page.goto(`data:text/html,${encodeURIComponent(html)}`);
      assert.equal(await page.title(), 'Refinery harness');
      assert.equal(await page.textContent('#greeting'), 'Hello from Chromium');
      assert.equal(await page.evaluate(() => 6 * 7), 42);
      const file = await saveScreenshot(page, 'harness browser');
      assert.match(file, /test-results\/harness_browser\.png$/);
      const png = await readFile(file);
      assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], 'a PNG file');
    } finally {
      await browser.close();
    }
  });
});
