// Editing the profiles file while the hub runs: a valid edit takes effect for the next spawn without a
// restart (file watch, or `refinery reload`); a broken one is refused by `refinery reload` without
// disturbing the hub, and when the hub sees it anyway it keeps the last good configuration, says why
// in its log, and servers still start. `refinery check-config` names the problem.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { ADMIN_PASSWORD, json, launchRefinery, type RefineryProcess } from '../helpers/refinery.js';
import { execute } from '../helpers/kernel.js';
import { killLeftovers } from '../helpers/processes.js';
import { tmpDir, waitFor, type TmpDir } from '../helpers/tmp.js';

const REPO = resolve(import.meta.dirname, '..', '..', '..');
const CLI = join(REPO, 'dist', 'src', 'cli.js');

interface PlanEnv { value: string | null; secret: boolean; source: string }
interface Plan { env: Record<string, PlanEnv>; selections: { options: Record<string, string> } }

/** A valid profiles file whose admin profile sets TEAM_SETTING to `value`. */
function profilesYaml(value: string): string {
  return stringify({
    profiles: [{ name: 'team', env: { TEAM_SETTING: value } }],
    profile_list: [{
      slug: 'standard', display_name: 'Standard', default: true,
      profile_options: {
        version: {
          display_name: 'Version',
          choices: { stable: { display_name: 'Stable', default: true, overrides: { env: { VERSION: 'stable' } } } },
          unlisted_choice: { enabled: true, validation_regex: '^v[0-9]+$', overrides: { env: { VERSION: '{value}' } } },
        },
      },
    }],
  });
}

/** Three ways to break it, and the key path (or position) each error must name. */
const BROKEN: { kind: string; text: string; names: RegExp }[] = [
  { kind: 'YAML syntax error', text: 'profiles:\n  - name: team\n    env: {TEAM_SETTING: "broken"\n', names: /line \d+, column \d+/ },
  { kind: 'unknown key', text: profilesYaml('broken').replace('    env:', '    evn:'), names: /profiles\[0\]\.evn: unknown key \(did you mean "env"\?\)/ },
  { kind: 'bad regex', text: profilesYaml('broken').replace('^v[0-9]+$', '^(v[0-9]+$'), names: /profile_list\[0\]\.profile_options\.version\.unlisted_choice\.validation_regex: not a valid regular expression/ },
];

interface CliResult { code: number; stdout: string; stderr: string }
function cli(...args: string[]): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolvePromise({ code, stdout, stderr });
    });
  });
}

describe('reloading the profiles file while the hub runs', () => {
  let hub: RefineryProcess;
  let dir: TmpDir;
  let aliceToken: string;
  let adminCookie: string;
  /** What the hub reads: conf/profiles.yaml, a symlink into store/ (as a Kubernetes ConfigMap mount is). */
  let profilesPath: string;
  let storeDir: string;
  let version = 0;

  /**
   * Point conf/profiles.yaml at a new file with `text`, atomically: the hub's directory watch sees it.
   */
  async function publish(text: string): Promise<string> {
    const target = join(storeDir, `profiles-${++version}.yaml`);
    await writeFile(target, text);
    const temp = join(dir.path, 'conf', `.profiles.yaml.${version}`);
    await symlink(target, temp);
    await rename(temp, profilesPath);
    return target;
  }

  /** Change the file conf/profiles.yaml points at, in place: in a directory the hub does not watch. */
  async function editUnwatched(text: string): Promise<void> {
    await writeFile(join(storeDir, `profiles-${version}.yaml`), text);
  }

  const plan = (query = '') => json<Plan>(hub.as(aliceToken, `/hub/api/users/alice/spawn-plan${query}`));
  const teamSetting = async () => (await plan()).env.TEAM_SETTING?.value;
  const count = (pattern: RegExp) => hub.output().split('\n').filter((l) => pattern.test(l)).length;
  const RELOADED = /catalog and profiles reloaded/;
  const REJECTED = /configuration change rejected/;
  /** Longer than the hub's 300 ms debounce of file events, with room for a slow machine. */
  const settle = () => new Promise((r) => setTimeout(r, 1500));
  /** The admin page as the signed-in admin sees it, with HTML entities decoded. */
  const adminPage = async () => {
    const res = await hub.as(null, '/hub/admin', { headers: { Cookie: adminCookie, Accept: 'text/html' } });
    assert.equal(res.status, 200);
    return (await res.text()).replace(/&quot;|&#34;/g, '"').replace(/&#39;|&#x27;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  };
  const hubPid = () => Number(readFileSync(join(hub.dataDir, 'refinery.pid'), 'utf8').trim());

  before(async () => {
    dir = await tmpDir('reload');
    storeDir = join(dir.path, 'store');
    await mkdir(storeDir);
    await mkdir(join(dir.path, 'conf'));
    profilesPath = join(dir.path, 'conf', 'profiles.yaml');
    await publish(profilesYaml('one'));
    hub = await launchRefinery({ config: { profiles_file: profilesPath } });
    const created = await hub.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: ['alice'] }) });
    assert.equal(created.status, 201);
    aliceToken = await hub.tokenFor('alice');
    // the admin signs in as a browser does (the admin page shows a rejected edit)
    const form = await fetch(`${hub.url}/hub/login`);
    const xsrf = /name="_xsrf" value="([^"]+)"/.exec(await form.text())?.[1];
    const xsrfCookie = /refinery-login-xsrf=[^;]+/.exec(form.headers.get('set-cookie') ?? '')?.[0];
    assert.ok(xsrf && xsrfCookie);
    const signedIn = await fetch(`${hub.url}/hub/login`, {
      method: 'POST', redirect: 'manual',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: xsrfCookie },
      body: new URLSearchParams({ username: 'admin', password: ADMIN_PASSWORD, _xsrf: xsrf }).toString(),
    });
    assert.equal(signedIn.status, 302);
    adminCookie = /refinery-session[^=]*=[^;]+/.exec(signedIn.headers.get('set-cookie') ?? '')?.[0] ?? '';
    assert.ok(adminCookie, 'the admin got a session');
    assert.doesNotMatch(await adminPage(), /id="catalog-error"/, 'no rejected edit yet');
  });
  after(async () => {
    try {
      await hub?.cleanup();
    } finally {
      if (hub) assert.deepEqual(killLeftovers(hub.dataDir), [], 'no server or kernel process outlives the hub\'s cleanup');
      await dir?.cleanup();
    }
  });

  test('the spawn plan follows the profiles file', async () => {
    const p = await plan();
    assert.deepEqual(p.env.TEAM_SETTING, { value: 'one', secret: false, source: 'profile team' });
    assert.equal(p.env.VERSION?.value, 'stable');
    assert.equal((await plan('?options.version=v7')).env.VERSION?.value, 'v7');
  });

  test('a valid edit takes effect for the next spawn plan without a restart (file watch)', async () => {
    const pid = hubPid();
    const before = count(RELOADED);
    await publish(profilesYaml('two'));
    await waitFor(async () => (await teamSetting()) === 'two', { timeoutMs: 10_000, message: 'the hub to pick up the edited profiles file' });
    assert.ok(count(RELOADED) > before, 'the hub logs the reload');
    assert.equal(hubPid(), pid, 'the same hub process');
  });

  test('a valid edit the watch cannot see takes effect with `refinery reload`', async () => {
    await editUnwatched(profilesYaml('three'));
    await settle();
    assert.equal(await teamSetting(), 'two', 'the hub has not noticed on its own (the file is outside the watched directory)');
    const result = await cli('reload', '--config', hub.configPath);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`asked the hub \\(pid ${hubPid()}\\) to reload`));
    await waitFor(async () => (await teamSetting()) === 'three', { timeoutMs: 10_000, message: 'the hub to reload on SIGHUP' });
  });

  for (const broken of BROKEN) {
    describe(`a broken edit: ${broken.kind}`, () => {
      test('`refinery reload` exits non-zero naming the file and the key, and leaves the hub alone', async () => {
        const reloadedBefore = count(RELOADED);
        const rejectedBefore = count(REJECTED);
        await editUnwatched(broken.text);
        const result = await cli('reload', '--config', hub.configPath);
        assert.notEqual(result.code, 0, `reload should refuse: ${result.stdout}`);
        assert.ok(result.stderr.includes(`${profilesPath}: invalid configuration`), `names the file: ${result.stderr}`);
        assert.match(result.stderr, broken.names);
        assert.doesNotMatch(result.stdout, /asked the hub/);
        await settle();
        // a signalled hub would have re-read the file and logged the rejection
        assert.equal(count(REJECTED), rejectedBefore, 'the hub was not signalled');
        assert.equal(count(RELOADED), reloadedBefore);
        assert.equal(await teamSetting(), 'three');
      });

      test('`refinery check-config` exits 2 naming the problem', async () => {
        const result = await cli('check-config', '--config', hub.configPath);
        assert.equal(result.code, 2, `${result.stdout}\n${result.stderr}`);
        assert.match(result.stderr, /invalid configuration/);
        assert.match(result.stderr, broken.names);
      });

      test('when the hub sees it, it keeps the last good configuration and logs why', async () => {
        const rejectedBefore = count(REJECTED);
        if (broken.kind === 'unknown key') {
          // the hub re-reads on SIGHUP too (kill -HUP, what `refinery reload` sends)
          process.kill(hubPid(), 'SIGHUP');
        } else {
          await publish(broken.text);
        }
        await waitFor(() => count(REJECTED) > rejectedBefore, { timeoutMs: 10_000, message: 'the hub to log that the change was rejected' });
        const line = hub.output().split('\n').filter((l) => REJECTED.test(l)).at(-1)!;
        const logged = JSON.parse(line) as { level: number; err: string; msg: string };
        assert.equal(logged.level, 50, 'logged as an error');
        assert.match(logged.err, broken.names, 'the log says why');
        assert.ok(logged.err.startsWith(`${profilesPath}: invalid configuration`), `and which file: ${logged.err}`);
        const p = await plan();
        assert.equal(p.env.TEAM_SETTING?.value, 'three', 'the spawn plan still reflects the last good configuration');
        // including its option rules: v7 is still valid, "latest" still refused
        assert.equal((await plan('?options.version=v7')).env.VERSION?.value, 'v7');
        // the admin page says so too
        const page = await adminPage();
        assert.match(page, /id="catalog-error"/);
        assert.match(page, broken.names);
        const refused = await hub.as(aliceToken, '/hub/api/users/alice/spawn-plan?options.version=latest');
        assert.equal(refused.status, 400);
        assert.match(await refused.text(), /options\.version/);
      });
    });
  }

  test('a server still starts while the file is broken, with the last good configuration', async () => {
    assert.ok(count(REJECTED) >= 3, 'the profiles file is broken right now');
    const res = await hub.as(aliceToken, '/hub/api/users/alice/server', { method: 'POST', body: JSON.stringify({ options: { version: 'v9' } }), headers: { 'Content-Type': 'application/json' } });
    assert.ok(res.status === 201 || res.status === 202, `${res.status} ${await res.text()}`);
    const progress = await (await hub.as(aliceToken, '/hub/api/users/alice/server/progress', { headers: { Accept: 'text/event-stream' } })).text();
    assert.match(progress, /"ready":true/, progress);
    const kernel = await hub.as(aliceToken, '/user/alice/api/kernels', { method: 'POST', body: JSON.stringify({ name: 'python3' }), headers: { 'Content-Type': 'application/json' } });
    assert.equal(kernel.status, 201, await kernel.clone().text());
    const { id } = (await kernel.json()) as { id: string };
    const env = JSON.parse(await execute(hub, aliceToken, '/user/alice/', id, 'import os, json\nprint(json.dumps({k: os.environ.get(k) for k in ["TEAM_SETTING", "VERSION"]}))')) as Record<string, string | null>;
    assert.deepEqual(env, { TEAM_SETTING: 'three', VERSION: 'v9' });
    const stopped = await hub.as(aliceToken, '/hub/api/users/alice/server', { method: 'DELETE' });
    assert.ok([202, 204].includes(stopped.status));
  });

  test('fixing the file restores normal operation', async () => {
    const reloadedBefore = count(RELOADED);
    await publish(profilesYaml('four'));
    await waitFor(async () => (await teamSetting()) === 'four', { timeoutMs: 10_000, message: 'the hub to pick up the fixed profiles file' });
    assert.ok(count(RELOADED) > reloadedBefore);
    assert.doesNotMatch(await adminPage(), /id="catalog-error"/, 'the admin page no longer reports an error');
    const check = await cli('check-config', '--config', hub.configPath);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /configuration is valid \(3 images, 3 sizes, 1 profiles, 1 offered profiles, embedded object storage\)/);
    await editUnwatched(profilesYaml('five'));
    const reload = await cli('reload', '--config', hub.configPath);
    assert.equal(reload.code, 0, reload.stderr);
    await waitFor(async () => (await teamSetting()) === 'five', { timeoutMs: 10_000, message: 'the hub to reload on `refinery reload`' });
  });
});
