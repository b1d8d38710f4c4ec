/**
 * Notebook → a complete, self-contained, read-only HTML page, rendered the way JupyterLab shows the
 * notebook, running nothing. Pure and synchronous: no I/O after start-up, no globals kept between
 * calls (each call gets its own markdown instance, math macros and heading ids).
 *
 *   import { validateNotebook } from '../validate.js';
 *   import { renderNotebook, PAGE_CSP } from './render/index.js';
 *   const { notebook } = validateNotebook(bytes, { maxBytes: 25_000_000 });
 *   const html = renderNotebook(notebook, { title: 'Analysis', downloadUrl: '/p/abc/download' });
 *   reply.header('Content-Security-Policy', PAGE_CSP).type('text/html; charset=utf-8').send(html);
 *
 * The page loads nothing: its stylesheet is inline (allowed by hash in PAGE_CSP), images are data:
 * URIs, math is MathML, there is no script. Every HTML fragment from the notebook is sanitized
 * (sanitize.ts); everything else the renderer writes is escaped (escape.ts).
 *
 * The work per page is bounded whatever the notebook holds (HIGHLIGHT_LIMITS, MATH_LIMITS,
 * MAX_NESTING), but it is synchronous CPU work: in a server, call renderInWorker (worker.ts), which
 * validates and renders in a worker thread with a deadline and a memory cap.
 *
 * Modules: markdown.ts (markdown-it + math + anchors), math.ts (KaTeX → MathML), highlight.ts
 * (highlight.js), ansi.ts (terminal colours), sanitize.ts (sanitize-html allowlist), outputs.ts
 * (MIME bundles, streams, errors), cells.ts, page.ts (header, table of contents), style.ts (CSS from
 * src/publish/static/notebook.css, its hash, the CSP), worker.ts (off-thread rendering).
 */
import type { Notebook } from '../validate.js';
import { renderCell } from './cells.js';
import { notebookLanguage } from './highlight.js';
import { Markdown, type Heading } from './markdown.js';
import { MathContext } from './math.js';
import { page } from './page.js';

export { PAGE_CSP, PAGE_CSS, PAGE_CSS_HASH } from './style.js';
export type { Heading } from './markdown.js';

export interface RenderOptions {
  /** The page title (shown in the header and the browser tab). */
  title: string;
  /** Where the Download .ipynb link points: a path on the page's origin, or an http(s) URL. */
  downloadUrl: string;
  /** The file name the browser suggests for the download; default: from the title. */
  downloadName?: string;
  /** 'auto' (default) follows the reader's system setting. */
  theme?: 'light' | 'dark' | 'auto';
  /** Shown as "by <author>". */
  author?: string;
  /** When it was published: a Date or an ISO 8601 string (shown as a date, UTC). */
  published?: string | Date;
  /** Shown as "version N". */
  version?: number;
  /** Show a table of contents; default: when the notebook has at least two headings. */
  toc?: boolean;
  /** Ask search engines not to index the page (default true: a published page is reached by its link). */
  noindex?: boolean;
}

const SAFE_URL = /^(?:https?:\/\/|\/(?!\/)|\.{1,2}\/|[^:/?#]+(?:[/?#]|$))/i;

function checkDownloadUrl(url: unknown): string {
  if (typeof url !== 'string' || !url || /[\u0000-\u001f\u007f\s]/.test(url) || !SAFE_URL.test(url)) {
    throw new TypeError(`renderNotebook: downloadUrl must be a path or an http(s) URL, got ${JSON.stringify(url)}`);
  }
  return url;
}

function fileName(title: string): string {
  const base = title
    .normalize('NFKD')
    .replace(/[^\w.-]+/g, '_')
    .replace(/^[_.]+|_+$/g, '')
    .slice(0, 80);
  return `${base || 'notebook'}.ipynb`;
}

export function renderNotebook(notebook: Notebook, options: RenderOptions): string {
  const downloadUrl = checkDownloadUrl(options.downloadUrl);
  const theme = options.theme === 'light' || options.theme === 'dark' ? options.theme : 'auto';
  const markdown = new Markdown(new MathContext());
  const language = notebookLanguage(notebook.metadata);
  const headings: Heading[] = [];
  let cells = '';
  for (const cell of notebook.cells) {
    const rendered = renderCell(cell, { markdown, language });
    cells += rendered.html;
    headings.push(...rendered.headings);
  }
  const showToc = options.toc ?? headings.length >= 2;
  const kernel = notebook.metadata?.kernelspec?.display_name;
  return page({
    title: String(options.title ?? ''),
    theme,
    downloadUrl,
    downloadName: options.downloadName ? fileName(options.downloadName.replace(/\.ipynb$/i, '')) : fileName(String(options.title ?? '')),
    author: options.author,
    published: options.published,
    version: options.version,
    kernel: typeof kernel === 'string' ? kernel : undefined,
    noindex: options.noindex !== false,
    headings: showToc ? headings : null,
    cells,
  });
}
