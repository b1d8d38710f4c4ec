import type { IncomingHttpHeaders } from 'node:http';

/**
 * Fetch Metadata (`Sec-Fetch-Site`, `-Mode`, `-Dest`): what kind of request a browser is making and
 * from where. Browsers send the three together, and only to secure contexts (https, or http on
 * localhost); a request without `Sec-Fetch-Site` comes from another kind of client or from a browser
 * on plain http, and tells us nothing.
 */
export interface FetchMetadata {
  /** `same-origin`, `same-site`, `cross-site` or `none` (typed in, bookmark). */
  site: string;
  /** `navigate`, `cors`, `same-origin`, `no-cors` or `websocket`. */
  mode: string;
  /** `document`, `iframe`, `empty` (fetch, XHR, EventSource), `image`, `script`, … */
  dest: string;
}

function single(value: string | string[] | undefined): string {
  return (Array.isArray(value) ? value[0] : value)?.trim().toLowerCase() ?? '';
}

export function fetchMetadataOf(headers: IncomingHttpHeaders): FetchMetadata | undefined {
  const site = single(headers['sec-fetch-site']);
  if (!site) return undefined;
  return { site, mode: single(headers['sec-fetch-mode']), dest: single(headers['sec-fetch-dest']) };
}

/**
 * A top-level page load (a link followed, a form submitted, an address typed): the browser shows the
 * answer to the person, and no script of the page that started it can read it (frames are refused
 * by our pages' frame-ancestors; a window opened by script is the exception path mode cannot close).
 */
export function isTopLevelNavigation(meta: FetchMetadata): boolean {
  return meta.mode === 'navigate' && (meta.dest === 'document' || meta.dest === '');
}
