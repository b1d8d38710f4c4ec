/**
 * The page's stylesheet and the Content-Security-Policy that goes with it.
 *
 * The stylesheet (src/publish/static/notebook.css plus the generated 256-colour ANSI palette) is
 * inlined in a single <style> element and allowed by its sha256 hash, so a published page is one
 * self-contained response: no stylesheet, font or script request, nothing for the viewer to serve
 * besides the page. Style attributes stay forbidden (a hash never allows them) and nothing on the
 * page uses one.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { paletteCss } from './ansi.js';

/** src/publish/static (the compiled module in dist/ points back at the sources, like src/web does). */
export function staticDir(): string {
  const here = dirname(fileURLToPath(import.meta.url)); // src/publish/render or dist/src/publish/render
  const fromDist = join('dist', 'src');
  const srcDir = here.includes(fromDist) ? here.replace(fromDist, 'src') : here;
  return join(srcDir, '..', 'static');
}

function load(): { css: string; hash: string } {
  const css = `${readFileSync(join(staticDir(), 'notebook.css'), 'utf8').trim()}\n${paletteCss()}`;
  if (/<\/style/i.test(css)) throw new Error('notebook.css must not contain "</style"');
  return { css, hash: `sha256-${createHash('sha256').update(css, 'utf8').digest('base64')}` };
}

const { css, hash } = load();

/** The CSS inlined into every page. */
export const PAGE_CSS = css;

/** The CSP source expression that allows exactly PAGE_CSS. */
export const PAGE_CSS_HASH = hash;

/**
 * The Content-Security-Policy a rendered page needs, and the strictest it works with:
 * - `default-src 'none'`: no script of any kind, no fetch, no frame, no font, no media;
 * - `style-src 'sha256-…'`: only the page's own <style> element; no other <style>, no style="";
 * - `img-src data:`: images are data: URIs carried by the notebook;
 * - `base-uri 'none'`, `form-action 'none'`: not covered by default-src, closed anyway;
 * - `frame-ancestors 'none'`: nobody frames the page (clickjacking); drop it to allow embedding.
 * Serve it as a header. A `sandbox` directive may be added on top: the page needs only
 * `allow-downloads` (for its Download link); links to other sites open in the same tab.
 */
export const PAGE_CSP = [
  "default-src 'none'",
  `style-src '${hash}'`,
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
