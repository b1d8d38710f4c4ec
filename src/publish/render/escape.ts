/**
 * Escaping for everything the renderer writes itself. Every piece of notebook data that the renderer
 * puts into the page (text, attribute values, class names, ids) goes through one of these; HTML from
 * the notebook goes through sanitize.ts instead.
 */
import escapeHtmlLib from 'escape-html';

/**
 * Characters that HTML does not allow in a document (C0 controls other than tab, LF, FF, CR, and DEL;
 * a parser reports them as errors). Notebook streams do contain them (a stray BEL, backspaces, the
 * remains of terminal escapes), so they are shown as U+FFFD instead, which keeps the page well-formed.
 */
const CONTROL = /[\u0000-\u0008\u000B\u000E-\u001F\u007F]/g;

/** Text content: `&`, `<`, `>`, quotes escaped; control characters replaced. */
export function escapeText(value: unknown): string {
  return escapeHtmlLib(String(value ?? '').replace(CONTROL, '\uFFFD'));
}

/** The same replacement of control characters, for text that another library escapes. */
export function replaceControls(text: string): string {
  return text.replace(CONTROL, '\uFFFD');
}

/** An attribute value, to be written between double quotes. */
export const escapeAttr = escapeText;

/** A string, or nbformat's list of lines, as one string. Anything else becomes ''. */
export function joinText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.filter((v) => typeof v === 'string').join('');
  return '';
}

/** `class` values the renderer derives from data are restricted to a safe alphabet. */
export function classToken(value: string): string {
  return value.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40);
}

/** Anything but the base64 alphabet (a negated class scans a 20 kB image ~10x faster than an anchored match). */
const NOT_BASE64 = /[^A-Za-z0-9+/=]/;

/** Base64 as stored in a notebook (possibly split over lines) → one clean string, or null if it is not base64. */
export function cleanBase64(value: string): string | null {
  let s = value;
  if (NOT_BASE64.test(s)) {
    s = s.replace(/\s+/g, '');
    if (NOT_BASE64.test(s)) return null;
  }
  const pad = s.indexOf('=');
  if (!s || (pad !== -1 && (pad < s.length - 2 || (pad === s.length - 2 && s[s.length - 1] !== '=')))) return null;
  return s;
}
