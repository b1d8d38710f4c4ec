// Mistakes and attacks, as the people making them see the answers: configurations that must not start,
// sign-in failures, malformed API requests, dead tokens and other users' data.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { chmod, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../../src/util/ports.js';
import { ADMIN_PASSWORD, launchRefinery, type RefineryProcess } from '../helpers/refinery.js';
import { tmpDir, type TmpDir } from '../helpers/tmp.js';

const REPO = resolve(import.meta.dirname, '..', '..', '..');
const CLI = join(REPO, 'dist', 'src', 'cli.js');
const LOGIN_ATTEMPTS = 3;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The command was still running after the time limit (and was killed). */
  timedOut: boolean;
}

/** `node dist/src/cli.js ...args`; killed (by its pid) if still running after `limitMs`. */
function runCli(args: string[], env: Record<string, string> = {}, limitMs = 20_000): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, limitMs);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr, timedOut });
    });
  });
}

describe('invalid configuration stops start-up with a message naming the key', () => {
  let dir: TmpDir;
  let port: number;
  before(async () => {
    dir = await tmpDir('bad-config');
    // as root, a data_dir that people's system accounts cannot reach is itself refused at start
    await chmod(dir.path, 0o711);
    port = await freePort();
  });
  after(() => dir?.cleanup());

  /** Both `check-config` and `start` refuse the file with exit code 2 and messages matching all of `patterns`. */
  async function refused(name: string, yaml: string, patterns: RegExp[], options: { checkConfigToo?: boolean } = {}): Promise<string> {
    const file = join(dir.path, `${name}.yaml`);
    await writeFile(file, `data_dir: ${join(dir.path, `data-${name}`)}\n${yaml}`);
    const commands = options.checkConfigToo === false ? ['start'] : ['check-config', 'start'];
    let stderr = '';
    for (const command of commands) {
      const run = await runCli([command, '--config', file]);
      assert.equal(run.timedOut, false, `${command} kept running with ${name}.yaml`);
      assert.equal(run.code, 2, `${command} exit code; stderr: ${run.stderr}`);
      for (const pattern of patterns) assert.match(run.stderr, pattern, `${command}: ${run.stderr}`);
      assert.doesNotMatch(run.stderr, /\n\s+at .*\.js:\d+/, 'no stack trace for a configuration mistake');
      stderr = run.stderr;
    }
    // and nothing listens on the port it would have used
    await assert.rejects(fetch(`http://127.0.0.1:${port}/hub/health`));
    return stderr;
  }

  test('a misspelt key: named, with a suggestion', async () => {
    await refused('typo', `lisen: "127.0.0.1:${port}"\n`, [/lisen/, /did you mean "listen"\?/]);
  });

  test('listen: nonsense', async () => {
    await refused('listen', 'listen: nonsense\n', [/listen: expected "host:port"/, /"nonsense"/]);
  });

  test('an unknown scope of a service names services[0].scopes', async () => {
    await refused('scopes', `listen: "127.0.0.1:${port}"\nservices:\n  - name: culler\n    api_token: abc\n    scopes: [not-a-scope]\n`, [/services\[0\]\.scopes/, /not-a-scope/]);
  });

  test('a YAML syntax error gives the line', async () => {
    await refused('syntax', `listen: "127.0.0.1:${port}"\nauth:\n  login_attempts: 3\n  login_window: [5m\nlog_level: info\n`, [/line \d+, column \d+/]);
    // (refused() puts a data_dir line first, so the tab is on line 3)
    await refused('tabs', `listen: "127.0.0.1:${port}"\n\tlog_level: info\n`, [/line 3, column 1: Tabs are not allowed/]);
  });

  test('a service token from an unset environment variable stops start, naming the key and the variable', async () => {
    await refused(
      'secret',
      `listen: "127.0.0.1:${port}"\nservices:\n  - name: culler\n    api_token: {env: REFINERY_TEST_NOT_SET}\n`,
      [/services\[0\]\.api_token/, /REFINERY_TEST_NOT_SET/],
      { checkConfigToo: false },
    );
  });

  test('an address already in use is reported, and the command ends', async () => {
    const blocker: Server = createServer();
    const busy = await freePort();
    await new Promise<void>((r) => blocker.listen(busy, '127.0.0.1', r));
    try {
      const file = join(dir.path, 'busy.yaml');
      await writeFile(file, `data_dir: ${join(dir.path, 'data-busy')}\nlisten: "127.0.0.1:${busy}"\n`);
      const run = await runCli(['start', '--config', file], { REFINERY_ADMIN_PASSWORD: 'some-password-1' });
      assert.equal(run.timedOut, false, 'start kept running although it could not listen');
      assert.notEqual(run.code, 0);
      assert.match(run.stderr, /EADDRINUSE|already in use/);
      assert.match(run.stderr, new RegExp(String(busy)));
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  });
});

describe('a running hub, given bad input', () => {
  let hub: RefineryProcess;
  let aliceToken: string;
  let bobToken: string;

  before(async () => {
    hub = await launchRefinery({ config: { auth: { login_attempts: LOGIN_ATTEMPTS, login_window: '5m' } } });
    const res = await hub.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: ['alice', 'bob'] }) });
    assert.equal(res.status, 201);
    aliceToken = await hub.tokenFor('alice');
    bobToken = await hub.tokenFor('bob');
  });
  after(() => hub?.cleanup());

  const post = (path: string, body: string, token: string | null = null) =>
    (token ? hub.as(token, path, { method: 'POST', body }) : hub.api(path, { method: 'POST', body }));
  const errorOf = async (res: Response) => {
    const body = (await res.json()) as { status: number; message: string };
    assert.equal(body.status, res.status, 'the body repeats the status, as JupyterHub does');
    assert.equal(typeof body.message, 'string');
    return body.message;
  };

  describe('sign-in', () => {
    /** Fetch the form (for its _xsrf field and cookie) and post it as a browser would. */
    async function signIn(username: string, password: string, options: { xsrf?: boolean } = {}): Promise<{ status: number; error: string | undefined; retryAfter: string | null; cookie: string | undefined; location: string | null }> {
      const form = await fetch(`${hub.url}/hub/login`);
      const html = await form.text();
      const xsrf = /name="_xsrf" value="([^"]+)"/.exec(html)?.[1];
      const cookie = /refinery-login-xsrf=[^;]+/.exec(form.headers.get('set-cookie') ?? '')?.[0];
      assert.ok(xsrf && cookie, 'the form carries the _xsrf field and its cookie');
      const res = await fetch(`${hub.url}/hub/login?next=%2Fhub%2Fhome`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...(options.xsrf === false ? {} : { Cookie: cookie }) },
        body: new URLSearchParams({ username, password, ...(options.xsrf === false ? {} : { _xsrf: xsrf }) }).toString(),
      });
      const page = await res.text();
      return {
        status: res.status,
        error: /id="login-error">([^<]*)</.exec(page)?.[1],
        retryAfter: res.headers.get('retry-after'),
        cookie: /refinery-session[^=]*=[^;]+/.exec(res.headers.get('set-cookie') ?? '')?.[0],
        location: res.headers.get('location'),
      };
    }

    test('the right password signs in (so the failures below are about the credentials)', async () => {
      const ok = await signIn('admin', ADMIN_PASSWORD);
      assert.equal(ok.status, 302);
      assert.equal(ok.location, '/hub/home');
    });

    test('a wrong password and an unknown user get the same 403 and message', async () => {
      const wrong = await signIn('admin', 'not-the-password');
      const unknown = await signIn('ghost', 'not-the-password');
      assert.equal(wrong.status, 403);
      assert.equal(unknown.status, 403);
      assert.ok(wrong.error);
      assert.equal(unknown.error, wrong.error, 'nothing tells which accounts exist');
      assert.equal(wrong.cookie, undefined);
    });

    test('a form without its _xsrf token is refused', async () => {
      const res = await signIn('admin', ADMIN_PASSWORD, { xsrf: false });
      assert.equal(res.status, 403);
      assert.match(res.error ?? '', /expired/);
    });

    test(`after ${LOGIN_ATTEMPTS} failures the account is locked for this client (429, Retry-After), whatever the case of the name`, async () => {
      // one failure happened above; spelling variants count for the same account
      const variants = ['Admin', ' ADMIN '];
      for (const name of variants.slice(0, LOGIN_ATTEMPTS - 1)) assert.equal((await signIn(name, 'wrong-again')).status, 403);
      const locked = await signIn('admin', ADMIN_PASSWORD);
      assert.equal(locked.status, 429, 'even the right password waits');
      const retryAfter = Number(locked.retryAfter);
      assert.ok(retryAfter > 0 && retryAfter <= 300, `Retry-After: ${locked.retryAfter}`);
      assert.match(locked.error ?? '', /Too many failed sign-in attempts/);
      assert.equal(locked.cookie, undefined);
      // other accounts are not locked by admin's failures
      assert.equal((await signIn('ghost', 'x')).status, 403);
      // and the failures are counted where operators look: admin 3 times, ghost twice (the lock-out itself is not a failure)
      const metrics = await (await hub.api('/hub/metrics')).text();
      assert.match(metrics, /^refinery_login_failures_total 5$/m);
    });
  });

  describe('the REST API', () => {
    test('malformed JSON is a 400 that says so', async () => {
      const res = await post('/hub/api/users', '{"usernames": ["x",');
      assert.equal(res.status, 400);
      assert.match(await errorOf(res), /Invalid JSON/);
    });

    test('unknown fields are a 400 naming them; wrong types name the field', async () => {
      const res = await post('/hub/api/users', JSON.stringify({ usernames: ['x'], bogus: 1 }));
      assert.equal(res.status, 400);
      assert.match(await errorOf(res), /"bogus"/);
      const wrongType = await post('/hub/api/users', JSON.stringify({ usernames: 'x' }));
      assert.equal(wrongType.status, 400);
      assert.match(await errorOf(wrongType), /usernames/);
      const notAnObject = await post('/hub/api/users', '["x"]');
      assert.equal(notAnObject.status, 400);
      assert.match(await errorOf(notAnObject), /JSON object/);
      assert.equal((await hub.api('/hub/api/users/x')).status, 404, 'nothing was created');
    });

    test('a cluster size beyond the schema or the quota is a 400 naming the user_options field; nothing starts', async () => {
      const cases: [Record<string, unknown>, RegExp][] = [
        [{ image: 'spark', cluster_workers: 999 }, /^user_options\.cluster_workers: the number of workers must be between 1 and 64, got 999$/],
        [{ image: 'spark', cluster_workers: 60 }, /^user_options\.cluster_workers: 60 workers is more than your cluster quota allows: at most \d+ \(max_workers\)$/],
        [{ image: 'spark', cluster_worker_cores: 200 }, /^user_options\.cluster_worker_cores: 2 workers × 200 cores plus 1 for the master is 401 cores; your cluster quota allows \d+ \(max_cores\)$/],
        [{ image: 'dask', cluster_worker_memory: 'lots' }, /^user_options\.cluster_worker_memory: memory per worker must be a size like 1Gi/],
        [{ image: 'python', cluster_workers: 1 }, /^user_options\.cluster_workers: Python starts no cluster here/],
      ];
      for (const [options, message] of cases) {
        const res = await post('/hub/api/users/alice/server', JSON.stringify(options), aliceToken);
        assert.equal(res.status, 400, JSON.stringify(options));
        assert.match(await errorOf(res), message);
        // the plan preview says the same, without starting anything
        const plan = await hub.as(aliceToken, '/hub/api/users/alice/spawn-plan', { method: 'POST', body: JSON.stringify(options), headers: { 'Content-Type': 'application/json' } });
        assert.equal(plan.status, 400);
      }
      const model = (await (await hub.as(aliceToken, '/hub/api/users/alice')).json()) as { servers: Record<string, unknown> };
      assert.deepEqual(model.servers, {}, 'nothing started');
    });

    test('usernames with "/", "..", spaces and the like are refused, and none of the batch is created', async () => {
      for (const bad of ['a/b', '..', 'two words', '', 'tab\tname', 'a?b', 'a%2fb', '-flag']) {
        const res = await post('/hub/api/users', JSON.stringify({ usernames: ['fine', bad] }));
        assert.equal(res.status, 400, `username ${JSON.stringify(bad)}`);
        assert.match(await errorOf(res), /[Ii]nvalid username/);
      }
      assert.equal((await hub.api('/hub/api/users/fine')).status, 404, 'all or nothing');
      assert.equal((await hub.api(`/hub/api/users/${encodeURIComponent('two words')}`, { method: 'POST' })).status, 400);
    });

    test('names are normalized: Alice becomes alice, and ALICE then conflicts', async () => {
      const res = await post('/hub/api/users', JSON.stringify({ usernames: ['Carol'] }));
      assert.equal(res.status, 201);
      assert.deepEqual(((await res.json()) as { name: string }[]).map((u) => u.name), ['carol']);
      const again = await post('/hub/api/users', JSON.stringify({ usernames: ['CAROL'] }));
      assert.equal(again.status, 409);
      await errorOf(again);
      assert.equal((await hub.api('/hub/api/users/CAROL', { method: 'POST' })).status, 409);
      assert.equal((await hub.api('/hub/api/users/carol')).status, 200);
      assert.equal((await hub.api('/hub/api/users/Carol')).status, 404, 'paths name accounts exactly');
    });
  });

  describe('tokens', () => {
    test('an expired token is refused', async () => {
      const token = await hub.tokenFor('alice', { expires_in: 1 });
      assert.equal((await hub.as(token, '/hub/api/user')).status, 200, 'it worked while valid (and is now cached)');
      await new Promise((r) => setTimeout(r, 2000));
      const res = await hub.as(token, '/hub/api/user');
      assert.equal(res.status, 403);
      await errorOf(res);
      assert.equal((await hub.as(token, '/hub/api/users/alice')).status, 403);
    });

    test('a revoked token is refused at once', async () => {
      const res = await hub.api('/hub/api/users/alice/tokens', { method: 'POST', body: JSON.stringify({ note: 'to revoke' }) });
      assert.equal(res.status, 201);
      const { token, id } = (await res.json()) as { token: string; id: string };
      assert.equal((await hub.as(token, '/hub/api/user')).status, 200);
      const revoked = await hub.as(aliceToken, `/hub/api/users/alice/tokens/${id}`, { method: 'DELETE' });
      assert.equal(revoked.status, 204);
      assert.equal((await hub.as(token, '/hub/api/user')).status, 403);
      assert.equal((await hub.as(aliceToken, `/hub/api/users/alice/tokens/${id}`)).status, 404);
      assert.equal((await hub.as(aliceToken, '/hub/api/user')).status, 200, 'her other tokens still work');
    });

    test('a token cannot get scopes its owner does not hold', async () => {
      for (const scopes of [['admin:users'], ['read:users!user=bob'], ['read:users', 'servers']]) {
        const res = await hub.as(aliceToken, '/hub/api/users/alice/tokens', { method: 'POST', body: JSON.stringify({ scopes }) });
        assert.equal(res.status, 403, `alice asking for ${scopes.join(', ')}`);
        assert.match(await errorOf(res), /Not assigning requested scope/);
        // not even an admin can mint it for her
        const byAdmin = await hub.api('/hub/api/users/alice/tokens', { method: 'POST', body: JSON.stringify({ scopes }) });
        assert.equal(byAdmin.status, 403, `the admin service asking for ${scopes.join(', ')} on alice's behalf`);
      }
      const unknown = await hub.as(aliceToken, '/hub/api/users/alice/tokens', { method: 'POST', body: JSON.stringify({ scopes: ['not-a-scope'] }) });
      assert.equal(unknown.status, 400);
      assert.match(await errorOf(unknown), /not-a-scope/);
    });

    test('a token with fewer scopes can do less than its owner', async () => {
      const res = await hub.as(aliceToken, '/hub/api/users/alice/tokens', { method: 'POST', body: JSON.stringify({ scopes: ['read:users:name!user'] }) });
      assert.equal(res.status, 201);
      const limited = ((await res.json()) as { token: string }).token;
      assert.equal((await hub.as(limited, '/hub/api/user')).status, 200);
      assert.equal((await hub.as(limited, '/hub/api/users/alice/tokens')).status, 403);
      assert.equal((await hub.as(limited, '/hub/api/users/alice/server', { method: 'POST' })).status, 403);
      assert.equal((await hub.as(limited, '/hub/api/users/alice/tokens', { method: 'POST', body: '{}' })).status, 403);
    });

    test('no token or a made-up one is a 403', async () => {
      assert.equal((await hub.as(null, '/hub/api/user')).status, 403);
      assert.equal((await hub.as('0123456789abcdef0123456789abcdef', '/hub/api/user')).status, 403);
      assert.equal((await hub.as(null, '/hub/api/users')).status, 403);
    });
  });

  describe('other users', () => {
    test('bob reads no more of alice than her name (which sharing needs): nothing of her servers, groups or activity', async () => {
      const alice = await hub.as(bobToken, '/hub/api/users/alice');
      assert.equal(alice.status, 200);
      assert.deepEqual(await alice.json(), { kind: 'user', name: 'alice', admin: false });
      assert.equal((await hub.as(bobToken, '/hub/api/users/nobody')).status, 404);
      assert.equal((await hub.as(bobToken, '/hub/api/users/bob')).status, 200, 'he can read himself');
    });

    test('bob cannot act on alice: tokens, servers, activity', async () => {
      assert.equal((await hub.as(bobToken, '/hub/api/users/alice/tokens')).status, 404);
      assert.equal((await hub.as(bobToken, '/hub/api/users/alice/tokens', { method: 'POST', body: '{}' })).status, 404);
      assert.equal((await hub.as(bobToken, '/hub/api/users/alice/server', { method: 'POST' })).status, 404);
      // a scope bob holds for nobody at all (delete:users) is a 403, as in JupyterHub
      assert.equal((await hub.as(bobToken, '/hub/api/users/alice', { method: 'DELETE' })).status, 403);
      assert.equal((await hub.as(bobToken, '/hub/api/users/alice/activity', { method: 'POST', body: JSON.stringify({ last_activity: new Date().toISOString() }) })).status, 404);
      assert.equal((await hub.as(bobToken, '/hub/api/users')).status, 403, 'and cannot list users');
      assert.equal((await hub.api('/hub/api/users/alice')).status, 200, 'alice is still there');
    });
  });
});
