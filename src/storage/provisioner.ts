/**
 * Provisioning: Refinery creates each person's access key and bucket through the object store's
 * admin API the first time they need it, rotates it later, and deletes it all with the person. One implementation per
 * store (versitygw's admin API, Ceph RGW's admin operations API).
 *
 * The store is the source of truth: keys are looked up there at every spawn, not kept by Refinery.
 * Every operation is idempotent, so a crash half-way is repaired by calling it again.
 */

/** An S3 access key pair. `secretAccessKey` never reaches logs, pages or API responses. */
export interface AccessKey {
  accessKeyId: string;
  secretAccessKey: string;
}

/** An error from the store's admin API, with what was being done; never carries a secret. */
export class ProvisioningError extends Error {
  override readonly name = 'ProvisioningError';
  constructor(
    message: string,
    /** The HTTP status the admin API answered with, when it answered. */
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface Provisioner {
  /** 'versitygw' | 'ceph-rgw' */
  readonly kind: string;
  /**
   * The store account for `account` (a Refinery user name, or `group-<name>`): created with a fresh
   * key when missing, otherwise its current key. Each account may hold at most one Refinery key.
   */
  ensureAccount(account: string): Promise<AccessKey>;
  /**
   * Make sure `bucket` exists and belongs to `account` (created when missing; an existing bucket
   * owned by someone else is an error naming the bucket, never silently shared).
   */
  ensureBucket(bucket: string, account: string): Promise<void>;
  /** Replace the account's key with a new one; the old key stops working. */
  rotateKey(account: string): Promise<AccessKey>;
  /**
   * Delete the account: its keys stop working at once, and the buckets it owns are deleted with
   * everything in them, so that an account of the same name made later starts empty. Missing
   * account: no-op; a call interrupted half-way is finished by the next one.
   */
  deleteAccount(account: string): Promise<void>;
}
