/**
 * Provisioning on versitygw through its admin API: PATCH requests to the admin address
 * (`--admin-port`, or the S3 port when none is set), SigV4-signed (service `s3`) by the root
 * account or an account with role `admin`, XML in and out. Checked against versitygw v1.8.0
 * (see test/storage/versitygw.test.ts):
 *  - PATCH /create-user (body <Account>) answers 201, or 409 XAdminUserExists.
 *  - PATCH /update-user?access=ID (body <MutableProps>) replaces the secret; the gateway's IAM cache
 *    is updated in the same process, so the old secret fails at once on that gateway. (Several
 *    gateways sharing one IAM store each cache accounts for --iam-cache-ttl, default 120 s.)
 *  - PATCH /delete-user?access=ID answers 200 whether or not the account exists.
 *  - PATCH /list-users answers every account WITH its secret; there is no single-user lookup.
 *  - PATCH /list-buckets answers every bucket with its owner's access key id.
 *  - PATCH /<bucket>/create with `x-vgw-owner: ID` creates a bucket owned by that account
 *    (404 XAdminUserNotFound when there is no such account, 409 when the bucket exists).
 *  - There is no admin call to delete a bucket; the root account may use every bucket through the
 *    S3 API (it bypasses bucket policies), so deleting an account's buckets empties and deletes them
 *    there: ListObjectsV2 + DeleteObject, ListMultipartUploads + AbortMultipartUpload, DeleteBucket.
 *
 * A versitygw account has no name: it IS its access key id, and buckets are owned by that id. So
 * the id is derived from the Refinery account name (`accessKeyIdOf`): the store stays the only
 * record of who has which key, and a rotation (new secret, same id) keeps bucket ownership. The
 * same name always gives the same id, which is why deleting an account deletes the buckets it owns
 * too: a person created later under the same name must not find the old data. Access key ids are not secret
 * in SigV4; the secret is random. Accounts get role `user`: they can use the buckets they own
 * (and see only those), but cannot create buckets; buckets are created here, for them.
 */
import { createHash, randomInt } from 'node:crypto';
import { AwsV4Signer } from 'aws4fetch';
import { ProvisioningError, type AccessKey, type Provisioner } from '../provisioner.js';

export interface VersitygwOptions {
  /** The admin API's base URL, e.g. http://127.0.0.1:7071 (versitygw --admin-port). */
  adminUrl: string;
  /** The S3 API's base URL (the same as adminUrl when versitygw runs without --admin-port). */
  s3Url: string;
  /** The gateway's --region: admin requests must be signed for it. */
  region: string;
  /** The root account's key pair (or an account with role admin). */
  accessKeyId: string;
  secretAccessKey: string;
  /** For tests and custom TLS. */
  fetch?: typeof fetch;
  /** Per-request limit (default 30 s): a hung gateway must not hang a spawn forever. */
  timeoutMs?: number;
}

interface Answer {
  status: number;
  body: string;
}

interface StoreAccount {
  access: string;
  secret: string;
  role: string;
}

export class VersitygwProvisioner implements Provisioner {
  readonly kind = 'versitygw';
  readonly s3Url: string;
  private readonly adminUrl: string;
  private readonly fetchFn: typeof fetch;
  private readonly timeoutMs: number;
  /** Operations on one account run one after another here, so a rotation never races an ensure. */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(private readonly o: VersitygwOptions) {
    this.adminUrl = o.adminUrl.replace(/\/+$/, '');
    this.s3Url = o.s3Url.replace(/\/+$/, '');
    this.fetchFn = o.fetch ?? fetch;
    this.timeoutMs = o.timeoutMs ?? 30_000;
  }

  /**
   * The store's access key id for a Refinery account: "RF" and 18 base32 characters of the
   * account name's SHA-256, i.e. 20 upper-case letters and digits, like an AWS key id. 90 bits
   * make a collision between two names practically impossible.
   */
  static accessKeyIdOf(account: string): string {
    const digest = createHash('sha256').update(`refinery-account:${account}`, 'utf8').digest();
    return `RF${base32(digest).slice(0, 18)}`;
  }

  ensureAccount(account: string): Promise<AccessKey> {
    const id = this.idOf(account);
    return this.serial(id, async () => {
      const found = await this.findAccount(id, account);
      if (found) return found;
      return this.createAccount(id, account, newSecret());
    });
  }

  async ensureBucket(bucket: string, account: string): Promise<void> {
    const id = this.idOf(account);
    const owner = await this.bucketOwner(bucket);
    if (owner === id) return;
    if (owner !== undefined) throw ownedByOther(bucket, account, owner);

    const doing = `creating bucket "${bucket}" for account "${account}"`;
    const res = await this.admin('PATCH', `/${encodeURIComponent(bucket)}/create`, {}, '', { 'x-vgw-owner': id }, doing);
    if (res.status === 200 || res.status === 201) return;
    if (res.status === 404 && errorCode(res.body) === 'XAdminUserNotFound') {
      throw this.failure(doing, res, 'the account does not exist: ensureAccount first');
    }
    // 409: it appeared meanwhile (another hub, an operator); whose it is decides.
    if (res.status === 409) {
      const now = await this.bucketOwner(bucket);
      if (now === id) return;
      throw ownedByOther(bucket, account, now ?? '(none: the bucket is gone again)');
    }
    throw this.failure(doing, res);
  }

  rotateKey(account: string): Promise<AccessKey> {
    const id = this.idOf(account);
    return this.serial(id, async () => {
      const secret = newSecret();
      const doing = `replacing the secret of account "${account}" (${id})`;
      const res = await this.admin('PATCH', '/update-user', { access: id }, xml('MutableProps', { Secret: secret }), {}, doing);
      if (res.status === 200) return { accessKeyId: id, secretAccessKey: secret };
      // No account, so no old key to stop: the new one is simply the account's first.
      if (res.status === 404 && errorCode(res.body) === 'XAdminUserNotFound') return this.createAccount(id, account, secret);
      throw this.failure(doing, res);
    });
  }

  deleteAccount(account: string): Promise<void> {
    const id = this.idOf(account);
    return this.serial(id, async () => {
      // The account first, so its key stops working at once; its buckets are still found by owner id
      // afterwards, so a removal interrupted half-way is finished by the next call.
      // versitygw deletes a missing account without complaint.
      const doing = `deleting account "${account}" (${id})`;
      const res = await this.admin('PATCH', '/delete-user', { access: id }, '', {}, doing);
      if (res.status !== 200) throw this.failure(doing, res);
      for (const bucket of await this.bucketsOwnedBy(id)) await this.deleteBucket(bucket);
    });
  }

  // ---- accounts ----

  private idOf(account: string): string {
    if (!account) throw new ProvisioningError('versitygw: an account name must not be empty');
    return VersitygwProvisioner.accessKeyIdOf(account);
  }

  /** The account's key, or undefined when versitygw has no account with that id. */
  private async findAccount(id: string, account: string): Promise<AccessKey | undefined> {
    const doing = `looking up account "${account}" (${id})`;
    const res = await this.admin('PATCH', '/list-users', {}, '', {}, doing);
    if (res.status !== 200) throw this.failure(doing, res);
    const found = parseAccounts(res.body).find((a) => a.access === id);
    if (!found) return undefined;
    // A key that can administer the gateway must never end up in a notebook's environment.
    if (found.role === 'admin') throw new ProvisioningError(`versitygw: ${doing}: it has role "admin"; refusing to hand out an admin key`);
    if (!found.secret) throw new ProvisioningError(`versitygw: ${doing}: the admin API answered the account without its secret`);
    return { accessKeyId: id, secretAccessKey: found.secret };
  }

  private async createAccount(id: string, account: string, secret: string): Promise<AccessKey> {
    const doing = `creating account "${account}" (${id})`;
    const body = xml('Account', { Access: id, Secret: secret, Role: 'user' });
    const res = await this.admin('PATCH', '/create-user', {}, body, {}, doing);
    if (res.status === 200 || res.status === 201) return { accessKeyId: id, secretAccessKey: secret };
    // Created meanwhile by another hub: use theirs.
    if (res.status === 409 && errorCode(res.body) === 'XAdminUserExists') {
      const found = await this.findAccount(id, account);
      if (found) return found;
    }
    throw this.failure(doing, res);
  }

  // ---- buckets ----

  /** The bucket owner's access key id, or undefined when there is no such bucket. */
  private async bucketOwner(bucket: string): Promise<string | undefined> {
    const doing = `looking up bucket "${bucket}"`;
    const res = await this.admin('PATCH', '/list-buckets', {}, '', {}, doing);
    if (res.status !== 200) throw this.failure(doing, res);
    return parseBuckets(res.body).find((b) => b.name === bucket)?.owner;
  }

  private async bucketsOwnedBy(id: string): Promise<string[]> {
    const doing = `listing the buckets of ${id}`;
    const res = await this.admin('PATCH', '/list-buckets', {}, '', {}, doing);
    if (res.status !== 200) throw this.failure(doing, res);
    return parseBuckets(res.body).filter((b) => b.owner === id).map((b) => b.name);
  }

  /** Empty a bucket (objects, unfinished multipart uploads) and delete it, through the S3 API as root. */
  private async deleteBucket(bucket: string): Promise<void> {
    const base = `/${rfc3986(bucket)}`;
    const objectPath = (key: string) => `${base}/${key.split('/').map(rfc3986).join('/')}`;
    for (let token: string | undefined; ;) {
      const doing = `listing the objects of bucket "${bucket}"`;
      const res = await this.s3('GET', base, { 'list-type': '2', ...(token ? { 'continuation-token': token } : {}) }, doing);
      if (res.status === 404) return;
      if (res.status !== 200) throw this.failure(doing, res);
      for (const key of elements(res.body, 'Contents').map((c) => firstText(c, 'Key') ?? '').filter(Boolean)) {
        const gone = await this.s3('DELETE', objectPath(key), {}, `deleting an object of bucket "${bucket}"`);
        if (gone.status !== 204 && gone.status !== 200 && gone.status !== 404) throw this.failure(`deleting an object of bucket "${bucket}"`, gone);
      }
      token = firstText(res.body, 'IsTruncated') === 'true' ? firstText(res.body, 'NextContinuationToken') : undefined;
      if (!token) break;
    }
    const uploads = await this.s3('GET', base, { uploads: '' }, `listing the unfinished uploads of bucket "${bucket}"`);
    if (uploads.status === 200) {
      for (const upload of elements(uploads.body, 'Upload')) {
        const key = firstText(upload, 'Key');
        const uploadId = firstText(upload, 'UploadId');
        if (key && uploadId) await this.s3('DELETE', objectPath(key), { uploadId }, `aborting an upload to bucket "${bucket}"`);
      }
    }
    const doing = `deleting bucket "${bucket}"`;
    const res = await this.s3('DELETE', base, {}, doing);
    if (res.status !== 204 && res.status !== 200 && res.status !== 404) throw this.failure(doing, res);
  }

  // ---- HTTP ----

  /** A request to the S3 API, signed by the admin (root) key. */
  private s3(method: 'GET' | 'DELETE', path: string, query: Record<string, string>, doing: string): Promise<Answer> {
    return this.admin(method, path, query, '', {}, doing, this.s3Url);
  }

  private async admin(method: 'PATCH' | 'GET' | 'DELETE', path: string, query: Record<string, string>, body: string, headers: Record<string, string>, doing: string, baseUrl = this.adminUrl): Promise<Answer> {
    const url = new URL(`${baseUrl}${path}`);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    try {
      const signer = new AwsV4Signer({
        method,
        url: url.toString(),
        // A signed payload hash (as versitygw's own admin CLI sends), not UNSIGNED-PAYLOAD: the
        // body carries secrets and roles, which nobody on the way may alter.
        headers: { ...headers, 'x-amz-content-sha256': createHash('sha256').update(body, 'utf8').digest('hex') },
        body,
        accessKeyId: this.o.accessKeyId,
        secretAccessKey: this.o.secretAccessKey,
        service: 's3',
        region: this.o.region,
      });
      const signed = await signer.sign();
      const res = await this.fetchFn(signed.url, { method, headers: signed.headers, body: body || undefined, signal: AbortSignal.timeout(this.timeoutMs) });
      return { status: res.status, body: await res.text() };
    } catch (error) {
      // A fetch error names the URL at most (never a secret: none is ever put in a URL).
      const why = error instanceof Error ? (error.cause instanceof Error ? `${error.message} (${error.cause.message})` : error.message) : String(error);
      throw new ProvisioningError(this.redact(`versitygw: ${doing}: no answer from ${baseUrl}: ${why}`));
    }
  }

  private failure(doing: string, res: Answer, meaning?: string): ProvisioningError {
    const code = errorCode(res.body);
    const message = firstText(res.body, 'Message');
    // The gateway's words have no reason to echo a secret; scrubbed all the same (any run of 40+
    // key-like characters), but only they: our own text names buckets, which may be that long.
    const detail = [code, message].filter(Boolean).join(': ').replace(/[A-Za-z0-9+/]{40,}/g, '***');
    return new ProvisioningError(this.redact(`versitygw: ${doing} failed: HTTP ${res.status}${detail ? ` ${detail}` : ''}${meaning ? ` (${meaning})` : ''}`), res.status);
  }

  private redact(text: string): string {
    return this.o.secretAccessKey ? text.split(this.o.secretAccessKey).join('***') : text;
  }

  private serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(key) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.queues.set(key, settled);
    void settled.then(() => {
      if (this.queues.get(key) === settled) this.queues.delete(key);
    });
    return next;
  }
}

/** Percent-encoding as SigV4 canonicalizes a path segment, so the URL sent is the one that was signed. */
function rfc3986(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function ownedByOther(bucket: string, account: string, owner: string): ProvisioningError {
  return new ProvisioningError(`versitygw: bucket "${bucket}" belongs to another owner (${owner}), not to account "${account}"; refusing to share it`);
}

// ---- secrets ----

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** 40 random letters and digits (~238 bits): the shape of an AWS secret, with nothing to escape. */
function newSecret(): string {
  let out = '';
  for (let i = 0; i < 40; i++) out += ALNUM[randomInt(ALNUM.length)];
  return out;
}

/** RFC 4648 base32 without padding: upper-case letters and 2-7. */
function base32(bytes: Uint8Array): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

// ---- XML ----
// The admin API speaks the flat XML of Go's encoding/xml: a few fixed element names, no
// attributes that matter, no nesting of an element in itself. Reading it needs no XML library.

function xml(root: string, fields: Record<string, string>): string {
  const inner = Object.entries(fields)
    .map(([k, v]) => `<${k}>${escapeXml(v)}</${k}>`)
    .join('');
  return `<${root}>${inner}</${root}>`;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function unescapeXml(text: string): string {
  return text.replace(/&(lt|gt|amp|quot|apos|#x[0-9a-fA-F]+|#[0-9]+);/g, (_, e: string) => {
    switch (e) {
      case 'lt': return '<';
      case 'gt': return '>';
      case 'amp': return '&';
      case 'quot': return '"';
      case 'apos': return "'";
      default: return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    }
  });
}

/** The contents of every <tag>...</tag> in `text`, in order (raw, still escaped). */
function elements(text: string, tag: string): string[] {
  const re = new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`, 'g');
  return [...text.matchAll(re)].map((m) => m[1] ?? '');
}

function firstText(text: string, tag: string): string | undefined {
  const found = elements(text, tag)[0];
  return found === undefined ? undefined : unescapeXml(found).trim();
}

/** The S3-style <Error><Code> of an answer, if it has one. */
function errorCode(body: string): string | undefined {
  const error = elements(body, 'Error')[0];
  return error === undefined ? undefined : firstText(error, 'Code');
}

/** <ListUserAccountsResult><Accounts><Access/><Secret/><Role/>...</Accounts>...</ListUserAccountsResult> */
function parseAccounts(body: string): StoreAccount[] {
  return elements(body, 'Accounts').map((a) => ({
    access: firstText(a, 'Access') ?? '',
    secret: firstText(a, 'Secret') ?? '',
    role: firstText(a, 'Role') ?? '',
  }));
}

/** <ListBucketsResult><Buckets><Name/><Owner/></Buckets>...</ListBucketsResult> */
function parseBuckets(body: string): Array<{ name: string; owner: string }> {
  return elements(body, 'Buckets').map((b) => ({ name: firstText(b, 'Name') ?? '', owner: firstText(b, 'Owner') ?? '' }));
}
