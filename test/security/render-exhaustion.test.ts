// Published pages cannot be used to exhaust the hub: renders run in a bounded number of threads
// (the rest wait in a bounded queue, and past it readers get a clear 503 with Retry-After), readers
// of the same page share one render, pages are rendered when published and stored (so reading
// them, even after a restart, renders nothing), and checking an upload happens in a render thread,
// not on the event loop that proxies everyone's traffic.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { launchRefinery, type RefineryProcess } from '../helpers/refinery.js';
import { generate } from '../helpers/big-notebook.js';

const WORKERS = 1;
const QUEUE = 2;

/** The hub's thread count, from /proc (each render thread is one). */
function threadsOf(pid: number): number {
  return Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

/** Samples the thread count every few ms while `work` runs; returns the highest seen. */
async function peakThreadsDuring<T>(pid: number, work: () => Promise<T>): Promise<{ peak: number; result: T }> {
  let peak = threadsOf(pid);
  let running = true;
  const sampler = (async () => {
    while (running) {
      peak = Math.max(peak, threadsOf(pid));
      await new Promise((r) => setTimeout(r, 3));
    }
  })();
  try {
    const result = await work();
    return { peak, result };
  } finally {
    running = false;
    await sampler;
  }
}

async function metric(hub: RefineryProcess, name: string, labels = ''): Promise<number> {
  const text = await (await hub.api('/hub/metrics')).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

describe('rendering published notebooks is bounded', () => {
  let hub: RefineryProcess;
  let token: string;
  let pid: number;
  /** One notebook that takes a noticeable while to render (highlighting, tables, images). */
  const notebook = JSON.stringify(generate(160, 12));

  const publish = async (title: string): Promise<string> => {
    const res = await hub.as(token, '/hub/api/users/alice/publications', { method: 'POST', body: JSON.stringify({ title, notebook: JSON.parse(notebook) as unknown }) });
    const text = await res.text();
    assert.equal(res.status, 201, text);
    return (JSON.parse(text) as { id: string }).id;
  };
  const read = async (path: string) => {
    const res = await fetch(`${hub.url}${path}`);
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.text() };
  };

  before(async () => {
    hub = await launchRefinery({ config: { publish: { max_size: '50M', render_workers: WORKERS, render_queue: QUEUE } } });
    pid = Number(readFileSync(join(hub.dataDir, 'refinery.pid'), 'utf8'));
    assert.equal((await hub.api('/hub/api/users/alice', { method: 'POST' })).status, 201);
    token = await hub.tokenFor('alice');
    // one render first, so threads Node starts once (its thread pool, say) are there before we count
    const warm = await publish('warm-up');
    assert.equal((await read(`/p/${warm}/v/1`)).status, 200);
  });
  after(() => hub?.cleanup());

  test('a burst of readers of unrendered pages: at most render_workers render threads, then 503 with Retry-After', async () => {
    const slugs: string[] = [];
    for (let i = 0; i < 8; i++) slugs.push(await publish(`Burst ${i}`));
    await new Promise((r) => setTimeout(r, 200)); // the last publish's render thread has exited
    const idle = threadsOf(pid);
    // a version's own page is rendered when first read
    const { peak, result: answers } = await peakThreadsDuring(pid, () => Promise.all(slugs.map((slug) => read(`/p/${slug}/v/1`))));

    assert.ok(peak - idle <= WORKERS, `at most ${WORKERS} render thread(s) at once: the hub went from ${idle} to ${peak} threads`);
    const statuses = answers.map((a) => a.status);
    assert.ok(statuses.every((s) => s === 200 || s === 503), `only pages and "busy" answers: ${statuses.join(', ')}`);
    assert.equal(statuses.filter((s) => s === 200).length, WORKERS + QUEUE, 'those that found a thread or a place in the queue got their page');
    const busy = answers.filter((a) => a.status === 503);
    assert.ok(busy.length > 0, 'the rest were told the hub is busy');
    for (const answer of busy) {
      assert.ok(Number(answer.retryAfter) > 0, 'with a Retry-After');
      assert.match(answer.body, /try again/i);
    }
    assert.ok(await metric(hub, 'refinery_busy_refusals_total', 'queue="render"') >= busy.length, 'and an operator can see it in the metrics');
    // coming back later works
    for (const slug of slugs) assert.equal((await read(`/p/${slug}/v/1`)).status, 200, `page of ${slug} after the burst`);
  });

  test('readers of the same unrendered page share one render', async () => {
    const slug = await publish('Popular');
    const before = await metric(hub, 'refinery_notebook_renders_total', 'when="view"');
    const answers = await Promise.all(Array.from({ length: 12 }, () => read(`/p/${slug}/v/1`)));
    assert.deepEqual(answers.map((a) => a.status), Array(12).fill(200), 'every reader got the page (none was queued behind the others)');
    assert.ok(answers.every((a) => a.body === answers[0]!.body));
    assert.equal(await metric(hub, 'refinery_notebook_renders_total', 'when="view"') - before, 1, 'one render for twelve readers');
  });

  test('a page is rendered when published and stored beside the notebook: reading it renders nothing, even after a restart', async () => {
    const publishedBefore = await metric(hub, 'refinery_notebook_renders_total', 'when="publish"');
    const slug = await publish('Stored page');
    assert.equal(await metric(hub, 'refinery_notebook_renders_total', 'when="publish"') - publishedBefore, 1, 'rendered while publishing');
    const files = readdirSync(join(hub.dataDir, 'publications', slug));
    assert.ok(files.some((f) => f.endsWith('.latest.html')), `the page is stored next to the notebook: ${files.join(', ')}`);

    const viewsBefore = await metric(hub, 'refinery_notebook_renders_total', 'when="view"');
    const first = await read(`/p/${slug}`);
    assert.equal(first.status, 200);
    assert.match(first.body, /Stored page/);
    assert.equal(await metric(hub, 'refinery_notebook_renders_total', 'when="view"'), viewsBefore, 'the first reader got the stored page');

    await hub.kill();
    await hub.restart();
    pid = Number(readFileSync(join(hub.dataDir, 'refinery.pid'), 'utf8'));
    const again = await read(`/p/${slug}`);
    assert.equal(again.status, 200);
    assert.equal(again.body, first.body);
    assert.equal(await metric(hub, 'refinery_notebook_renders_total', 'when="view"'), 0, 'after a restart too, from the store');
  });

  test('an upload is checked in a render thread, not on the event loop', async () => {
    await new Promise((r) => setTimeout(r, 200));
    const idle = threadsOf(pid);
    const { peak } = await peakThreadsDuring(pid, () => publish('Checked off the loop'));
    assert.ok(peak > idle, `a render thread did the checking (threads: ${idle} → ${peak})`);
  });
});
