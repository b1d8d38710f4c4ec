import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TmpDir {
  /** Absolute path of the new, empty directory. */
  path: string;
  /** Remove the directory and everything in it. Safe to call twice. */
  cleanup(): Promise<void>;
}

/**
 * A fresh empty directory under the OS temp dir, named `refinery-<prefix>-XXXXXX`.
 *
 *   const dir = await tmpDir('spawner');
 *   after(() => dir.cleanup());
 */
export async function tmpDir(prefix = 'test'): Promise<TmpDir> {
  const safe = prefix.replace(/[^A-Za-z0-9_.-]/g, '_');
  const path = await mkdtemp(join(tmpdir(), `refinery-${safe}-`));
  return {
    path,
    cleanup: () => rm(path, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }),
  };
}

export interface WaitForOptions {
  /** Give up after this long (default 10 000 ms). */
  timeoutMs?: number;
  /** Pause between attempts (default 100 ms). */
  intervalMs?: number;
  /** What we were waiting for, for the error message: "server to answer on /api". */
  message?: string;
}

/**
 * Call `fn` until it returns a truthy value (returned) or the time runs out (throws). A throw from
 * `fn` counts as "not yet"; the last one is included in the timeout error, which is usually the
 * most useful part of it.
 *
 *   const res = await waitFor(() => fetch(url).then((r) => r.ok && r), { message: `${url} to answer` });
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  options: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 100;
  const started = Date.now();
  let attempts = 0;
  let lastError: unknown;
  let lastValue: unknown;
  for (;;) {
    attempts += 1;
    try {
      const value = await fn();
      if (value) return value as NonNullable<T>;
      lastValue = value;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    const elapsed = Date.now() - started;
    if (elapsed >= timeoutMs) {
      const what = options.message ?? 'condition';
      const last =
        lastError !== undefined
          ? `last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`
          : `last value: ${JSON.stringify(lastValue) ?? String(lastValue)}`;
      throw new Error(
        `timed out after ${elapsed} ms (${attempts} attempts) waiting for ${what}; ${last}`,
        lastError !== undefined ? { cause: lastError } : undefined,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, Math.max(0, timeoutMs - elapsed))));
  }
}
