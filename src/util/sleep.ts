import { setTimeout as wait } from 'node:timers/promises';

/**
 * Wait `ms` (negative counts as 0). `keepAlive: false` for waits inside long-lived loops, so a pending
 * wait alone does not hold a stopping process open.
 */
export function sleep(ms: number, options: { keepAlive?: boolean } = {}): Promise<void> {
  return wait(Math.max(0, ms), undefined, { ref: options.keepAlive ?? true });
}
