/**
 * Counts failed sign-ins per key (user name + client address) in a sliding window. In memory: one hub
 * process owns the public port, and a restart forgetting the counts is acceptable.
 */
export class FailureCounter {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly maxFailures: number, private readonly windowMs: number) {}

  private recent(key: string, now: number): number[] {
    const list = (this.failures.get(key) ?? []).filter((t) => now - t < this.windowMs);
    if (list.length) this.failures.set(key, list);
    else this.failures.delete(key);
    return list;
  }

  /** Seconds until another attempt is allowed, or 0 when one is allowed now. */
  retryAfter(key: string, now = Date.now()): number {
    const list = this.recent(key, now);
    if (list.length < this.maxFailures) return 0;
    return Math.ceil((list[0]! + this.windowMs - now) / 1000);
  }

  fail(key: string, now = Date.now()): number {
    const list = this.recent(key, now);
    list.push(now);
    this.failures.set(key, list);
    return list.length;
  }

  reset(key: string): void {
    this.failures.delete(key);
  }
}
