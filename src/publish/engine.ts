/**
 * The seam between publishing (store, service, API, viewer) and the notebook code beside it:
 * `validate.ts` (validateNotebook: bytes -> nbformat 4.5 notebook, or a NotebookError naming the
 * violation and its JSON path) and `render/` (renderInWorker: bytes -> a complete, sanitized,
 * self-contained HTML page, and PAGE_CSP, the Content-Security-Policy it needs).
 */
import { PublicationError } from './service.js';
import { NotebookError, validateNotebook, type Notebook } from './validate.js';
import { PAGE_CSP, PAGE_CSS } from './render/index.js';
import { renderInWorker } from './render/worker.js';

export interface RenderOptions {
  title: string;
  /** Where the page's download link points (a path on the page's origin). */
  downloadUrl: string;
  /** The file name the browser suggests for the download. */
  downloadName: string;
  version: number;
  published: string;
  author: string;
}

export interface NotebookEngine {
  /** Throws PublicationError: 'too-large' (413) or 'invalid' (400) with the validator's message and JSON path. */
  validate(bytes: Uint8Array, maxBytes: number): Promise<{ notebook: unknown; upgraded: boolean }>;
  /** Validate stored bytes and render them as a page, off the event loop and with a deadline. */
  renderPage(bytes: Uint8Array, maxBytes: number, options: RenderOptions): Promise<string>;
  /** The CSP rendered pages are served with; the viewer adds `sandbox` (never allow-same-origin). */
  contentSecurityPolicy: string;
  /** The stylesheet the pages inline (allowed by hash in the CSP), for the viewer's own small pages. */
  inlineCss: string;
}

/** validateNotebook's verdict as a PublicationError: 413 for size, 400 naming the violation and its JSON path. */
export function checkNotebook(bytes: Uint8Array, maxBytes: number): { notebook: Notebook; upgraded: boolean } {
  try {
    const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const { notebook, upgraded } = validateNotebook(buffer, { maxBytes });
    return { notebook, upgraded };
  } catch (error) {
    if (error instanceof NotebookError) {
      const where = error.position ? ` (line ${error.position.line}, column ${error.position.column})` : '';
      throw new PublicationError(error.code === 'too_large' ? 'too-large' : 'invalid', `notebook: ${error.message}${where}`);
    }
    throw error;
  }
}

/** The engine Refinery runs with: validate.ts and render/. */
export function notebookEngine(): NotebookEngine {
  return {
    validate: async (bytes, maxBytes) => checkNotebook(bytes, maxBytes),
    renderPage: async (bytes, maxBytes, options) => (await renderInWorker(bytes, { maxBytes }, options)).html,
    contentSecurityPolicy: PAGE_CSP,
    inlineCss: PAGE_CSS,
  };
}
