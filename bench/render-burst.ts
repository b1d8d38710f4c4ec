/**
 * What a burst of readers opening published pages nobody has opened yet costs the hub: peak memory,
 * render threads, how many got a page, and how long a request to a user's server (through the same
 * proxy, on the same event loop) took meanwhile.
 *
 *   node dist/bench/render-burst.js [--pages 16] [--cells 400] [--images 100] [--kind version|latest]
 *
 * It starts Refinery (its own process, a fake single-user server so a route exists), publishes
 * `--pages` different notebooks, then asks for all their pages at once: `version` pages
 * (`/p/<id>/v/1`, rendered when first asked for) or `latest` pages (`/p/<id>`). While the burst runs
 * it samples the hub's resident memory and thread count from /proc every 20 ms and sends a GET to
 * /user/alice/ every 50 ms. See bench/README.md ("A burst of unrendered pages").
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generate } from '../test/helpers/big-notebook.js';
import { percentile } from './lib/stats.js';
import { launchRefinery, startServerAndWait } from '../test/helpers/refinery.js';
import { FAKE_SINGLEUSER } from '../test/helpers/fake-singleuser.js';

const { values: args } = parseArgs({
  options: {
    pages: { type: 'string', default: '16' },
    cells: { type: 'string', default: '400' },
    images: { type: 'string', default: '100' },
    kind: { type: 'string', default: 'version' },
  },
});
const pages = Math.max(1, Number(args.pages));
const kind = args.kind === 'latest' ? 'latest' : 'version';

function procStatus(pid: number): { rssMb: number; threads: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return { rssMb: field('VmRSS') / 1024, threads: field('Threads') };
}

async function main(): Promise<void> {
  const hub = await launchRefinery({ config: { spawner: { command: FAKE_SINGLEUSER }, publish: { max_size: '100M' } } });
  try {
    const pid = Number(readFileSync(join(hub.dataDir, 'refinery.pid'), 'utf8'));
    await hub.api('/hub/api/users/alice', { method: 'POST' });
    const token = await hub.tokenFor('alice');
    await startServerAndWait(hub, token, 'alice');

    const slugs: string[] = [];
    let notebookBytes = 0;
    for (let i = 0; i < pages; i++) {
      const notebook = generate(Number(args.cells), Number(args.images));
      (notebook.metadata as Record<string, unknown>).title = `burst ${i}`;
      const body = JSON.stringify({ title: `Burst ${i}`, notebook });
      notebookBytes = body.length;
      const res = await hub.as(token, '/hub/api/users/alice/publications', { method: 'POST', body });
      if (res.status !== 201) throw new Error(`publishing ${i}: ${res.status} ${await res.text()}`);
      slugs.push(((await res.json()) as { id: string }).id);
    }
    await new Promise((r) => setTimeout(r, 2000)); // let publish-time work and GC settle
    const idle = procStatus(pid);
    console.log(`${pages} notebooks of ${(notebookBytes / 1e6).toFixed(1)} MB published; hub idle: ${idle.rssMb.toFixed(0)} MB RSS, ${idle.threads} threads`);

    let sampling = true;
    let peak = idle;
    const sampler = (async () => {
      while (sampling) {
        const now = procStatus(pid);
        peak = { rssMb: Math.max(peak.rssMb, now.rssMb), threads: Math.max(peak.threads, now.threads) };
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const proxied: number[] = [];
    let proxiedFailures = 0;
    const prober = (async () => {
      while (sampling) {
        const t0 = performance.now();
        const res = await hub.as(token, '/user/alice/api/status').catch(() => undefined);
        if (res?.status === 200) proxied.push(performance.now() - t0);
        else proxiedFailures++;
        await res?.arrayBuffer();
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    const t0 = performance.now();
    const answers = await Promise.all(slugs.map(async (slug) => {
      const started = performance.now();
      const res = await fetch(`${hub.url}/p/${slug}${kind === 'version' ? '/v/1' : ''}`).catch(() => undefined);
      const body = res ? await res.arrayBuffer() : undefined;
      return { status: res?.status ?? 0, ms: performance.now() - started, bytes: body?.byteLength ?? 0, retryAfter: res?.headers.get('retry-after') };
    }));
    const burstMs = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 300));
    sampling = false;
    await Promise.all([sampler, prober]);

    const byStatus = new Map<number, number>();
    for (const a of answers) byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
    const ok = answers.filter((a) => a.status === 200).map((a) => a.ms).sort((a, b) => a - b);
    const sorted = [...proxied].sort((a, b) => a - b);
    console.log(`burst of ${pages} ${kind} pages: ${(burstMs / 1000).toFixed(1)} s; answers ${[...byStatus].map(([s, n]) => `${n}× ${s}`).join(', ')}`);
    if (ok.length) console.log(`  page time (200s): p50 ${percentile(ok, 0.5).toFixed(0)} ms, max ${ok.at(-1)!.toFixed(0)} ms`);
    console.log(`  hub peak: ${peak.rssMb.toFixed(0)} MB RSS (+${(peak.rssMb - idle.rssMb).toFixed(0)}), ${peak.threads} threads (+${peak.threads - idle.threads} over idle)`);
    console.log(`  proxied GET /user/alice/api/status meanwhile: ${sorted.length} answered, p50 ${percentile(sorted, 0.5).toFixed(0)} ms, p99 ${percentile(sorted, 0.99).toFixed(0)} ms, max ${(sorted.at(-1) ?? NaN).toFixed(0)} ms, ${proxiedFailures} failed`);
  } finally {
    await hub.cleanup();
  }
}

await main();
