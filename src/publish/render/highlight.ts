/**
 * Syntax highlighting with highlight.js on the server: its output is the code, escaped, in
 * `<span class="hljs-…">`s (classes only, no inline styles), coloured by the page's stylesheet.
 *
 * Only the grammars a page needs are loaded (highlight.js/lib/core plus one file per language, on
 * first use), which keeps start-up short: loading all ~190 grammars costs more than rendering a large
 * notebook. Language names come from the notebook (`language_info`, kernelspec, a fence's info
 * string), so they are only ever used as keys into the list of grammar files that exist.
 */
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { HLJSApi, LanguageFn } from 'highlight.js';
import { escapeText, replaceControls } from './escape.js';

const require = createRequire(import.meta.url);
const hljs = require('highlight.js/lib/core') as HLJSApi;
const grammarDir = join(dirname(require.resolve('highlight.js/lib/core')), 'languages');
const grammars = new Set(
  readdirSync(grammarDir)
    .filter((f) => /^[a-z0-9-]+\.js$/.test(f))
    .map((f) => f.slice(0, -3)),
);

/** Names Jupyter kernels, pygments and fences use, where they differ from highlight.js's file names. */
const ALIASES: Record<string, string> = {
  python2: 'python',
  python3: 'python',
  py: 'python',
  ipython: 'python',
  ipython2: 'python',
  ipython3: 'python',
  sage: 'python',
  sagemath: 'python',
  xonsh: 'python',
  pyspark: 'python',
  sh: 'bash',
  zsh: 'bash',
  console: 'shell',
  js: 'javascript',
  node: 'javascript',
  nodejs: 'javascript',
  jsx: 'javascript',
  ts: 'typescript',
  tsx: 'typescript',
  'c++': 'cpp',
  'c++11': 'cpp',
  'c++14': 'cpp',
  'c++17': 'cpp',
  'c++20': 'cpp',
  'c++23': 'cpp',
  cling: 'cpp',
  cc: 'cpp',
  h: 'c',
  'c#': 'csharp',
  cs: 'csharp',
  '.net-csharp': 'csharp',
  'f#': 'fsharp',
  fs: 'fsharp',
  '.net-fsharp': 'fsharp',
  pwsh: 'powershell',
  '.net-powershell': 'powershell',
  ps1: 'powershell',
  golang: 'go',
  rs: 'rust',
  rb: 'ruby',
  kt: 'kotlin',
  hs: 'haskell',
  jl: 'julia',
  octave: 'matlab',
  wolfram: 'mathematica',
  'wolfram language': 'mathematica',
  wl: 'mathematica',
  racket: 'scheme',
  clj: 'clojure',
  tex: 'latex',
  md: 'markdown',
  html: 'xml',
  svg: 'xml',
  yml: 'yaml',
  postgresql: 'pgsql',
  postgres: 'pgsql',
  sparql: 'sql',
  mysql: 'sql',
  sqlite: 'sql',
  text: 'plaintext',
  txt: 'plaintext',
  plain: 'plaintext',
};

const loaded = new Map<string, string | null>();

/** The highlight.js language for a name from the notebook, loading its grammar; null if none fits. */
export function resolveLanguage(name: unknown): string | null {
  if (typeof name !== 'string') return null;
  const key = name.trim().toLowerCase().replace(/^\./, '');
  if (!key || key.length > 40) return null;
  const cached = loaded.get(key);
  if (cached !== undefined) return cached;
  let result: string | null = null;
  const file = ALIASES[key] ?? key;
  if (Object.hasOwn(ALIASES, key) || grammars.has(file)) {
    if (grammars.has(file)) {
      if (!hljs.getLanguage(file)) {
        const mod = require(join(grammarDir, `${file}.js`)) as LanguageFn | { default: LanguageFn };
        hljs.registerLanguage(file, typeof mod === 'function' ? mod : mod.default);
      }
      result = file;
    }
  } else if (hljs.getLanguage(key)) {
    // an alias declared by an already-loaded grammar (e.g. "rscript" once R is loaded)
    result = key;
  }
  if (loaded.size < 1000) loaded.set(key, result);
  return result;
}

/**
 * Some highlight.js grammars take seconds on crafted input (C#: 50 kB of short words takes ~5 s;
 * C++, R, Java, Clojure: long identifiers or brackets cost quadratic time), and a call cannot be
 * interrupted. So one page gets a budget: code longer than `cellLength` is not highlighted, and
 * once highlighting has taken `pageMs` in total, the rest of the page is shown uncoloured. Real
 * notebooks use a few percent of it (400 code cells: ~100 ms).
 */
export const HIGHLIGHT_LIMITS = { cellLength: 20_000, pageMs: 1_500 };

/** Highlighting time spent by one page render. */
export class HighlightBudget {
  spentMs = 0;
  get exhausted(): boolean {
    return this.spentMs >= HIGHLIGHT_LIMITS.pageMs;
  }
}

/** HTML for the inside of a `<code>`: highlighted when the language is known, else escaped text. */
export function highlightCode(code: string, language: string | null, budget?: HighlightBudget): string {
  if (!language || language === 'plaintext' || code.length > HIGHLIGHT_LIMITS.cellLength || budget?.exhausted) return escapeText(code);
  const start = performance.now();
  try {
    return hljs.highlight(replaceControls(code), { language, ignoreIllegals: true }).value;
  } catch {
    return escapeText(code);
  } finally {
    if (budget) budget.spentMs += performance.now() - start;
  }
}

/** The notebook's language, from the places Jupyter records it, most specific first. */
export function notebookLanguage(metadata: Record<string, unknown> | undefined): string | null {
  const info = (metadata?.language_info ?? {}) as Record<string, unknown>;
  const kernel = (metadata?.kernelspec ?? {}) as Record<string, unknown>;
  const mode = info.codemirror_mode;
  const candidates = [
    info.name,
    typeof mode === 'object' && mode !== null ? (mode as Record<string, unknown>).name : mode,
    info.pygments_lexer,
    kernel.language,
    info.file_extension,
  ];
  for (const c of candidates) {
    const lang = resolveLanguage(c);
    if (lang) return lang;
  }
  return null;
}
