/**
 * One at a time per key: `run(key, fn)` waits for every earlier `fn` under the same key to settle,
 * then runs its own. For check-then-act sequences (count, then create) that must not interleave with
 * themselves, such as one person's concurrent server starts against their limits.
 */
export class KeyedLock<K = string | number> {
  private readonly tails = new Map<K, Promise<unknown>>();

  async run<T>(key: K, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const mine = previous.catch(() => undefined).then(fn);
    const tail = mine.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await mine;
    } finally {
      // the last one out leaves nothing behind
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
