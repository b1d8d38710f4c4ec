/**
 * Who the client is when Refinery sits behind a TLS terminator or load balancer: the peer's own
 * address, unless that peer is one of the configured `trusted_proxies`, in which case the
 * `X-Forwarded-For` it sent says who it is forwarding for. Addresses a client writes into that
 * header itself are believed only as far as a chain of trusted proxies vouches for them: the list
 * is read from the right, skipping trusted proxies, and the first address that is not one is the
 * client.
 *
 *   trusted_proxies: [10.0.0.0/8, 127.0.0.1, "fd00::/8"]
 */
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';

/** One entry: an IPv4 or IPv6 address, or a network in CIDR notation. */
export const proxyEntry = z.string().transform((value, ctx) => {
  const parsed = parseEntry(value);
  if (typeof parsed === 'string') {
    ctx.addIssue({ code: 'custom', message: parsed });
    return z.NEVER;
  }
  return value.trim();
});

type Entry = { address: string; prefix: number; family: 'ipv4' | 'ipv6' };

/** The entry, or why it is not one. */
function parseEntry(value: string): Entry | string {
  const text = value.trim();
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return `expected an IP address or a network such as "10.0.0.0/8", got ${JSON.stringify(value)}`;
  const family = version === 4 ? 'ipv4' : 'ipv6';
  const max = version === 4 ? 32 : 128;
  if (slash === -1) return { address, prefix: max, family };
  const prefixText = text.slice(slash + 1);
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return `the prefix length of ${JSON.stringify(value)} must be 0–${max}`;
  return { address, prefix, family };
}

export class TrustedProxies {
  private readonly list = new BlockList();
  readonly empty: boolean;

  /** `entries` as accepted by `proxyEntry`; throws on one that is not an address or network. */
  constructor(entries: readonly string[]) {
    for (const value of entries) {
      const entry = parseEntry(value);
      if (typeof entry === 'string') throw new Error(`trusted_proxies: ${entry}`);
      this.list.addSubnet(entry.address, entry.prefix, entry.family);
    }
    this.empty = entries.length === 0;
  }

  /** Is this peer one of the trusted proxies? */
  trusts(address: string | undefined): boolean {
    if (this.empty || !address) return false;
    const version = isIP(address);
    return version !== 0 && this.list.check(address, version === 4 ? 'ipv4' : 'ipv6');
  }

  /**
   * The client's address: `peer` itself, or when `peer` is trusted, the right-most address in
   * `X-Forwarded-For` that is not a trusted proxy (malformed entries end the walk: whatever a
   * client wrote further left is not believed).
   */
  clientAddress(peer: string | undefined, forwardedFor: string | string[] | undefined): string {
    const fallback = peer ?? 'unknown';
    if (!this.trusts(peer) || forwardedFor === undefined) return normalize(fallback);
    const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',').map((h) => h.trim()).filter(Boolean);
    let client = fallback;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = stripPort(hops[i]!);
      if (isIP(hop) === 0) break;
      client = hop;
      if (!this.trusts(hop)) break;
    }
    return normalize(client);
  }
}

/** `::ffff:1.2.3.4` is 1.2.3.4: one client, one key. */
function normalize(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return (mapped ? mapped[1]! : address).toLowerCase();
}

/** Some proxies write `1.2.3.4:5678` or `[::1]:5678`. */
function stripPort(hop: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(hop);
  if (bracketed) return bracketed[1]!;
  const v4 = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(hop);
  return v4 ? v4[1]! : hop;
}
