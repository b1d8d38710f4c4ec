// Object storage end to end, against a real S3 server (versitygw) with provisioning on: a person's
// key and bucket are created on their first spawn; boto3, pandas, Spark (s3a://) and Dask find
// endpoint and keys with no arguments; another person's key gets 403; no key shows in logs, API
// responses, pages or process listings; deleting the person revokes the key.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { json, launchRefinery, startServerAndWait, ADMIN_PASSWORD, type RefineryProcess } from '../helpers/refinery.js';
import { execute, openKernel } from '../helpers/kernel.js';
import { killLeftovers } from '../helpers/processes.js';
import { addUser, signIn } from '../helpers/session.js';
import { startS3Server, type S3Server } from '../helpers/s3-server.js';

const REPO = resolve(import.meta.dirname, '..', '..', '..');
const ROWS = 1234;

/** Everything a kernel learns about its own keys, printed as one JSON line. */
const WHOAMI = 'import os, json; print(json.dumps({k: os.environ.get(k) for k in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "S3_BUCKET", "AWS_ENDPOINT_URL_S3"]}))';

interface Keys { AWS_ACCESS_KEY_ID: string; AWS_SECRET_ACCESS_KEY: string; S3_BUCKET: string; AWS_ENDPOINT_URL_S3: string }

/** A boto3 call from outside Refinery with explicit keys: what any S3 client holding them could do. */
function s3Call(s3: S3Server, keys: { id: string; secret: string }, code: string): { ok: boolean; out: string } {
  const res = spawnSync(join(REPO, 'envs/base/bin/python'), ['-c', `import boto3, botocore\ns3 = boto3.client("s3", endpoint_url=${JSON.stringify(s3.url)}, region_name=${JSON.stringify(s3.region)})\ntry:\n${code.split('\n').map((l) => `    ${l}`).join('\n')}\n    print("OK")\nexcept botocore.exceptions.ClientError as e:\n    print("DENIED", e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"])`], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', AWS_ACCESS_KEY_ID: keys.id, AWS_SECRET_ACCESS_KEY: keys.secret },
    timeout: 60_000,
  });
  const out = `${res.stdout}${res.stderr}`.trim();
  return { ok: out.endsWith('OK'), out };
}

describe('object storage with provisioning, end to end', () => {
  let s3: S3Server;
  let hub: RefineryProcess;
  const tokens: Record<string, string> = {};
  let alice: Keys;
  let bob: Keys;

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
        profiles: [
          { name: 'lake', storage: { endpoint: 'lake', buckets: ['{user}-data'], credentials: { source: 'provisioned' } } },
          { name: 'spark-cluster', images: ['spark'], clusters: [{ kind: 'spark', workers: 1, worker: { cores: 1, memory: '512M' } }] },
          { name: 'dask-cluster', images: ['dask'], clusters: [{ kind: 'dask', workers: 1, worker: { cores: 1, memory: '512M' } }] },
        ],
      },
    });
    await addUser(hub, 'alice', 'alice-password-for-storage');
    await addUser(hub, 'bob', 'bob-password-for-storage');
    tokens.alice = await hub.tokenFor('alice');
    tokens.bob = await hub.tokenFor('bob');
  });

  after(async () => {
    try {
      await hub?.cleanup();
    } finally {
      await s3?.stop();
      if (hub) assert.deepEqual(killLeftovers(hub.dataDir), [], 'no server, kernel or cluster process outlives the hub');
    }
  });

  test('alice: boto3 writes, pandas reads s3://, Spark on her cluster counts a CSV over s3a://, with no credentials in code', { timeout: 400_000 }, async () => {
    const events = await startServerAndWait(hub, tokens.alice!, 'alice', 'sp', { image: 'spark' });
    assert.ok(events.some((e) => /Object storage: keys for endpoint "lake", bucket alice-data/.test(String(e.message))), `progress names the storage: ${events.map((e) => e.message).join(' | ')}`);
    const prefix = '/user/alice/sp/';
    const kernel = await openKernel(hub, tokens.alice!, prefix);
    alice = JSON.parse(await execute(hub, tokens.alice!, prefix, kernel, WHOAMI)) as Keys;
    assert.equal(alice.S3_BUCKET, 'alice-data');
    assert.equal(alice.AWS_ENDPOINT_URL_S3, s3.url);
    assert.ok(alice.AWS_ACCESS_KEY_ID && alice.AWS_SECRET_ACCESS_KEY);
    assert.notEqual(alice.AWS_ACCESS_KEY_ID, s3.root.accessKeyId, 'alice has her own key, not the admin key');

    const out = await execute(hub, tokens.alice!, prefix, kernel, [
      'import os, boto3, pandas as pd',
      'bucket = os.environ["S3_BUCKET"]',
      's3 = boto3.client("s3")',
      's3.put_object(Bucket=bucket, Key="hello.txt", Body=b"hello from alice")',
      'print(s3.get_object(Bucket=bucket, Key="hello.txt")["Body"].read().decode())',
      `pd.DataFrame({"n": range(${ROWS}), "k": [i % 3 for i in range(${ROWS})]}).to_csv(f"s3://{bucket}/rows.csv", index=False)`,
      'print(len(pd.read_csv(f"s3://{bucket}/rows.csv")))',
      'from pyspark.sql import SparkSession',
      'spark = SparkSession.builder.getOrCreate()',
      'print(spark.read.csv(f"s3a://{bucket}/rows.csv", header=True).count())',
    ].join('\n'), 300_000, { allowStderr: true });
    assert.deepEqual(out.trim().split('\n').slice(-3), ['hello from alice', String(ROWS), String(ROWS)]);
  });

  test('alice on a Dask profile: dd.read_csv("s3://…") on her cluster', { timeout: 300_000 }, async () => {
    await startServerAndWait(hub, tokens.alice!, 'alice', 'dk', { image: 'dask' });
    const prefix = '/user/alice/dk/';
    const kernel = await openKernel(hub, tokens.alice!, prefix);
    const out = await execute(hub, tokens.alice!, prefix, kernel, [
      'import os, dask.dataframe as dd',
      'from distributed import Client',
      'client = Client()',
      'df = dd.read_csv(f"s3://{os.environ[\'S3_BUCKET\']}/rows.csv")',
      'print(len(client.scheduler_info()["workers"]), int(df.n.count().compute()), int(df[df.k == 0].n.count().compute()))',
    ].join('\n'), 240_000, { allowStderr: true });
    assert.equal(out.trim().split('\n').at(-1), `1 ${ROWS} ${Math.ceil(ROWS / 3)}`);
  });

  test('bob gets his own key, which the S3 server refuses for alice\'s bucket; his kernel sees no trace of alice\'s keys', { timeout: 200_000 }, async () => {
    await startServerAndWait(hub, tokens.bob!, 'bob', '', { image: 'python' });
    const kernel = await openKernel(hub, tokens.bob!, '/user/bob/');
    bob = JSON.parse(await execute(hub, tokens.bob!, '/user/bob/', kernel, WHOAMI)) as Keys;
    assert.equal(bob.S3_BUCKET, 'bob-data');
    assert.notEqual(bob.AWS_ACCESS_KEY_ID, alice.AWS_ACCESS_KEY_ID);
    const out = await execute(hub, tokens.bob!, '/user/bob/', kernel, [
      'import boto3, botocore, os',
      's3 = boto3.client("s3")',
      'try:',
      '    s3.get_object(Bucket="alice-data", Key="hello.txt")',
      '    print("READ")',
      'except botocore.exceptions.ClientError as e:',
      '    print(e.response["ResponseMetadata"]["HTTPStatusCode"])',
      's3.put_object(Bucket=os.environ["S3_BUCKET"], Key="mine.txt", Body=b"bob")',
      'print(s3.get_object(Bucket=os.environ["S3_BUCKET"], Key="mine.txt")["Body"].read().decode())',
      // everything bob's kernel can see of its own: environment and the files under its working directory
      // reversed here and turned round in the kernel: the code itself (kept in IPython's history) must not carry them
      `needles = [s[::-1] for s in [${JSON.stringify([...alice.AWS_ACCESS_KEY_ID].reverse().join(''))}, ${JSON.stringify([...alice.AWS_SECRET_ACCESS_KEY].reverse().join(''))}]]`,
      'seen = [k for k, v in os.environ.items() if any(n in v for n in needles)]',
      'for root, dirs, files in os.walk(os.getcwd()):',
      '    for f in files:',
      '        try:',
      '            text = open(os.path.join(root, f), errors="ignore").read()',
      '        except OSError:',
      '            continue',
      '        if any(n in text for n in needles): seen.append(os.path.join(root, f))',
      'print("TRACES", seen)',
    ].join('\n'), 60_000);
    assert.deepEqual(out.trim().split('\n'), ['403', 'bob', 'TRACES []']);
    // and from outside, with bob's key: the real server says 403 for alice's bucket
    const denied = s3Call(s3, { id: bob.AWS_ACCESS_KEY_ID, secret: bob.AWS_SECRET_ACCESS_KEY }, 's3.get_object(Bucket="alice-data", Key="hello.txt")');
    assert.match(denied.out, /DENIED 403/);
  });

  test('no secret in logs, API responses, pages or process listings', async () => {
    const secrets = [alice.AWS_SECRET_ACCESS_KEY, bob.AWS_SECRET_ACCESS_KEY, s3.root.secretAccessKey];
    const found = (where: string, text: string) => secrets.filter((s) => text.includes(s)).map(() => where);
    const leaks: string[] = [];
    for (const path of [
      '/hub/api/users', '/hub/api/users/alice', '/hub/api/users/alice/storage', '/hub/api/users/alice/clusters',
      '/hub/api/users/alice/spawn-plan?image=spark', '/hub/api/users/bob/spawn-plan', '/hub/api/users/alice/server/progress', '/hub/api/users/alice/servers/sp/progress',
    ]) {
      const res = await hub.api(path);
      leaks.push(...found(`GET ${path}`, await res.text()));
    }
    const storage = await json<{ endpoint: string; buckets: string[]; provisioned: boolean; servers: string[] }[]>(hub.as(tokens.alice!, '/hub/api/users/alice/storage'));
    assert.deepEqual(storage.map((s) => [s.endpoint, s.buckets, s.provisioned]), [['lake', ['alice-data'], true]]);

    const session = await signIn(hub, 'alice', 'alice-password-for-storage');
    for (const path of ['/hub/home', '/hub/spawn/alice/new', '/hub/storage', '/hub/token']) {
      const res = await session.get(path);
      assert.equal(res.status, 200, path);
      const text = await res.text();
      leaks.push(...found(`page ${path}`, text));
      if (path === '/hub/storage') {
        assert.match(text, /alice-data/);
        assert.match(text, /Show my keys/);
      }
    }
    const admin = await signIn(hub, 'admin', ADMIN_PASSWORD);
    for (const path of ['/hub/admin', '/hub/admin/users/alice/delete']) {
      const res = await admin.get(path);
      leaks.push(...found(`admin page ${path}`, await res.text()));
    }
    const ps = spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout;
    leaks.push(...found('ps -eo args', ps));
    leaks.push(...found('the hub log', hub.output()));
    assert.deepEqual(leaks, []);

    // the keys appear on the storage page only when alice asks for them, and that page is not cached
    const shown = await session.post('/hub/storage/keys', { endpoint: 'lake' });
    assert.equal(shown.status, 200);
    assert.equal(shown.headers.get('cache-control'), 'no-store');
    const text = await shown.text();
    assert.ok(text.includes(alice.AWS_SECRET_ACCESS_KEY), 'the revealed page shows her secret');
    assert.ok(!text.includes(bob.AWS_SECRET_ACCESS_KEY));
    assert.ok(!hub.output().includes(alice.AWS_SECRET_ACCESS_KEY), 'showing the keys logs no secret');
  });

  test('a notebook that carries alice\'s secret key cannot be published; without it, it can', async () => {
    const notebook = (text: string) => ({
      nbformat: 4, nbformat_minor: 5, metadata: {},
      cells: [{ cell_type: 'code', id: 'c1', execution_count: 1, metadata: {}, source: 'import os; os.environ["AWS_SECRET_ACCESS_KEY"]', outputs: [{ output_type: 'execute_result', execution_count: 1, metadata: {}, data: { 'text/plain': text } }] }],
    });
    const publish = (nb: unknown) => hub.as(tokens.alice!, '/hub/api/users/alice/publications', { method: 'POST', body: JSON.stringify({ title: 'Keys', notebook: nb }) });
    const refused = await publish(notebook(`'${alice.AWS_SECRET_ACCESS_KEY}'`));
    assert.equal(refused.status, 400);
    const message = ((await refused.json()) as { message: string }).message;
    assert.match(message, /object-storage secret key/);
    assert.ok(!message.includes(alice.AWS_SECRET_ACCESS_KEY));
    assert.equal((await publish(notebook("'[redacted]'"))).status, 201);
  });

  test('deleting alice revokes her key: later requests with it fail', { timeout: 120_000 }, async () => {
    const keys = { id: alice.AWS_ACCESS_KEY_ID, secret: alice.AWS_SECRET_ACCESS_KEY };
    assert.ok(s3Call(s3, keys, 's3.head_bucket(Bucket="alice-data")').ok, 'her key works before');
    for (const server of ['sp', 'dk']) await hub.as(tokens.alice!, `/hub/api/users/alice/servers/${server}`, { method: 'DELETE' });
    const res = await hub.api('/hub/api/users/alice', { method: 'DELETE' });
    assert.equal(res.status, 204, await res.clone().text());
    const after = s3Call(s3, keys, 's3.head_bucket(Bucket="alice-data")');
    assert.ok(!after.ok, `her key no longer works: ${after.out}`);
    assert.match(after.out, /DENIED 40[03]/);
    // bob's key is untouched
    assert.ok(s3Call(s3, { id: bob.AWS_ACCESS_KEY_ID, secret: bob.AWS_SECRET_ACCESS_KEY }, 's3.head_bucket(Bucket="bob-data")').ok);
  });
});
