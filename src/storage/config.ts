import { z } from 'zod';
import { secretRef } from '../config/secret-ref.js';

/**
 * Object storage in configuration. Endpoints live in the main file (they may carry admin keys);
 * profiles say which endpoint, which buckets and where each person's keys come from:
 *
 *   storage:
 *     endpoints:
 *       - name: lake
 *         url: https://s3.example.org
 *         region: eu-west-1
 *         provisioning: {type: ceph-rgw, access_key: {env: RGW_ADMIN_KEY}, secret_key: {file: /run/rgw-admin}}
 *
 *   profiles:
 *     - name: lake-access
 *       storage:
 *         endpoint: lake
 *         buckets: ["{user}-data", "team-{group}"]
 *         credentials: {source: provisioned}
 */

const endpointName = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'use lowercase letters, digits, ".", "_" and "-" (at most 63), starting with a letter or digit');

const httpUrl = z
  .string()
  .url()
  .refine((value) => /^https?:$/.test(new URL(value).protocol), 'expected an http:// or https:// URL')
  .refine((value) => {
    const url = new URL(value);
    return !url.username && !url.password;
  }, 'put credentials in provisioning or in a profile\'s credentials, not in the URL')
  .transform((value) => value.replace(/\/+$/, ''));

const provisioningSchema = z.strictObject({
  /** The store's admin API: versitygw's, or Ceph RGW's admin operations API. */
  type: z.enum(['versitygw', 'ceph-rgw']),
  /** Where the admin API answers; default: the endpoint's url (Ceph RGW), required for versitygw's separate admin port. */
  admin_url: httpUrl.optional(),
  /** An admin key pair (versitygw: the root account; Ceph: a user with users=*;buckets=* caps). */
  access_key: secretRef,
  secret_key: secretRef,
  /** Store account names are `<account_prefix><user>` (Ceph uids, versitygw accounts). */
  account_prefix: z.string().regex(/^[a-z0-9._-]*$/, 'lowercase letters, digits, ".", "_" and "-"').default(''),
});

export const endpointSchema = z.strictObject({
  name: endpointName,
  /** The S3 API's base URL, e.g. https://s3.example.org or http://127.0.0.1:7070. */
  url: httpUrl,
  region: z.string().min(1).default('us-east-1'),
  /** Path-style requests (https://host/bucket/key): what Ceph, MinIO and versitygw on a bare host need. */
  path_style: z.boolean().default(true),
  /** A CA bundle (PEM) for an endpoint with a private certificate. */
  ca_file: z.string().optional(),
  provisioning: provisioningSchema.optional(),
});

export const storageConfigSchema = z
  .strictObject({
    endpoints: z.array(endpointSchema).default([]),
    /**
     * With no endpoints configured, run an object store of Refinery's own (versitygw on loopback,
     * data under <data_dir>/objects) and give everyone a key and a `{user}` bucket in it.
     */
    embedded: z.boolean().default(true),
  })
  .default({ endpoints: [], embedded: true });

export type EndpointConfig = z.output<typeof endpointSchema>;
export type StorageConfig = z.output<typeof storageConfigSchema>;
export type ProvisioningConfig = z.output<typeof provisioningSchema>;

/** A file name inside a secret directory: no path tricks. */
const keyFileName = z.string().regex(/^[A-Za-z0-9._-]+$/, 'a file name (letters, digits, ".", "_" and "-")').refine((v) => v !== '.' && v !== '..', 'a file name');

const credentialsSchema = z.discriminatedUnion('source', [
  /** One key pair for everyone the profile applies to. */
  z.strictObject({ source: z.literal('static'), access_key: secretRef, secret_key: secretRef }),
  /**
   * A directory laid out like mounted Kubernetes Secrets: `<path>/users/<user>/` first, then
   * `<path>/groups/<group>/` for each of the person's groups, each holding one file per key.
   */
  z.strictObject({
    source: z.literal('directory'),
    path: z.string().min(1),
    access_key_file: keyFileName.default('AWS_ACCESS_KEY_ID'),
    secret_key_file: keyFileName.default('AWS_SECRET_ACCESS_KEY'),
  }),
  /** A Kubernetes Secret per person, found by a name template such as `s3-{user}`. */
  z.strictObject({
    source: z.literal('kubernetes-secret'),
    name: z.string().min(1),
    namespace: z.string().optional(),
    access_key_field: z.string().default('AWS_ACCESS_KEY_ID'),
    secret_key_field: z.string().default('AWS_SECRET_ACCESS_KEY'),
  }),
  /** A per-person key and bucket created through the endpoint's admin API (the endpoint's `provisioning`). */
  z.strictObject({ source: z.literal('provisioned') }),
]);

/** A profile's `storage:` (checked when the catalog loads). */
export const storageRequestSchema = z.strictObject({
  endpoint: endpointName,
  /**
   * Bucket names; `{user}` is the person's name, `{group}` expands to one bucket per group they are
   * in. The first is the primary bucket ($S3_BUCKET). Provisioning creates the `{user}` ones.
   */
  buckets: z.array(z.string().min(1)).default([]),
  credentials: credentialsSchema,
});

export type CredentialsConfig = z.output<typeof credentialsSchema>;
export type StorageRequest = z.output<typeof storageRequestSchema>;

/**
 * A copy of a profile's raw `storage` whose relative paths (secret files, a secret directory) are
 * absolute, resolved against `dir` (the directory of the file that holds the profile).
 */
export function absoluteStoragePaths(storage: Record<string, unknown> | undefined, dir: string, resolvePath: (dir: string, path: string) => string): Record<string, unknown> | undefined {
  const credentials = storage?.credentials;
  if (!storage || !credentials || typeof credentials !== 'object') return storage;
  const c = { ...(credentials as Record<string, unknown>) };
  for (const key of ['access_key', 'secret_key'] as const) {
    const ref = c[key];
    if (ref && typeof ref === 'object' && 'file' in ref && typeof (ref as { file: unknown }).file === 'string') c[key] = { file: resolvePath(dir, (ref as { file: string }).file) };
  }
  if (c.source === 'directory' && typeof c.path === 'string') c.path = resolvePath(dir, c.path);
  return { ...storage, credentials: c };
}
