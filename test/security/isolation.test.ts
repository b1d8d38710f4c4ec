// People on one machine: when Refinery runs as root, each person's server and cluster run as a
// system account of their own. From inside bob's kernel (a real kernel, reached through the proxy),
// the hub's database, the hub's process environment, alice's home, alice's Dask scheduler and her
// dashboard (through bob's own jupyter-server-proxy) are all out of reach; alice still uses her own.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ADMIN_PASSWORD, json, launchRefinery, startServerAndWait, type RefineryProcess } from '../helpers/refinery.js';
import { execute, openKernel } from '../helpers/kernel.js';
import { killLeftovers } from '../helpers/processes.js';
import { signIn } from '../helpers/session.js';
import { detectCgroups } from '../../src/host/cgroups.js';

const ROOT = process.getuid?.() === 0;
const NOT_ISOLATED = 'People are not isolated from each other on this machine';

interface ClusterModel {
  addresses: Record<string, string>;
  ui: Record<string, string>;
}

/** Python that tries `action` and prints "allowed" or "refused <exception>", never raising. */
function attempt(action: string): string {
  return [
    'try:',
    ...action.split('\n').map((l) => `    ${l}`),
    '    print("allowed")',
    'except Exception as e:',
    '    print("refused", type(e).__name__, str(e).replace("\\n", " ")[:300])',
  ].join('\n');
}

describe('people are kept apart on one machine', { skip: ROOT ? false : 'per-user system accounts need Refinery to run as root (CI runs the suite as root)' }, () => {
  let hub: RefineryProcess;
  const tokens: Record<string, string> = {};
  const kernels: Record<string, string> = {};
  let aliceCluster: ClusterModel;

  const run = (who: 'alice' | 'bob', code: string, timeoutMs = 60_000) => execute(hub, tokens[who]!, `/user/${who}/`, kernels[who]!, code, timeoutMs);

  before(async () => {
    hub = await launchRefinery({
      config: {
        // both get a small Dask cluster with their server: alice's is the one bob tries to reach
        profiles: [{ name: 'dask-cluster', images: ['dask'], clusters: [{ kind: 'dask', workers: 1, worker: { cores: 1, memory: '512M' } }] }],
      },
    });
    const created = await hub.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: ['alice', 'bob'] }) });
    assert.equal(created.status, 201, await created.clone().text());
    for (const who of ['alice', 'bob'] as const) {
      tokens[who] = await hub.tokenFor(who);
      await startServerAndWait(hub, tokens[who]!, who, '', { image: 'dask' });
      kernels[who] = await openKernel(hub, tokens[who]!, `/user/${who}/`);
    }
    [aliceCluster] = await json<ClusterModel[]>(hub.api('/hub/api/users/alice/clusters')) as [ClusterModel];
    await run('alice', 'open("diary.txt", "w").write("alice only")');
  });

  after(async () => {
    try {
      await hub?.cleanup();
    } finally {
      if (hub) assert.deepEqual(killLeftovers(hub.dataDir), [], 'no server, kernel or cluster process outlives the hub');
    }
  });

  test('each person\'s kernel runs as a system account of their own, not as root', async () => {
    const ids = await Promise.all((['alice', 'bob'] as const).map((who) => run(who, 'import os, pwd; print(os.getuid(), pwd.getpwuid(os.getuid()).pw_name)')));
    const [alice, bob] = ids.map((line) => line.trim().split(' ')) as [[string, string], [string, string]];
    assert.notEqual(alice[0], '0');
    assert.notEqual(bob[0], '0');
    assert.notEqual(alice[0], bob[0]);
    assert.deepEqual([alice[1], bob[1]], ['refinery-alice', 'refinery-bob']);
  });

  test('their kernels are still inside their servers\' cgroups (where the machine has them)', async (t) => {
    const layout = await detectCgroups();
    if (!layout.memory) return t.skip(`no memory cgroup here: ${layout.problems.join('; ')}`);
    const cgroup = await run('alice', 'print(open("/proc/self/cgroup").read())');
    const memory = cgroup.split('\n').find((l) => (layout.memory!.version === 1 ? /^\d+:[^:]*\bmemory\b[^:]*:/ : /^0::/).test(l));
    assert.match(memory ?? '', /\/refinery\/[0-9a-f-]{36}$/, `alice's kernel is in her server's memory cgroup: ${cgroup}`);
  });

  test('the Admin page raises no isolation warning', async () => {
    const admin = await signIn(hub, 'admin', ADMIN_PASSWORD);
    const page = await (await admin.get('/hub/admin')).text();
    assert.ok(!page.includes(NOT_ISOLATED));
    assert.ok(!hub.output().includes(NOT_ISOLATED));
  });

  test('bob\'s kernel can neither read nor write the hub\'s database', async () => {
    const db = join(hub.dataDir, 'refinery.sqlite');
    const read = await run('bob', attempt(`open(${JSON.stringify(db)}, "rb").read(16)`));
    assert.match(read, /^refused PermissionError/, `reading refinery.sqlite: ${read}`);
    const write = await run('bob', attempt(`open(${JSON.stringify(db)}, "r+b").close()`));
    assert.match(write, /^refused PermissionError/, `opening refinery.sqlite for writing: ${write}`);
    const sql = await run('bob', attempt(`import sqlite3\nsqlite3.connect(${JSON.stringify(db)}).execute("update users set admin = 1")`));
    assert.match(sql, /^refused/, `making himself admin through SQLite: ${sql}`);
  });

  test('bob\'s kernel cannot read the hub\'s process environment', async () => {
    const hubPid = Number(readFileSync(join(hub.dataDir, 'refinery.pid'), 'utf8').trim());
    assert.ok(hubPid > 1);
    const out = await run('bob', attempt(`open("/proc/${hubPid}/environ", "rb").read()`));
    assert.match(out, /^refused PermissionError/, `reading /proc/${hubPid}/environ: ${out}`);
  });

  test('bob\'s kernel can neither list nor read alice\'s home', async () => {
    const home = join(hub.dataDir, 'users', 'alice');
    assert.equal((await run('alice', 'print(open("diary.txt").read())')).trim(), 'alice only', 'alice reads her own file');
    const list = await run('bob', attempt(`import os\nos.listdir(${JSON.stringify(home)})`));
    assert.match(list, /^refused PermissionError/, `listing alice's home: ${list}`);
    const read = await run('bob', attempt(`open(${JSON.stringify(join(home, 'diary.txt'))}).read()`));
    assert.match(read, /^refused PermissionError/, `reading alice's file: ${read}`);
  });

  test('bob\'s kernel cannot listen in on alice\'s kernel: subscribing to her ports shows none of her output', { timeout: 120_000 }, async () => {
    // every loopback port alice's account listens on (her server, kernels, cluster): /proc/net/tcp names the owner
    const subscribed = await run('bob', [
      'import pwd, zmq',
      'alice_uid = pwd.getpwnam("refinery-alice").pw_uid',
      'ports = sorted({int(f[1].rsplit(":", 1)[1], 16) for t in ("/proc/net/tcp", "/proc/net/tcp6") for f in (l.split() for l in open(t).read().splitlines()[1:]) if f[3] == "0A" and int(f[7]) == alice_uid})',
      'ctx = zmq.Context()',
      'subs = []',
      'for p in ports:',
      '    s = ctx.socket(zmq.SUB); s.setsockopt(zmq.SUBSCRIBE, b""); s.setsockopt(zmq.LINGER, 0); s.connect(f"tcp://127.0.0.1:{p}"); subs.append(s)',
      'print(len(ports))',
    ].join('\n'));
    assert.ok(Number(subscribed) >= 5, `alice's kernel ports are visible to bob (${subscribed.trim()} ports): the test looks where an eavesdropper would`);
    await new Promise((r) => setTimeout(r, 2000));
    await run('alice', 'import time\nfor i in range(20):\n    print("alice-private-output", i, flush=True)\n    time.sleep(0.1)');
    const heard = await run('bob', [
      'import time',
      'heard = []',
      'end = time.time() + 3',
      'while time.time() < end:',
      '    for s in subs:',
      '        while s.poll(0):',
      '            heard.append(b"".join(s.recv_multipart()))',
      '    time.sleep(0.05)',
      'print(len(heard), any(b"alice-private-output" in m for m in heard))',
    ].join('\n'));
    assert.match(heard.trim(), / False$/, `bob heard alice's kernel output: ${heard.trim()}`);
  });

  test('alice\'s Dask scheduler takes her Client() with no arguments and refuses bob\'s, at the TLS handshake', { timeout: 180_000 }, async () => {
    const address = aliceCluster.addresses.DASK_SCHEDULER_ADDRESS!;
    const own = await run('alice', 'from distributed import Client\nc = Client(timeout=30)\nprint(c.scheduler.address)\nprint(c.submit(lambda x: x + 1, 41).result())\nc.close()', 120_000);
    assert.deepEqual(own.trim().split('\n'), [address, '42']);
    // bob has a cluster of his own, so his kernel holds a valid client certificate, of his cluster's CA
    const theirs = await run('bob', attempt(`from distributed import Client\nc = Client(${JSON.stringify(address)}, timeout=15)\nprint(c.scheduler_info()["address"])`), 120_000);
    assert.match(theirs, /^refused/, `bob's Client on alice's scheduler: ${theirs}`);
    assert.match(theirs, /SSL|TLS|certificate|handshake/i, `refused during the TLS handshake: ${theirs}`);
    assert.match(address, /^tls:\/\/127\.0\.0\.1:\d+$/);
  });

  test('bob\'s own jupyter-server-proxy refuses alice\'s dashboard port; alice\'s opens it', async () => {
    const dashboard = aliceCluster.ui.dashboard!;
    const port = /\/proxy\/(\d+)\//.exec(dashboard)?.[1];
    assert.ok(port, dashboard);
    const own = await hub.as(tokens.alice!, dashboard);
    assert.equal(own.status, 200, `alice opens her dashboard through her server: ${own.status}`);
    for (const path of [`/user/bob/proxy/${port}/status`, `/user/bob/proxy/absolute/${port}/status`, `/user/bob/proxy/localhost:${port}/status`]) {
      const res = await hub.as(tokens.bob!, path);
      assert.equal(res.status, 403, `${path} through bob's server: ${res.status}`);
    }
  });
});

describe('a hub whose people share its account says so', () => {
  let hub: RefineryProcess;

  before(async () => {
    // what a hub without root does by default; as root it has to be asked for
    hub = await launchRefinery({ config: { spawner: { local: { run_as: 'hub' } } } });
  });
  after(() => hub?.cleanup());

  test('once in its log at start-up, and on the Admin page', async () => {
    assert.equal(hub.output().split(NOT_ISOLATED).length - 1, 1, `the start-up log says it once:\n${hub.output()}`);
    const admin = await signIn(hub, 'admin', ADMIN_PASSWORD);
    const page = await (await admin.get('/hub/admin')).text();
    assert.match(page, /id="isolation-warning"/);
    assert.ok(page.includes(NOT_ISOLATED), 'the Admin page shows the warning');
  });
});
