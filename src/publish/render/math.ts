/**
 * LaTeX → MathML with KaTeX, on the server, so the page needs no script and no fonts.
 *
 * Why MathML (`output: 'mathml'`) and not KaTeX's HTML output: the HTML output positions glyphs with
 * inline `style="height:…; vertical-align:…"` attributes and needs KaTeX's stylesheet and web fonts;
 * the page's Content-Security-Policy would then need `style-src 'unsafe-inline'` (or 'unsafe-hashes')
 * and a font source. MathML needs neither: every current browser lays it out natively (Chromium
 * 109+, Firefox, Safari), with the reader's math font. The TeX source stays in an `<annotation>`, so
 * copy-and-paste and screen readers keep working.
 *
 * `trust: false` (KaTeX's default, spelled out): \href, \url, \includegraphics, \htmlId, \htmlClass,
 * \htmlStyle and \htmlData render as red error text, never as links, images or attributes.
 * Macros defined with \newcommand / \def persist across the expressions of one notebook (as they do
 * with MathJax in JupyterLab), never across notebooks: each render starts a new MathContext.
 */
import { createRequire } from 'node:module';
import type Katex from 'katex';
import { escapeText } from './escape.js';

// Loaded on the first formula: a notebook without math does not pay for KaTeX at start-up.
const require = createRequire(import.meta.url);
let katexModule: typeof Katex | undefined;
const katex = (): typeof Katex => (katexModule ??= require('katex') as typeof Katex);

export class MathContext {
  /** KaTeX stores \newcommand / \gdef definitions here; shared by all expressions of one notebook. */
  readonly macros: Record<string, string> = Object.create(null) as Record<string, string>;
  expressions = 0;
  texLength = 0;
}

/**
 * Bounds on the typesetting work for one page (KaTeX takes ~0.1–0.3 ms per formula, so this is about
 * a second at most): past them, formulas are shown as their TeX source. Real notebooks stay far below.
 */
export const MATH_LIMITS = { expressionLength: 20_000, expressions: 5_000, totalLength: 1_000_000 };

/**
 * MathML for one expression. `display` expressions are wrapped in a block; `inParagraph` makes that
 * block a <span> (styled as a block) so `$$…$$` inside a paragraph does not break the paragraph.
 */
export function renderMath(tex: string, displayMode: boolean, context: MathContext, inParagraph = false): string {
  context.expressions += 1;
  context.texLength += tex.length;
  if (tex.length > MATH_LIMITS.expressionLength) return sourceHtml(tex, 'expression too long to typeset');
  if (context.expressions > MATH_LIMITS.expressions || context.texLength > MATH_LIMITS.totalLength) {
    return sourceHtml(tex, 'too many formulas on one page to typeset them all');
  }
  let source = tex;
  let out: string | undefined;
  // MathJax (JupyterLab) lets \newcommand redefine a command, KaTeX refuses ("attempting to redefine
  // \R; use \renewcommand"), and notebooks often start with \newcommand{\R}{\mathbb{R}}. So a
  // refused \newcommand is retried as \renewcommand, the way MathJax would have taken it.
  for (let attempt = 0; attempt < 8 && out === undefined; attempt++) {
    try {
      out = katex().renderToString(source, {
        displayMode,
        output: 'mathml',
        throwOnError: true,
        trust: false,
        strict: 'ignore',
        macros: context.macros,
        globalGroup: true,
        maxExpand: 1000,
        maxSize: 100,
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const redefined = /\\newcommand\{(\\[A-Za-z]+|\\.)\} attempting to redefine/.exec(message)?.[1];
      const replaced = redefined ? source.split(`\\newcommand{${redefined}}`).join(`\\renewcommand{${redefined}}`) : source;
      if (replaced === source) return errorHtml(tex, message);
      source = replaced;
    }
  }
  if (out === undefined) return errorHtml(tex, 'could not typeset');
  // KaTeX writes empty MathML elements as `<mspace .../>`. Browsers honour that self-closing syntax
  // inside <math>, but the sanitizer's HTML tokenizer does not, and would nest the following siblings
  // inside the mspace. Write them with an end tag instead.
  out = out.replace(/<(m[a-z]+)((?:\s[^<>]*)?)\/>/g, '<$1$2></$1>');
  if (!displayMode) return out;
  return inParagraph ? `<span class="math-display">${out}</span>` : `<div class="math-display">${out}</div>`;
}

function sourceHtml(tex: string, why: string): string {
  return `<code class="math-source" title="${escapeText(why)}">${escapeText(tex)}</code>`;
}

/** How KaTeX shows an error with throwOnError off: the source in red, the message as its title. */
function errorHtml(tex: string, message: string): string {
  return `<span class="katex-error" title="${escapeText(message)}">${escapeText(tex)}</span>`;
}

/**
 * A text/latex output: usually `$$…$$`, `$…$`, `\[…\]`, `\(…\)` or a bare `\begin{…}…\end{…}`.
 * Returns null when the text is not a single math expression (then it is rendered as markdown,
 * which typesets the math parts).
 */
export function latexOutputExpression(text: string): { tex: string; display: boolean } | null {
  const t = text.trim();
  const pairs: [string, string, boolean][] = [
    ['$$', '$$', true],
    ['\\[', '\\]', true],
    ['\\(', '\\)', false],
    ['$', '$', false],
  ];
  for (const [open, close, display] of pairs) {
    if (t.length > open.length + close.length && t.startsWith(open) && t.endsWith(close)) {
      const inner = t.slice(open.length, t.length - close.length);
      if (!inner.includes(open) && !inner.includes(close)) return { tex: inner, display };
    }
  }
  if (/^\\begin\{([a-zA-Z*]+)\}[\s\S]*\\end\{\1\}$/.test(t)) return { tex: t, display: true };
  return null;
}
