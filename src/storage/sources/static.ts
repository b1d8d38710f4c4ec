import { isAbsolute, resolve } from 'node:path';
import { readFile } from 'node:fs/promises';
import type { SecretRef } from '../../config/secret-ref.js';
import { checkedKey, CredentialError, trimKey, type AccessKey, type CredentialSource } from '../credentials.js';

/**
 * One key pair for everyone a profile applies to, each half given inline, in an environment
 * variable of the hub, or in a file: the simplest setup, e.g. a read-only key for a shared bucket.
 * Read at every spawn, so a rotated file takes effect without restarting the hub.
 */
export class StaticSource implements CredentialSource {
  readonly kind = 'static';

  constructor(
    private readonly accessKey: SecretRef,
    private readonly secretKey: SecretRef,
    /** Where the profile is, for messages: `profile "lake" (storage.credentials)`. */
    private readonly where: string,
    /** Relative secret files are relative to this directory (the configuration file's). */
    private readonly baseDir: string,
  ) {}

  describe(): string {
    return `the static key pair of ${this.where}`;
  }

  async keyFor(): Promise<AccessKey> {
    const accessKeyId = await this.read(this.accessKey, 'access_key');
    const secretAccessKey = await this.read(this.secretKey, 'secret_key');
    return checkedKey(accessKeyId, secretAccessKey, { access: this.label(this.accessKey, 'access_key'), secret: this.label(this.secretKey, 'secret_key') });
  }

  private label(ref: SecretRef, key: string): string {
    if (typeof ref === 'string') return `${this.where}.${key}`;
    if ('env' in ref) return `${this.where}.${key} (environment variable ${ref.env})`;
    return `${this.where}.${key} (file ${this.path(ref.file)})`;
  }

  private path(file: string): string {
    return isAbsolute(file) ? file : resolve(this.baseDir, file);
  }

  private async read(ref: SecretRef, key: string): Promise<string> {
    if (typeof ref === 'string') return ref;
    if ('env' in ref) {
      const value = process.env[ref.env];
      if (value === undefined) throw new CredentialError(`${this.where}.${key}: environment variable ${ref.env} is not set`);
      return trimKey(value);
    }
    const path = this.path(ref.file);
    try {
      return trimKey(await readFile(path, 'utf8'));
    } catch (error) {
      throw new CredentialError(`${this.where}.${key}: cannot read ${path}: ${describeFsError(error)}`);
    }
  }
}

/** `ENOENT` → "it does not exist", for people. */
export function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT': return 'it does not exist';
    case 'EACCES': case 'EPERM': return 'permission denied';
    case 'EISDIR': return 'it is a directory, not a file';
    case 'ENOTDIR': return 'a part of the path is not a directory';
    default: return code ?? String(error);
  }
}
