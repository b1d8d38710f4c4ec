// src/storage/provisioners/ceph-rgw.ts against an in-test gateway that answers the way Ceph 16
// (Pacific) does (status codes, JSON and XML bodies as observed from radosgw 16.2.15), checks each
// request's SigV4 signature with its own implementation, and records every request.
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { ProvisioningError } from '../../src/storage/provisioner.js';
import { CephRgwProvisioner } from '../../src/storage/provisioners/ceph-rgw.js';
import { freePort } from '../../src/util/ports.js';

const REGION = 'default';
const ADMIN = { accessKeyId: 'ADMINKEYID0000000001', secretAccessKey: 'admin-secret-' + randomBytes(12).toString('hex') };

interface Key { access_key: string; secret_key: string }
interface User { display: string; suspended: boolean; keys: Key[] }
interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  rawUrl: string;
  /** Access key id the request was (validly) signed with. */
  signer: string;
}

/** A Ceph RGW stand-in: admin ops on /admin/user and /admin/bucket, and S3 PUT Bucket / GET Object. */
class FakeRgw {
  users = new Map<string, User>();
  /** bucket -> owner uid */
  buckets = new Map<string, string>();
  seen: Seen[] = [];
  /** Assertions that failed inside the server (checked after each test). */
  errors: unknown[] = [];
  /** Called before a request is handled; returning true means it already answered. */
  intercept: ((req: Seen, res: ServerResponse) => boolean) | undefined;
  private server: Server | undefined;
  url = '';
  private counter = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        this.errors.push(error);
        if (!res.headersSent) jsonError(res, 500, 'TestServerAssertion');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  reset(): void {
    this.users.clear();
    this.buckets.clear();
    this.seen = [];
    this.errors = [];
    this.intercept = undefined;
  }

  addUser(uid: string, options: { suspended?: boolean; keys?: number } = {}): User {
    const user: User = { display: uid, suspended: options.suspended ?? false, keys: [] };
    for (let i = 0; i < (options.keys ?? 1); i++) user.keys.push(this.newKey());
    this.users.set(uid, user);
    return user;
  }

  private newKey(): Key {
    this.counter += 1;
    return { access_key: `USERKEY${String(this.counter).padStart(13, '0')}`, secret_key: randomBytes(20).toString('base64') };
  }

  /** uid owning an access key id, if any. */
  private ownerOfKey(id: string): string | undefined {
    if (id === ADMIN.accessKeyId) return 'refinery-admin';
    for (const [uid, user] of this.users) if (user.keys.some((k) => k.access_key === id)) return uid;
    return undefined;
  }

  private secretOf(id: string): string | undefined {
    if (id === ADMIN.accessKeyId) return ADMIN.secretAccessKey;
    for (const user of this.users.values()) for (const k of user.keys) if (k.access_key === id) return k.secret_key;
    return undefined;
  }

  private userJson(uid: string, user: User): object {
    // The shape radosgw 16.2 answers with (fields the provisioner ignores included on purpose).
    return {
      tenant: '', user_id: uid, display_name: user.display, email: '', suspended: user.suspended ? 1 : 0, max_buckets: 1000, subusers: [],
      keys: user.keys.map((k) => ({ user: uid, ...k })), swift_keys: [], caps: [], op_mask: 'read, write, delete', system: 'false', admin: 'false',
      default_placement: '', default_storage_class: '', placement_tags: [],
      bucket_quota: { enabled: false, check_on_raw: false, max_size: -1, max_size_kb: 0, max_objects: -1 },
      user_quota: { enabled: false, check_on_raw: false, max_size: -1, max_size_kb: 0, max_objects: -1 }, temp_url_keys: [], type: 'rgw', mfa_ids: [],
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for await (const _ of req) {
      // drain (no request here has a body)
    }
    const url = new URL(req.url ?? '/', this.url);
    const auth = verifySigV4(req, (id) => this.secretOf(id));
    if (!auth.ok) return xmlError(res, 403, auth.code);
    const seen: Seen = { method: req.method ?? '', path: url.pathname, query: url.searchParams, rawUrl: req.url ?? '', signer: auth.keyId };
    this.seen.push(seen);
    if (this.intercept?.(seen, res)) return;
    const caller = this.ownerOfKey(auth.keyId)!;
    if (url.pathname.startsWith('/admin/')) {
      if (caller !== 'refinery-admin') return jsonError(res, 403, 'AccessDenied');
      return url.pathname === '/admin/user' ? this.adminUser(seen, res) : this.adminBucket(seen, res);
    }
    if (this.users.get(caller)?.suspended) return xmlError(res, 403, 'UserSuspended');
    const [, bucket = '', object = ''] = /^\/([^/]+)\/?(.*)$/.exec(url.pathname) ?? [];
    if (req.method === 'PUT' && !object) {
      const owner = this.buckets.get(bucket);
      if (owner !== undefined && owner !== caller) return xmlError(res, 409, 'BucketAlreadyExists');
      this.buckets.set(bucket, caller);
      return answer(res, 200, '');
    }
    if (req.method === 'GET' && bucket && this.buckets.get(bucket) !== caller) return xmlError(res, 403, 'AccessDenied');
    return answer(res, 200, '');
  }

  private adminUser(seen: Seen, res: ServerResponse): void {
    const q = seen.query;
    const uid = q.get('uid') ?? '';
    const user = this.users.get(uid);
    if (q.has('key')) {
      if (!user) return jsonError(res, 404, 'NoSuchUser');
      if (seen.method === 'PUT') {
        assert.equal(q.get('key-type'), 's3');
        assert.equal(q.get('generate-key'), 'true');
        user.keys.push(this.newKey());
        // Ceph answers with ALL the user's keys; keys are kept sorted by access key id.
        return answer(res, 200, JSON.stringify([...user.keys].sort((a, b) => a.access_key.localeCompare(b.access_key)).map((k) => ({ user: uid, ...k }))));
      }
      if (seen.method === 'DELETE') {
        const index = user.keys.findIndex((k) => k.access_key === q.get('access-key'));
        if (index < 0) return jsonError(res, 403, 'InvalidAccessKeyId');
        user.keys.splice(index, 1);
        return answer(res, 200, '');
      }
    }
    if (seen.method === 'GET') return user ? answer(res, 200, JSON.stringify(this.userJson(uid, user))) : jsonError(res, 404, 'NoSuchUser');
    if (seen.method === 'PUT') {
      if (user) return jsonError(res, 409, 'UserAlreadyExists');
      if (!q.get('display-name')) return jsonError(res, 400, 'InvalidArgument');
      const created: User = { display: q.get('display-name')!, suspended: false, keys: q.get('generate-key') === 'true' ? [this.newKey()] : [] };
      this.users.set(uid, created);
      return answer(res, 200, JSON.stringify(this.userJson(uid, created)));
    }
    if (seen.method === 'POST') {
      if (!user) return jsonError(res, 404, 'NoSuchUser');
      if (q.has('suspended')) user.suspended = q.get('suspended') === 'true';
      return answer(res, 200, JSON.stringify(this.userJson(uid, user)));
    }
    if (seen.method === 'DELETE') {
      if (!user) return jsonError(res, 404, 'NoSuchUser');
      if ([...this.buckets.values()].includes(uid) && q.get('purge-data') !== 'true') return jsonError(res, 409, 'BucketAlreadyExists');
      this.users.delete(uid);
      for (const [bucket, owner] of this.buckets) if (owner === uid) this.buckets.delete(bucket);
      return answer(res, 200, '');
    }
    jsonError(res, 405, 'MethodNotAllowed');
  }

  private adminBucket(seen: Seen, res: ServerResponse): void {
    const name = seen.query.get('bucket') ?? '';
    const owner = this.buckets.get(name);
    if (seen.method !== 'GET') return jsonError(res, 405, 'MethodNotAllowed');
    if (owner === undefined) return jsonError(res, 404, 'NoSuchBucket');
    answer(res, 200, JSON.stringify({ bucket: name, num_shards: 11, tenant: '', zonegroup: 'zg', placement_rule: 'default-placement', id: 'x.1', marker: 'x.1', index_type: 'Normal', owner, usage: {} }));
  }
}

/** Ceph's 200 answers carry no Content-Type; its errors are application/json (admin) or XML (S3). */
function answer(res: ServerResponse, status: number, body: string, type?: string): void {
  res.writeHead(status, type ? { 'content-type': type } : {});
  res.end(body);
}
function jsonError(res: ServerResponse, status: number, code: string): void {
  answer(res, status, JSON.stringify({ Code: code, Message: '', RequestId: 'tx000-test', HostId: 'test-default-default' }), 'application/json');
}
function xmlError(res: ServerResponse, status: number, code: string): void {
  answer(res, status, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message></Message><RequestId>tx000-test</RequestId></Error>`, 'application/xml');
}

// ---- SigV4 verification, written from the AWS specification independently of the signer ----

const enc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();

function verifySigV4(req: IncomingMessage, secretOf: (id: string) => string | undefined): { ok: true; keyId: string } | { ok: false; code: string } {
  const header = req.headers.authorization ?? '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(header);
  if (!m) return { ok: false, code: 'AccessDenied' };
  const [, keyId = '', date = '', region, service, signedHeaders = '', signature = ''] = m;
  const secret = secretOf(keyId);
  if (secret === undefined) return { ok: false, code: 'InvalidAccessKeyId' };
  assert.equal(region, REGION, 'signed for the configured region');
  assert.equal(service, 's3', 'signed for service s3');
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  assert.ok(amzDate.startsWith(date), 'x-amz-date matches the credential scope');
  const [rawPath = '', rawQuery = ''] = (req.url ?? '').split('?', 2);
  const canonicalQuery = rawQuery
    .split('&')
    .filter(Boolean)
    .map((pair) => {
      const [k = '', v = ''] = pair.split('=', 2);
      return [enc(decodeURIComponent(k)), enc(decodeURIComponent(v))] as const;
    })
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const names = signedHeaders.split(';');
  assert.ok(names.includes('host') && names.includes('x-amz-date'), 'host and x-amz-date are signed');
  const canonicalHeaders = names.map((n) => `${n}:${String(req.headers[n] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const payload = String(req.headers['x-amz-content-sha256'] ?? createHash('sha256').update('').digest('hex'));
  const canonical = [req.method, rawPath, canonicalQuery, canonicalHeaders, signedHeaders, payload].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', amzDate, `${date}/${region}/${service}/aws4_request`, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const kSigning = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region ?? ''), service ?? ''), 'aws4_request');
  return hmac(kSigning, toSign).toString('hex') === signature ? { ok: true, keyId } : { ok: false, code: 'SignatureDoesNotMatch' };
}

// ---- tests ----

const rgw = new FakeRgw();
let p: CephRgwProvisioner;
const calls = () => rgw.seen.map((s) => `${s.method} ${s.path}${s.query.has('key') ? '?key' : ''}`);

/** A ProvisioningError whose message matches every pattern and never contains a secret. */
async function rejectsWith(promise: Promise<unknown>, patterns: RegExp[], status?: number): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ProvisioningError, `expected a ProvisioningError, got ${String(error)}`);
    for (const pattern of patterns) assert.match(error.message, pattern);
    assert.equal(error.status, status);
    assert.ok(!error.message.includes(ADMIN.secretAccessKey), 'no admin secret in the message');
    for (const user of rgw.users.values()) for (const k of user.keys) assert.ok(!error.message.includes(k.secret_key), 'no user secret in the message');
    return true;
  });
}

before(() => rgw.start());
afterEach(() => assert.deepEqual(rgw.errors, [], 'the fake gateway found nothing wrong in the requests'));
after(() => rgw.stop());
beforeEach(() => {
  rgw.reset();
  p = new CephRgwProvisioner({ url: `${rgw.url}/`, region: REGION, ...ADMIN });
});

describe('CephRgwProvisioner requests', () => {
  test('every admin request is SigV4-signed with the admin key, and no secret ever appears in a URL', async () => {
    const key = await p.ensureAccount('alice');
    await p.ensureBucket('alice-data', 'alice');
    await p.rotateKey('alice');
    await p.deleteAccount('alice');
    assert.ok(rgw.seen.length >= 8);
    for (const s of rgw.seen) {
      if (s.path.startsWith('/admin/')) assert.equal(s.signer, ADMIN.accessKeyId, `${s.method} ${s.rawUrl} signed by the admin key`);
      assert.ok(!s.rawUrl.includes(ADMIN.secretAccessKey) && !s.rawUrl.includes(encodeURIComponent(ADMIN.secretAccessKey)));
      assert.ok(!s.rawUrl.includes(encodeURIComponent(key.secretAccessKey)) && !s.rawUrl.includes('secret-key'));
    }
  });

  test('account names with "@", "+", "." and non-ASCII letters are encoded as they are signed', async () => {
    const key = await p.ensureAccount('b@o.b+xé');
    assert.deepEqual([...rgw.users.keys()], ['refinery-b@o.b+xé']);
    assert.equal(rgw.users.get('refinery-b@o.b+xé')!.keys[0]!.access_key, key.accessKeyId);
  });

  test('a ":" (subuser) or "$" (tenant) in an account is refused before any request', async () => {
    await rejectsWith(p.ensureAccount('a:b'), [/account "a:b" cannot be an RGW uid/]);
    await rejectsWith(p.deleteAccount('t$a'), [/cannot be an RGW uid/]);
    await rejectsWith(p.ensureAccount(''), [/cannot be an RGW uid/]);
    assert.deepEqual(rgw.seen, []);
  });
});

describe('ensureAccount', () => {
  test('creates the user with a generated S3 key, then returns that same key without creating again', async () => {
    const key = await p.ensureAccount('alice');
    const put = rgw.seen.find((s) => s.method === 'PUT')!;
    assert.equal(put.path, '/admin/user');
    assert.equal(put.query.get('uid'), 'refinery-alice');
    assert.equal(put.query.get('display-name'), 'alice');
    assert.equal(put.query.get('key-type'), 's3');
    assert.equal(put.query.get('generate-key'), 'true');
    const stored = rgw.users.get('refinery-alice')!.keys;
    assert.deepEqual(stored.map((k) => ({ accessKeyId: k.access_key, secretAccessKey: k.secret_key })), [key]);

    rgw.seen = [];
    assert.deepEqual(await p.ensureAccount('alice'), key);
    assert.deepEqual(calls(), ['GET /admin/user']);
  });

  test('uidPrefix is configurable', async () => {
    p = new CephRgwProvisioner({ url: rgw.url, region: REGION, ...ADMIN, uidPrefix: 'lab.' });
    await p.ensureAccount('group-physics');
    assert.deepEqual([...rgw.users.keys()], ['lab.group-physics']);
  });

  test('two concurrent calls for one account make one user with one key', async () => {
    const [a, b] = await Promise.all([p.ensureAccount('alice'), p.ensureAccount('alice')]);
    assert.deepEqual(a, b);
    assert.equal(rgw.users.get('refinery-alice')!.keys.length, 1);
  });

  test('a user created by someone else between look-up and creation (409 UserAlreadyExists) is used', async () => {
    rgw.intercept = (s) => {
      if (s.method === 'PUT' && s.path === '/admin/user' && !s.query.has('key')) rgw.addUser('refinery-alice');
      return false;
    };
    const key = await p.ensureAccount('alice');
    assert.equal(key.accessKeyId, rgw.users.get('refinery-alice')!.keys[0]!.access_key);
    assert.deepEqual(calls(), ['GET /admin/user', 'PUT /admin/user', 'GET /admin/user']);
  });

  test('an existing user without S3 keys gets one', async () => {
    rgw.addUser('refinery-alice', { keys: 0 });
    const key = await p.ensureAccount('alice');
    assert.deepEqual(calls(), ['GET /admin/user', 'PUT /admin/user?key']);
    assert.equal(rgw.users.get('refinery-alice')!.keys[0]!.access_key, key.accessKeyId);
  });

  test('a suspended, keyless account (a deletion interrupted while the person stayed) is reinstated with a new key', async () => {
    const old = await p.ensureAccount('alice');
    Object.assign(rgw.users.get('refinery-alice')!, { suspended: true, keys: [] });
    const key = await p.ensureAccount('alice');
    assert.notEqual(key.accessKeyId, old.accessKeyId);
    const user = rgw.users.get('refinery-alice')!;
    assert.equal(user.suspended, false);
    assert.deepEqual(user.keys.map((k) => k.access_key), [key.accessKeyId]);
  });
});

describe('ensureBucket', () => {
  test('creates the bucket with a PUT Bucket signed by the user\'s own key, so the user owns it', async () => {
    await p.ensureBucket('alice-data', 'alice');
    const key = rgw.users.get('refinery-alice')!.keys[0]!;
    const put = rgw.seen.find((s) => s.method === 'PUT' && s.path === '/alice-data');
    assert.ok(put, `a PUT /alice-data in ${calls().join(', ')}`);
    assert.equal(put.signer, key.access_key);
    assert.equal(rgw.buckets.get('alice-data'), 'refinery-alice');
    assert.equal(rgw.seen[0]!.path, '/admin/bucket', 'ownership is checked before anything is created');
    assert.equal(rgw.seen[0]!.query.get('bucket'), 'alice-data');

    rgw.seen = [];
    await p.ensureBucket('alice-data', 'alice');
    assert.deepEqual(calls(), ['GET /admin/bucket'], 'an owned bucket needs one look-up');
  });

  test('a bucket owned by another uid is an error naming it, and nothing is created or linked', async () => {
    rgw.addUser('refinery-bob');
    rgw.buckets.set('shared', 'refinery-bob');
    await rejectsWith(p.ensureBucket('shared', 'alice'), [/bucket "shared"/, /refinery-bob/, /not to "refinery-alice"/], 409);
    assert.deepEqual(calls(), ['GET /admin/bucket']);
    assert.equal(rgw.users.has('refinery-alice'), false);
  });

  test('a bucket taken between look-up and creation (409 BucketAlreadyExists) is an error with Ceph\'s code', async () => {
    rgw.addUser('refinery-bob');
    rgw.intercept = (s) => {
      if (s.method === 'PUT' && s.path === '/race') rgw.buckets.set('race', 'refinery-bob');
      return false;
    };
    await rejectsWith(p.ensureBucket('race', 'alice'), [/creating bucket "race" for uid "refinery-alice" failed: HTTP 409 BucketAlreadyExists/], 409);
  });

  test('a gateway that says 200 but leaves the bucket to someone else is caught by the second look-up', async () => {
    rgw.addUser('refinery-bob');
    rgw.intercept = (s, res) => {
      if (s.method !== 'PUT' || s.path !== '/sly') return false;
      rgw.buckets.set('sly', 'refinery-bob');
      answer(res, 200, '');
      return true;
    };
    await rejectsWith(p.ensureBucket('sly', 'alice'), [/bucket "sly" belongs to uid "refinery-bob"/], 409);
  });
});

describe('rotateKey', () => {
  test('adds a new key, removes the old one, and returns the new one', async () => {
    const old = await p.ensureAccount('alice');
    rgw.seen = [];
    const key = await p.rotateKey('alice');
    assert.notEqual(key.accessKeyId, old.accessKeyId);
    assert.deepEqual(calls(), ['GET /admin/user', 'PUT /admin/user?key', 'DELETE /admin/user?key']);
    assert.equal(rgw.seen[2]!.query.get('access-key'), old.accessKeyId);
    assert.equal(rgw.seen[2]!.query.get('uid'), 'refinery-alice');
    assert.deepEqual(rgw.users.get('refinery-alice')!.keys.map((k) => ({ accessKeyId: k.access_key, secretAccessKey: k.secret_key })), [key]);
    assert.deepEqual(await p.ensureAccount('alice'), key);
  });

  test('a rotation interrupted half-way (two keys) ends with only the new key', async () => {
    rgw.addUser('refinery-alice', { keys: 2 });
    const key = await p.rotateKey('alice');
    assert.deepEqual(rgw.users.get('refinery-alice')!.keys.map((k) => k.access_key), [key.accessKeyId]);
  });

  test('an old key already removed (403 InvalidAccessKeyId) counts as removed', async () => {
    rgw.addUser('refinery-alice');
    rgw.intercept = (s, res) => {
      if (s.method !== 'DELETE') return false;
      jsonError(res, 403, 'InvalidAccessKeyId');
      return true;
    };
    const key = await p.rotateKey('alice');
    assert.ok(rgw.users.get('refinery-alice')!.keys.some((k) => k.access_key === key.accessKeyId));
  });
});

describe('deleteAccount', () => {
  test('suspends the user and removes its keys first, then deletes it with its buckets and their data', async () => {
    const key = await p.ensureAccount('alice');
    await p.ensureBucket('alice-data', 'alice');
    rgw.seen = [];
    await p.deleteAccount('alice');
    assert.deepEqual(calls(), ['GET /admin/user', 'POST /admin/user', 'DELETE /admin/user?key', 'DELETE /admin/user']);
    assert.equal(rgw.seen[1]!.query.get('suspended'), 'true');
    assert.equal(rgw.seen[2]!.query.get('access-key'), key.accessKeyId);
    assert.equal(rgw.seen[3]!.query.get('purge-data'), 'true');
    assert.equal(rgw.users.has('refinery-alice'), false);
    assert.equal(rgw.buckets.has('alice-data'), false, 'the bucket went with the user');
    // a person of the same name added later gets a new, empty account and bucket
    const again = await p.ensureAccount('alice');
    assert.notEqual(again.accessKeyId, key.accessKeyId);
    await p.ensureBucket('alice-data', 'alice');
    assert.equal(rgw.buckets.get('alice-data'), 'refinery-alice');
  });

  test('is a no-op for a missing account, and repeatable', async () => {
    await p.deleteAccount('nobody');
    assert.deepEqual(calls(), ['GET /admin/user']);
    await p.ensureAccount('alice');
    await p.deleteAccount('alice');
    rgw.seen = [];
    await p.deleteAccount('alice');
    assert.deepEqual(calls(), ['GET /admin/user']);
  });
});

describe('errors', () => {
  test('a refused admin key: operation, uid, status and Ceph\'s Code, never the secret', async () => {
    p = new CephRgwProvisioner({ url: rgw.url, region: REGION, accessKeyId: ADMIN.accessKeyId, secretAccessKey: 'wrong-secret-value' });
    await rejectsWith(p.ensureAccount('alice'), [/^ceph-rgw: looking up uid "refinery-alice" failed: HTTP 403 SignatureDoesNotMatch$/], 403);
    p = new CephRgwProvisioner({ url: rgw.url, region: REGION, ...ADMIN });
    rgw.addUser('refinery-bob');
    const bob = rgw.users.get('refinery-bob')!.keys[0]!;
    p = new CephRgwProvisioner({ url: rgw.url, region: REGION, accessKeyId: bob.access_key, secretAccessKey: bob.secret_key });
    await rejectsWith(p.ensureBucket('b', 'alice'), [/looking up bucket "b" failed: HTTP 403 AccessDenied/], 403);
  });

  test('a server error with a non-JSON body gives the status and no body text', async () => {
    rgw.intercept = (_s, res) => {
      answer(res, 503, '<html>maintenance: token=abc</html>', 'text/html');
      return true;
    };
    await assert.rejects(p.ensureAccount('alice'), (e: unknown) => e instanceof ProvisioningError && e.status === 503 && /HTTP 503$/.test(e.message) && !e.message.includes('token'));
  });

  test('a 200 that is not Ceph\'s JSON is an error, not a crash', async () => {
    rgw.intercept = (_s, res) => {
      answer(res, 200, '<html>a login page</html>', 'text/html');
      return true;
    };
    await rejectsWith(p.ensureAccount('alice'), [/looking up uid "refinery-alice": the answer is not JSON/]);
    rgw.intercept = (_s, res) => {
      answer(res, 200, JSON.stringify({ user_id: 'refinery-alice', keys: 'nope' }));
      return true;
    };
    await rejectsWith(p.ensureAccount('alice'), [/unexpected answer \(suspended: invalid_type; keys: invalid_type\)/]);
  });

  test('no gateway listening: an error naming the operation and the URL', async () => {
    const port = await freePort();
    p = new CephRgwProvisioner({ url: `http://127.0.0.1:${port}`, region: REGION, ...ADMIN });
    await rejectsWith(p.rotateKey('alice'), [/looking up uid "refinery-alice": no answer from http:\/\/127\.0\.0\.1:\d+/, /ECONNREFUSED/]);
  });

  test('a gateway that never answers is given up on after timeoutMs', async () => {
    const hung: ServerResponse[] = [];
    rgw.intercept = (_s, res) => hung.push(res) > 0; // never answers
    p = new CephRgwProvisioner({ url: rgw.url, region: REGION, ...ADMIN, timeoutMs: 200 });
    const t0 = Date.now();
    await rejectsWith(p.ensureAccount('alice'), [/no answer from/, /timeout|aborted/i]);
    assert.ok(Date.now() - t0 < 5000);
    for (const res of hung) res.destroy();
  });
});
