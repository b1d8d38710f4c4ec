// The versitygw provisioner against a real versitygw (test/helpers/s3-server.ts): accounts, buckets,
// rotation and revocation are checked by what S3 requests signed with the resulting keys can do.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AwsV4Signer } from 'aws4fetch';
import { ProvisioningError, type AccessKey } from '../../src/storage/provisioner.js';
import { VersitygwProvisioner } from '../../src/storage/provisioners/versitygw.js';
import { startS3Server, type S3Server } from '../helpers/s3-server.js';

interface S3Answer {
  status: number;
  /** The S3 error code (<Error><Code>), when the answer is an error. */
  code: string | undefined;
  body: string;
}

/** One S3 request signed with `key`, as any S3 client would send it (path-style). */
async function s3(server: S3Server, key: AccessKey, method: string, path: string, body?: string): Promise<S3Answer> {
  const signed = await new AwsV4Signer({
    method,
    url: `${server.url}${path}`,
    body: body ?? null,
    accessKeyId: key.accessKeyId,
    secretAccessKey: key.secretAccessKey,
    service: 's3',
    region: server.region,
  }).sign();
  const res = await fetch(signed.url, { method, headers: signed.headers, body: body ?? null, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  return { status: res.status, code: /<Code>([^<]*)<\/Code>/.exec(text)?.[1], body: text };
}

function isProvisioningError(pattern: RegExp, status?: number) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof ProvisioningError, `expected a ProvisioningError, got ${String(err)}`);
    assert.match(err.message, pattern);
    if (status !== undefined) assert.equal(err.status, status, err.message);
    return true;
  };
}

describe('VersitygwProvisioner (real versitygw)', () => {
  let server: S3Server;
  let p: VersitygwProvisioner;
  const provisioner = (overrides: Partial<ConstructorParameters<typeof VersitygwProvisioner>[0]> = {}) =>
    new VersitygwProvisioner({
      adminUrl: server.adminUrl,
      s3Url: server.url,
      region: server.region,
      accessKeyId: server.root.accessKeyId,
      secretAccessKey: server.root.secretAccessKey,
      ...overrides,
    });

  before(async () => {
    server = await startS3Server();
    p = provisioner();
  });
  after(() => server?.stop());

  test('ensureAccount creates the account once and then returns the same key, from any hub', async () => {
    const first = await p.ensureAccount('alice');
    assert.match(first.accessKeyId, /^[A-Z0-9]{20}$/);
    assert.match(first.secretAccessKey, /^[A-Za-z0-9]{40}$/);
    assert.notEqual(first.accessKeyId, server.root.accessKeyId);
    assert.deepEqual(await p.ensureAccount('alice'), first);
    // The store is the source of truth: a provisioner that never saw alice finds the same key.
    assert.deepEqual(await provisioner().ensureAccount('alice'), first);
    const other = await p.ensureAccount('group-alice');
    assert.notEqual(other.accessKeyId, first.accessKeyId);
    assert.notEqual(other.secretAccessKey, first.secretAccessKey);
  });

  test('two hubs creating the same account at once end up with one key', async () => {
    const [a, b] = await Promise.all([provisioner().ensureAccount('dora'), provisioner().ensureAccount('dora')]);
    assert.deepEqual(a, b);
    assert.equal((await s3(server, a, 'GET', '/')).status, 200, 'and it works');
  });

  test("the account's key writes and reads in its own bucket", async () => {
    const alice = await p.ensureAccount('alice');
    await p.ensureBucket('alice-data', 'alice');
    await p.ensureBucket('alice-data', 'alice'); // idempotent
    assert.ok(existsSync(join(server.dataDir, 'alice-data')), 'the posix backend holds the bucket');

    const put = await s3(server, alice, 'PUT', '/alice-data/hello.txt', 'hello from alice');
    assert.equal(put.status, 200, put.body);
    const got = await s3(server, alice, 'GET', '/alice-data/hello.txt');
    assert.equal(got.status, 200, got.body);
    assert.equal(got.body, 'hello from alice');
  });

  test("another account can neither read, write nor see the first one's bucket, nor create buckets", async () => {
    const alice = await p.ensureAccount('alice');
    await p.ensureBucket('alice-data', 'alice');
    assert.equal((await s3(server, alice, 'PUT', '/alice-data/private.txt', 'secret stuff')).status, 200);

    const bob = await p.ensureAccount('bob');
    await p.ensureBucket('bob-data', 'bob');
    const read = await s3(server, bob, 'GET', '/alice-data/private.txt');
    assert.equal(read.status, 403, read.body);
    assert.equal(read.code, 'AccessDenied');
    const write = await s3(server, bob, 'PUT', '/alice-data/from-bob.txt', 'x');
    assert.equal(write.status, 403, write.body);
    const list = await s3(server, bob, 'GET', '/alice-data');
    assert.equal(list.status, 403, list.body);

    const mine = await s3(server, bob, 'GET', '/');
    assert.equal(mine.status, 200, mine.body);
    assert.match(mine.body, /<Name>bob-data<\/Name>/);
    assert.doesNotMatch(mine.body, /alice-data/, "bob's bucket list does not show alice's bucket");

    // Role "user": buckets come from Refinery, not from notebooks.
    const create = await s3(server, bob, 'PUT', '/bob-made-this');
    assert.equal(create.status, 403, create.body);
  });

  test('ensureBucket of a bucket owned by another account fails naming the bucket, and changes nothing', async () => {
    const alice = await p.ensureAccount('alice');
    await p.ensureBucket('alice-data', 'alice');
    await p.ensureAccount('bob');
    await assert.rejects(p.ensureBucket('alice-data', 'bob'), isProvisioningError(/bucket "alice-data" belongs to another owner.*account "bob"/));
    // Still alice's.
    assert.equal((await s3(server, alice, 'PUT', '/alice-data/still-mine.txt', 'ok')).status, 200);
  });

  test('ensureBucket for an account that does not exist fails naming both', async () => {
    await assert.rejects(p.ensureBucket('nobody-data', 'nobody'), isProvisioningError(/bucket "nobody-data".*account "nobody".*HTTP 404 XAdminUserNotFound/, 404));
  });

  test('ensureBucket with a name S3 does not allow fails with the store\'s error', async () => {
    await p.ensureAccount('alice');
    await assert.rejects(p.ensureBucket('Not_A_Bucket', 'alice'), isProvisioningError(/bucket "Not_A_Bucket".*HTTP 400 InvalidBucketName/, 400));
  });

  test('rotateKey: the old secret stops working at once, the new one works and keeps the bucket', async () => {
    const old = await p.ensureAccount('carol');
    await p.ensureBucket('carol-data', 'carol');
    assert.equal((await s3(server, old, 'PUT', '/carol-data/before.txt', 'written before')).status, 200);

    const fresh = await p.rotateKey('carol');
    assert.notEqual(fresh.secretAccessKey, old.secretAccessKey);
    assert.equal(fresh.accessKeyId, old.accessKeyId, 'same account (versitygw: the id is the account), new secret');

    const denied = await s3(server, old, 'GET', '/carol-data/before.txt');
    assert.equal(denied.status, 403, denied.body);
    assert.equal(denied.code, 'SignatureDoesNotMatch');
    const got = await s3(server, fresh, 'GET', '/carol-data/before.txt');
    assert.equal(got.status, 200, got.body);
    assert.equal(got.body, 'written before');
    assert.deepEqual(await p.ensureAccount('carol'), fresh, 'ensureAccount now hands out the new key');
  });

  test('rotateKey of an account that does not exist yet creates it with a working key', async () => {
    const key = await p.rotateKey('erin');
    assert.deepEqual(await p.ensureAccount('erin'), key);
    assert.equal((await s3(server, key, 'GET', '/')).status, 200);
  });

  test('deleteAccount: the key fails afterwards and the buckets go with their data; a repeat is a no-op', async () => {
    const key = await p.ensureAccount('frank');
    await p.ensureBucket('frank-data', 'frank');
    await p.ensureBucket('frank-more', 'frank');
    await p.ensureAccount('gina');
    await p.ensureBucket('gina-data', 'gina');
    for (const path of ['/frank-data/keep.txt', '/frank-data/deep/er/file name (1).txt', '/frank-more/x']) {
      assert.equal((await s3(server, key, 'PUT', path, 'kept')).status, 200, path);
    }

    await p.deleteAccount('frank');
    const denied = await s3(server, key, 'GET', '/frank-data/keep.txt');
    assert.equal(denied.status, 403, denied.body);
    assert.equal(denied.code, 'InvalidAccessKeyId');
    assert.ok(!existsSync(join(server.dataDir, 'frank-data')), 'the bucket and its data are gone');
    assert.ok(!existsSync(join(server.dataDir, 'frank-more')));
    assert.ok(existsSync(join(server.dataDir, 'gina-data')), 'other accounts\' buckets stay');
    await p.deleteAccount('frank');

    // A person of the same name added later: a new secret and an empty bucket.
    const back = await p.ensureAccount('frank');
    assert.notEqual(back.secretAccessKey, key.secretAccessKey);
    await p.ensureBucket('frank-data', 'frank');
    const got = await s3(server, back, 'GET', '/frank-data/keep.txt');
    assert.equal(got.status, 404, got.body);
  });

  test('deleteAccount of an account that never existed is a no-op', async () => {
    await p.deleteAccount('never-was');
    await p.deleteAccount('never-was');
  });

  test('a wrong root secret gives ProvisioningErrors naming the operation, without any secret', async () => {
    const wrongSecret = 'WrongSecretWrongSecretWrongSecretWrong00';
    const bad = provisioner({ secretAccessKey: wrongSecret });
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['looking up account "alice"', () => bad.ensureAccount('alice')],
      ['looking up bucket "alice-data"', () => bad.ensureBucket('alice-data', 'alice')],
      ['replacing the secret of account "alice"', () => bad.rotateKey('alice')],
      ['deleting account "alice"', () => bad.deleteAccount('alice')],
    ];
    for (const [doing, call] of calls) {
      const err = await call().then(
        () => assert.fail(`${doing}: expected a failure`),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ProvisioningError, String(err));
      assert.equal(err.status, 403, err.message);
      assert.ok(err.message.includes(doing), err.message);
      assert.match(err.message, /HTTP 403 SignatureDoesNotMatch/);
      for (const secret of [wrongSecret, server.root.secretAccessKey]) {
        assert.ok(!err.message.includes(secret) && !String(err.stack).includes(secret), `no secret in: ${err.message}`);
      }
    }
    // Nothing changed: alice's key still works.
    const alice = await p.ensureAccount('alice');
    assert.equal((await s3(server, alice, 'GET', '/alice-data/hello.txt')).status, 200);
  });

  test('a gateway that does not answer gives a ProvisioningError naming the operation', async () => {
    const down = provisioner({ adminUrl: 'http://127.0.0.1:9', timeoutMs: 2_000 });
    await assert.rejects(down.ensureAccount('alice'), isProvisioningError(/looking up account "alice".*no answer from http:\/\/127\.0\.0\.1:9/));
  });

  test('the access key id is a function of the account name alone', () => {
    assert.equal(VersitygwProvisioner.accessKeyIdOf('alice'), VersitygwProvisioner.accessKeyIdOf('alice'));
    assert.notEqual(VersitygwProvisioner.accessKeyIdOf('alice'), VersitygwProvisioner.accessKeyIdOf('Alice'));
    assert.match(VersitygwProvisioner.accessKeyIdOf('näme with spaces/and=signs'), /^RF[A-Z2-7]{18}$/);
  });
});
