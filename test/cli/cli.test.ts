// The `refinery` command line as an operator uses it, run as its own process against the data directory
// of a running hub (SQLite in WAL mode: the CLI and the hub share it).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { launchRefinery, SERVICE_TOKEN, type RefineryProcess } from '../helpers/refinery.js';
import { tmpDir, waitFor, type TmpDir } from '../helpers/tmp.js';
import { stringify } from 'yaml';

const REPO = resolve(import.meta.dirname, '..', '..', '..');
const CLI = join(REPO, 'dist', 'src', 'cli.js');

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], options: { stdin?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
    if (!options.env?.REFINERY_CONFIG) delete env.REFINERY_CONFIG;
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
    child.stdin.end(options.stdin ?? '');
  });
}

/** Sign in through the form as a browser does; returns the status of the POST. */
async function signIn(hub: RefineryProcess, username: string, password: string): Promise<number> {
  const form = await fetch(`${hub.url}/hub/login`);
  const html = await form.text();
  const xsrf = /name="_xsrf" value="([^"]+)"/.exec(html)?.[1];
  const cookie = /refinery-login-xsrf=[^;]+/.exec(form.headers.get('set-cookie') ?? '')?.[0];
  assert.ok(xsrf && cookie, 'the sign-in form carries an _xsrf field and cookie');
  const res = await fetch(`${hub.url}/hub/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: cookie },
    body: new URLSearchParams({ username, password, _xsrf: xsrf }).toString(),
  });
  await res.arrayBuffer();
  return res.status;
}

describe('refinery CLI against a running hub', () => {
  let hub: RefineryProcess;
  const run = (args: string[], stdin?: string) => cli([...args, '--config', hub.configPath], stdin === undefined ? {} : { stdin });

  before(async () => {
    hub = await launchRefinery();
  });
  after(() => hub?.cleanup());

  test('users add prints a generated password that signs in', async () => {
    const res = await run(['users', 'add', 'alice']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^created user alice\n/);
    const password = /^password: (\S+)$/m.exec(res.stdout)?.[1];
    assert.ok(password, res.stdout);
    assert.ok(password.length >= 8);
    assert.equal(await signIn(hub, 'alice', password), 302);
    assert.equal(await signIn(hub, 'alice', `${password}x`), 403);
  });

  test('users add --admin --password-stdin makes an admin with that password, which the API reports', async () => {
    const res = await run(['users', 'add', 'Boss', '--admin', '--password-stdin'], 'a-long-enough-password\n');
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, 'created admin user boss\n', 'the name is normalized and the password not echoed');
    assert.equal(await signIn(hub, 'boss', 'a-long-enough-password'), 302);
    const model = (await (await hub.api('/hub/api/users/boss')).json()) as { admin: boolean };
    assert.equal(model.admin, true);
  });

  test('users add refuses short passwords, bad names and existing users, creating nothing', async () => {
    const short = await run(['users', 'add', 'shorty', '--password-stdin'], 'abc\n');
    assert.equal(short.code, 1);
    assert.match(short.stderr, /at least 8 characters/);
    const bad = await run(['users', 'add', 'bad/name']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Invalid username/);
    const again = await run(['users', 'add', 'ALICE']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /alice already exists/);
    for (const name of ['shorty', 'bad%2Fname']) assert.equal((await hub.api(`/hub/api/users/${name}`)).status, 404);
  });

  test('users list shows every user with role', async () => {
    const res = await run(['users', 'list']);
    assert.equal(res.code, 0, res.stderr);
    const lines = res.stdout.trim().split('\n');
    assert.match(lines[0]!, /^NAME\s+ROLE\s+SERVERS$/);
    const rows = new Map(lines.slice(1).map((l) => [l.split(/\s+/)[0]!, l]));
    assert.deepEqual([...rows.keys()].sort(), ['admin', 'alice', 'boss']);
    assert.match(rows.get('admin')!, /\badmin\b.*-$/);
    assert.match(rows.get('boss')!, /\badmin\b/);
    assert.doesNotMatch(rows.get('alice')!.slice('alice'.length), /admin/);
  });

  test('users passwd changes the password (old one stops working)', async () => {
    const res = await run(['users', 'passwd', 'boss', '--password-stdin'], 'another-long-password\n');
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, 'password of boss changed\n');
    assert.equal(await signIn(hub, 'boss', 'another-long-password'), 302);
    assert.equal(await signIn(hub, 'boss', 'a-long-enough-password'), 403);

    const generated = await run(['users', 'passwd', 'boss']);
    assert.equal(generated.code, 0, generated.stderr);
    const password = /^new password of boss: (\S+)$/m.exec(generated.stdout)?.[1];
    assert.ok(password, generated.stdout);
    assert.equal(await signIn(hub, 'boss', password), 302);

    const nobody = await run(['users', 'passwd', 'nobody', '--password-stdin'], 'whatever-password\n');
    assert.equal(nobody.code, 1);
    assert.match(nobody.stderr, /no such user: nobody/);
  });

  test('token prints a token that the hub accepts as that user', async () => {
    const res = await run(['token', 'alice']);
    assert.equal(res.code, 0, res.stderr);
    const token = res.stdout.trim();
    assert.match(token, /^[0-9a-f]{32}$/);
    const who = await hub.as(token, '/hub/api/user');
    assert.equal(who.status, 200);
    const model = (await who.json()) as { name: string; kind: string; scopes: string[] };
    assert.equal(model.name, 'alice');
    assert.equal(model.kind, 'user');
    // everything alice can do, and nothing she cannot
    assert.equal((await hub.as(token, '/hub/api/users/alice/tokens')).status, 200);
    assert.equal((await hub.as(token, '/hub/api/users')).status, 403);
    // the hub lists it among alice's tokens, with the note
    const tokens = (await (await hub.api('/hub/api/users/alice/tokens')).json()) as { api_tokens: { note: string }[] };
    assert.ok(tokens.api_tokens.some((t) => t.note === 'Requested via refinery token command'));
  });

  test('token --scopes limits the token; --expires-in sets its expiry', async () => {
    const res = await run(['token', 'alice', '--scopes', 'read:users:name!user', '--expires-in', '3600', '--note', 'cli test']);
    assert.equal(res.code, 0, res.stderr);
    const token = res.stdout.trim();
    assert.equal((await hub.as(token, '/hub/api/user')).status, 200);
    assert.equal((await hub.as(token, '/hub/api/users/alice/tokens')).status, 403, 'read:tokens was not asked for');
    const tokens = (await (await hub.api('/hub/api/users/alice/tokens')).json()) as { api_tokens: { note: string; expires_at: string | null }[] };
    const made = tokens.api_tokens.find((t) => t.note === 'cli test');
    assert.ok(made?.expires_at);
    const inSeconds = (Date.parse(made.expires_at) - Date.now()) / 1000;
    assert.ok(inSeconds > 3500 && inSeconds <= 3600, `expires in ${inSeconds} s`);
  });

  test('token refuses unknown users, bad lifetimes and unknown scopes', async () => {
    const nobody = await run(['token', 'nobody']);
    assert.equal(nobody.code, 1);
    assert.match(nobody.stderr, /no such user: nobody/);
    assert.equal(nobody.stdout, '');
    const expiry = await run(['token', 'alice', '--expires-in', 'soon']);
    assert.equal(expiry.code, 1);
    assert.match(expiry.stderr, /--expires-in/);
    const scope = await run(['token', 'alice', '--scopes', 'read:users,not-a-scope']);
    assert.equal(scope.code, 1, `a token with an unknown scope was printed: ${scope.stdout}`);
    assert.match(scope.stderr, /not-a-scope/);
    assert.equal(scope.stdout, '');
  });

  test('users remove deletes the user; their tokens stop working', async () => {
    const token = (await run(['token', 'alice'])).stdout.trim();
    assert.equal((await hub.as(token, '/hub/api/user')).status, 200);
    const res = await run(['users', 'remove', 'alice']);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, 'removed user alice\n');
    assert.equal((await hub.api('/hub/api/users/alice')).status, 404);
    // the hub caches identities for a few seconds; after that the token is dead
    await waitFor(async () => (await hub.as(token, '/hub/api/user')).status === 403, { timeoutMs: 10_000, message: 'the removed user\'s token to be refused' });
    const again = await run(['users', 'remove', 'alice']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /no such user: alice/);
    assert.doesNotMatch((await run(['users', 'list'])).stdout, /^alice\b/m);
  });

  test('REFINERY_CONFIG is used when --config is not given', async () => {
    const res = await cli(['users', 'list'], { env: { REFINERY_CONFIG: hub.configPath } });
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^boss\b/m);
  });
});

describe('refinery check-config', () => {
  let dir: TmpDir;
  before(async () => {
    dir = await tmpDir('cli-config');
  });
  after(() => dir?.cleanup());

  test('a valid file: exit 0, the effective values, service tokens hidden', async () => {
    const file = join(dir.path, 'ok.yaml');
    await writeFile(file, `listen: "127.0.0.1:8123"\nauth:\n  login_window: 10m\nservices:\n  - name: culler\n    api_token: ${SERVICE_TOKEN}\n    scopes: [admin:servers]\n`);
    const res = await cli(['check-config', '--config', file]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: configuration is valid \\(3 images, 3 sizes, 2 profiles, 0 offered profiles, embedded object storage\\)\n`));
    const shown = JSON.parse(res.stdout.slice(res.stdout.indexOf('\n') + 1)) as { listen: unknown; auth: { login_window: number }; data_dir: string; services: { api_token: string }[] };
    assert.deepEqual(shown.listen, { host: '127.0.0.1', port: 8123 });
    assert.equal(shown.auth.login_window, 600);
    assert.equal(shown.data_dir, join(dir.path, 'data'));
    assert.equal(shown.services[0]!.api_token, '(hidden)');
    assert.ok(!res.stdout.includes(SERVICE_TOKEN), 'the token itself is never printed');
  });

  test("a sign-in provider's client secret given inline is hidden", async () => {
    const file = join(dir.path, 'oidc.yaml');
    const inline = 'oidc-client-secret-0123456789abcdef';
    await writeFile(file, stringify({ auth: { type: 'oidc', oidc: { issuer: 'https://sso.example.org/realms/data', client_id: 'refinery', client_secret: inline } } }));
    const res = await cli(['check-config', '--config', file]);
    assert.equal(res.code, 0, res.stderr);
    assert.ok(!res.stdout.includes(inline), res.stdout);
    assert.match(res.stdout, /"client_secret": "\(hidden\)"/);
  });

  test('storage keys given inline are hidden; references to where they live are shown', async () => {
    const file = join(dir.path, 'storage.yaml');
    const inline = 'inline-secret-key-0123456789abcdef';
    await writeFile(file, stringify({
      storage: { endpoints: [{ name: 'lake', url: 'http://127.0.0.1:7070', provisioning: { type: 'versitygw', access_key: 'ROOTKEY', secret_key: inline } }] },
      profiles: [{ name: 'p', storage: { endpoint: 'lake', credentials: { source: 'static', access_key: 'AKIAINLINE', secret_key: { env: 'LAKE_SECRET' } } }, env: { TOKEN: { secret: inline } } }],
    }));
    const res = await cli(['check-config', '--config', file]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /1 profiles, 0 offered profiles, 1 storage endpoint\)/);
    assert.ok(!res.stdout.includes(inline) && !res.stdout.includes('ROOTKEY') && !res.stdout.includes('AKIAINLINE'), res.stdout);
    assert.match(res.stdout, /"secret_key": \{\s*"env": "LAKE_SECRET"\s*\}/);
  });

  test('a PostgreSQL URL from the environment (a Kubernetes Secret): read at load, shown without its password', async () => {
    const file = join(dir.path, 'db.yaml');
    await writeFile(file, 'database: {env: REFINERY_DATABASE_URL}\n');
    const password = 'pg-pass-4c1e9b0d';
    const res = await cli(['check-config', '--config', file], { env: { REFINERY_DATABASE_URL: `postgres://hub:${password}@db.internal:5432/refinery` } });
    assert.equal(res.code, 0, res.stderr);
    assert.ok(!res.stdout.includes(password), res.stdout);
    assert.match(res.stdout, /"database": "postgres:\/\/hub:\(hidden\)@db\.internal:5432\/refinery"/);
    const missing = await cli(['check-config', '--config', file], { env: { REFINERY_DATABASE_URL: '' } });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /database: environment variable REFINERY_DATABASE_URL is not set/);
  });

  test('an invalid file: exit 2 and every problem, named', async () => {
    const file = join(dir.path, 'bad.yaml');
    await writeFile(file, 'lisen: 1\nauth:\n  login_attempts: five\n');
    const res = await cli(['check-config', '--config', file]);
    assert.equal(res.code, 2);
    assert.equal(res.stdout, '');
    assert.match(res.stderr, /lisen: unknown key \(did you mean "listen"\?\)/);
    assert.match(res.stderr, /auth\.login_attempts: expected number, got string "five"/);
  });

  test('no file: the defaults are valid', async () => {
    const res = await cli(['check-config']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^\(defaults\): configuration is valid/);
  });

  test('--version prints the version', async () => {
    const res = await cli(['--version']);
    assert.equal(res.code, 0);
    assert.match(res.stdout.trim(), /^\d+\.\d+\.\d+/);
  });
});
