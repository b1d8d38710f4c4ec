// Smaller holes: a published notebook carrying one of its owner's hub tokens, token lifetimes that
// are nonsense, `remove` lost while a stop is under way, quotas and named-server limits exceeded by
// concurrent starts (in the managers, where the interleaving is certain), whose servers run told by 403-or-424, and group names that are paths.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { browserGet, launchRefinery, startServerAndWait, type RefineryProcess } from '../helpers/refinery.js';
import { FAKE_SINGLEUSER } from '../helpers/fake-singleuser.js';
import { inProcessHub, planWithClusters } from '../helpers/in-process-hub.js';
import { tmpDir } from '../helpers/tmp.js';
import { findServer } from '../../src/db/servers.js';
import { ServerRequestError } from '../../src/servers/errors.js';
import { DirectorySource } from '../../src/storage/sources/directory.js';

/** The environment of the hub's server process for `user` (we run as root, as the hub does). */
function serverEnvironment(hub: RefineryProcess, user: string): Record<string, string> {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/environ`, 'utf8');
    } catch {
      continue;
    }
    const env = Object.fromEntries(text.split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    if (env.JUPYTERHUB_USER === user && env.JUPYTERHUB_API_URL?.includes(`:${hub.port}/`)) return env;
  }
  throw new Error(`no server process of ${user} found`);
}

function notebookWithOutput(text: string): Record<string, unknown> {
  return {
    nbformat: 4, nbformat_minor: 5, metadata: {},
    cells: [{ id: 'c1', cell_type: 'code', metadata: {}, execution_count: 1, source: 'import os\nprint(os.environ)', outputs: [{ output_type: 'stream', name: 'stdout', text }] }],
  };
}

/** A request with the path exactly as written (fetch would resolve `..` and `%2E%2E`). */
function rawPost(hub: RefineryProcess, path: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: hub.port, path, method: 'POST', headers: { Authorization: `token ${token}`, 'Content-Length': 0 } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('through the hub', () => {
  let hub: RefineryProcess;
  const tokens: Record<string, string> = {};

  before(async () => {
    hub = await launchRefinery({ config: { spawner: { command: FAKE_SINGLEUSER } } });
    const created = await hub.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: ['alice', 'bob', 'carol', 'dave'] }) });
    assert.equal(created.status, 201);
    for (const name of ['alice', 'bob', 'carol', 'dave']) tokens[name] = await hub.tokenFor(name);
    await startServerAndWait(hub, tokens.alice!, 'alice');
  });
  after(() => hub?.cleanup());

  const publish = (text: string) =>
    hub.as(tokens.alice!, '/hub/api/users/alice/publications', { method: 'POST', body: JSON.stringify({ title: 'Environment', notebook: notebookWithOutput(text) }) });

  test("a notebook that prints its server's JUPYTERHUB_API_TOKEN, or another token of its owner, is not published", async () => {
    const serverToken = serverEnvironment(hub, 'alice').JUPYTERHUB_API_TOKEN!;
    assert.match(serverToken, /^[0-9a-f]{32}$/);
    for (const [what, token] of [['the server token', serverToken], ["one of alice's API tokens", tokens.alice!]] as const) {
      const res = await publish(`environ({'JUPYTERHUB_API_TOKEN': '${token}', 'HOME': '/home/alice'})\n`);
      assert.equal(res.status, 400, `${what} is refused`);
      const message = ((await res.json()) as { message: string }).message;
      assert.match(message, /hub API token/);
      assert.ok(!message.includes(token), 'the answer does not repeat it');
    }
    // token-shaped strings that are nobody's token (a hash, say) are fine
    const ok = await publish('md5: 0123456789abcdef0123456789abcdef\n');
    assert.equal(ok.status, 201, await ok.text());
  });

  test('token lifetimes: nonsense is a 400 naming expires_in; null and 0 mean no expiry, as in JupyterHub', async () => {
    for (const expires_in of [1e308, -1, 1.5, '3600', Number.MAX_SAFE_INTEGER]) {
      const res = await hub.api('/hub/api/users/bob/tokens', { method: 'POST', body: JSON.stringify({ expires_in }) });
      assert.equal(res.status, 400, `expires_in ${JSON.stringify(expires_in)}`);
      assert.match(((await res.json()) as { message: string }).message, /expires_in/);
    }
    for (const expires_in of [null, 0]) {
      const res = await hub.api('/hub/api/users/bob/tokens', { method: 'POST', body: JSON.stringify({ expires_in }) });
      assert.equal(res.status, 201);
      assert.equal(((await res.json()) as { expires_at: string | null }).expires_at, null);
    }
    const hour = await hub.api('/hub/api/users/bob/tokens', { method: 'POST', body: JSON.stringify({ expires_in: 3600 }) });
    const expiresAt = Date.parse(((await hour.json()) as { expires_at: string }).expires_at);
    assert.ok(Math.abs(expiresAt - (Date.now() + 3600_000)) < 120_000, 'an hour from now');
  });

  test('whether a server runs is not told to those who may not use it', async () => {
    // alice's server runs, bob's does not, nobody is not a user
    const anonymous = await Promise.all(['alice', 'bob', 'nobody'].map(async (u) => {
      const res = await fetch(`${hub.url}/user/${u}/api/status`);
      return `${res.status} ${await res.text()}`;
    }));
    assert.equal(new Set(anonymous).size, 1, `the same answer for all three: ${anonymous.join(' | ')}`);
    assert.match(anonymous[0]!, /^403 /);
    const pages = await Promise.all(['alice', 'bob'].map((u) => browserGet(hub, `/user/${u}/lab`)));
    assert.deepEqual(pages.map((p) => p.status), [302, 302]);
    assert.deepEqual(pages.map((p) => new URL(p.location!, hub.url).pathname), ['/hub/login', '/hub/login'], 'both to sign in');
    const signedIn = await Promise.all(['alice', 'bob', 'nobody'].map(async (u) => {
      const res = await hub.as(tokens.dave!, `/user/${u}/api/status`);
      return `${res.status} ${(await res.text()).replace(u, '<user>')}`;
    }));
    assert.equal(new Set(signedIn).size, 1, `the same answer for all three to someone else signed in: ${signedIn.join(' | ')}`);
    assert.match(signedIn[0]!, /^403 /);
    // the owner is still told that it is not running
    assert.equal((await hub.as(tokens.bob!, '/user/bob/api/status')).status, 424);
  });

  test('a server\'s URL spelled with percent-escapes leads to the server, not round in redirects', async () => {
    for (const [path, expected] of [['/user/%61lice/api/status', '/user/alice/api/status'], ['/user/%61lice/lab?x=%2F1', '/user/alice/lab?x=%2F1'], ['/user/al%69ce', '/user/alice/']]) {
      const res = await hub.as(tokens.alice!, path);
      assert.equal(res.status, 307, `${path}: ${res.status}`);
      assert.equal(res.headers.get('location'), expected);
    }
    const followed = await fetch(`${hub.url}/user/%61lice/api/status`, { headers: { Authorization: `token ${tokens.alice!}` } });
    assert.equal(followed.status, 200, 'followed, it reaches the server');
    // the escape does not let anyone else in, nor tell them the server runs
    assert.equal((await hub.as(tokens.dave!, '/user/%61lice/api/status')).status, 403);
    const page = await browserGet(hub, '/user/%61lice/lab');
    assert.equal(new URL(page.location!, hub.url).pathname, '/hub/login');
    // a stopped server's escaped URL still goes to the spawn page, once
    assert.equal((await hub.as(tokens.bob!, '/user/b%6Fb/api/status')).status, 424);
  });

  test('group names that are paths are refused', async () => {
    const admin = await hub.tokenFor('admin');
    for (const name of ['..', '.', '-rf']) {
      const one = await rawPost(hub, `/hub/api/groups/${name}`, admin);
      assert.equal(one.status, 400, `POST /hub/api/groups/${name}: ${one.body}`);
      const many = await hub.api('/hub/api/groups', { method: 'POST', body: JSON.stringify({ groups: [name] }) });
      assert.equal(many.status, 400, `POST /hub/api/groups ${JSON.stringify([name])}`);
    }
    const listed = (await (await hub.api('/hub/api/groups')).json()) as { name: string }[];
    assert.ok(!listed.some((g) => ['..', '.', '-rf'].includes(g.name)));
  });
});

describe('in the managers', () => {
  test('remove asked for while a stop is under way is honoured when the stop ends', async () => {
    const hub = await inProcessHub();
    try {
      const erin = await hub.user('erin');
      assert.equal(await hub.servers.start(erin, 'lab'), 'ready');
      hub.spawner.stopDelayMs = 300;
      const plain = hub.servers.stop(erin, 'lab');
      const remove = hub.servers.stop(erin, 'lab', { remove: true });
      await Promise.all([plain, remove]);
      assert.equal(await findServer(hub.db.kysely, erin.id, 'lab'), undefined, 'the named server is gone');
    } finally {
      await hub.close();
    }
  });

  test('concurrent starts of new named servers stay within the limit', async () => {
    const hub = await inProcessHub({ namedServerLimit: 2 });
    try {
      const gina = await hub.user('gina');
      const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => hub.servers.start(gina, `s${i}`)));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 2, 'two started');
      for (const r of results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')) assert.match((r.reason as Error).message, /maximum of 2 named servers/);
      const named = await hub.db.kysely.selectFrom('servers').select('name').where('user_id', '=', gina.id).where('name', '!=', '').execute();
      assert.equal(named.length, 2, `gina has two named servers, the limit (${named.map((n) => n.name).join(', ')})`);
    } finally {
      await hub.close();
    }
  });

  test('concurrent starts cannot together exceed the cluster quota', async () => {
    const hub = await inProcessHub({ quotas: { default: { max_clusters: 2 }, groups: {}, users: {} } });
    try {
      const frank = await hub.user('frank');
      const results = await Promise.allSettled(['a', 'b', 'c', 'd'].map((server) => hub.servers.start(frank, server, planWithClusters([{ kind: 'spark', workers: 1 }]))));
      const started = results.filter((r) => r.status === 'fulfilled');
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      assert.equal(started.length, 2, 'two fit');
      assert.equal(refused.length, 2);
      for (const r of refused) {
        assert.ok(r.reason instanceof ServerRequestError);
        assert.match((r.reason as Error).message, /max_clusters/);
      }
      assert.equal(['a', 'b', 'c', 'd'].reduce((n, s) => n + hub.backend.aliveOf('frank', s), 0), 2, 'two clusters run');
    } finally {
      await hub.close();
    }
  });

  test('a group named ".." does not reach outside the key directory', async () => {
    const dir = await tmpDir('keys');
    try {
      // a key pair at the top of the secrets directory, where `groups/..` would lead
      await writeFile(join(dir.path, 'AWS_ACCESS_KEY_ID'), 'ROOTKEY');
      await writeFile(join(dir.path, 'AWS_SECRET_ACCESS_KEY'), 'root-secret-value');
      await mkdir(join(dir.path, 'groups'), { recursive: true });
      const source = new DirectorySource(dir.path, { access: 'AWS_ACCESS_KEY_ID', secret: 'AWS_SECRET_ACCESS_KEY' });
      await assert.rejects(source.keyFor({ name: 'eve', groups: ['..'] }), /no key pair for eve/);
      await assert.rejects(source.keyFor({ name: 'eve', groups: ['.'] }), /no key pair for eve/);
    } finally {
      await dir.cleanup();
    }
  });
});
