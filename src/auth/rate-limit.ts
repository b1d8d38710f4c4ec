/**
 * Failed sign-ins, counted in a sliding window against three budgets:
 *
 * - per user name and client address (`auth.login_attempts`): guessing one person's password;
 * - per client address (`auth.login_attempts_per_address`): one machine trying many names;
 * - hub-wide (`auth.login_attempts_total`): password spraying from many machines. Spent, it makes
 *   everyone wait until the window moves on; it is sized well above what people mistyping produce.
 *
 * The client address is the one `trusted_proxies` vouch for (src/http/trusted-proxies.ts), so behind
 * a TLS terminator one attacker does not lock everyone out. Memory is bounded: at most `maxTracked`
 * names and addresses are remembered, the least recently seen forgotten first (an attacker's own
 * address is seen at every attempt, so flooding with new names does not make it forgotten).
 * In memory: one hub process owns the public port, and a restart forgetting the counts is acceptable.
 */

export interface ThrottleLimits {
  perNameAndAddress: number;
  /** 0: no limit. */
  perAddress: number;
  /** 0: no limit. */
  total: number;
  windowMs: number;
  /** How many names and addresses are remembered at most (default 10 000). */
  maxTracked?: number;
}

/** Timestamps of the most recent failures (at most `limit` of them) under one key. */
class Window {
  private readonly keys = new Map<string, number[]>();

  constructor(private readonly limit: number, private readonly windowMs: number, private readonly maxKeys: number) {}

  get size(): number {
    return this.keys.size;
  }

  /** Milliseconds until `key` may try again; 0 when it may now. */
  waitMs(key: string, now: number): number {
    if (this.limit <= 0) return 0;
    const list = this.recent(key, now);
    if (list.length < this.limit) return 0;
    return list[list.length - this.limit]! + this.windowMs - now;
  }

  fail(key: string, now: number): number {
    if (this.limit <= 0) return 0;
    const list = this.recent(key, now);
    list.push(now);
    if (list.length > this.limit) list.splice(0, list.length - this.limit);
    this.keys.delete(key); // re-inserted last: the Map's order is least recently seen first
    this.keys.set(key, list);
    while (this.keys.size > this.maxKeys) this.keys.delete(this.keys.keys().next().value!);
    return list.length;
  }

  reset(key: string): void {
    this.keys.delete(key);
  }

  private recent(key: string, now: number): number[] {
    const list = this.keys.get(key);
    if (!list) return [];
    const fresh = list.filter((t) => now - t < this.windowMs);
    if (fresh.length === 0) this.keys.delete(key);
    else if (fresh.length !== list.length) this.keys.set(key, fresh);
    return fresh;
  }
}

export type ThrottleReason = 'name-and-address' | 'address' | 'total';

export class SignInThrottle {
  private readonly byNameAndAddress: Window;
  private readonly byAddress: Window;
  private readonly everyone: Window;

  constructor(limits: ThrottleLimits) {
    const max = limits.maxTracked ?? 10_000;
    this.byNameAndAddress = new Window(limits.perNameAndAddress, limits.windowMs, max);
    this.byAddress = new Window(limits.perAddress, limits.windowMs, max);
    this.everyone = new Window(limits.total, limits.windowMs, 1);
  }

  /** Names and addresses remembered now (bounded by maxTracked each). */
  get tracked(): number {
    return this.byNameAndAddress.size + this.byAddress.size;
  }

  /** Seconds until this name may be tried from this address (0: now), and which budget is spent. */
  check(name: string, address: string, now = Date.now()): { retryAfter: number; reason?: ThrottleReason } {
    const waits: [number, ThrottleReason][] = [
      [this.byNameAndAddress.waitMs(pair(name, address), now), 'name-and-address'],
      [this.byAddress.waitMs(address, now), 'address'],
      [this.everyone.waitMs('', now), 'total'],
    ];
    const [ms, reason] = waits.reduce((a, b) => (b[0] > a[0] ? b : a));
    return ms > 0 ? { retryAfter: Math.ceil(ms / 1000), reason } : { retryAfter: 0 };
  }

  /** Record a failure; returns how many this name and address have now. */
  fail(name: string, address: string, now = Date.now()): number {
    this.byAddress.fail(address, now);
    this.everyone.fail('', now);
    return this.byNameAndAddress.fail(pair(name, address), now);
  }

  /**
   * A count of its own under `key` alone (the per-name budget, no address or hub-wide share): for
   * checks made inside a session, such as the current password when changing it.
   */
  checkKey(key: string, now = Date.now()): number {
    return Math.ceil(this.byNameAndAddress.waitMs(pair(key, ''), now) / 1000);
  }

  failKey(key: string, now = Date.now()): void {
    this.byNameAndAddress.fail(pair(key, ''), now);
  }

  resetKey(key: string): void {
    this.byNameAndAddress.reset(pair(key, ''));
  }

  /** A successful sign-in clears that name's count from that address (not the others). */
  succeed(name: string, address: string): void {
    this.byNameAndAddress.reset(pair(name, address));
  }
}

function pair(name: string, address: string): string {
  return `${name}\u0000${address}`;
}
