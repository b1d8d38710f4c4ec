/**
 * The page around the cells: head (with the inlined stylesheet), a header with the title, author,
 * date, version, kernel and the Download link, the table of contents (a sticky side column on wide
 * screens, a folded box above the notebook on narrow ones) and a footer.
 */
import { escapeAttr, escapeText } from './escape.js';
import type { Heading } from './markdown.js';
import { PAGE_CSS } from './style.js';

export interface PageParts {
  title: string;
  theme: 'light' | 'dark' | 'auto';
  downloadUrl: string;
  downloadName: string;
  author?: string | undefined;
  published?: string | Date | undefined;
  version?: number | undefined;
  kernel?: string | undefined;
  noindex: boolean;
  headings: Heading[] | null;
  cells: string;
}

/** Nested ordered lists from a flat list of headings; levels may skip (h1 → h3). Always well-formed. */
export function tocList(headings: readonly Heading[]): string {
  if (!headings.length) return '';
  let out = '';
  const stack: number[] = [];
  for (const h of headings) {
    if (!stack.length) {
      out += '<ol>';
      stack.push(h.level);
    } else if (h.level > stack[stack.length - 1]!) {
      out += '<ol>';
      stack.push(h.level);
    } else {
      out += '</li>';
      while (stack.length > 1 && h.level < stack[stack.length - 1]!) {
        if (stack[stack.length - 2]! < h.level) {
          stack[stack.length - 1] = h.level;
          break;
        }
        out += '</ol></li>';
        stack.pop();
      }
    }
    out += `<li><a href="#${escapeAttr(h.id)}">${escapeText(h.text || h.id)}</a>`;
  }
  out += '</li>';
  while (stack.length) {
    out += '</ol>';
    stack.pop();
    if (stack.length) out += '</li>';
  }
  return out;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function dateHtml(value: string | Date): string {
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return escapeText(String(value));
  // Formatted by hand: Intl's first use loads locale data, which costs more than rendering a page.
  const shown = `${MONTHS[date.getUTCMonth()]} ${date.getUTCDate()}, ${date.getUTCFullYear()}`;
  return `<time datetime="${escapeAttr(date.toISOString())}">${escapeText(shown)}</time>`;
}

export function page(parts: PageParts): string {
  const meta: string[] = [];
  if (parts.author) meta.push(`<span class="rf-author">by ${escapeText(parts.author)}</span>`);
  if (parts.published !== undefined && parts.published !== '') meta.push(`<span class="rf-published">published ${dateHtml(parts.published)}</span>`);
  if (Number.isInteger(parts.version)) meta.push(`<span class="rf-version">version ${parts.version}</span>`);
  if (parts.kernel) meta.push(`<span class="rf-kernel">${escapeText(parts.kernel)}</span>`);
  const toc = parts.headings && parts.headings.length ? tocList(parts.headings) : '';
  const colorScheme = parts.theme === 'auto' ? 'light dark' : parts.theme;
  return (
    '<!DOCTYPE html>\n' +
    `<html lang="en" data-theme="${parts.theme}">\n<head>\n` +
    '<meta charset="utf-8">\n' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n' +
    `<meta name="color-scheme" content="${colorScheme}">\n` +
    // The address of an unlisted page is its secret: links on it must not send it as Referer.
    '<meta name="referrer" content="no-referrer">\n' +
    (parts.noindex ? '<meta name="robots" content="noindex, nofollow">\n' : '') +
    '<meta name="generator" content="Refinery">\n' +
    `<title>${escapeText(parts.title)}</title>\n` +
    `<style>${PAGE_CSS}</style>\n` +
    '</head>\n<body>\n' +
    '<header class="rf-header"><div class="rf-header-inner"><div class="rf-heading">' +
    `<h1 class="rf-title">${escapeText(parts.title)}</h1>` +
    (meta.length ? `<p class="rf-meta">${meta.join('')}</p>` : '') +
    '</div>' +
    `<a class="rf-download" href="${escapeAttr(parts.downloadUrl)}" download="${escapeAttr(parts.downloadName)}">Download .ipynb</a>` +
    '</div></header>\n' +
    `<div class="rf-layout${toc ? ' rf-with-toc' : ''}">\n` +
    (toc ? `<nav class="rf-toc rf-toc-side" aria-label="Contents"><p class="rf-toc-title">Contents</p>${toc}</nav>\n` : '') +
    '<main class="rf-notebook">\n' +
    (toc ? `<details class="rf-toc rf-toc-inline"><summary>Contents</summary>${toc}</details>\n` : '') +
    parts.cells +
    '</main>\n</div>\n' +
    '<footer class="rf-footer">A read-only copy of a Jupyter notebook; nothing on this page runs. Download the notebook to run it.</footer>\n' +
    '</body>\n</html>\n'
  );
}
