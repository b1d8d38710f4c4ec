/**
 * Code cell outputs, the way JupyterLab shows an untrusted notebook's outputs:
 * - a MIME bundle shows its richest type, in JupyterLab's order: text/html (sanitized), text/markdown,
 *   text/latex, image/svg+xml (as an <img> with a data: URI, never inline SVG), image/png, image/jpeg,
 *   image/gif, image/webp, image/bmp, application/json (pretty-printed), text/plain;
 * - JavaScript (application/javascript, text/javascript) never runs: a note says it was not shown;
 * - streams: consecutive pieces of the same stream merged, carriage returns and backspaces applied,
 *   ANSI colours as classes; stderr tinted;
 * - errors: the traceback with its ANSI colours (or `ename: evalue` when there is none).
 */
import type { MimeBundle, Output } from '../validate.js';
import { ansiToHtml, applyOverwrites } from './ansi.js';
import { cleanBase64, escapeAttr, escapeText, joinText } from './escape.js';
import type { Markdown } from './markdown.js';
import { latexOutputExpression, renderMath } from './math.js';
import { sanitize } from './sanitize.js';

const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/bmp'];
const ORDER = ['text/html', 'text/markdown', 'text/latex', 'image/svg+xml', ...IMAGE_TYPES, 'application/json', 'text/plain'];
const JAVASCRIPT = ['application/javascript', 'text/javascript', 'application/x-javascript'];
const WIDGET = 'application/vnd.jupyter.widget-view+json';

export interface OutputContext {
  markdown: Markdown;
}

/** HTML for a code cell's outputs (each in its own row with a prompt), or '' when there are none. */
export function renderOutputs(outputs: readonly Output[], context: OutputContext): string {
  let html = '';
  for (const output of mergeStreams(outputs)) html += renderOutput(output, context);
  return html;
}

function row(prompt: string, kind: string, body: string): string {
  const promptHtml = prompt ? `<div class="rf-prompt rf-out-prompt">${escapeText(prompt)}</div>` : '<div class="rf-prompt"></div>';
  return `<div class="rf-row rf-output rf-${kind}">${promptHtml}<div class="rf-body">${body}</div></div>\n`;
}

function renderOutput(output: Output, context: OutputContext): string {
  try {
    switch (output.output_type) {
      case 'stream': {
        const name = output.name === 'stderr' ? 'stderr' : 'stdout';
        const text = applyOverwrites(joinText(output.text));
        return row('', 'stream', `<pre class="rf-text rf-${name}">${ansiToHtml(text)}</pre>`);
      }
      case 'error': {
        const traceback = Array.isArray(output.traceback) ? output.traceback.filter((l) => typeof l === 'string') : [];
        const text = traceback.length ? traceback.join('\n') : `${String(output.ename)}: ${String(output.evalue)}`;
        return row('', 'error', `<pre class="rf-text rf-error-output">${ansiToHtml(text)}</pre>`);
      }
      case 'execute_result': {
        const n = output.execution_count;
        const prompt = Number.isInteger(n) ? `[${n}]:` : '';
        return row(prompt, 'execute-result', renderBundle(output.data, output.metadata, context));
      }
      case 'display_data':
        return row('', 'display-data', renderBundle(output.data, output.metadata, context));
      default: {
        // Only a notebook from a future nbformat minor version gets here.
        const type = String((output as { output_type?: unknown }).output_type);
        return row('', 'unknown', note(`Output of type “${type}” is not supported`));
      }
    }
  } catch {
    // A pathological output (e.g. JSON nested too deeply to print) must not take the page down.
    return row('', 'unknown', note('This output could not be displayed'));
  }
}

function note(text: string): string {
  return `<span class="rf-note">${escapeText(text)}</span>`;
}

/** JupyterLab merges consecutive stream outputs of the same name when it loads a notebook. */
function mergeStreams(outputs: readonly Output[]): Output[] {
  const merged: Output[] = [];
  for (const output of outputs) {
    const last = merged[merged.length - 1];
    if (output.output_type === 'stream' && last?.output_type === 'stream' && last.name === output.name) {
      merged[merged.length - 1] = { ...last, text: joinText(last.text) + joinText(output.text) };
    } else {
      merged.push(output);
    }
  }
  return merged;
}

function has(bundle: MimeBundle, mime: string): boolean {
  return Object.hasOwn(bundle, mime) && bundle[mime] !== undefined && bundle[mime] !== null;
}

/** The richest MIME type of a bundle that this page can show, or null. */
export function preferredMimeType(bundle: MimeBundle): string | null {
  for (const mime of ORDER) if (has(bundle, mime)) return mime;
  return null;
}

function renderBundle(bundle: MimeBundle, metadata: Record<string, unknown> | undefined, context: OutputContext): string {
  const data = typeof bundle === 'object' && bundle !== null ? bundle : {};
  const mime = preferredMimeType(data);
  const hasJs = JAVASCRIPT.some((m) => has(data, m));
  if (hasJs && (mime === null || mime === 'text/plain')) return note('JavaScript output not shown');
  if (has(data, WIDGET) && (mime === null || mime === 'text/plain')) {
    return note('Interactive widget not shown (it needs a running kernel)');
  }
  if (mime === null) {
    const types = Object.keys(data).slice(0, 5).join(', ');
    return note(types ? `Output of type ${types} not shown` : 'Empty output');
  }
  const value = data[mime];
  switch (mime) {
    case 'text/html': {
      const html = joinText(value);
      const body = `<div class="rf-rendered rf-html">${sanitize(html)}</div>`;
      // Outputs such as Plotly or Bokeh figures are drawn by their script, which never runs here.
      return /<script[\s>]/i.test(html) ? `${body}${note('Scripts in this output were not run')}` : body;
    }
    case 'text/markdown':
      return `<div class="rf-rendered rf-markdown">${context.markdown.render(joinText(value)).html}</div>`;
    case 'text/latex': {
      const text = joinText(value);
      const expr = latexOutputExpression(text);
      // KaTeX output is made from the TeX, with trust off (see markdown.ts on why it is not sanitized)
      if (expr) return `<div class="rf-rendered rf-latex">${renderMath(expr.tex, expr.display, context.markdown.math)}</div>`;
      return `<div class="rf-rendered rf-latex">${context.markdown.render(text).html}</div>`;
    }
    case 'application/json': {
      const json = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
      return `<pre class="rf-text rf-json">${escapeText(json ?? '')}</pre>`;
    }
    case 'text/plain':
      return `<pre class="rf-text">${ansiToHtml(joinText(value))}</pre>`;
    case 'image/svg+xml': {
      const svg = joinText(value);
      const base64 = svg.trimStart().startsWith('<') ? Buffer.from(svg, 'utf8').toString('base64') : cleanBase64(svg);
      return image(mime, base64, metadata, data);
    }
    default:
      return image(mime, cleanBase64(joinText(value)), metadata, data);
  }
}

/** A size from output metadata: a positive number (or numeric string), as an integer attribute value. */
function dimension(value: unknown): string | null {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(n) || n <= 0 || n > 100_000) return null;
  return String(Math.max(1, Math.round(n)));
}

function image(mime: string, base64: string | null, metadata: Record<string, unknown> | undefined, bundle: MimeBundle): string {
  if (!base64) return note(`Invalid ${mime} data`);
  const meta = metadata && typeof metadata === 'object' ? metadata : {};
  const perType = Object.hasOwn(meta, mime) && typeof meta[mime] === 'object' && meta[mime] !== null ? (meta[mime] as Record<string, unknown>) : {};
  const width = dimension(perType.width ?? meta.width);
  const height = dimension(perType.height ?? meta.height);
  const classes = [perType.unconfined === true || meta.unconfined === true ? 'rf-unconfined' : ''].filter(Boolean);
  // The text/plain of a figure ("<Figure size 640x480 with 1 Axes>") is the closest thing to an alt text.
  const alt = has(bundle, 'text/plain') ? joinText(bundle['text/plain']).slice(0, 200) : '';
  return (
    `<img src="data:${mime};base64,${base64}" alt="${escapeAttr(alt)}"` +
    (width ? ` width="${width}"` : '') +
    (height ? ` height="${height}"` : '') +
    (classes.length ? ` class="${classes.join(' ')}"` : '') +
    '>'
  );
}
