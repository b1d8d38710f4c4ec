/**
 * The one place HTML from a notebook is made safe: rendered markdown (which may contain raw HTML)
 * and `text/html` outputs. Built on sanitize-html, the sanitizer JupyterLab itself uses for untrusted
 * output, with a strict allowlist:
 *
 * - Elements: ordinary document markup (text, lists, tables, details, figures), `img` and checkbox
 *   `input`s (GFM task lists, always disabled). Nothing that runs, loads, embeds or submits: no
 *   script, style, link, meta, base, iframe, frame, object, embed, applet, form, button, textarea,
 *   select, template, audio, video, source, picture; and no foreign content (svg, math), so no
 *   namespace-confusion tricks. Elements whose content is code, metadata or foreign (script, style,
 *   template, svg, math, …) are dropped with their content; any other element not allowed is dropped
 *   and its text kept. (Formulas are typeset by KaTeX and put in after sanitizing: markdown.ts.)
 * - Attributes: a short list per element; no event handlers, no `style` (the page's CSP forbids
 *   inline styles anyway), no `srcset`, no `target`, no `form*` / `action`.
 * - URLs: links may be http(s), mailto, fragment or relative; images only `data:image/…;base64`
 *   (attachments are resolved to those first), since the page may load nothing. An image from
 *   anywhere else becomes a link to it, so the reader still finds it.
 * - Classes and ids: the page's own chrome uses the `rf-` prefix; content may not use it, so a
 *   notebook cannot dress itself up as the page's header or download link.
 *
 * Why the output is safe even where sanitize-html's tokenizer (htmlparser2) reads odd markup
 * differently from a browser: the output is not a filtered copy of the input but is written anew
 * from the tokens: allowed tags with allowed, escaped, double-quoted attributes, and escaped text.
 * None of the allowed elements changes how a browser tokenizes what follows it (no raw-text or
 * RCDATA elements are allowed), so the browser sees exactly the elements written.
 */
import sanitizeHtml from 'sanitize-html';
import type { IOptions, Attributes, Tag } from 'sanitize-html';
import { cleanBase64, joinText } from './escape.js';

const TEXT_TAGS = [
  'a', 'abbr', 'b', 'bdi', 'bdo', 'blockquote', 'br', 'caption', 'center', 'cite', 'code', 'col', 'colgroup',
  'dd', 'del', 'details', 'dfn', 'div', 'dl', 'dt', 'em', 'figcaption', 'figure', 'h1', 'h2', 'h3', 'h4', 'h5',
  'h6', 'hr', 'i', 'img', 'input', 'ins', 'kbd', 'li', 'mark', 'ol', 'p', 'pre', 'q', 'rp', 'rt', 'ruby', 's',
  'samp', 'small', 'span', 'strike', 'strong', 'sub', 'summary', 'sup', 'table', 'tbody', 'td', 'tfoot', 'th',
  'thead', 'time', 'tr', 'tt', 'u', 'ul', 'var', 'wbr',
];

/** Dropped together with everything inside them. */
const DROP_WITH_CONTENT = [
  'script', 'style', 'textarea', 'option', 'select', 'noscript', 'template', 'title', 'xmp', 'iframe', 'noembed',
  'noframes', 'object', 'embed', 'applet', 'svg', 'math', 'head', 'plaintext', 'frameset', 'button', 'datalist',
];

/** Image types a data: URI may carry (all are inert in <img>, SVG included: images never run script). */
const IMAGE_DATA_PREFIX = /^data:image\/(png|jpeg|gif|webp|bmp|avif|svg\+xml);base64,/i;

/** A data:image URI with valid base64, normalised (type in lower case, no whitespace), or null. */
function imageDataUri(value: string): string | null {
  const prefix = IMAGE_DATA_PREFIX.exec(value);
  if (!prefix) return null;
  const base64 = cleanBase64(value.slice(prefix[0].length));
  return base64 ? `data:image/${prefix[1]!.toLowerCase()};base64,${base64}` : null;
}

const ATTACHMENT_IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/bmp', 'image/avif', 'image/svg+xml'];

export interface SanitizeContext {
  /** The cell's attachments (`attachment:name` in markdown or raw HTML resolves to these). */
  attachments?: Record<string, unknown> | undefined;
}

/** An attachment as a data: URI, if it exists and holds an image; null otherwise. */
export function attachmentDataUri(attachments: Record<string, unknown> | undefined, name: string): string | null {
  if (!attachments || !Object.hasOwn(attachments, name)) return null;
  const bundle = attachments[name];
  if (typeof bundle !== 'object' || bundle === null || Array.isArray(bundle)) return null;
  for (const mime of ATTACHMENT_IMAGE_TYPES) {
    if (!Object.hasOwn(bundle, mime)) continue;
    const raw = joinText((bundle as Record<string, unknown>)[mime]);
    const base64 = mime === 'image/svg+xml' && raw.trimStart().startsWith('<') ? Buffer.from(raw, 'utf8').toString('base64') : cleanBase64(raw);
    if (base64) return `data:${mime};base64,${base64}`;
  }
  return null;
}

function imageSource(src: string | undefined, context: SanitizeContext): string | null {
  if (!src) return null;
  const value = src.trim();
  if (value.startsWith('attachment:')) {
    let name = value.slice('attachment:'.length);
    try {
      name = decodeURIComponent(name);
    } catch {
      // keep it as written
    }
    return attachmentDataUri(context.attachments, name);
  }
  return imageDataUri(value);
}

function withoutReservedPrefix(attribs: Attributes): Attributes {
  const out: Attributes = {};
  for (const [name, value] of Object.entries(attribs)) {
    if (name === 'id' && /^rf-/i.test(value.trim())) continue;
    out[name] = value;
  }
  return out;
}

/** The cell being sanitized (sanitize() is synchronous, so one shared options object suffices). */
let current: SanitizeContext = {};

/** allowedEmptyAttributes exists in sanitize-html 2.17 but not in its @types. */
type Options = IOptions & { allowedEmptyAttributes: string[] };

function buildOptions(): Options {
  const commonAttributes = ['class', 'id', 'title', 'lang', 'dir', 'aria-hidden', 'aria-label', 'role'];
  return {
    allowedTags: TEXT_TAGS,
    nonTextTags: DROP_WITH_CONTENT,
    disallowedTagsMode: 'discard',
    allowedAttributes: {
      '*': commonAttributes,
      a: ['href', 'name', 'rel'],
      img: ['src', 'alt', 'width', 'height'],
      input: [{ name: 'type', values: ['checkbox'], multiple: false }, 'checked', 'disabled'],
      table: ['border', 'cellpadding', 'cellspacing', 'align', 'width'],
      td: ['colspan', 'rowspan', 'align', 'valign', 'width', 'height'],
      th: ['colspan', 'rowspan', 'align', 'valign', 'width', 'height', 'scope'],
      tr: ['align', 'valign'],
      col: ['span', 'width', 'align'],
      colgroup: ['span', 'width', 'align'],
      ol: ['start', 'type', 'reversed'],
      ul: ['type'],
      li: ['value'],
      details: ['open'],
      time: ['datetime'],
      p: ['align'],
      div: ['align'],
      h1: ['align'],
      h2: ['align'],
      h3: ['align'],
      h4: ['align'],
      h5: ['align'],
      h6: ['align'],
    },
    allowedClasses: { '*': [/^(?!rf-)[A-Za-z0-9_-]{1,80}$/] },
    allowedSchemes: ['http', 'https', 'mailto'],
    allowedSchemesByTag: { img: ['data'] },
    allowedSchemesAppliedToAttributes: ['href', 'src'],
    allowProtocolRelative: true,
    allowedEmptyAttributes: ['alt', 'checked', 'disabled', 'open', 'reversed'],
    allowVulnerableTags: false,
    nestingLimit: 200,
    parser: { lowerCaseTags: true, lowerCaseAttributeNames: true, decodeEntities: true },
    transformTags: {
      '*': (tagName, attribs) => ({ tagName, attribs: withoutReservedPrefix(attribs) }),
      a: (tagName, attribs) => {
        const out: Attributes = { ...attribs };
        delete out.rel;
        const href = (attribs.href ?? '').trim();
        // Other sites get neither the page's address (it may be an unlisted link) nor a window handle.
        if (href && !href.startsWith('#')) out.rel = 'nofollow noopener noreferrer';
        return { tagName, attribs: out };
      },
      img: (tagName, attribs): Tag => {
        const src = imageSource(attribs.src, current);
        if (src) return { tagName, attribs: { ...attribs, src } as Attributes };
        const original = (attribs.src ?? '').trim();
        const label = `[image${attribs.alt ? `: ${attribs.alt}` : ''}]`;
        // Not loaded: the page may only show images it carries. Link to it instead when it is on the web.
        if (/^https?:\/\//i.test(original)) {
          return { tagName: 'a', attribs: { href: original, class: 'external-image', title: 'image not embedded in the notebook', rel: 'nofollow noopener noreferrer' }, text: label };
        }
        return { tagName: 'span', attribs: { class: 'missing-image', title: 'image not available' }, text: label };
      },
      input: (tagName, attribs) => {
        if ((attribs.type ?? '').toLowerCase() !== 'checkbox') return { tagName: 'span', attribs: {} };
        return { tagName, attribs: { ...attribs, type: 'checkbox', disabled: '' } };
      },
    },
  };
}

const OPTIONS = buildOptions();

/**
 * Nesting deeper than browsers build (Chromium stops nesting at 512) is refused before parsing:
 * htmlparser2 keeps its stack of open elements with Array#unshift, so N unclosed elements cost
 * O(N²) (160 kB of `<b><i>` takes seconds, a few MB would stall the process for hours).
 */
export const MAX_NESTING = 512;

const VOID_OR_AUTO_CLOSED = new Set([
  'area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr', 'param',
  'p', 'li', 'dt', 'dd', 'tr', 'td', 'th', 'option', 'optgroup', 'thead', 'tbody', 'tfoot', 'rb', 'rt', 'rp', 'colgroup',
]);

/**
 * Drop the parts whose `<` are not tags: comments, script and style bodies. Each dropped part ends
 * no later than the parser's own raw text ends (the first `-->`, `</script`, `</style`), so no tag
 * the parser sees is ever left uncounted; counting a few too many is harmless. indexOf only: linear.
 */
function withoutRawText(html: string): string {
  let out = '';
  let i = 0;
  for (;;) {
    const lt = html.indexOf('<', i);
    if (lt === -1) return out + html.slice(i);
    const head = html.slice(lt, lt + 8).toLowerCase();
    let end: number | null = null;
    if (head.startsWith('<!--')) {
      const close = html.indexOf('-->', lt + 4);
      end = close === -1 ? html.length : close + 3;
    } else {
      const raw = /^<(script|style)[\s/>]/.exec(head)?.[1];
      if (raw) {
        const close = raw === 'script' ? /<\/script/gi : /<\/style/gi;
        close.lastIndex = lt + raw.length + 1;
        const found = close.exec(html);
        end = found ? found.index + found[0].length : html.length;
      }
    }
    if (end === null) {
      out += html.slice(i, lt + 1);
      i = lt + 1;
    } else {
      out += html.slice(i, lt);
      i = end;
    }
  }
}

/** An upper bound on how deep the elements of a fragment nest (linear, no backtracking). */
export function nestingDepth(html: string): number {
  if (html.length < MAX_NESTING * 3) return 0;
  const text = html.includes('<!--') || /<(script|style)/i.test(html) ? withoutRawText(html) : html;
  let depth = 0;
  let max = 0;
  for (const m of text.matchAll(/<(\/?)([A-Za-z][A-Za-z0-9-]*)/g)) {
    const name = m[2]!.toLowerCase();
    if (VOID_OR_AUTO_CLOSED.has(name)) continue;
    if (m[1]) depth = Math.max(0, depth - 1);
    else if (++depth > max) max = depth;
  }
  return max;
}

/** Sanitized HTML, safe to place inside a `<div>` of the page. */
export function sanitize(html: string, context: SanitizeContext = {}): string {
  if (nestingDepth(html) > MAX_NESTING) {
    return `<span class="rf-note">This content is nested more than ${MAX_NESTING} levels deep and is not shown</span>`;
  }
  current = context;
  try {
    return sanitizeHtml(html, OPTIONS);
  } finally {
    current = {};
  }
}
