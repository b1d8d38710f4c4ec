import type { Logger } from '../log.js';

/**
 * A progress reporter for a start (server or cluster): whole percentages that only move forward
 * and stop at 100, passed to a listener whose exceptions are logged, never thrown into the start.
 */
export function forwardProgress(listener: (event: { progress: number; message: string }) => void, log: Logger): (value: number, message: string) => void {
  let last = 0;
  return (value, message) => {
    last = Math.max(last, Math.min(100, Math.floor(value)));
    try {
      listener({ progress: last, message });
    } catch (err) {
      log.warn({ err }, 'onProgress listener threw');
    }
  };
}
