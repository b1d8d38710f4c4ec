/**
 * Provisioning on Ceph RGW through its admin operations API (`/admin/user`, `/admin/bucket`),
 * signed with SigV4 (service `s3`) by an admin user whose caps include `users=*;buckets=*`.
 *
 * One Refinery account is one RGW user, uid `<uidPrefix><account>`, holding one S3 key. Behaviour
 * checked against Ceph 16.2 (Pacific) as Debian 12 ships it (see test/storage/ceph-rgw-real.test.ts):
 *  - GET /admin/user answers 404 NoSuchUser for a missing uid; PUT of an existing uid answers 409
 *    UserAlreadyExists (not idempotent by itself); user JSON carries secrets (`keys[].secret_key`).
 *  - PUT /admin/user?key answers with ALL the user's S3 keys, not just the new one.
 *  - DELETE /admin/user?key of a key that is already gone answers 403 InvalidAccessKeyId.
 *  - DELETE /admin/user of a user that owns buckets fails (409) without purge-data; with
 *    `purge-data=true` the user's buckets and their objects go with it.
 *  - 200 answers have no Content-Type; bodies are JSON all the same.
 */
import { AwsClient } from 'aws4fetch';
import { z } from 'zod';
import { ProvisioningError, type AccessKey, type Provisioner } from '../provisioner.js';

export interface CephRgwOptions {
  /** The gateway's base URL (admin API and S3 API are both served there), e.g. https://rgw.example.org. */
  url: string;
  /** The region requests are signed for (Ceph's zonegroup API name, often "default" or "us-east-1"). */
  region: string;
  /** An admin user's key pair (caps users=*;buckets=*). */
  accessKeyId: string;
  secretAccessKey: string;
  /** uid = uidPrefix + account, keeping Refinery's users apart from others (default "refinery-"). */
  uidPrefix?: string;
  /** For tests and custom TLS. */
  fetch?: typeof fetch;
  /** Per-request limit (default 30 s): a hung gateway must not hang a spawn forever. */
  timeoutMs?: number;
}

type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';
/** A query: a value of `null` is a bare sub-resource such as `?key`. */
type Query = Record<string, string | null>;

interface Answer {
  status: number;
  body: string;
}

export class CephRgwProvisioner implements Provisioner {
  readonly kind = 'ceph-rgw';
  private readonly base: string;
  private readonly admin: AwsClient;
  private readonly prefix: string;
  private readonly fetchFn: typeof fetch;
  private readonly timeoutMs: number;
  /** Operations on one uid run one after another in this process, so two spawns never both add a key. */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(private readonly o: CephRgwOptions) {
    this.base = o.url.replace(/\/+$/, '');
    this.admin = this.signer({ accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey });
    this.prefix = o.uidPrefix ?? 'refinery-';
    this.fetchFn = o.fetch ?? fetch;
    this.timeoutMs = o.timeoutMs ?? 30_000;
  }

  async ensureAccount(account: string): Promise<AccessKey> {
    const uid = this.uidOf(account);
    return this.serial(uid, async () => toAccessKey(pickKey(await this.activeUser(uid, account))));
  }

  async ensureBucket(bucket: string, account: string): Promise<void> {
    const uid = this.uidOf(account);
    const owner = await this.bucketOwner(bucket);
    if (owner === uid) return;
    if (owner !== undefined) throw ownedByOther(bucket, uid, owner);
    // Created by the user's own request, so the user owns it (and its ACL names them); the admin
    // API's bucket link would only re-point the owner field of a bucket someone else created.
    const key = await this.ensureAccount(account);
    const res = await this.send(this.signer(key), 'PUT', `/${encodeURIComponent(bucket)}`, {}, `creating bucket "${bucket}" for uid "${uid}"`);
    if (res.status === 409) throw this.failure(`creating bucket "${bucket}" for uid "${uid}"`, res, 'it belongs to another owner');
    if (res.status !== 200) throw this.failure(`creating bucket "${bucket}" for uid "${uid}"`, res);
    // A gateway may answer 200 to a PUT of an existing bucket; the owner is what counts.
    const after = await this.bucketOwner(bucket);
    if (after !== uid) throw ownedByOther(bucket, uid, after ?? '(none: the bucket is gone)');
  }

  async rotateKey(account: string): Promise<AccessKey> {
    const uid = this.uidOf(account);
    return this.serial(uid, async () => {
      const user = await this.activeUser(uid, account);
      const old = new Set(user.keys.map((k) => k.access_key));
      const res = await this.call('PUT', '/admin/user', { key: null, uid, 'key-type': 's3', 'generate-key': 'true' }, `adding a key to uid "${uid}"`);
      const fresh = rgwKeys(res, uid, `adding a key to uid "${uid}"`).filter((k) => !old.has(k.access_key));
      if (fresh.length !== 1) throw new ProvisioningError(`ceph-rgw: adding a key to uid "${uid}": expected one new key in the answer, found ${fresh.length}`);
      // Every other key goes, so a rotation interrupted half-way is finished by the next one.
      for (const id of old) await this.removeKey(uid, id);
      return toAccessKey(fresh[0]!);
    });
  }

  async deleteAccount(account: string): Promise<void> {
    const uid = this.uidOf(account);
    return this.serial(uid, async () => {
      let user = await this.user(uid);
      if (!user) return;
      // Suspension first: it stops every key at once, so a crash before the deletion (which may
      // take a while for a lot of data) revokes anyway.
      if (!user.suspended) user = await this.setSuspended(uid, true);
      for (const key of user.keys) await this.removeKey(uid, key.access_key);
      const doing = `deleting uid "${uid}" with its buckets and their data`;
      const res = await this.send(this.admin, 'DELETE', '/admin/user', { uid, 'purge-data': 'true', format: 'json' }, doing);
      if (res.status === 404 && parseCephError(res.body) === 'NoSuchUser') return;
      if (res.status !== 200) throw this.failure(doing, res);
    });
  }

  // ---- users and keys ----

  /** The user, created when missing, reinstated when suspended, with at least one S3 key. */
  private async activeUser(uid: string, account: string): Promise<RgwUser> {
    let user = (await this.user(uid)) ?? (await this.createUser(uid, account));
    // Refinery asks only for people it lets in; a suspended user is one whose deletion was
    // interrupted while the person stayed (the removal failed), so it is reinstated. Its old keys are gone already.
    if (user.suspended) user = await this.setSuspended(uid, false);
    if (user.keys.length > 0) return user;
    const res = await this.call('PUT', '/admin/user', { key: null, uid, 'key-type': 's3', 'generate-key': 'true' }, `adding a key to uid "${uid}"`);
    return { ...user, keys: rgwKeys(res, uid, `adding a key to uid "${uid}"`) };
  }

  private async user(uid: string): Promise<RgwUser | undefined> {
    const doing = `looking up uid "${uid}"`;
    const res = await this.send(this.admin, 'GET', '/admin/user', { uid, format: 'json' }, doing);
    if (res.status === 404 && parseCephError(res.body) === 'NoSuchUser') return undefined;
    if (res.status !== 200) throw this.failure(doing, res);
    return rgwUser(parseJson(res.body, doing), uid, doing);
  }

  private async createUser(uid: string, account: string): Promise<RgwUser> {
    const doing = `creating uid "${uid}"`;
    const query = { uid, 'display-name': account, 'key-type': 's3', 'generate-key': 'true', format: 'json' };
    const res = await this.send(this.admin, 'PUT', '/admin/user', query, doing);
    // Another hub (or an operator) created it meanwhile: use theirs.
    if (res.status === 409 && parseCephError(res.body) === 'UserAlreadyExists') {
      const user = await this.user(uid);
      if (user) return user;
    }
    if (res.status !== 200) throw this.failure(doing, res);
    return rgwUser(parseJson(res.body, doing), uid, doing);
  }

  private async setSuspended(uid: string, suspended: boolean): Promise<RgwUser> {
    const doing = `${suspended ? 'suspending' : 'reinstating'} uid "${uid}"`;
    const res = await this.call('POST', '/admin/user', { uid, suspended: String(suspended) }, doing);
    return rgwUser(res, uid, doing);
  }

  private async removeKey(uid: string, accessKeyId: string): Promise<void> {
    const doing = `removing key ${accessKeyId} of uid "${uid}"`;
    const res = await this.send(this.admin, 'DELETE', '/admin/user', { key: null, uid, 'access-key': accessKeyId, format: 'json' }, doing);
    // Ceph 16 answers an already-removed key with 403 InvalidAccessKeyId: the goal is reached.
    if (res.status === 403 && parseCephError(res.body) === 'InvalidAccessKeyId') return;
    if (res.status !== 200) throw this.failure(doing, res);
  }

  // ---- buckets ----

  /** The bucket's owner uid, or undefined when there is no such bucket. */
  private async bucketOwner(bucket: string): Promise<string | undefined> {
    const doing = `looking up bucket "${bucket}"`;
    const res = await this.send(this.admin, 'GET', '/admin/bucket', { bucket, format: 'json' }, doing);
    if (res.status === 404 && parseCephError(res.body) === 'NoSuchBucket') return undefined;
    if (res.status !== 200) throw this.failure(doing, res);
    return rgwBucket(parseJson(res.body, doing), doing).owner;
  }

  // ---- HTTP ----

  /** An admin call expected to answer 200 with JSON (parsed); anything else is an error. */
  private async call(method: Method, path: string, query: Query, doing: string): Promise<unknown> {
    const res = await this.send(this.admin, method, path, { ...query, format: 'json' }, doing);
    if (res.status !== 200) throw this.failure(doing, res);
    return parseJson(res.body, doing);
  }

  private async send(signer: AwsClient, method: Method, path: string, query: Query, doing: string): Promise<Answer> {
    const search = Object.entries(query)
      .map(([k, v]) => (v === null ? rfc3986(k) : `${rfc3986(k)}=${rfc3986(v)}`))
      .join('&');
    const url = `${this.base}${path}${search ? `?${search}` : ''}`;
    try {
      const request = await signer.sign(url, { method });
      const res = await this.fetchFn(request, { signal: AbortSignal.timeout(this.timeoutMs) });
      return { status: res.status, body: await res.text() };
    } catch (error) {
      // A fetch error names the URL at most (never a secret: none is ever put in a URL).
      const why = error instanceof Error ? (error.cause instanceof Error ? `${error.message} (${error.cause.message})` : error.message) : String(error);
      throw new ProvisioningError(`ceph-rgw: ${doing}: no answer from ${this.base}: ${why}`);
    }
  }

  private failure(doing: string, res: Answer, meaning?: string): ProvisioningError {
    const code = parseCephError(res.body);
    return new ProvisioningError(`ceph-rgw: ${doing} failed: HTTP ${res.status}${code ? ` ${code}` : ''}${meaning ? ` (${meaning})` : ''}`, res.status);
  }

  private signer(key: AccessKey): AwsClient {
    // retries: 0 because every caller decides itself what a failure means.
    return new AwsClient({ ...key, service: 's3', region: this.o.region, retries: 0 });
  }

  private uidOf(account: string): string {
    // ':' separates a subuser and '$' a tenant in RGW uids; neither may come from a user name.
    if (!account || /[:$\p{Cc}]/u.test(account)) {
      throw new ProvisioningError(`ceph-rgw: account ${JSON.stringify(account)} cannot be an RGW uid (empty, or has ":", "$" or a control character)`);
    }
    return `${this.prefix}${account}`;
  }

  private serial<T>(uid: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(uid) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.queues.set(uid, settled);
    void settled.then(() => {
      if (this.queues.get(uid) === settled) this.queues.delete(uid);
    });
    return next;
  }
}

function pickKey(user: RgwUser): RgwKey {
  const key = user.keys[0];
  if (!key) throw new ProvisioningError(`ceph-rgw: uid "${user.user_id}" has no S3 key after one was added`);
  return key;
}

function toAccessKey(key: RgwKey): AccessKey {
  return { accessKeyId: key.access_key, secretAccessKey: key.secret_key };
}

function ownedByOther(bucket: string, uid: string, owner: string): ProvisioningError {
  return new ProvisioningError(`ceph-rgw: bucket "${bucket}" belongs to uid "${owner}", not to "${uid}"; it is not shared silently`, 409);
}

/** Percent-encoding as SigV4 canonicalizes it, so the URL sent is the one that was signed. */
function rfc3986(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

// ---- Ceph's JSON (only the fields used; the rest is ignored) ----

const keySchema = z.object({ user: z.string(), access_key: z.string().min(1), secret_key: z.string().min(1) });
const userSchema = z.object({ user_id: z.string(), suspended: z.number(), keys: z.array(keySchema) });
const bucketSchema = z.object({ bucket: z.string(), owner: z.string() });
type RgwKey = z.output<typeof keySchema>;
type RgwUser = z.output<typeof userSchema>;

function parseJson(body: string, doing: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    throw new ProvisioningError(`ceph-rgw: ${doing}: the answer is not JSON (is the URL a Ceph RGW?)`);
  }
}

function shaped<T>(schema: z.ZodType<T>, value: unknown, doing: string): T {
  const parsed = schema.safeParse(value);
  // The issues name fields only: a value (which may be a secret key) is never quoted.
  if (!parsed.success) throw new ProvisioningError(`ceph-rgw: ${doing}: unexpected answer (${parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.code}`).join('; ')})`);
  return parsed.data;
}

/** The user, with only its own S3 keys (a subuser's keys are listed too, as `uid:sub`). */
function rgwUser(value: unknown, uid: string, doing: string): RgwUser {
  const user = shaped(userSchema, value, doing);
  return { ...user, keys: user.keys.filter((k) => k.user === uid) };
}

function rgwKeys(value: unknown, uid: string, doing: string): RgwKey[] {
  return shaped(z.array(keySchema), value, doing).filter((k) => k.user === uid);
}

function rgwBucket(value: unknown, doing: string): z.output<typeof bucketSchema> {
  return shaped(bucketSchema, value, doing);
}

/** Ceph's error Code: from the admin API's JSON ({"Code": ...}) or the S3 API's XML (<Code>...</Code>). */
function parseCephError(body: string): string | undefined {
  try {
    const code: unknown = (JSON.parse(body) as { Code?: unknown } | null)?.Code;
    if (typeof code === 'string') return sanitizeCode(code);
  } catch {
    // not JSON: maybe XML
  }
  const match = /<Code>([^<]{1,100})<\/Code>/.exec(body);
  return match ? sanitizeCode(match[1]!) : undefined;
}

/** Codes are identifiers; anything else is not echoed (it could be a proxy's page, or worse). */
function sanitizeCode(code: string): string | undefined {
  return /^[A-Za-z0-9_.-]{1,100}$/.test(code) ? code : undefined;
}
