/**
 * One cell → HTML. Layout follows JupyterLab: a 64px prompt column (`[3]:`, `[ ]:` for a code cell
 * that never ran), then the input area, then each output with its own prompt column.
 * Hidden sources and outputs (`metadata.jupyter.source_hidden` / `outputs_hidden`, the older
 * `metadata.collapsed`) are folded into a <details> the reader can open.
 */
import type { Cell, CellMetadata, CodeCell } from '../validate.js';
import { escapeAttr, escapeText, joinText } from './escape.js';
import { highlightCode } from './highlight.js';
import type { Heading, Markdown } from './markdown.js';
import { renderOutputs } from './outputs.js';

export interface CellContext {
  markdown: Markdown;
  /** The highlight.js language of the notebook's code cells, or null for plain text. */
  language: string | null;
}

export interface RenderedCell {
  html: string;
  headings: Heading[];
}

function tagsHtml(metadata: CellMetadata | undefined): string {
  const tags = Array.isArray(metadata?.tags) ? metadata.tags.filter((t): t is string => typeof t === 'string') : [];
  if (!tags.length) return '';
  return `<ul class="rf-tags" aria-label="tags">${tags.map((t) => `<li>${escapeText(t)}</li>`).join('')}</ul>`;
}

function open(cell: { id?: unknown; metadata?: CellMetadata }, kind: string): string {
  const id = typeof cell.id === 'string' ? ` id="cell-${escapeAttr(cell.id)}"` : '';
  return `<div class="rf-cell rf-${kind}-cell"${id}>${tagsHtml(cell.metadata)}`;
}

function folded(summary: string, body: string): string {
  return `<details class="rf-collapsed"><summary>${escapeText(summary)}</summary>${body}</details>`;
}

function codeCell(cell: CodeCell, context: CellContext): string {
  const n = cell.execution_count;
  const prompt = `[${Number.isInteger(n) ? n : ' '}]:`;
  const lang = context.language ? ` class="language-${escapeAttr(context.language)}"` : '';
  const code = `<pre class="rf-source"><code${lang}>${highlightCode(joinText(cell.source), context.language, context.markdown.highlightBudget)}</code></pre>`;
  const jupyter = (cell.metadata?.jupyter ?? {}) as { source_hidden?: unknown; outputs_hidden?: unknown };
  const input = jupyter.source_hidden === true ? folded('Code hidden', code) : code;
  let html = `${open(cell, 'code')}<div class="rf-row rf-input"><div class="rf-prompt">${escapeText(prompt)}</div><div class="rf-body">${input}</div></div>`;
  const outputs = Array.isArray(cell.outputs) ? renderOutputs(cell.outputs, context) : '';
  if (outputs) {
    const hidden = jupyter.outputs_hidden === true || cell.metadata?.collapsed === true;
    const count = cell.outputs.length;
    html += hidden
      ? `<div class="rf-outputs">${folded(`Output hidden (${count} item${count === 1 ? '' : 's'})`, outputs)}</div>`
      : `<div class="rf-outputs">${outputs}</div>`;
  }
  return `${html}</div>\n`;
}

export function renderCell(cell: Cell, context: CellContext): RenderedCell {
  switch (cell.cell_type) {
    case 'code':
      return { html: codeCell(cell, context), headings: [] };
    case 'markdown': {
      const { html, headings } = context.markdown.render(joinText(cell.source), cell.attachments);
      const hidden = (cell.metadata?.jupyter as { source_hidden?: unknown } | undefined)?.source_hidden === true;
      const body = `<div class="rf-rendered rf-markdown">${html}</div>`;
      return {
        html: `${open(cell, 'markdown')}<div class="rf-row"><div class="rf-prompt"></div><div class="rf-body">${hidden ? folded('Markdown hidden', body) : body}</div></div></div>\n`,
        headings,
      };
    }
    case 'raw':
      return {
        html: `${open(cell, 'raw')}<div class="rf-row"><div class="rf-prompt"></div><div class="rf-body"><pre class="rf-raw">${escapeText(joinText(cell.source))}</pre></div></div></div>\n`,
        headings: [],
      };
    default: {
      // Only a notebook from a future nbformat minor version gets here.
      const unknown = cell as { cell_type?: unknown; id?: unknown; metadata?: CellMetadata };
      return {
        html: `${open(unknown, 'unknown')}<div class="rf-row"><div class="rf-prompt"></div><div class="rf-body"><span class="rf-note">${escapeText(`A cell of type “${String(unknown.cell_type)}” is not supported`)}</span></div></div></div>\n`,
        headings: [],
      };
    }
  }
}
