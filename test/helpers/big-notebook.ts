/**
 * A generated notebook like a long analysis notebook: markdown with formulas, code, data frames,
 * tracebacks and PNG plots, sized by cell and image count. For the rendering benchmarks and tests.
 */
import { randomBytes } from 'node:crypto';
import { deflateSync } from 'node:zlib';

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

export function generate(cells: number, images: number): Record<string, unknown> {
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
