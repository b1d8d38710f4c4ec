// Who may view a restricted publication on the page origin, which never sees the hub's session.
import { createHmac, randomBytes } from 'node:crypto';
import { safeEqual } from '../auth/secrets.js';

/** Signed grants: "this person may view that publication until then". The key lives as long as the process. */
export class ViewGrants {
  private readonly key = randomBytes(32);
  sign(kind: 'handoff' | 'cookie', slug: string, user: string, seconds: number): string {
    const payload = Buffer.from(JSON.stringify({ k: kind, s: slug, u: user, e: Math.floor(Date.now() / 1000) + seconds })).toString('base64url');
    return `${payload}.${this.mac(payload)}`;
  }
  verify(kind: 'handoff' | 'cookie', slug: string, token: string | undefined): string | undefined {
    if (!token) return undefined;
    const dot = token.indexOf('.');
    if (dot <= 0) return undefined;
    const payload = token.slice(0, dot);
    if (!safeEqual(token.slice(dot + 1), this.mac(payload))) return undefined;
    try {
      const data = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { k: string; s: string; u: string; e: number };
      if (data.k !== kind || data.s !== slug || data.e < Date.now() / 1000 || typeof data.u !== 'string') return undefined;
      return data.u;
    } catch {
      return undefined;
    }
  }
  private mac(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }
}
