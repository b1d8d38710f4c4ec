/**
 * Auth state: what a person's sign-in provider gave (access token, refresh token, expiry), kept
 * encrypted at rest with AES-256-GCM under `auth.crypt_key`. The key holds one or more 32-byte keys
 * (64 hex digits or base64) separated by ";", as JupyterHub's JUPYTERHUB_CRYPT_KEY: the first
 * encrypts, any of them decrypts, so a key is rotated by putting the new one first and dropping the
 * old one once everyone has signed in again.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export type AuthState = Record<string, unknown>;

const FORMAT = 'v1';

/** The keys in a crypt_key value; an Error saying what is wrong with it (never the key itself). */
export function parseCryptKeys(value: string): Buffer[] {
  const parts = value.split(';').map((p) => p.trim()).filter(Boolean);
  if (parts.length === 0) throw new Error('it holds no key');
  return parts.map((part, i) => {
    const key = /^[0-9a-fA-F]{64}$/.test(part) ? Buffer.from(part, 'hex') : Buffer.from(part, 'base64');
    if (key.length !== 32) throw new Error(`key ${i + 1} is not 32 bytes as 64 hex digits or base64 (make one with \`openssl rand -hex 32\`)`);
    return key;
  });
}

export class AuthStateCrypt {
  constructor(private readonly keys: readonly Buffer[]) {
    if (keys.length === 0) throw new Error('AuthStateCrypt needs a key');
  }

  encrypt(state: AuthState): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys[0]!, iv);
    const data = Buffer.concat([cipher.update(JSON.stringify(state), 'utf8'), cipher.final()]);
    return [FORMAT, iv.toString('base64url'), data.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  /** The state, or undefined when no key opens it (written under a key no longer configured). */
  decrypt(text: string): AuthState | undefined {
    const [format, iv, data, tag] = text.split('.');
    if (format !== FORMAT || !iv || !data || !tag) return undefined;
    for (const key of this.keys) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        const plain = Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]);
        return JSON.parse(plain.toString('utf8')) as AuthState;
      } catch {
        // not this key
      }
    }
    return undefined;
  }
}
