// src/storage/provisioners/ceph-rgw.ts against a real Ceph 16 gateway (scripts/ceph-rgw.sh: one
// monitor, one memstore OSD, one radosgw on loopback). Opt-in: REFINERY_TEST_CEPH=1, with
//   apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common
// Not part of the default setup or CI (~290 MB of packages; ~12 s to start, ~4 s to stop).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { AwsClient } from 'aws4fetch';
import { ProvisioningError, type AccessKey } from '../../src/storage/provisioner.js';
import { CephRgwProvisioner } from '../../src/storage/provisioners/ceph-rgw.js';
import { processesWithEnv } from '../helpers/processes.js';
import { tmpDir, type TmpDir } from '../helpers/tmp.js';

const execFileP = promisify(execFile);
const SCRIPT = resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'ceph-rgw.sh');
/** Marks the cluster's daemons (they inherit it), to prove none is left behind. */
const MARK = 'REFINERY_TEST_CEPH_DIR';

const skip = process.env.REFINERY_TEST_CEPH === '1'
  ? false
  : 'real Ceph tests are opt-in: set REFINERY_TEST_CEPH=1 (needs apt-get install ceph-mon ceph-osd radosgw ceph-common)';

interface Cluster {
  url: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  seconds: number;
}

/** An S3 request signed with a user's own key (what a notebook server would send). */
async function s3(cluster: Cluster, key: AccessKey, method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
  const client = new AwsClient({ ...key, service: 's3', region: cluster.region, retries: 0 });
  const res = await client.fetch(`${cluster.url}${path}`, { method, ...(body === undefined ? {} : { body }) });
  return { status: res.status, text: await res.text() };
}

// The skip is on each test (not the suite) so that the runner counts them as skipped.
describe('CephRgwProvisioner on a real Ceph 16 gateway', () => {
  let dir: TmpDir;
  let cluster: Cluster;
  let p: CephRgwProvisioner;
  let alice: AccessKey;
  let bob: AccessKey;

  before(async () => {
    if (skip) return;
    dir = await tmpDir('ceph');
    const t0 = Date.now();
    const { stdout } = await execFileP('bash', [SCRIPT, 'start', dir.path], { timeout: 240_000, env: { ...process.env, [MARK]: dir.path } });
    cluster = JSON.parse(stdout) as Cluster;
    console.log(`ceph: gateway answering at ${cluster.url} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    p = new CephRgwProvisioner({ url: cluster.url, region: cluster.region, accessKeyId: cluster.accessKeyId, secretAccessKey: cluster.secretAccessKey, uidPrefix: 'refinery-' });
  });

  after(async () => {
    if (!dir) return;
    const t0 = Date.now();
    await execFileP('bash', [SCRIPT, 'stop', dir.path], { timeout: 60_000 }).catch((error: unknown) => console.log(`ceph: stop failed: ${String(error)}`));
    console.log(`ceph: stopped in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const left = processesWithEnv(MARK, dir.path);
    for (const pid of left) process.kill(pid, 'SIGKILL');
    await dir.cleanup();
    assert.deepEqual(left, [], 'no Ceph daemon is left running');
  });

  test('ensureAccount creates the user once and then returns its key', { skip }, async () => {
    alice = await p.ensureAccount('alice');
    assert.match(alice.accessKeyId, /^[A-Z0-9]{20}$/);
    assert.deepEqual(await p.ensureAccount('alice'), alice);
    bob = await p.ensureAccount('bob@example.org');
    assert.notEqual(bob.accessKeyId, alice.accessKeyId);
    assert.equal((await s3(cluster, alice, 'GET', '/')).status, 200, "alice's key works");
  });

  test('ensureBucket: the bucket is the user\'s, objects go in and out with the user\'s key, others get 403', { skip }, async () => {
    await p.ensureBucket('alice-data', 'alice');
    await p.ensureBucket('alice-data', 'alice');
    assert.equal((await s3(cluster, alice, 'PUT', '/alice-data/notes.txt', 'hello from alice')).status, 200);
    assert.deepEqual(await s3(cluster, alice, 'GET', '/alice-data/notes.txt'), { status: 200, text: 'hello from alice' });
    const denied = await s3(cluster, bob, 'GET', '/alice-data/notes.txt');
    assert.equal(denied.status, 403);
    assert.match(denied.text, /<Code>AccessDenied<\/Code>/);
    assert.equal((await s3(cluster, bob, 'PUT', '/alice-data/evil.txt', 'x')).status, 403);
  });

  test('a bucket owned by someone else is refused, naming it', { skip }, async () => {
    await assert.rejects(p.ensureBucket('alice-data', 'bob@example.org'), (e: unknown) =>
      e instanceof ProvisioningError && e.status === 409 && /bucket "alice-data" belongs to uid "refinery-alice"/.test(e.message));
  });

  test('rotateKey: the new key works, the old one is refused', { skip }, async () => {
    const old = alice;
    alice = await p.rotateKey('alice');
    assert.notEqual(alice.accessKeyId, old.accessKeyId);
    assert.deepEqual(await s3(cluster, alice, 'GET', '/alice-data/notes.txt'), { status: 200, text: 'hello from alice' });
    const refused = await s3(cluster, old, 'GET', '/alice-data/notes.txt');
    assert.equal(refused.status, 403);
    assert.match(refused.text, /InvalidAccessKeyId/);
    assert.deepEqual(await p.ensureAccount('alice'), alice, 'the account holds only the new key');
  });

  test('deleteAccount: the key stops working, the bucket and its data are gone; the name starts empty again', { skip }, async () => {
    await p.deleteAccount('alice');
    await p.deleteAccount('alice');
    await p.deleteAccount('never-seen');
    assert.equal((await s3(cluster, alice, 'GET', '/alice-data/notes.txt')).status, 403);
    // A person added later under the same name gets a new key and a new, empty bucket.
    const back = await p.ensureAccount('alice');
    assert.notEqual(back.accessKeyId, alice.accessKeyId);
    await p.ensureBucket('alice-data', 'alice');
    assert.equal((await s3(cluster, back, 'GET', '/alice-data/notes.txt')).status, 404);
  });

  test('a wrong admin secret is reported with Ceph\'s code, without the secret', { skip }, async () => {
    const wrong = new CephRgwProvisioner({ url: cluster.url, region: cluster.region, accessKeyId: cluster.accessKeyId, secretAccessKey: 'not-the-secret-0123456789' });
    await assert.rejects(wrong.ensureAccount('alice'), (e: unknown) =>
      e instanceof ProvisioningError && e.message === 'ceph-rgw: looking up uid "refinery-alice" failed: HTTP 403 SignatureDoesNotMatch' && e.status === 403);
  });
});
