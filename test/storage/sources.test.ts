import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { StaticSource } from '../../src/storage/sources/static.js';
import { DirectorySource } from '../../src/storage/sources/directory.js';
import { KubernetesSecretSource, type KubernetesSecretReader } from '../../src/storage/sources/kubernetes-secret.js';
import { CredentialError } from '../../src/storage/credentials.js';
import { expandBuckets } from '../../src/storage/buckets.js';
import { storageEnv } from '../../src/storage/env.js';
import { StorageError, StorageService } from '../../src/storage/service.js';
import { storageConfigSchema } from '../../src/storage/config.js';
import { ProvisioningError, type AccessKey, type Provisioner } from '../../src/storage/provisioner.js';
import { silentLogger } from '../../src/log.js';
import { tmpDir } from '../helpers/tmp.js';

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const ACCESS = 'AKIAIOSFODNN7EXAMPLE';
const alice = { name: 'alice', groups: ['data-eng', 'ml'] };
const asRoot = process.getuid?.() === 0;

/** Runs `fn`, expects a CredentialError, and checks its message mentions `parts` and never the secret. */
async function rejectsNaming(fn: () => Promise<unknown>, parts: (string | RegExp)[], secrets: string[] = [SECRET]): Promise<string> {
  let message = '';
  await assert.rejects(fn, (error: unknown) => {
    assert.ok(error instanceof CredentialError, `expected a CredentialError, got ${String(error)}`);
    message = error.message;
    return true;
  });
  for (const part of parts) assert.match(message, typeof part === 'string' ? new RegExp(part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : part);
  for (const secret of secrets) assert.ok(!message.includes(secret), `the message shows a secret: ${message}`);
  return message;
}

const dir = await tmpDir('storage-sources');
after(() => dir.cleanup());

describe('static source', () => {
  test('inline, env and file references give the pair; trailing newlines in files are dropped', async () => {
    const file = join(dir.path, 'static-secret');
    await writeFile(file, `${SECRET}\n`);
    process.env.TEST_STATIC_ACCESS = ACCESS;
    const key = await new StaticSource({ env: 'TEST_STATIC_ACCESS' }, { file }, 'profiles[0].storage', '/').keyFor();
    assert.deepEqual(key, { accessKeyId: ACCESS, secretAccessKey: SECRET });
    const inline = await new StaticSource(ACCESS, SECRET, 'profiles[0].storage', '/').keyFor();
    assert.equal(inline.secretAccessKey, SECRET);
  });

  test('a relative file is read relative to the configuration directory', async () => {
    await writeFile(join(dir.path, 'relative-secret'), SECRET);
    const key = await new StaticSource(ACCESS, { file: 'relative-secret' }, 'profiles[0].storage', dir.path).keyFor();
    assert.equal(key.secretAccessKey, SECRET);
  });

  test('missing env var, missing file, unreadable file: the message names the key and the source', async () => {
    delete process.env.TEST_STATIC_MISSING;
    await rejectsNaming(() => new StaticSource({ env: 'TEST_STATIC_MISSING' }, SECRET, 'profiles[2].storage.credentials', '/').keyFor(),
      ['profiles[2].storage.credentials.access_key', 'TEST_STATIC_MISSING', 'is not set']);
    const missing = join(dir.path, 'no-such-file');
    await rejectsNaming(() => new StaticSource(ACCESS, { file: missing }, 'profiles[2].storage.credentials', '/').keyFor(),
      ['secret_key', missing, 'does not exist']);
    // a directory where the file should be cannot be read, whoever we are
    await rejectsNaming(() => new StaticSource(ACCESS, { file: dir.path }, 'p.storage.credentials', '/').keyFor(), ['secret_key', 'is a directory']);
  });

  test('unreadable by permissions (when not running as root, who reads anything)', { skip: asRoot ? 'root can read files without permissions' : false }, async () => {
    const file = join(dir.path, 'locked');
    await writeFile(file, SECRET);
    await chmod(file, 0o000);
    await rejectsNaming(() => new StaticSource(ACCESS, { file }, 'p.storage.credentials', '/').keyFor(), ['permission denied', file]);
  });

  test('malformed values are refused without being shown', async () => {
    const cases: [string, RegExp][] = [
      ['', /is empty/],
      [`${SECRET}\n${SECRET}`, /more than one line/],
      [`${SECRET.slice(0, 10)} ${SECRET.slice(10)}`, /contains spaces/],
      [`${SECRET}é`, /printable ASCII/],
      ['x'.repeat(600), /longer than 512/],
    ];
    for (const [value, problem] of cases) {
      const file = join(dir.path, 'malformed');
      await writeFile(file, value);
      await rejectsNaming(() => new StaticSource(ACCESS, { file }, 'p.storage.credentials', '/').keyFor(), [problem, file], [SECRET, SECRET.slice(10)]);
    }
  });
});

describe('directory source', () => {
  const root = join(dir.path, 'secrets');
  const put = async (sub: string, files: Record<string, string>) => {
    await mkdir(join(root, sub), { recursive: true });
    for (const [name, value] of Object.entries(files)) await writeFile(join(root, sub, name), value);
  };
  const source = new DirectorySource(root, { access: 'AWS_ACCESS_KEY_ID', secret: 'AWS_SECRET_ACCESS_KEY' });

  test('the person\'s own pair wins over their groups\'; otherwise their first group that has one', async () => {
    await put('users/alice', { AWS_ACCESS_KEY_ID: 'ALICEKEY', AWS_SECRET_ACCESS_KEY: `${SECRET}\n` });
    await put('groups/ml', { AWS_ACCESS_KEY_ID: 'MLKEY', AWS_SECRET_ACCESS_KEY: 'ml-secret-value' });
    assert.deepEqual(await source.keyFor(alice), { accessKeyId: 'ALICEKEY', secretAccessKey: SECRET });
    assert.equal((await source.keyFor({ name: 'bob', groups: ['data-eng', 'ml'] })).accessKeyId, 'MLKEY');
  });

  test('no pair anywhere: says where it looked', async () => {
    await rejectsNaming(() => source.keyFor({ name: 'carol', groups: ['ops'] }), [root, 'carol', 'users/carol', 'groups/ops']);
  });

  test('a half-filled or broken own directory is an error, not a fall-through to a group key', async () => {
    await put('users/dave', { AWS_ACCESS_KEY_ID: 'DAVEKEY' });
    await rejectsNaming(() => source.keyFor({ name: 'dave', groups: ['ml'] }), [join(root, 'users/dave/AWS_SECRET_ACCESS_KEY'), 'does not exist']);
    await put('users/erin', { AWS_ACCESS_KEY_ID: 'ERIN KEY', AWS_SECRET_ACCESS_KEY: SECRET });
    await rejectsNaming(() => source.keyFor({ name: 'erin', groups: ['ml'] }), [join(root, 'users/erin/AWS_ACCESS_KEY_ID'), 'contains spaces']);
    await put('users/frank', { AWS_ACCESS_KEY_ID: 'FRANKKEY', AWS_SECRET_ACCESS_KEY: '' });
    await rejectsNaming(() => source.keyFor({ name: 'frank', groups: [] }), ['users/frank/AWS_SECRET_ACCESS_KEY', 'is empty']);
  });

  test('unreadable files (when not root)', { skip: asRoot ? 'root can read files without permissions' : false }, async () => {
    await put('users/gina', { AWS_ACCESS_KEY_ID: 'GINAKEY', AWS_SECRET_ACCESS_KEY: SECRET });
    await chmod(join(root, 'users/gina/AWS_SECRET_ACCESS_KEY'), 0o000);
    await rejectsNaming(() => source.keyFor({ name: 'gina', groups: [] }), ['permission denied', 'users/gina/AWS_SECRET_ACCESS_KEY']);
  });

  test('custom file names', async () => {
    await put('users/hana', { access: 'HANAKEY', secret: SECRET });
    const custom = new DirectorySource(root, { access: 'access', secret: 'secret' });
    assert.equal((await custom.keyFor({ name: 'hana', groups: [] })).accessKeyId, 'HANAKEY');
  });
});

describe('kubernetes-secret source', () => {
  const secrets: Record<string, Record<string, string>> = {
    'hub/s3-alice': { AWS_ACCESS_KEY_ID: 'ALICEKEY', AWS_SECRET_ACCESS_KEY: SECRET },
    'hub/team-ml': { AWS_ACCESS_KEY_ID: 'MLKEY', AWS_SECRET_ACCESS_KEY: 'ml-secret-value' },
    'hub/s3-bob': { AWS_ACCESS_KEY_ID: 'BOBKEY' },
  };
  const reader: KubernetesSecretReader = { namespace: 'hub', read: async (ns, name) => secrets[`${ns}/${name}`] ?? null };
  const settings = { access_key_field: 'AWS_ACCESS_KEY_ID', secret_key_field: 'AWS_SECRET_ACCESS_KEY' };

  test('finds the person\'s Secret by template, or their group\'s', async () => {
    assert.equal((await new KubernetesSecretSource(reader, { ...settings, name: 's3-{user}' }).keyFor(alice)).secretAccessKey, SECRET);
    assert.equal((await new KubernetesSecretSource(reader, { ...settings, name: 'team-{group}' }).keyFor(alice)).accessKeyId, 'MLKEY');
  });

  test('a missing Secret or field is named', async () => {
    await rejectsNaming(() => new KubernetesSecretSource(reader, { ...settings, name: 's3-{user}' }).keyFor({ name: 'carol', groups: [] }), ['hub/s3-carol']);
    await rejectsNaming(() => new KubernetesSecretSource(reader, { ...settings, name: 's3-{user}' }).keyFor({ name: 'bob', groups: [] }), ['AWS_SECRET_ACCESS_KEY', 'hub/s3-bob', 'missing']);
  });
});

describe('buckets', () => {
  test('{user} and {group} templates expand, in order, without duplicates', () => {
    assert.deepEqual(expandBuckets(['{user}-data', 'team-{group}', 'shared', '{user}-data'], { name: 'Alice_B', groups: ['Data Eng', 'ml'] }), [
      { name: 'alice-b-data', perUser: true },
      { name: 'team-data-eng', perUser: false },
      { name: 'team-ml', perUser: false },
      { name: 'shared', perUser: false },
    ]);
    assert.deepEqual(expandBuckets(['team-{group}'], { name: 'x', groups: [] }), []);
  });

  test('an invalid result names the template', () => {
    assert.throws(() => expandBuckets(['{user}'], { name: 'al', groups: [] }), /storage\.buckets\[0\].*"al".*not a valid bucket name/);
    assert.throws(() => expandBuckets(['ok-{user}', '{who}-x'], alice), /storage\.buckets\[1\].*\{who\}/);
  });

  test('with fitNames (the embedded store), every person gets a valid bucket of their own; valid names stay as they are', () => {
    const fitted = (name: string) => expandBuckets(['{user}'], { name, groups: [] }, { fitNames: true })[0]!.name;
    const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
    assert.equal(fitted('alice'), 'alice');
    assert.equal(fitted('a_b'), 'a-b');
    const names = ['al', 'w', '_jo', 'élodie', 'x'.repeat(80), 'x'.repeat(81), 'xn--abc', '-', '..'];
    const buckets = names.map(fitted);
    for (const [i, b] of buckets.entries()) assert.match(b, BUCKET, `${JSON.stringify(names[i])} gave ${b}`);
    assert.equal(new Set(buckets).size, names.length, 'no two people share a bucket');
    assert.match(fitted('al'), /^al-[0-9a-f]{8}$/);
    assert.equal(fitted('al'), fitted('al'), 'the same person always gets the same bucket');
  });
});

describe('environment', () => {
  test('every client finds endpoint, region and keys; path-style where asked', () => {
    const endpoint = storageConfigSchema.parse({ endpoints: [{ name: 'lake', url: 'http://127.0.0.1:7070/', region: 'eu-1', ca_file: '/etc/ca.pem' }] }).endpoints[0]!;
    const env = storageEnv(endpoint, { accessKeyId: ACCESS, secretAccessKey: SECRET }, ['alice-data', 'team-ml'], '/data/storage/lake.aws-config');
    assert.equal(env.AWS_ACCESS_KEY_ID, ACCESS);
    assert.equal(env.AWS_SECRET_ACCESS_KEY, SECRET);
    assert.equal(env.AWS_ENDPOINT_URL_S3, 'http://127.0.0.1:7070');
    assert.equal(env.AWS_ENDPOINT_URL, 'http://127.0.0.1:7070');
    assert.equal(env.AWS_DEFAULT_REGION, 'eu-1');
    assert.equal(env.AWS_CA_BUNDLE, '/etc/ca.pem');
    assert.equal(env.S3_BUCKET, 'alice-data');
    assert.equal(env.S3_BUCKETS, 'alice-data,team-ml');
    assert.deepEqual(JSON.parse(env.FSSPEC_S3!), { endpoint_url: 'http://127.0.0.1:7070', client_kwargs: { region_name: 'eu-1' }, config_kwargs: { s3: { addressing_style: 'path' } } });
    // the secret appears in exactly one variable
    assert.deepEqual(Object.entries(env).filter(([, v]) => v.includes(SECRET)).map(([k]) => k), ['AWS_SECRET_ACCESS_KEY']);
  });
});

describe('storage service', () => {
  class FakeProvisioner implements Provisioner {
    readonly kind = 'fake';
    readonly buckets: [string, string][] = [];
    readonly deleted: string[] = [];
    fail = false;
    async ensureAccount(account: string): Promise<AccessKey> {
      if (this.fail) throw new ProvisioningError(`creating account ${account}: the admin API answered 500 (InternalError)`, 500);
      return { accessKeyId: `K-${account}`, secretAccessKey: `${SECRET}-${account}` };
    }
    async ensureBucket(bucket: string, account: string): Promise<void> { this.buckets.push([bucket, account]); }
    async rotateKey(account: string): Promise<AccessKey> { return this.ensureAccount(account); }
    async deleteAccount(account: string): Promise<void> { this.deleted.push(account); }
  }
  const config = storageConfigSchema.parse({
    endpoints: [
      { name: 'lake', url: 'http://127.0.0.1:7070', provisioning: { type: 'versitygw', admin_url: 'http://127.0.0.1:7071', access_key: 'root', secret_key: 'rootsecret', account_prefix: 'rf-' } },
      { name: 'plain', url: 'https://s3.example.org' },
    ],
  });
  const make = (provisioner: FakeProvisioner) => new StorageService({ config, dataDir: dir.path, log: silentLogger(), configSource: '/etc/refinery.yaml', provisionerFor: () => provisioner });

  test('provisioned: the account and the {user} buckets are created, the env carries the key', async () => {
    const fake = new FakeProvisioner();
    const prepared = await make(fake).prepare({ endpoint: 'lake', buckets: ['{user}-data', 'team-{group}'], credentials: { source: 'provisioned' }, source: 'profile lake' }, alice);
    assert.deepEqual(fake.buckets, [['alice-data', 'rf-alice']]);
    assert.equal(prepared.env.AWS_ACCESS_KEY_ID, 'K-rf-alice');
    assert.equal(prepared.env.S3_BUCKETS, 'alice-data,team-data-eng,team-ml');
    assert.deepEqual(prepared.secrets, [`${SECRET}-rf-alice`]);
    assert.ok(!JSON.stringify(prepared.summary).includes(SECRET));
  });

  test('errors name the endpoint, the source and what failed, never the secret', async () => {
    const fake = new FakeProvisioner();
    fake.fail = true;
    await assert.rejects(make(fake).prepare({ endpoint: 'lake', credentials: { source: 'provisioned' } }, alice), (e: unknown) => e instanceof StorageError && /getting alice's keys from keys provisioned .*"lake".*500/.test(e.message));
    await assert.rejects(make(fake).prepare({ endpoint: 'nope', credentials: { source: 'provisioned' } }, alice), /no endpoint named "nope" in storage.endpoints of \/etc\/refinery.yaml/);
    await assert.rejects(make(fake).prepare({ endpoint: 'plain', credentials: { source: 'provisioned' } }, alice), /needs storage.endpoints\[name=plain\].provisioning/);
    await assert.rejects(make(fake).prepare({ endpoint: 'plain', credentials: { source: 'directory', path: join(dir.path, 'nowhere') } }, alice), (e: unknown) => e instanceof StorageError && e.message.includes('nowhere') && e.message.includes('alice'));
  });

  test('many spawns at once each get their storage (the shared config file is written without a race)', async () => {
    const service = make(new FakeProvisioner());
    const people = Array.from({ length: 40 }, (_, i) => ({ name: `person${i}`, groups: [] }));
    const prepared = await Promise.all(people.map((p) => service.prepare({ endpoint: 'lake', buckets: ['{user}'], credentials: { source: 'provisioned' } }, p)));
    assert.deepEqual(prepared.map((p) => p.env.S3_BUCKET), people.map((p) => p.name));
    const file = prepared[0]!.env.AWS_CONFIG_FILE!;
    assert.match(readFileSync(file, 'utf8'), /endpoint "lake"[^]*addressing_style = path/);
    assert.deepEqual(readdirSync(dirname(file)).filter((n) => n.endsWith('.tmp')), [], 'no temporary file is left');
  });

  test('forgetting a person revokes their account at every provisioning endpoint', async () => {
    const fake = new FakeProvisioner();
    await make(fake).forgetUser({ name: 'alice' });
    assert.deepEqual(fake.deleted, ['rf-alice']);
  });
});
