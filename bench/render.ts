/**
 * Side-by-side rendering benchmark: Refinery's notebook renderer (src/publish: validate + render) vs
 * `jupyter nbconvert --to html` (what nbviewer and `jupyter nbconvert` users run), on the same large
 * generated notebook, each as a whole process (start-up included), in alternating rounds.
 *
 *   node dist/bench/render.js [--rounds 7] [--cells 400] [--images 100] [--nbconvert PATH]
 *
 * See bench/README.md ("Rendering published notebooks").
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './lib/stats.js';
import { generate } from '../test/helpers/big-notebook.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const repo = path.resolve(here, '..', '..');

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    cells: { type: 'string', default: '400' },
    images: { type: 'string', default: '100' },
    nbconvert: { type: 'string', default: path.join(repo, 'envs/base/bin/jupyter-nbconvert') },
    keep: { type: 'boolean', default: false },
  },
});
const cfg = {
  rounds: Math.max(5, Number(args.rounds)),
  cells: Math.max(40, Number(args.cells)),
  images: Math.max(0, Number(args.images)),
  nbconvert: args.nbconvert!,
};

// ---------------------------------------------------------------------------------------------
// Running

/** Refinery as a reader of the page would trigger it: one process that validates and renders. */
const REFINERY_SCRIPT = `
const t0 = performance.now();
const { readFileSync, writeFileSync } = await import('node:fs');
const { validateNotebook } = await import(${JSON.stringify(path.join(repo, 'dist/src/publish/validate.js'))});
const { renderNotebook } = await import(${JSON.stringify(path.join(repo, 'dist/src/publish/render/index.js'))});
const t1 = performance.now();
const { notebook } = validateNotebook(readFileSync(process.argv[1]), { maxBytes: 100_000_000 });
const t2 = performance.now();
const html = renderNotebook(notebook, { title: 'Benchmark notebook', downloadUrl: 'notebook.ipynb' });
const t3 = performance.now();
writeFileSync(process.argv[2], html);
const t4 = performance.now();
process.stdout.write(JSON.stringify({ importMs: t1 - t0, validateMs: t2 - t1, renderMs: t3 - t2, writeMs: t4 - t3 }));
`;

interface Run {
  ms: number;
  /** user + system CPU time of the process (from /usr/bin/time): the figure least disturbed by other load. */
  cpuMs: number | null;
  outputBytes: number;
  phases?: Record<string, number>;
  loadAverage: number;
}

const TIME = '/usr/bin/time';

function timed(cmd: string, argv: string[], output: string): Run {
  rmSync(output, { force: true });
  const timeFile = `${output}.time`;
  const useTime = existsSync(TIME);
  const [bin, binArgs] = useTime ? [TIME, ['-f', '%U %S', '-o', timeFile, cmd, ...argv]] : [cmd, argv];
  const t0 = process.hrtime.bigint();
  const res = spawnSync(bin, binArgs, { encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (res.status !== 0) throw new Error(`${cmd} failed (${res.status}):\n${res.stderr}`);
  let cpuMs: number | null = null;
  if (useTime) {
    const [user, sys] = readFileSync(timeFile, 'utf8').trim().split(/\s+/).slice(-2).map(Number);
    cpuMs = ((user ?? NaN) + (sys ?? NaN)) * 1000;
  }
  const run: Run = { ms, cpuMs, outputBytes: statSync(output).size, loadAverage: os.loadavg()[0]! };
  if (cmd === process.execPath) run.phases = JSON.parse(res.stdout) as Record<string, number>;
  return run;
}

function nbconvertVersion(): string {
  const res = spawnSync(cfg.nbconvert, ['--version'], { encoding: 'utf8' });
  return res.status === 0 ? res.stdout.trim() : 'unknown';
}

/** What a running hub pays per render: validate + render in a warm process, no start-up. */
async function warmRuns(input: string, rounds: number): Promise<{ validateMs: number; renderMs: number }[]> {
  const { validateNotebook } = (await import(path.join(repo, 'dist/src/publish/validate.js'))) as typeof import('../src/publish/validate.js');
  const { renderNotebook } = (await import(path.join(repo, 'dist/src/publish/render/index.js'))) as typeof import('../src/publish/render/index.js');
  const bytes = readFileSync(input);
  const out: { validateMs: number; renderMs: number }[] = [];
  for (let i = 0; i < rounds + 3; i++) {
    const t0 = performance.now();
    const { notebook } = validateNotebook(bytes, { maxBytes: 100_000_000 });
    const t1 = performance.now();
    renderNotebook(notebook, { title: 'Benchmark notebook', downloadUrl: 'notebook.ipynb' });
    const t2 = performance.now();
    if (i >= 3) out.push({ validateMs: t1 - t0, renderMs: t2 - t1 });
  }
  return out;
}

async function main(): Promise<void> {
  if (!existsSync(path.join(repo, 'dist/src/publish/render/index.js'))) throw new Error('build first: npx tsc -p .');
  if (!existsSync(cfg.nbconvert)) {
    throw new Error(`no nbconvert at ${cfg.nbconvert}: run bash scripts/setup.sh (envs/base has nbconvert), or pass --nbconvert PATH`);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'refinery-render-bench-'));
  const input = path.join(dir, 'notebook.ipynb');
  writeFileSync(input, JSON.stringify(generate(cfg.cells, cfg.images), null, 1));
  const inputBytes = statSync(input).size;
  const refineryOut = path.join(dir, 'refinery.html');
  const nbconvertOut = path.join(dir, 'notebook.html');

  const contenders = {
    refinery: () => timed(process.execPath, ['--input-type=module', '-e', REFINERY_SCRIPT, input, refineryOut], refineryOut),
    nbconvert: () => timed(cfg.nbconvert, ['--to', 'html', '--log-level=WARN', '--output-dir', dir, input], nbconvertOut),
  };
  const version = nbconvertVersion();
  console.log(`notebook: ${cfg.cells} cells, ${cfg.images} PNG images of ~20 kB, ${(inputBytes / 1e6).toFixed(1)} MB; nbconvert ${version}; node ${process.version}`);
  console.log('warm-up (file cache, Python bytecode) ...');
  contenders.nbconvert();
  contenders.refinery();

  const runs: { refinery: Run[]; nbconvert: Run[] } = { refinery: [], nbconvert: [] };
  for (let round = 0; round < cfg.rounds; round++) {
    const order = round % 2 === 0 ? (['nbconvert', 'refinery'] as const) : (['refinery', 'nbconvert'] as const);
    for (const name of order) runs[name].push(contenders[name]());
    const r = runs.refinery[round]!;
    const n = runs.nbconvert[round]!;
    console.log(
      `round ${round + 1}/${cfg.rounds}: nbconvert ${n.ms.toFixed(0)} ms (cpu ${n.cpuMs?.toFixed(0) ?? '?'}), refinery ${r.ms.toFixed(0)} ms (cpu ${r.cpuMs?.toFixed(0) ?? '?'}) ` +
        `(import ${r.phases!.importMs!.toFixed(0)}, validate ${r.phases!.validateMs!.toFixed(0)}, render ${r.phases!.renderMs!.toFixed(0)}) ` +
        `→ ${(n.ms / r.ms).toFixed(1)}×, load ${r.loadAverage.toFixed(2)}`,
    );
  }

  const warm = await warmRuns(input, cfg.rounds);
  const warmMs = median(warm.map((w) => w.validateMs + w.renderMs));
  const ratios = runs.refinery.map((r, i) => runs.nbconvert[i]!.ms / r.ms);
  const cpuRatios = runs.refinery.every((r) => r.cpuMs) ? runs.refinery.map((r, i) => runs.nbconvert[i]!.cpuMs! / r.cpuMs!) : [];
  const med = (xs: number[]) => median(xs);
  const phase = (key: string) => med(runs.refinery.map((r) => r.phases![key]!));
  const rows: [string, string, string][] = [
    ['wall time, whole process (ms)', med(runs.nbconvert.map((r) => r.ms)).toFixed(0), med(runs.refinery.map((r) => r.ms)).toFixed(0)],
    ['cpu time, user + system (ms)', cpuRatios.length ? med(runs.nbconvert.map((r) => r.cpuMs!)).toFixed(0) : '-', cpuRatios.length ? med(runs.refinery.map((r) => r.cpuMs!)).toFixed(0) : '-'],
    ['  of which: start-up + imports', '-', phase('importMs').toFixed(0)],
    ['  of which: validate', '-', phase('validateMs').toFixed(0)],
    ['  of which: render', '-', phase('renderMs').toFixed(0)],
    ['  of which: write', '-', phase('writeMs').toFixed(0)],
    ['warm, in a running server (ms)', '-', `${warmMs.toFixed(0)}`],
    ['output size (MB)', (runs.nbconvert[0]!.outputBytes / 1e6).toFixed(2), (runs.refinery[0]!.outputBytes / 1e6).toFixed(2)],
  ];
  const speedup = med(ratios);
  console.log(`\nmedians of ${cfg.rounds} alternating rounds; speed-up = median over rounds of nbconvert / Refinery in the same round (range)\n`);
  console.log(`${'metric'.padEnd(34)}${`nbconvert ${version}`.padStart(18)}${'Refinery'.padStart(12)}`);
  for (const [name, a, b] of rows) console.log(`${name.padEnd(34)}${a.padStart(18)}${b.padStart(12)}`);
  const range = (xs: number[]) => `${med(xs).toFixed(1)}× (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`;
  console.log(`${'speed-up, wall time'.padEnd(34)}${range(ratios).padStart(30)}`);
  if (cpuRatios.length) console.log(`${'speed-up, cpu time'.padEnd(34)}${range(cpuRatios).padStart(30)}`);
  const nbconvertMedian = med(runs.nbconvert.map((r) => r.ms));
  console.log(`${'nbconvert / warm Refinery render'.padEnd(34)}${`${(nbconvertMedian / warmMs).toFixed(0)}×`.padStart(30)}`);

  const resultsDir = path.join(repo, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().slice(0, 16).replace(':', '');
  const file = path.join(resultsDir, `render-${stamp}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: { cpus: os.cpus().map((c) => c.model)[0], cores: os.cpus().length, node: process.version, nbconvert: version },
        config: { ...cfg, inputBytes },
        speedup: { median: speedup, min: Math.min(...ratios), max: Math.max(...ratios) },
        cpuSpeedup: cpuRatios.length ? { median: med(cpuRatios), min: Math.min(...cpuRatios), max: Math.max(...cpuRatios) } : null,
        runs,
        warm,
      },
      null,
      2,
    ),
  );
  console.log(`\nresults: ${path.relative(repo, file)}`);
  if (args.keep) console.log(`outputs kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}

await main();
