/**
 * Where published notebooks' bytes live, by key. Keys are made by Refinery (`<slug>/<uuid>.ipynb`),
 * never by users, and never shown to anyone. Every operation is idempotent: putting a key again
 * replaces it, deleting a missing key succeeds.
 */
export interface PublicationStore {
  /** Store `bytes` under `key`, completely or not at all (readers never see half a file). */
  put(key: string, bytes: Uint8Array): Promise<void>;
  /** The bytes under `key`, or undefined when there are none. */
  get(key: string): Promise<Buffer | undefined>;
  delete(key: string): Promise<void>;
  /** For logs: where this store keeps things. */
  describe(): string;
}

const KEY = /^[A-Za-z0-9_-]+(?:\/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$/;

/** Keys are relative, slash-separated, without `.`/`..` segments or anything a path could abuse. */
export function checkKey(key: string): string {
  if (!KEY.test(key) || key.length > 512) throw new Error(`invalid publication store key ${JSON.stringify(key)}`);
  return key;
}
