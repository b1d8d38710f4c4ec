// Notebooks for the publishing tests: valid nbformat 4.5 files with the outputs people publish (math,
// a PNG plot, an ANSI-coloured traceback), and broken ones.
import { deflateSync } from 'node:zlib';

function crc32(bytes: Buffer): number {
  let crc = ~0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return ~crc >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/**
 * A real PNG (RGB, `width`×`height`): a little "plot", bars of a bar chart on a white background, so
 * a screenshot shows it was decoded. Made with zlib, as any PNG encoder does.
 */
export function plotPng(width = 160, height = 100): Buffer {
  const rows: Buffer[] = [];
  const bars = [0.3, 0.55, 0.8, 0.45, 0.95, 0.6];
  const barWidth = Math.floor(width / (bars.length * 1.5));
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3, 255);
    row[0] = 0; // filter: none
    for (let x = 0; x < width; x++) {
      const i = 1 + x * 3;
      const bar = Math.floor(x / (barWidth * 1.5));
      const inBar = bar < bars.length && x % Math.floor(barWidth * 1.5) < barWidth && y >= height - 1 - Math.floor(bars[bar]! * (height - 10));
      const axis = x === 2 || y === height - 2;
      if (axis) row.fill(40, i, i + 3);
      else if (inBar) {
        row[i] = 31;
        row[i + 1] = 119;
        row[i + 2] = 180;
      }
    }
    rows.push(row);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** The coloured traceback IPython prints for a ZeroDivisionError (ANSI escapes as the kernel sends them). */
export const ANSI_TRACEBACK = [
  '\u001b[0;31m---------------------------------------------------------------------------\u001b[0m',
  '\u001b[0;31mZeroDivisionError\u001b[0m                         Traceback (most recent call last)',
  'Cell \u001b[0;32mIn[2], line 1\u001b[0m\n\u001b[0;32m----> 1\u001b[0m \u001b[38;5;241m1\u001b[39m \u001b[38;5;241m/\u001b[39m \u001b[38;5;241m0\u001b[39m\n',
  '\u001b[0;31mZeroDivisionError\u001b[0m: division by zero',
];

export interface ReportOptions {
  title?: string;
  /** Extra text in the markdown cell, to tell versions apart. */
  marker?: string;
}

/** A notebook as JupyterLab saves it: markdown with math, a code cell with a PNG plot, an error with a coloured traceback. */
export function reportNotebook(options: ReportOptions = {}): Record<string, unknown> {
  return {
    cells: [
      {
        cell_type: 'markdown',
        id: 'intro',
        metadata: {},
        source: [
          `# ${options.title ?? 'Growth report'}\n`,
          '\n',
          `The model is $E = mc^2$, and the sum $$\\sum_{i=1}^{n} i = \\frac{n(n+1)}{2}$$ ${options.marker ?? 'holds'}.\n`,
        ],
      },
      {
        cell_type: 'code',
        execution_count: 1,
        id: 'plot',
        metadata: {},
        outputs: [
          {
            data: { 'image/png': plotPng().toString('base64'), 'text/plain': ['<Figure size 640x480 with 1 Axes>'] },
            metadata: {},
            output_type: 'display_data',
          },
        ],
        source: ['import matplotlib.pyplot as plt\n', 'plt.bar(range(6), [3, 5, 8, 4, 9, 6])'],
      },
      {
        cell_type: 'code',
        execution_count: 2,
        id: 'oops',
        metadata: {},
        outputs: [{ ename: 'ZeroDivisionError', evalue: 'division by zero', output_type: 'error', traceback: ANSI_TRACEBACK }],
        source: ['1 / 0'],
      },
    ],
    metadata: {
      kernelspec: { display_name: 'Python 3 (ipykernel)', language: 'python', name: 'python3' },
      language_info: { name: 'python', version: '3.11.7' },
    },
    nbformat: 4,
    nbformat_minor: 5,
  };
}

/** The file text JupyterLab writes for a notebook (nbformat's `json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False)` + newline). */
export function notebookFileText(notebook: unknown): string {
  const sortKeys = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(sortKeys);
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]));
    }
    return value;
  };
  return `${JSON.stringify(sortKeys(notebook), null, 1)}\n`;
}

/** An nbformat 3 notebook (worksheets), as IPython 2 saved them. */
export function nbformat3Notebook(): Record<string, unknown> {
  return {
    metadata: { name: 'old' },
    nbformat: 3,
    nbformat_minor: 0,
    worksheets: [{ cells: [{ cell_type: 'code', input: '1 + 1', language: 'python', outputs: [], prompt_number: 1 }], metadata: {} }],
  };
}
