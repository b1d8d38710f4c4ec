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
 * RenderAbortedError. One worker per call (~100 ms to start): callers bound how many run at once
 * (engine.ts) and keep what they render (publish/service.ts).
 *
 * Without render options the worker only validates. With `scan`, it also reports whether the text
 * holds one of the given secrets, and the SHA-256 of every token-shaped string in it (so the caller
 * can compare them with live API tokens without the notebook's text ever reaching the event loop).
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { NotebookError, validateNotebook, type NotebookErrorCode, type ValidationLimits } from '../validate.js';
import { renderNotebook, type RenderOptions } from './index.js';
import { hashSecret } from '../../auth/secrets.js';

export class RenderAbortedError extends Error {
  override readonly name = 'RenderAbortedError';
}

interface Job {
  refineryRenderJob: true;
  bytes: Uint8Array;
  limits: ValidationLimits;
  options: RenderOptions | null;
  scan: ScanRequest | null;
}

/** What to look for in the notebook's text besides validating it. */
export interface ScanRequest {
  /** Strings that must not appear (at least 8 characters each; shorter ones are ignored). */
  secrets: readonly string[];
}

export interface ScanResult {
  /** One of `secrets` occurs in the text. */
  secretFound: boolean;
  /** SHA-256 (hex) of each distinct token-shaped string (32 hex digits), at most MAX_TOKEN_CANDIDATES. */
  tokenHashes: string[];
}

export interface WorkerResult {
  /** The page as UTF-8, when render options were given (bytes, moved rather than copied out of the worker). */
  html: Uint8Array | null;
  upgraded: boolean;
  changes: string[];
  scan: ScanResult | null;
}

/** Hub API tokens are 32 lowercase hex digits (as JupyterHub's are). */
const TOKEN_SHAPED = /(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])/g;
/** A notebook full of hashes gets the first this many checked; enough for anything a person pastes by accident. */
export const MAX_TOKEN_CANDIDATES = 2000;

type Reply =
  | ({ ok: true } & WorkerResult)
  | { ok: false; notebookError?: { code: NotebookErrorCode; reason: string; path: string; position?: { line: number; column: number } }; message: string };

export interface WorkerLimits {
  /** Deadline for validating and rendering (default 30 s). */
  timeoutMs?: number;
  /** Heap limit of the worker in MB (default 2048: a 25 MB notebook parses into a few hundred MB). */
  maxHeapMb?: number;
}

export async function renderInWorker(
  bytes: Uint8Array,
  limits: ValidationLimits,
  options: RenderOptions,
  workerLimits: WorkerLimits = {},
): Promise<{ html: string; upgraded: boolean; changes: string[] }> {
  const result = await runInWorker(bytes, limits, options, null, workerLimits);
  return { html: Buffer.from(result.html!.buffer, result.html!.byteOffset, result.html!.byteLength).toString('utf8'), upgraded: result.upgraded, changes: result.changes };
}

/** Validate, then (as asked) scan and render, in a worker thread with a deadline and a heap cap. */
export function runInWorker(
  bytes: Uint8Array,
  limits: ValidationLimits,
  options: RenderOptions | null,
  scan: ScanRequest | null,
  workerLimits: WorkerLimits = {},
): Promise<WorkerResult> {
  const job: Job = { refineryRenderJob: true, bytes, limits, options, scan };
  const worker = new Worker(new URL(import.meta.url), {
    workerData: job,
    resourceLimits: { maxOldGenerationSizeMb: workerLimits.maxHeapMb ?? 2048 },
    stdout: false,
    stderr: false,
  });
  const timeoutMs = workerLimits.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    let settled = false;
    // settled only once the thread is gone: whoever bounds the number of render threads (engine.ts)
    // must not start the next one while this one still holds its heap
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      worker.terminate().then(fn, fn);
    };
    const timer = setTimeout(() => finish(() => reject(new RenderAbortedError(`rendering took longer than ${timeoutMs} ms`))), timeoutMs);
    worker.once('message', (reply: Reply) =>
      finish(() => {
        if (reply.ok) resolve({ html: reply.html, upgraded: reply.upgraded, changes: reply.changes, scan: reply.scan });
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
    const buffer = Buffer.from(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength);
    const { notebook, upgraded, changes } = validateNotebook(buffer, job.limits);
    const scan = job.scan ? scanText(buffer.toString('utf8'), job.scan) : null;
    // a fresh ArrayBuffer of its own (never Buffer's shared pool), so it can be transferred
    const html = job.options ? new TextEncoder().encode(renderNotebook(notebook, job.options)) : null;
    reply = { ok: true, html, upgraded, changes, scan };
  } catch (err) {
    reply =
      err instanceof NotebookError
        ? { ok: false, message: err.message, notebookError: { code: err.code, reason: err.reason, path: err.path, ...(err.position ? { position: err.position } : {}) } }
        : { ok: false, message: err instanceof Error ? err.message : String(err) };
  }
  parentPort.postMessage(reply, reply.ok && reply.html ? [reply.html.buffer as ArrayBuffer] : []);
}

function scanText(text: string, request: ScanRequest): ScanResult {
  const secretFound = request.secrets.some((secret) => secret.length >= 8 && text.includes(secret));
  const seen = new Set<string>();
  for (const match of text.matchAll(TOKEN_SHAPED)) {
    seen.add(match[0]);
    if (seen.size >= MAX_TOKEN_CANDIDATES) break;
  }
  return { secretFound, tokenHashes: [...seen].map(hashSecret) };
}
