/**
 * How many local servers start at once. A server's start is a burst of CPU (Python imports,
 * extension discovery); when a class of 64 asks at the same moment, 64 starts share the machine
 * evenly and every one of them finishes near the end, so all risk the start timeout together, and
 * the memory of 64 half-started interpreters is in use at once. Starting a few at a time, oldest
 * request first, gets the same work done with each start short, and the people further back see
 * where they are in the queue.
 *
 * First come, first served; a cancelled wait leaves the queue at once.
 */
import { availableParallelism } from 'node:os';

/** Where a waiting start stands: how many starts are before it (running ones not counted). */
export type QueuePosition = { ahead: number; running: number; limit: number };

interface Waiter {
  resolve: (release: () => void) => void;
  reject: (error: Error) => void;
  onPosition: (position: QueuePosition) => void;
}

/** The default: twice the CPUs, at least 2. A start is short but not all CPU (it reads files, waits on sockets). */
export function defaultConcurrentStarts(cpus: number = availableParallelism()): number {
  return Math.max(2, 2 * cpus);
}

export class StartSlots {
  private running = 0;
  private readonly queue: Waiter[] = [];

  /** `limit`: starts at once; 0 means no limit. */
  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 0) throw new Error(`start slots: expected a whole number ≥ 0, got ${limit}`);
  }

  /** Starts running now and waiting for a slot. */
  counts(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.queue.length };
  }

  /**
   * Resolves with a release function once the caller may start; `onPosition` hears where it stands
   * while it waits (not called when a slot is free at once). Rejects with `cancelled` when `signal`
   * aborts first. The release function is idempotent.
   */
  acquire(signal: AbortSignal, onPosition: (position: QueuePosition) => void, cancelled: () => Error): Promise<() => void> {
    if (signal.aborted) return Promise.reject(cancelled());
    if (this.limit === 0 || (this.running < this.limit && this.queue.length === 0)) return Promise.resolve(this.take());
    return new Promise<() => void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (release) => {
          signal.removeEventListener('abort', onAbort);
          resolve(release);
        },
        reject,
        onPosition,
      };
      const onAbort = () => {
        const index = this.queue.indexOf(waiter);
        if (index < 0) return;
        this.queue.splice(index, 1);
        reject(cancelled());
        this.announce(index);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
      onPosition(this.position(this.queue.length - 1));
    });
  }

  private take(): () => void {
    this.running++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      this.next();
    };
  }

  private next(): void {
    if (this.running >= this.limit && this.limit !== 0) return;
    const waiter = this.queue.shift();
    if (!waiter) return;
    waiter.resolve(this.take());
    this.announce(0);
  }

  /** Tell everyone from `from` on that they moved up. */
  private announce(from: number): void {
    for (let i = from; i < this.queue.length; i++) {
      try {
        this.queue[i]!.onPosition(this.position(i));
      } catch {
        // a listener's failure is its own; the queue goes on
      }
    }
  }

  private position(index: number): QueuePosition {
    return { ahead: index, running: this.running, limit: this.limit };
  }
}
