/**
 * The seam between publishing (store, service, API, viewer) and the notebook code beside it:
 * `validate.ts` (validateNotebook: bytes -> nbformat 4.5 notebook, or a NotebookError naming the
 * violation and its JSON path) and `render/` (a complete, sanitized, self-contained HTML page, and
 * PAGE_CSP, the Content-Security-Policy it needs).
 *
 * All of that work happens in worker threads (render/worker.ts), never on the event loop that also
 * proxies everyone's traffic, and at most `workers` at once: each worker may grow to a large heap, so
 * their number must not follow the number of requests. Up to `queue` more jobs wait their turn; past
 * that a job is refused with QueueFullError (the HTTP layers answer 503 with Retry-After).
 */
import { availableParallelism } from 'node:os';
import { PublicationError } from './errors.js';
import { NotebookError } from './validate.js';
import { PAGE_CSP, PAGE_CSS } from './render/index.js';
import { RenderAbortedError, runInWorker, type ScanResult } from './render/worker.js';
import { WorkQueue } from '../util/work-queue.js';

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

export interface CheckedNotebook {
  upgraded: boolean;
  /** The page (UTF-8), when one was asked for. */
  html: Buffer | null;
  scan: ScanResult;
}

export interface NotebookEngine {
  /**
   * Validate an upload, look for `secrets` and token-shaped strings in it, and render its page when
   * `page` is given, in one pass. Throws PublicationError: 'too-large' (413) or 'invalid' (400) with
   * the validator's message and JSON path; QueueFullError when too many jobs are waiting.
   */
  check(bytes: Uint8Array, maxBytes: number, options: { secrets: readonly string[]; page?: RenderOptions }): Promise<CheckedNotebook>;
  /** Validate stored bytes and render them as a page (UTF-8). Throws QueueFullError when too many jobs are waiting. */
  renderPage(bytes: Uint8Array, maxBytes: number, options: RenderOptions): Promise<Buffer>;
  /** The CSP rendered pages are served with; the viewer adds `sandbox` (never allow-same-origin). */
  contentSecurityPolicy: string;
  /** The stylesheet the pages inline (allowed by hash in the CSP), for the viewer's own small pages. */
  inlineCss: string;
  /** Jobs running and waiting now (for metrics and tests). */
  load(): { active: number; queued: number };
}

export interface EngineLimits {
  /** Render threads at once; default: one less than the CPUs, at least 1, at most 4. */
  workers?: number | undefined;
  /** Jobs that may wait for a thread; default 16. */
  queue?: number | undefined;
}

/** One thread fewer than the machine has CPUs, so the event loop keeps a core to itself. */
export function defaultRenderWorkers(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

/** validateNotebook's verdict as a PublicationError: 413 for size, 400 naming the violation and its JSON path. */
function asPublicationError(error: unknown): unknown {
  if (error instanceof NotebookError) {
    const where = error.position ? ` (line ${error.position.line}, column ${error.position.column})` : '';
    return new PublicationError(error.code === 'too_large' ? 'too-large' : 'invalid', `notebook: ${error.message}${where}`);
  }
  if (error instanceof RenderAbortedError) {
    return new PublicationError('invalid', `notebook: it could not be rendered (${error.message}); make it smaller, e.g. clear large outputs, and publish again`);
  }
  return error;
}

/** The engine Refinery runs with: validate.ts and render/, in bounded worker threads. */
export function notebookEngine(limits: EngineLimits = {}): NotebookEngine {
  const queue = new WorkQueue({ concurrency: limits.workers ?? defaultRenderWorkers(), maxWaiting: limits.queue ?? 16 });
  return {
    check: async (bytes, maxBytes, options) => {
      try {
        const result = await queue.run(() => runInWorker(bytes, { maxBytes }, options.page ?? null, { secrets: options.secrets }));
        return { upgraded: result.upgraded, html: result.html && asBuffer(result.html), scan: result.scan! };
      } catch (error) {
        throw asPublicationError(error);
      }
    },
    renderPage: async (bytes, maxBytes, options) => asBuffer((await queue.run(() => runInWorker(bytes, { maxBytes }, options, null))).html!),
    contentSecurityPolicy: PAGE_CSP,
    inlineCss: PAGE_CSS,
    load: () => ({ active: queue.active, queued: queue.queued }),
  };
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
