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
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { deflateSync } from 'node:zlib';
import { median } from './lib/stats.js';

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
// The notebook: what a long analysis notebook holds

/** A real PNG of about `bytes` bytes (noise does not compress, so its size is predictable). */
function png(bytes: number, seed: number): string {
  const width = 120;
  const height = Math.max(1, Math.round(bytes / (width * 3)));
  const raw = Buffer.alloc((width * 3 + 1) * height);
  const noise = randomBytes(raw.length);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0;
    for (let x = 0; x < width * 3; x++) {
      // a gradient with noise: looks like a plot-ish image, compresses like a photo
      raw[y * (width * 3 + 1) + 1 + x] = ((x + y + seed) & 0xff) ^ (noise[y * width * 3 + x]! & 0x3f);
    }
  }
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf: Buffer) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]).toString('base64');
}

function dataFrameHtml(rows: number, cols: number, seed: number): string {
  const head = Array.from({ length: cols }, (_, c) => `      <th>feature_${c}</th>\n`).join('');
  const body = Array.from({ length: rows }, (_, r) => {
    const cells = Array.from({ length: cols }, (_, c) => `      <td>${(((r + 1) * (c + 3) * (seed + 7)) % 1000 / 7).toFixed(4)}</td>\n`).join('');
    return `    <tr>\n      <th>${r}</th>\n${cells}    </tr>\n`;
  }).join('');
  return (
    '<div>\n<style scoped>\n    .dataframe tbody tr th:only-of-type {\n        vertical-align: middle;\n    }\n\n    .dataframe tbody tr th {\n        vertical-align: top;\n    }\n\n    .dataframe thead th {\n        text-align: right;\n    }\n</style>\n' +
    `<table border="1" class="dataframe">\n  <thead>\n    <tr style="text-align: right;">\n      <th></th>\n${head}    </tr>\n  </thead>\n  <tbody>\n${body}  </tbody>\n</table>\n<p>${rows} rows × ${cols} columns</p>\n</div>`
  );
}

const TRACEBACK = [
  '\u001b[31m---------------------------------------------------------------------------\u001b[39m',
  '\u001b[31mKeyError\u001b[39m                                  Traceback (most recent call last)',
  '\u001b[36mCell\u001b[39m\u001b[36m \u001b[39m\u001b[32mIn[12]\u001b[39m\u001b[32m, line 3\u001b[39m\n\u001b[32m      1\u001b[39m totals = df.groupby(\u001b[33m"region"\u001b[39m).sum()\n\u001b[32m----> \u001b[39m\u001b[32m3\u001b[39m \u001b[38;5;28mprint\u001b[39m(totals[\u001b[33m"north"\u001b[39m])\n',
  '\u001b[36mFile \u001b[39m\u001b[32m~/envs/lib/python3.11/site-packages/pandas/core/frame.py:4102\u001b[39m, in \u001b[36mDataFrame.__getitem__\u001b[39m\u001b[34m(self, key)\u001b[39m\n\u001b[32m   4100\u001b[39m \u001b[38;5;28;01mif\u001b[39;00m is_single_key:\n\u001b[32m-> \u001b[39m\u001b[32m4102\u001b[39m     indexer = \u001b[38;5;28mself\u001b[39m.columns.get_loc(key)\n',
  '\u001b[31mKeyError\u001b[39m: \'north\'',
];

const CODE = [
  'import numpy as np\nimport pandas as pd\n\ndef summarise(df: pd.DataFrame, by: str = "region") -> pd.DataFrame:\n    """Mean and spread per group."""\n    grouped = df.groupby(by)\n    return grouped.agg(["mean", "std"]).round(3)\n\nsummary = summarise(df)\nsummary',
  'for epoch in range(3):\n    loss = model.train_step(batch_size=64, lr=1e-3 * 0.9 ** epoch)\n    print(f"epoch {epoch}: loss={loss:.4f}")  # progress',
  'fig, ax = plt.subplots(figsize=(8, 4))\nax.plot(x, np.sin(x), label="sin")\nax.plot(x, np.cos(x), label="cos")\nax.legend()\nplt.show()',
  'class Model:\n    def __init__(self, n: int):\n        self.weights = np.zeros(n)\n\n    def predict(self, X):\n        return X @ self.weights\n',
];

function generate(cells: number, images: number): Record<string, unknown> {
  const out: Record<string, unknown>[] = [];
  const codeCells = Math.round((cells * 3) / 4);
  const imageEvery = images > 0 ? Math.max(1, Math.floor(codeCells / images)) : Infinity;
  let codeIndex = 0;
  let imagesLeft = images;
  for (let i = 0; i < cells; i++) {
    const id = `cell-${i}`;
    if (i % 4 === 0) {
      const section = i / 4;
      out.push({
        id,
        cell_type: 'markdown',
        metadata: {},
        // formulas differ from cell to cell, as in a real notebook (no renderer gets to reuse work)
        source: `${section % 5 === 0 ? '#' : '##'} Section ${section}: model fitting\n\nWe minimise the loss $L_{${section}}(\\theta) = \\frac{1}{n}\\sum_{i=1}^{n} (y_i - f_\\theta(x_i))^{${(section % 3) + 2}}$ with learning rate $\\eta = ${section + 1} \\cdot 10^{-${(section % 5) + 1}}$, see [the docs](https://example.org/docs).\n\n$$\\nabla_\\theta L_{${section}} = -\\frac{${section + 2}}{n} \\sum_{i=1}^{n} (y_i - f_\\theta(x_i)) \\nabla_\\theta f_\\theta(x_i)$$\n\n- **batch size**: ${32 * ((section % 4) + 1)}\n- *epochs*: ${(section % 7) + 1}\n- \`optimizer\`: Adam\n`,
      });
      continue;
    }
    codeIndex += 1;
    const outputs: Record<string, unknown>[] = [];
    if (imagesLeft > 0 && codeIndex % imageEvery === 0) {
      imagesLeft -= 1;
      outputs.push({ output_type: 'display_data', data: { 'image/png': png(20_000, codeIndex), 'text/plain': ['<Figure size 800x400 with 1 Axes>'] }, metadata: { 'image/png': { width: 640, height: 320 } } });
    } else if (codeIndex % 7 === 1) {
      outputs.push({ output_type: 'execute_result', execution_count: codeIndex, data: { 'text/html': dataFrameHtml(10, 8, codeIndex), 'text/plain': ['   feature_0  feature_1\n0     1.0    2.0'] }, metadata: {} });
    } else if (codeIndex % 11 === 2) {
      outputs.push({ output_type: 'error', ename: 'KeyError', evalue: "'north'", traceback: TRACEBACK });
    } else if (codeIndex % 3 === 0) {
      outputs.push({ output_type: 'stream', name: 'stdout', text: ['epoch 0: loss=0.6931\n', 'epoch 1: loss=0.5012\n', 'epoch 2: loss=0.4127\n'] });
    }
    out.push({ id, cell_type: 'code', metadata: {}, execution_count: codeIndex, source: CODE[codeIndex % CODE.length], outputs });
  }
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: 'python3', display_name: 'Python 3 (ipykernel)', language: 'python' },
      language_info: { name: 'python', version: '3.11.7', mimetype: 'text/x-python', file_extension: '.py', pygments_lexer: 'ipython3', codemirror_mode: { name: 'ipython', version: 3 } },
    },
    cells: out,
  };
}

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
