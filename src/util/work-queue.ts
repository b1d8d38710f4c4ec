/**
 * At most `concurrency` jobs at once, at most `maxWaiting` more waiting their turn (first come, first
 * served); a job beyond that is refused at once with QueueFullError instead of piling up. For work
 * that is expensive per job (a render thread, an argon2 hash) and must not grow with the number of
 * requests.
 *
 *   const renders = new WorkQueue({ concurrency: 2, maxWaiting: 32 });
 *   const html = await renders.run(() => renderInWorker(...));   // may throw QueueFullError
 */
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
}

export class WorkQueue {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  readonly concurrency: number;
  readonly maxWaiting: number;

  constructor(options: { concurrency: number; maxWaiting: number }) {
    if (!(Number.isInteger(options.concurrency) && options.concurrency >= 1)) throw new RangeError(`WorkQueue: concurrency must be a positive integer, got ${options.concurrency}`);
    if (!(Number.isInteger(options.maxWaiting) && options.maxWaiting >= 0)) throw new RangeError(`WorkQueue: maxWaiting must be a non-negative integer, got ${options.maxWaiting}`);
    this.concurrency = options.concurrency;
    this.maxWaiting = options.maxWaiting;
  }

  /** Jobs running now. */
  get active(): number {
    return this.running;
  }

  /** Jobs waiting for a free slot. */
  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxWaiting) throw new QueueFullError(`${this.running} running and ${this.waiting.length} waiting; try again shortly`);
      // the slot is handed over by the job that finishes, so `running` never dips in between
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await job();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
