// The object store Refinery runs by itself when nothing is configured: a fresh hub with no
// `storage` gives every server a key of its person's own and a bucket named after them; boto3
// works with no arguments. The store outlives a hub killed with SIGKILL, keeps serving meanwhile,
// and the hub that comes back adopts it: one store process, never two.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { launchRefinery, SERVICE_TOKEN, startServerAndWait, type RefineryProcess } from '../helpers/refinery.js';
import { execute, openKernel } from '../helpers/kernel.js';
import { waitFor } from '../helpers/tmp.js';

let hub: RefineryProcess;
const tokens: Record<string, string> = {};
const kernels: Record<string, string> = {};

/** Processes that are this hub's store: by the marker in their environment. */
async function storeProcesses(objectsDir: string): Promise<number[]> {
  const { readdir } = await import('node:fs/promises');
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const environ = await readFile(`/proc/${entry}/environ`, 'latin1').catch(() => '');
    if (environ.split('\0').includes(`REFINERY_OBJECT_STORE=${objectsDir}`)) pids.push(Number(entry));
  }
  return pids;
}

const BOTO = (code: string) => `import os, boto3\ns3 = boto3.client("s3")\n${code}`;

before(async () => {
  hub = await launchRefinery();
  assert.equal((await hub.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: ['alice', 'bob'] }) })).status, 201);
  for (const name of ['alice', 'bob']) {
    tokens[name] = await hub.tokenFor(name);
    await startServerAndWait(hub, SERVICE_TOKEN, name);
    kernels[name] = await openKernel(hub, tokens[name]!, `/user/${name}/`);
  }
});

after(() => hub?.cleanup());

describe('embedded object storage', () => {
  test('with no storage configured, each server gets its own key and a bucket named after its person', { timeout: 120_000 }, async () => {
    const out = await execute(hub, tokens.alice!, '/user/alice/', kernels.alice!, BOTO([
      'bucket = os.environ["S3_BUCKET"]',
      's3.put_object(Bucket=bucket, Key="notes/hello.txt", Body=b"hello from alice")',
      'print(bucket, s3.list_objects_v2(Bucket=bucket)["KeyCount"], os.environ["AWS_ENDPOINT_URL_S3"].startswith("http://127.0.0.1:"))',
    ].join('\n')));
    assert.equal(out.trim(), 'alice 1 True');
    // bob's key does not open alice's bucket
    const denied = await execute(hub, tokens.bob!, '/user/bob/', kernels.bob!, BOTO([
      'from botocore.exceptions import ClientError',
      'try:',
      '    s3.get_object(Bucket="alice", Key="notes/hello.txt"); print("read")',
      'except ClientError as e:',
      '    print(e.response["Error"]["Code"])',
      'print(os.environ["S3_BUCKET"])',
    ].join('\n')));
    assert.deepEqual(denied.trim().split('\n'), ['AccessDenied', 'bob']);
  });

  test('a person whose name is no valid bucket name (al) still starts, with a bucket of their own', { timeout: 120_000 }, async () => {
    assert.equal((await hub.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: ['al'] }) })).status, 201);
    await startServerAndWait(hub, SERVICE_TOKEN, 'al');
    const token = await hub.tokenFor('al');
    const kernel = await openKernel(hub, token, '/user/al/');
    const out = await execute(hub, token, '/user/al/', kernel, BOTO([
      'bucket = os.environ["S3_BUCKET"]',
      's3.put_object(Bucket=bucket, Key="x.txt", Body=b"x")',
      'print(bucket, s3.list_objects_v2(Bucket=bucket)["KeyCount"])',
    ].join('\n')));
    assert.match(out.trim(), /^al-[0-9a-f]{8} 1$/);
  });

  test('the Storage page shows the endpoint and the person\'s bucket', async () => {
    const res = await hub.api('/hub/api/users/alice/storage');
    assert.equal(res.status, 200, await res.clone().text());
    const body = JSON.stringify(await res.json());
    assert.match(body, /"embedded"/);
    assert.match(body, /"alice"/);
    assert.doesNotMatch(body, /secret/i, 'no key in the answer');
  });

  test('SIGKILL of the hub leaves the store serving; the hub that comes back adopts it', { timeout: 120_000 }, async () => {
    const objectsDir = join(hub.dataDir, 'objects');
    const before = await storeProcesses(objectsDir);
    assert.equal(before.length, 1, 'one store process');
    await hub.kill('SIGKILL');
    // the server keeps using the store while the hub is down
    const state = JSON.parse(await readFile(join(hub.dataDir, 'objects.json'), 'utf8')) as { port: number };
    assert.equal((await fetch(`http://127.0.0.1:${state.port}/health`)).status, 200, 'the store answers with the hub down');
    await hub.restart();
    await waitFor(() => /adopted the embedded object store/.test(hub.output()), { timeoutMs: 10_000, message: 'the hub to say it adopted the store' });
    assert.deepEqual(await storeProcesses(objectsDir), before, 'the same process, and no second one');
    const kernel = await openKernel(hub, tokens.alice!, '/user/alice/');
    const out = await execute(hub, tokens.alice!, '/user/alice/', kernel, BOTO('print(s3.get_object(Bucket="alice", Key="notes/hello.txt")["Body"].read().decode())'));
    assert.equal(out.trim(), 'hello from alice');
  });

  test('the hub stops its store when it stops and no server is left', { timeout: 60_000 }, async () => {
    const other = await launchRefinery();
    const objectsDir = join(other.dataDir, 'objects');
    try {
      assert.equal((await storeProcesses(objectsDir)).length, 1);
      await other.kill('SIGTERM');
      await waitFor(async () => (await storeProcesses(objectsDir)).length === 0, { timeoutMs: 10_000, message: 'the store to stop with the hub' });
    } finally {
      await other.cleanup();
    }
  });

  test('storage.embedded: false runs no store and gives no storage', { timeout: 60_000 }, async () => {
    const plain = await launchRefinery({ config: { storage: { embedded: false } } });
    try {
      assert.deepEqual(await storeProcesses(join(plain.dataDir, 'objects')), []);
      assert.match(plain.output(), /^(?![\s\S]*started the embedded object store)/);
    } finally {
      await plain.cleanup();
    }
  });
});
