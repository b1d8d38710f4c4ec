import type { AccessKey } from './provisioner.js';

export type { AccessKey } from './provisioner.js';

/** Whose keys: a Refinery user and the groups they are in (in a stable order). */
export interface Person {
  name: string;
  groups: readonly string[];
}

/**
 * Where a person's S3 keys come from. One implementation per kind of source of truth: a static
 * pair, a directory of secret files, a Kubernetes Secret, or the store's admin API (provisioning).
 */
export interface CredentialSource {
  readonly kind: 'static' | 'directory' | 'kubernetes-secret' | 'provisioned';
  /** What the source is, for messages and the storage page, e.g. `the secret directory /etc/s3`. Never a secret. */
  describe(): string;
  /** The person's key pair. Throws CredentialError (naming the source, never the secret) when there is none or it is unusable. */
  keyFor(person: Person): Promise<AccessKey>;
}

/** A person's keys could not be had: the message says which source and what is wrong, and holds no secret. */
export class CredentialError extends Error {
  override readonly name = 'CredentialError';
}

const MAX_KEY_LENGTH = 512;

/**
 * Check one key value read from somewhere (a file, an env var, a Secret): one line of printable
 * ASCII with no spaces. Returns a problem ("is empty", …) or null. The value is never part of it.
 */
export function keyValueProblem(value: string): string | null {
  if (value.length === 0) return 'is empty';
  if (/[\r\n]/.test(value)) return 'has more than one line';
  if (value.length > MAX_KEY_LENGTH) return `is longer than ${MAX_KEY_LENGTH} characters`;
  if (/\s/.test(value)) return 'contains spaces';
  if (/[^\x21-\x7e]/.test(value)) return 'contains characters other than printable ASCII';
  return null;
}

/** Trim what editors and `kubectl create secret --from-file` leave around a value (a final newline, spaces). */
export function trimKey(value: string): string {
  return value.replace(/^[ \t]+|[ \t]*(?:\r?\n)*$/g, '');
}

/** A key pair as read from `where`, checked; throws CredentialError naming the part that is wrong. */
export function checkedKey(accessKeyId: string, secretAccessKey: string, where: { access: string; secret: string }): AccessKey {
  const a = keyValueProblem(accessKeyId);
  if (a) throw new CredentialError(`${where.access} ${a}`);
  const s = keyValueProblem(secretAccessKey);
  if (s) throw new CredentialError(`${where.secret} ${s}`);
  return { accessKeyId, secretAccessKey };
}
