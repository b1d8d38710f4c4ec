import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A new random secret (API token, session id, OAuth code) with 256 bits of entropy, hex encoded. */
export function newSecret(bytes = 32): string {
  return randomBytes(bytes).toString('hex');
}

/** Secrets are high-entropy random values, so an unsalted SHA-256 is enough to store them safely. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
