// Each shipped image (python, spark, dask: envs/base, envs/spark, envs/dask, built by
// scripts/setup-python.sh) started through the REST API with the default catalog plus two admin
// profiles, checked from inside a real kernel: what it can import, what its environment says.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { json, launchRefinery, type RefineryProcess } from '../helpers/refinery.js';
import { execute } from '../helpers/kernel.js';
import { killLeftovers } from '../helpers/processes.js';

const REPO = resolve(import.meta.dirname, '..', '..', '..');

interface ServerModel {
  name: string;
  ready: boolean;
  url: string;
  user_options: Record<string, unknown>;
}
interface UserModel {
  name: string;
  servers?: Record<string, ServerModel>;
}
interface SpawnOptions {
  images: { name: string; sizes: string[] }[];
  sizes: { name: string; memory: { limit?: number } | null }[];
  selected: Record<string, unknown>;
  warnings: string[];
}

/** What the kernel reports about itself, printed as JSON by KERNEL_REPORT. */
interface KernelReport {
  executable: string;
  PHYSICS_DATA: string | null;
  DASK_LABEL: string | null;
  MEM_LIMIT: string | null;
  MY_SETTING: string | null;
  JUPYTERHUB_USER: string | null;
}
const KERNEL_REPORT = [
  'import json, os, sys',
  'print(json.dumps({"executable": sys.executable, **{k: os.environ.get(k) for k in ["PHYSICS_DATA", "DASK_LABEL", "MEM_LIMIT", "MY_SETTING", "JUPYTERHUB_USER"]}}))',
].join('\n');

const SHARED = mkdtempSync(join(tmpdir(), 'refinery-shared-'));
// a shared data directory people's own accounts can read, as an administrator would set it up
chmodSync(SHARED, 0o755);
writeFileSync(join(SHARED, 'readme.txt'), 'shared with physics\n');

const PROFILES = [
  { name: 'physics', groups: ['physics'], env: { PHYSICS_DATA: '/data/{user}' }, volumes: [{ name: 'shared', mount_path: '/data/shared', host_path: SHARED, read_only: true }] },
  { name: 'dask-label', images: ['dask'], env: { DASK_LABEL: 'x' } },
];

describe('the shipped images, end to end', () => {
  let hub: RefineryProcess;
  const tokens: Record<string, string> = {};
  let options: SpawnOptions;

  before(async () => {
    hub = await launchRefinery({ config: { profiles: PROFILES, named_servers: { enabled: true, limit_per_user: 5 } } });
    const created = await hub.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: ['alice', 'bob'] }) });
    assert.equal(created.status, 201, await created.clone().text());
    const group = await hub.api('/hub/api/groups/physics', { method: 'POST', body: JSON.stringify({ users: ['alice'] }) });
    assert.equal(group.status, 201, await group.clone().text());
    tokens.alice = await hub.tokenFor('alice');
    tokens.bob = await hub.tokenFor('bob');
    options = await json<SpawnOptions>(hub.as(tokens.alice!, '/hub/api/users/alice/spawn-options'));
  });
  after(async () => {
    try {
      await hub?.cleanup();
      rmSync(SHARED, { recursive: true, force: true });
    } finally {
      if (hub) {
        const leftovers = killLeftovers(hub.dataDir);
        assert.deepEqual(leftovers, [], 'no server or kernel process outlives the hub\'s cleanup');
      }
    }
  });

  /**
   * The env must have been built: a missing one (or one still being built: setup-python.sh writes
   * .refinery-lock-hash last) is a failure that says how to build it, not a skip.
   */
  function requireEnv(env: string): void {
    const dir = join(REPO, 'envs', env);
    const how = 'build the images with: bash scripts/setup-python.sh';
    assert.ok(existsSync(join(dir, 'bin', 'python')), `envs/${env} does not exist (no ${join(dir, 'bin', 'python')}); ${how}`);
    assert.ok(existsSync(join(dir, '.refinery-lock-hash')), `envs/${env} is unfinished (no .refinery-lock-hash: still being built, or a build failed); ${how}`);
  }

  /** The memory limit (bytes, as MEM_LIMIT says it) of a size in the catalog the hub runs with. */
  function memLimitOf(size: string): string {
    const limit = options.sizes.find((s) => s.name === size)?.memory?.limit;
    assert.ok(limit, `size ${size} has a memory limit in the catalog`);
    return String(limit);
  }

  /**
   * Start `user`'s named server `server` with these user_options through the API, follow its progress
   * to the end, open a kernel on it; returns the kernel's prefix and id.
   */
  async function spawn(user: string, server: string, userOptions: Record<string, unknown>): Promise<{ prefix: string; kernelId: string }> {
    const token = tokens[user]!;
    const base = `/hub/api/users/${user}/servers/${server}`;
    const res = await hub.as(token, base, { method: 'POST', body: JSON.stringify(userOptions), headers: { 'Content-Type': 'application/json' } });
    const body = await res.text();
    assert.ok(res.status === 201 || res.status === 202, `starting ${user}/${server} with ${JSON.stringify(userOptions)}: ${res.status} ${body}`);
    const progress = await hub.as(token, `${base}/progress`, { headers: { Accept: 'text/event-stream' } });
    const events = (await progress.text()).split('\n\n').filter((b) => b.startsWith('data: ')).map((b) => JSON.parse(b.slice(6)) as Record<string, unknown>);
    const last = events.at(-1);
    assert.equal(last?.ready, true, `${user}/${server} did not become ready: ${JSON.stringify(events)}\n--- hub output (tail) ---\n${hub.output().slice(-3000)}`);
    const prefix = `/user/${user}/${server}/`;
    const kernel = await hub.as(token, `${prefix}api/kernels`, { method: 'POST', body: JSON.stringify({ name: 'python3' }), headers: { 'Content-Type': 'application/json' } });
    assert.equal(kernel.status, 201, await kernel.clone().text());
    return { prefix, kernelId: ((await kernel.json()) as { id: string }).id };
  }

  async function report(user: string, k: { prefix: string; kernelId: string }): Promise<KernelReport> {
    return JSON.parse(await execute(hub, tokens[user]!, k.prefix, k.kernelId, KERNEL_REPORT, 120_000)) as KernelReport;
  }

  async function serverModel(user: string, server: string): Promise<ServerModel> {
    const model = await json<UserModel>(hub.as(tokens[user]!, `/hub/api/users/${user}`));
    const found = model.servers?.[server];
    assert.ok(found, `${user} has a server ${server}: ${JSON.stringify(model)}`);
    return found;
  }

  test('the default catalog offers the three images to alice', () => {
    assert.deepEqual(options.images.map((i) => i.name), ['python', 'spark', 'dask']);
  });

  test('python (envs/base): no pyspark; the physics profile applies to alice; her own variable is there', async () => {
    requireEnv('base');
    const k = await spawn('alice', 'py', { image: 'python', size: 'small', env: { MY_SETTING: 'on' } });
    const r = await report('alice', k);
    assert.equal(r.executable, join(REPO, 'envs', 'base', 'bin', 'python'), 'the kernel runs the image\'s own Python');
    assert.equal(r.JUPYTERHUB_USER, 'alice');
    assert.equal(r.PHYSICS_DATA, '/data/alice');
    assert.equal(r.DASK_LABEL, null, 'the dask profile does not apply to the python image');
    assert.equal(r.MEM_LIMIT, memLimitOf('small'));
    assert.equal(r.MY_SETTING, 'on');
    const imported = await execute(hub, tokens.alice!, k.prefix, k.kernelId, [
      'try:',
      '    import pyspark',
      '    print("imported", pyspark.__file__)',
      'except ImportError as e:',
      '    print("ImportError")',
    ].join('\n'));
    assert.equal(imported.trim(), 'ImportError', 'the python image does not carry pyspark');
    // the physics profile's volume: locally a link in her home directory named after the mount path
    const shared = await execute(hub, tokens.alice!, k.prefix, k.kernelId, 'import os\nprint(open(os.path.expanduser("~/shared/readme.txt")).read(), end="")');
    assert.equal(shared, 'shared with physics\n');
    assert.deepEqual((await serverModel('alice', 'py')).user_options, { image: 'python', size: 'small', options: {}, env: { MY_SETTING: 'on' } });
  });

  test('spark (envs/spark): imports pyspark, and Java runs from the kernel', async () => {
    requireEnv('spark');
    const k = await spawn('alice', 'spark', { image: 'spark', size: 'medium', env: { MY_SETTING: 'on' } });
    const r = await report('alice', k);
    assert.equal(r.executable, join(REPO, 'envs', 'spark', 'bin', 'python'), `the kernel runs the spark image's own Python, not ${r.executable}: was the server started with the image's command?`);
    assert.equal(r.PHYSICS_DATA, '/data/alice');
    assert.equal(r.DASK_LABEL, null);
    assert.equal(r.MEM_LIMIT, memLimitOf('medium'));
    assert.equal(r.MY_SETTING, 'on');
    const version = (await execute(hub, tokens.alice!, k.prefix, k.kernelId, 'import pyspark\nprint(pyspark.__version__)', 120_000)).trim();
    assert.match(version, /^4\.\d+\.\d+/, `pyspark ${version}`);
    const java = JSON.parse(await execute(hub, tokens.alice!, k.prefix, k.kernelId, [
      'import json, subprocess',
      'r = subprocess.run(["java", "-version"], capture_output=True, text=True)',
      'print(json.dumps({"code": r.returncode, "out": r.stdout + r.stderr}))',
    ].join('\n'))) as { code: number; out: string };
    assert.equal(java.code, 0, java.out);
    assert.match(java.out, /version "17\./, java.out);
    assert.deepEqual((await serverModel('alice', 'spark')).user_options, { image: 'spark', size: 'medium', options: {}, env: { MY_SETTING: 'on' } });
  });

  test('dask (envs/dask): imports dask.distributed, and the image\'s profile sets DASK_LABEL', async () => {
    requireEnv('dask');
    const k = await spawn('alice', 'dask', { image: 'dask', size: 'large', env: { MY_SETTING: 'on' } });
    const r = await report('alice', k);
    assert.equal(r.executable, join(REPO, 'envs', 'dask', 'bin', 'python'), `the kernel runs the dask image's own Python, not ${r.executable}: was the server started with the image's command?`);
    assert.equal(r.PHYSICS_DATA, '/data/alice');
    assert.equal(r.DASK_LABEL, 'x');
    assert.equal(r.MEM_LIMIT, memLimitOf('large'));
    assert.equal(r.MY_SETTING, 'on');
    const out = (await execute(hub, tokens.alice!, k.prefix, k.kernelId, 'import dask, dask.distributed\nprint(dask.distributed.__version__)', 120_000)).trim();
    assert.match(out, /^\d{4}\.\d+\.\d+/, `distributed ${out}`);
    assert.deepEqual((await serverModel('alice', 'dask')).user_options, { image: 'dask', size: 'large', options: {}, env: { MY_SETTING: 'on' } });
  });

  test('bob, not in physics, gets no PHYSICS_DATA; the dask profile applies to him too', async () => {
    requireEnv('dask');
    const k = await spawn('bob', 'dask', { image: 'dask' });
    const r = await report('bob', k);
    assert.equal(r.JUPYTERHUB_USER, 'bob');
    assert.equal(r.PHYSICS_DATA, null);
    assert.equal(r.DASK_LABEL, 'x');
    assert.equal(r.MY_SETTING, null);
    assert.equal(r.MEM_LIMIT, memLimitOf('small'), 'the default size');
    assert.deepEqual((await serverModel('bob', 'dask')).user_options, { image: 'dask', size: 'small', options: {}, env: {} });
  });

  test('spawn-options afterwards pre-selects what alice used last', async () => {
    const after = await json<SpawnOptions>(hub.as(tokens.alice!, '/hub/api/users/alice/spawn-options'));
    assert.deepEqual(after.selected, { image: 'dask', size: 'large', profile: null, options: {}, env: { MY_SETTING: 'on' } });
    assert.deepEqual(after.warnings, []);
    // and bob's his own
    const bobs = await json<SpawnOptions>(hub.as(tokens.bob!, '/hub/api/users/bob/spawn-options'));
    assert.deepEqual(bobs.selected, { image: 'dask', size: 'small', profile: null, options: {}, env: {} });
  });
});
