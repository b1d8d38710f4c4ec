/**
 * Validate and render off the main thread, with a deadline.
 *
 * validateNotebook and renderNotebook are synchronous and CPU-bound: a large notebook takes a few
 * hundred milliseconds, a hostile one up to a few seconds (the renderer bounds its own work, see
 * HIGHLIGHT_LIMITS, MATH_LIMITS, MAX_NESTING). In a server that also proxies every user's traffic,
 * that time should not be spent on the event loop. renderInWorker runs both in a worker thread,
 * ends it at the deadline, and caps its memory.
 *
 *   const { html } = await renderInWorker(bytes, { maxBytes: 25_000_000 }, { title, downloadUrl });
 *
 * A NotebookError from the worker is rethrown as a NotebookError; a deadline or memory overrun is a
 * RenderAbortedError. One worker per call (~100 ms to start); pages are meant to be cached.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { NotebookError, validateNotebook, type NotebookErrorCode, type ValidationLimits } from '../validate.js';
import { renderNotebook, type RenderOptions } from './index.js';

export class RenderAbortedError extends Error {
  override readonly name = 'RenderAbortedError';
}

interface Job {
  refineryRenderJob: true;
  bytes: Uint8Array;
  limits: ValidationLimits;
  options: RenderOptions;
}

type Reply =
  | { ok: true; html: string; upgraded: boolean; changes: string[] }
  | { ok: false; notebookError?: { code: NotebookErrorCode; reason: string; path: string; position?: { line: number; column: number } }; message: string };

export interface WorkerLimits {
  /** Deadline for validating and rendering (default 30 s). */
  timeoutMs?: number;
  /** Heap limit of the worker in MB (default 2048: a 25 MB notebook parses into a few hundred MB). */
  maxHeapMb?: number;
}

export function renderInWorker(
  bytes: Uint8Array,
  limits: ValidationLimits,
  options: RenderOptions,
  workerLimits: WorkerLimits = {},
): Promise<{ html: string; upgraded: boolean; changes: string[] }> {
  const job: Job = { refineryRenderJob: true, bytes, limits, options };
  const worker = new Worker(new URL(import.meta.url), {
    workerData: job,
    resourceLimits: { maxOldGenerationSizeMb: workerLimits.maxHeapMb ?? 2048 },
    stdout: false,
    stderr: false,
  });
  const timeoutMs = workerLimits.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
      void worker.terminate();
    };
    const timer = setTimeout(() => finish(() => reject(new RenderAbortedError(`rendering took longer than ${timeoutMs} ms`))), timeoutMs);
    worker.once('message', (reply: Reply) =>
      finish(() => {
        if (reply.ok) resolve({ html: reply.html, upgraded: reply.upgraded, changes: reply.changes });
        else if (reply.notebookError) {
          const e = reply.notebookError;
          reject(new NotebookError(e.code, e.reason, e.path, e.position));
        } else reject(new Error(reply.message));
      }),
    );
    worker.once('error', (err) =>
      finish(() => reject(/ERR_WORKER_OUT_OF_MEMORY/.test(String((err as { code?: string }).code)) ? new RenderAbortedError('rendering ran out of memory') : err)),
    );
    worker.once('exit', (code) => finish(() => reject(new RenderAbortedError(`the render worker exited (${code})`))));
  });
}

// In the worker: do the job and post the result.
const job = workerData as Job | undefined;
if (!isMainThread && parentPort && job?.refineryRenderJob) {
  let reply: Reply;
  try {
    const { notebook, upgraded, changes } = validateNotebook(Buffer.from(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength), job.limits);
    reply = { ok: true, html: renderNotebook(notebook, job.options), upgraded, changes };
  } catch (err) {
    reply =
      err instanceof NotebookError
        ? { ok: false, message: err.message, notebookError: { code: err.code, reason: err.reason, path: err.path, ...(err.position ? { position: err.position } : {}) } }
        : { ok: false, message: err instanceof Error ? err.message : String(err) };
  }
  parentPort.postMessage(reply);
}
