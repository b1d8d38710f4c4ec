/**
 * Markdown the way JupyterLab renders it: GitHub-flavoured (tables, strikethrough, autolinks, task
 * lists) via markdown-it, raw HTML allowed but sanitized afterwards, LaTeX math typeset by KaTeX
 * (`$…$`, `$$…$$`, `\(…\)`, `\[…\]` and bare `\begin{align}…\end{align}`-style environments, spaces
 * inside `$ … $` allowed as in JupyterLab), code fences highlighted, headings given JupyterLab's ids
 * (the heading text with spaces turned into `-`, so links like `[see](#My-Section)` written for
 * JupyterLab keep working) and a `¶` link, and `attachment:` images resolved from the cell.
 *
 * One Markdown instance is made per notebook render: it carries that render's math context (macros)
 * and the set of heading ids already used, so ids stay unique across cells.
 *
 * Math and the sanitizer: the markdown (with any raw HTML in it) is sanitized with each formula
 * replaced by a placeholder, and KaTeX's MathML is put in afterwards. KaTeX output is made by KaTeX
 * from TeX (with `trust: false`, so no links, ids, classes or styles of the author's making), like
 * highlight.js output is made from code; passing it through the sanitizer too cost 80% of the time of
 * a markdown cell with formulas, and would require allowing MathML in notebook HTML, which the
 * sanitizer therefore does not (no foreign content from notebooks at all). A placeholder is private-use
 * characters around a random per-render nonce, so a notebook cannot forge one, and it is only replaced
 * where the sanitized HTML has it as text (never inside a tag).
 */
import { randomBytes } from 'node:crypto';
import MarkdownItFactory from 'markdown-it';
import type { MarkdownIt, Token } from 'markdown-it';
import anchor from 'markdown-it-anchor';
import mathPlugin from 'markdown-it-math/no-default-renderer';
import taskLists from 'markdown-it-task-lists';
import { HighlightBudget, highlightCode, resolveLanguage } from './highlight.js';
import { escapeText } from './escape.js';
import { MathContext, renderMath } from './math.js';
import { sanitize } from './sanitize.js';

export interface Heading {
  level: number;
  id: string;
  /** Plain text of the heading (math as its TeX source). */
  text: string;
}

/** Environments typeset without `$$` around them, as MathJax does in JupyterLab. */
const ENVIRONMENTS = [
  'equation', 'equation*', 'align', 'align*', 'alignat', 'alignat*', 'gather', 'gather*', 'multline', 'multline*',
  'eqnarray', 'eqnarray*', 'CD',
];

const CLOSING: Record<string, string> = { $: '$', $$: '$$', '\\(': '\\)', '\\[': '\\]' };

function headingText(children: Token[] | null): string {
  let text = '';
  for (const t of children ?? []) {
    if (t.type === 'text' || t.type === 'code_inline') text += t.content;
    else if (t.type === 'math_inline') text += `${t.markup}${t.content}${CLOSING[t.markup] ?? ''}`;
  }
  return text;
}

const INLINE_PAIRS: [string, string][] = [
  ['$$', '$$'],
  ['$', '$'],
  ['\\(', '\\)'],
  ['\\[', '\\]'],
];

type InlineRule = (state: { src: string; pos: number }, silent: boolean) => boolean;

/**
 * markdown-it-math looks for the closing delimiter with indexOf from every opening one, so a
 * paragraph of N unclosed `\(` costs O(N²) (40 kB took 2 s). Skip that search when the closing
 * delimiter does not occur after this position at all: one lastIndexOf per delimiter per paragraph.
 */
function guardInlineMath(md: MarkdownIt): void {
  const rules = (md.inline.ruler as unknown as { __rules__: { name: string; fn: InlineRule }[] }).__rules__;
  const original = rules.find((r) => r.name === 'math_inline')?.fn;
  if (!original) throw new Error('markdown-it-math did not install its inline rule');
  const lastClose = new WeakMap<object, Map<string, number>>();
  const guarded: InlineRule = (state, silent) => {
    let known = lastClose.get(state);
    if (!known) lastClose.set(state, (known = new Map()));
    for (const [open, close] of INLINE_PAIRS) {
      if (!state.src.startsWith(open, state.pos)) continue;
      let last = known.get(close);
      if (last === undefined) known.set(close, (last = state.src.lastIndexOf(close)));
      if (last >= state.pos + open.length) return original(state, silent);
    }
    return false;
  };
  md.inline.ruler.at('math_inline', guarded as Parameters<typeof md.inline.ruler.at>[1]);
}

export class Markdown {
  private readonly md: MarkdownIt;
  /** markdown-it-anchor keeps the ids it has handed out here; shared by every cell of the notebook. */
  private readonly anchorState: Record<string, unknown> = {};
  /** Typeset formulas of the source being rendered, by placeholder number, with their TeX. */
  private formulas: { html: string; tex: string }[] = [];
  private readonly nonce = randomBytes(12).toString('hex');
  private readonly placeholder = new RegExp(`\uE000${this.nonce}:(\\d+)\uE001`, 'g');

  constructor(
    readonly math: MathContext = new MathContext(),
    readonly highlightBudget: HighlightBudget = new HighlightBudget(),
  ) {
    const md = new MarkdownItFactory({
      html: true,
      linkify: true,
      typographer: false,
      breaks: false,
      highlight: (code, lang) => highlightCode(code, resolveLanguage(lang.split(/\s+/)[0]), this.highlightBudget),
    });
    md.use(mathPlugin, {
      inlineDelimiters: ['$$', '$', ['\\(', '\\)'], ['\\[', '\\]']],
      inlineAllowWhiteSpacePadding: true,
      blockDelimiters: ['$$', ['\\[', '\\]'], ...ENVIRONMENTS.map((e): [string, string] => [`\\begin{${e}}`, `\\end{${e}}`])],
      inlineRenderer: (src: string, token: { markup: string }) =>
        this.hold(renderMath(src, token.markup === '$$' || token.markup === '\\[', this.math, true), src),
      blockRenderer: (src: string, token: { markup: string }) => {
        const env = /^\\begin\{([^}]+)\}$/.exec(token.markup)?.[1];
        const tex = env ? `\\begin{${env}}\n${src}\n\\end{${env}}` : src;
        return this.hold(renderMath(tex, true, this.math), tex);
      },
    });
    guardInlineMath(md);
    md.use(taskLists);
    md.use(anchor, {
      level: 1,
      tabIndex: false,
      failOnNonUnique: false,
      getTokensText: headingText,
      // JupyterLab: `heading.textContent.replace(/ /g, '-')`
      slugify: (text: string) => text.trim().replace(/ /g, '-') || 'section',
      permalink: anchor.permalink.linkInsideHeader({ symbol: '¶', placement: 'after', space: false, class: 'anchor-link', ariaHidden: true }),
    });
    this.md = md;
  }

  /**
   * Sanitized HTML for one markdown source, and its headings (for the table of contents).
   * `attachments` are the cell's, for `attachment:` images.
   */
  render(source: string, attachments?: Record<string, unknown>): { html: string; headings: Heading[] } {
    // A fresh env per cell (link reference definitions must not leak between cells), sharing only
    // the heading ids handed out so far.
    const env = { markdownItAnchor: this.anchorState };
    const tokens = this.md.parse(source, env);
    const headings: Heading[] = [];
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      if (t.type !== 'heading_open') continue;
      const id = t.attrGet('id');
      if (id !== null) headings.push({ level: Number(t.tag.slice(1)), id: String(id), text: headingText(tokens[i + 1]?.children ?? null).trim() });
    }
    this.formulas = [];
    const html = sanitize(this.md.renderer.render(tokens, this.md.options, env), { attachments });
    return { html: this.formulas.length ? this.release(html) : html, headings };
  }

  /** A formula's HTML, kept aside; the placeholder goes through the sanitizer instead. */
  private hold(html: string, tex: string): string {
    const n = this.formulas.push({ html, tex }) - 1;
    return `\uE000${this.nonce}:${n}\uE001`;
  }

  /**
   * Put the formulas back. In sanitized HTML a raw `<` or `>` only ever delimits a tag (text and
   * attribute values have them escaped), so a placeholder is in text iff the nearest of the two
   * before it is a `>`. Anywhere else (it cannot happen with markdown-it's output, but the check is
   * cheap) the formula's TeX goes in as escaped text.
   */
  private release(html: string): string {
    return html.replace(this.placeholder, (_match, n: string, offset: number) => {
      const formula = this.formulas[Number(n)];
      if (!formula) return '';
      const inText = html.lastIndexOf('>', offset) >= html.lastIndexOf('<', offset);
      return inText ? formula.html : escapeText(formula.tex);
    });
  }
}
