// A person deleted and later created again under the same name starts empty: their old home is out
// of reach (archived for administrators), their system account was deleted and made anew, and their
// old object-store account and bucket are gone with the data in them (against a real versitygw).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { launchRefinery, startServerAndWait, type RefineryProcess } from '../helpers/refinery.js';
import { execute, openKernel } from '../helpers/kernel.js';
import { killLeftovers } from '../helpers/processes.js';
import { startS3Server, type S3Server } from '../helpers/s3-server.js';

const REPO = resolve(import.meta.dirname, '..', '..', '..');
const ROOT = process.getuid?.() === 0;

/** What the kernel knows about its keys and identity, as one JSON line. */
const WHOAMI = 'import os, json, pwd; print(json.dumps({"id": os.environ["AWS_ACCESS_KEY_ID"], "secret": os.environ["AWS_SECRET_ACCESS_KEY"], "bucket": os.environ["S3_BUCKET"], "uid": os.getuid(), "home": os.path.expanduser("~")}))';

interface Whoami { id: string; secret: string; bucket: string; uid: number; home: string }

/** boto3 with explicit keys, from outside Refinery: what anyone holding the old key could do. */
function withKey(s3: S3Server, key: { id: string; secret: string }, code: string): string {
  const res = spawnSync(join(REPO, 'envs/base/bin/python'), ['-c', `import boto3, botocore\ns3 = boto3.client("s3", endpoint_url=${JSON.stringify(s3.url)}, region_name=${JSON.stringify(s3.region)})\ntry:\n    ${code}\nexcept botocore.exceptions.ClientError as e:\n    print("DENIED", e.response["Error"]["Code"])`], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', AWS_ACCESS_KEY_ID: key.id, AWS_SECRET_ACCESS_KEY: key.secret },
    timeout: 60_000,
  });
  return `${res.stdout}${res.stderr}`.trim();
}

function systemAccount(name: string): string | null {
  const res = spawnSync('getent', ['passwd', name], { encoding: 'utf8' });
  return res.status === 0 ? res.stdout.trim() : null;
}

describe('a person deleted and created again starts empty', { skip: ROOT ? false : 'homes and system accounts per person need Refinery to run as root (CI runs the suite as root)' }, () => {
  let s3: S3Server;
  let hub: RefineryProcess;
  // a name of this run only: accounts are machine-wide, and other hubs' tests use the usual names
  const name = `ada-${randomBytes(3).toString('hex')}`;
  const prefix = `/user/${name}/`;
  let before1: Whoami;

  const startAndLogIn = async (): Promise<{ token: string; kernel: string }> => {
    const token = await hub.tokenFor(name);
    await startServerAndWait(hub, token, name);
    return { token, kernel: await openKernel(hub, token, prefix) };
  };

  before(async () => {
    s3 = await startS3Server();
    hub = await launchRefinery({
      env: { TEST_S3_ROOT_SECRET: s3.root.secretAccessKey },
      config: {
        storage: {
          endpoints: [{
            name: 'lake', url: s3.url, region: s3.region,
            provisioning: { type: 'versitygw', admin_url: s3.adminUrl, access_key: s3.root.accessKeyId, secret_key: { env: 'TEST_S3_ROOT_SECRET' } },
          }],
        },
        profiles: [{ name: 'lake', storage: { endpoint: 'lake', buckets: ['{user}-data'], credentials: { source: 'provisioned' } } }],
      },
    });
  });

  after(async () => {
    try {
      await hub?.api(`/hub/api/users/${name}/server`, { method: 'DELETE' }).catch(() => undefined);
      await hub?.api(`/hub/api/users/${name}`, { method: 'DELETE' }).catch(() => undefined);
      await hub?.cleanup();
    } finally {
      await s3?.stop();
      if (hub) assert.deepEqual(killLeftovers(hub.dataDir), [], 'no server or kernel outlives the hub');
    }
  });

  test('the first person of that name leaves a file in her home and an object in her bucket', { timeout: 300_000 }, async () => {
    assert.equal((await hub.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: [name] }) })).status, 201);
    const { token, kernel } = await startAndLogIn();
    before1 = JSON.parse(await execute(hub, token, prefix, kernel, WHOAMI)) as Whoami;
    assert.equal(before1.bucket, `${name}-data`);
    await execute(hub, token, prefix, kernel, [
      'open("private-notes.txt", "w").write("from the first one")',
      'import boto3',
      'boto3.client("s3").put_object(Bucket=__import__("os").environ["S3_BUCKET"], Key="old/report.csv", Body=b"a,b\\n1,2\\n")',
    ].join('\n'));
    assert.match(withKey(s3, before1, `print(len(s3.list_objects_v2(Bucket=${JSON.stringify(before1.bucket)}).get("Contents", [])))`), /^1$/);
    assert.ok(systemAccount(`refinery-${name}`), 'her system account exists');
  });

  test('deleting her archives her home out of reach, deletes her system account and her store account with its bucket', { timeout: 120_000 }, async () => {
    assert.equal((await hub.api(`/hub/api/users/${name}/server`, { method: 'DELETE' })).status, 204);
    const res = await hub.api(`/hub/api/users/${name}`, { method: 'DELETE' });
    assert.equal(res.status, 204, await res.clone().text());
    assert.equal(existsSync(join(hub.dataDir, 'users', name)), false, 'her home is no longer where a new person of that name would get it');
    const deleted = join(hub.dataDir, 'deleted');
    const archived = readdirSync(deleted).filter((n) => n.startsWith(`${name}-`));
    assert.equal(archived.length, 1, `one archive in ${deleted}: ${archived.join(', ')}`);
    assert.equal(statSync(deleted).mode & 0o777, 0o700, 'archived homes are root\'s alone');
    assert.equal(statSync(deleted).uid, 0);
    assert.ok(existsSync(join(deleted, archived[0]!, 'private-notes.txt')), 'an administrator can still restore it');
    assert.equal(systemAccount(`refinery-${name}`), null, 'her system account is gone');
    assert.match(withKey(s3, before1, `s3.head_bucket(Bucket=${JSON.stringify(before1.bucket)}); print("OK")`), /DENIED/, 'her old key no longer works');
  });

  test('a new person of the same name gets an empty home and an empty bucket, and the old key reaches nothing', { timeout: 300_000 }, async () => {
    assert.equal((await hub.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: [name] }) })).status, 201);
    const { token, kernel } = await startAndLogIn();
    const now = JSON.parse(await execute(hub, token, prefix, kernel, WHOAMI)) as Whoami;
    assert.equal(now.home, before1.home, 'the same place for the same name');
    assert.equal((await execute(hub, token, prefix, kernel, 'import os; print(os.path.exists("private-notes.txt"))')).trim(), 'False', 'the old home is not inherited');
    const listed = await execute(hub, token, prefix, kernel, 'import boto3, os; print(len(boto3.client("s3").list_objects_v2(Bucket=os.environ["S3_BUCKET"]).get("Contents", [])))');
    assert.equal(listed.trim(), '0', 'the bucket of the same name is a new, empty one');
    assert.notEqual(now.secret, before1.secret);
    const old = withKey(s3, before1, `print(len(s3.list_objects_v2(Bucket=${JSON.stringify(now.bucket)}).get("Contents", [])))`);
    assert.match(old, /DENIED/, `the old key reaches nothing: ${old}`);
  });
});
