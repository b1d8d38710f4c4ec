/**
 * Terminal text (streams, tracebacks, text/plain) → HTML, the way JupyterLab shows it: ANSI SGR
 * colours and styles become classes (`ansi-red-fg`, `ansi-bold`, `ansi-c208-fg` for the 256-colour
 * palette), never inline styles; 24-bit colours are mapped to the nearest palette colour so they need
 * no inline style either. anser parses the escape sequences; the text of each piece is escaped here,
 * and class names come only from the fixed set below.
 */
import { createRequire } from 'node:module';
import type AnserType from 'anser';
import { escapeText } from './escape.js';

// Loaded on the first text with an escape sequence.
const require = createRequire(import.meta.url);
let anserModule: typeof AnserType | undefined;
const anser = (): typeof AnserType => (anserModule ??= require('anser') as typeof AnserType);

const NAMES = ['black', 'red', 'green', 'yellow', 'blue', 'magenta', 'cyan', 'white'];

/** anser's colour name → our class stem, or null for anything unexpected. */
function colourClass(value: string | null, truecolor: string | null): string | null {
  if (!value) return null;
  let m = /^ansi-(black|red|green|yellow|blue|magenta|cyan|white)$/.exec(value);
  if (m) return `ansi-${m[1]}`;
  m = /^ansi-bright-(black|red|green|yellow|blue|magenta|cyan|white)$/.exec(value);
  if (m) return `ansi-${m[1]}-intense`;
  m = /^ansi-palette-(\d{1,3})$/.exec(value);
  if (m) return paletteClass(Number(m[1]));
  if (value === 'ansi-truecolor' && truecolor) {
    const rgb = truecolor.split(',').map((s) => Number(s.trim()));
    if (rgb.length === 3 && rgb.every((c) => Number.isInteger(c) && c >= 0 && c <= 255)) {
      return paletteClass(nearestPalette(rgb[0]!, rgb[1]!, rgb[2]!));
    }
  }
  return null;
}

function paletteClass(index: number): string | null {
  if (!Number.isInteger(index) || index < 0 || index > 255) return null;
  if (index < 8) return `ansi-${NAMES[index]}`;
  if (index < 16) return `ansi-${NAMES[index - 8]}-intense`;
  return `ansi-c${index}`;
}

const CUBE = [0, 95, 135, 175, 215, 255];

/** xterm's 256-colour palette entries 16–255 as RGB. */
export function paletteRgb(index: number): [number, number, number] {
  if (index >= 232) {
    const v = 8 + 10 * (index - 232);
    return [v, v, v];
  }
  const i = index - 16;
  return [CUBE[Math.floor(i / 36)]!, CUBE[Math.floor(i / 6) % 6]!, CUBE[i % 6]!];
}

function nearestPalette(r: number, g: number, b: number): number {
  let best = 16;
  let bestDistance = Infinity;
  for (let i = 16; i < 256; i++) {
    const [pr, pg, pb] = paletteRgb(i);
    const d = (pr - r) ** 2 + (pg - g) ** 2 + (pb - b) ** 2;
    if (d < bestDistance) {
      best = i;
      bestDistance = d;
    }
  }
  return best;
}

const DECORATIONS: Record<string, string> = {
  bold: 'ansi-bold',
  dim: 'ansi-dim',
  italic: 'ansi-italic',
  underline: 'ansi-underline',
  strikethrough: 'ansi-strike',
  hidden: 'ansi-hidden',
};

/** Escaped HTML for text that may hold ANSI escape sequences. */
export function ansiToHtml(text: string): string {
  if (!text.includes('\u001b')) return escapeText(text);
  const chunks = anser().ansiToJson(text, { use_classes: true, remove_empty: true });
  let out = '';
  for (const chunk of chunks) {
    if (!chunk.content) continue;
    const classes: string[] = [];
    // anser has already applied "reverse" (swapped the colours, black on white when there were none)
    const fg = colourClass(chunk.fg, chunk.fg === 'ansi-truecolor' ? chunk.fg_truecolor : null);
    const bg = colourClass(chunk.bg, chunk.bg === 'ansi-truecolor' ? chunk.bg_truecolor : null);
    const decorations = chunk.decorations ?? [];
    if (fg) classes.push(`${fg}-fg`);
    if (bg) classes.push(`${bg}-bg`);
    for (const d of decorations) {
      const cls = DECORATIONS[d];
      if (cls) classes.push(cls);
    }
    const content = escapeText(chunk.content);
    out += classes.length ? `<span class="${classes.join(' ')}">${content}</span>` : content;
  }
  return out;
}

/**
 * What a terminal would show for text with carriage returns and backspaces (progress bars): a `\r`
 * returns to the start of the line and what follows overwrites it; a backspace removes the character
 * before it. JupyterLab does the same for stream output (`removeOverwrittenChars`). Linear time.
 */
export function applyOverwrites(text: string): string {
  if (!text.includes('\r') && !text.includes('\b')) return text;
  const lines = text.replace(/\r+\n/g, '\n').split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (line.includes('\r')) {
      let shown = '';
      for (const part of line.split('\r')) shown = part + shown.slice(part.length);
      line = shown;
    }
    if (line.includes('\b')) {
      const chars: string[] = [];
      for (const ch of line) {
        if (ch === '\b') chars.pop();
        else chars.push(ch);
      }
      line = chars.join('');
    }
    lines[i] = line;
  }
  return lines.join('\n');
}

/** CSS for the 256-colour palette classes (entries 16–255; 0–15 are themed in the stylesheet). */
export function paletteCss(): string {
  let css = '';
  for (let i = 16; i < 256; i++) {
    const hex = `#${paletteRgb(i)
      .map((c) => c.toString(16).padStart(2, '0'))
      .join('')}`;
    css += `.ansi-c${i}-fg{color:${hex}}.ansi-c${i}-bg{background-color:${hex}}\n`;
  }
  return css;
}
