// What the hub decides about people's system accounts before touching the machine: the account
// names it makes, the configuration that maps people to existing accounts, and how a program's
// environment reaches the person's stage of a launch (never argv, every value intact).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, parseConfigText } from '../../src/config/load.js';
import { MAX_ACCOUNT_NAME, createdAccountComment, createdAccountName } from '../../src/host/accounts.js';
import { launchArgv, shellEnvironment } from '../../src/host/launch.js';

const SYSTEM_NAME = /^[a-z_][a-z0-9_-]*$/;

describe('account names Refinery makes', () => {
  test('a plain name keeps its name after the prefix', () => {
    assert.equal(createdAccountName('alice'), 'refinery-alice');
    assert.equal(createdAccountName('bob_2-x'), 'refinery-bob_2-x');
  });

  test('names too long or unusual for a system account are shortened with a hash: valid, stable, distinct', () => {
    const long = 'a-very-long-name-that-does-not-fit-in-thirty-two-characters';
    const odd = ['zoë', 'carl.smith@example.org', 'Ünïcode', 'x'.repeat(255), '-dash', `${long}-2`, long];
    const made = odd.map((n) => createdAccountName(n));
    for (const [i, name] of made.entries()) {
      assert.ok(name.length <= MAX_ACCOUNT_NAME, `${name} fits (${name.length})`);
      assert.match(name, SYSTEM_NAME, `${odd[i]} → ${name} is a valid system name`);
      assert.equal(createdAccountName(odd[i]!), name, 'the same at every start');
    }
    assert.equal(new Set(made).size, made.length, 'different people, different accounts');
    assert.match(createdAccountName('carl.smith@example.org'), /^refinery-carl-smith-exa-[0-9a-f]{8}$/);
  });

  test('the ownership comment is a valid GECOS field and differs per name', () => {
    for (const name of ['alice', 'a:b,c\nd']) assert.match(createdAccountComment(name), /^Refinery account [0-9a-f]{16}$/);
    assert.notEqual(createdAccountComment('alice'), createdAccountComment('bob'));
  });
});

describe('spawner.local in the configuration', () => {
  const parse = (text: string) => parseConfigText(text, join('/etc', 'refinery.yaml')).config;
  const problems = (text: string): string => {
    try {
      parse(text);
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error));
      return error.message;
    }
    return assert.fail(`accepted:\n${text}`);
  };

  test('defaults: run_as decided at start (root: per-user), no mapped accounts', () => {
    assert.deepEqual(parse('').spawner.local, { system_users: {} });
    assert.deepEqual(parse('spawner:\n  local:\n    run_as: hub\n    system_users: {carol: carol.smith}\n').spawner.local, { run_as: 'hub', system_users: { carol: 'carol.smith' } });
  });

  test('mistakes name the key', () => {
    assert.match(problems('spawner:\n  local:\n    run_az: hub\n'), /spawner\.local\.run_az: unknown key/);
    assert.match(problems('spawner:\n  local:\n    run_as: root\n'), /spawner\.local\.run_as/);
    assert.match(problems('spawner:\n  local:\n    system_users: {carol: "bad name"}\n'), /spawner\.local\.system_users\.carol: expected a system user name/);
    assert.match(problems('spawner:\n  local:\n    system_users: {carol: root}\n'), /spawner\.local\.system_users\.carol: people may not run as root/);
    assert.match(problems('spawner:\n  local:\n    system_users: {carol: shared, dave: shared}\n'), /spawner\.local\.system_users\.dave: shared is already the account of carol/);
  });
});

describe('launching as a person', () => {
  const runAs = { account: 'refinery-alice', uid: 1234, gid: 1234, groups: [1234, 27] };

  test('argv takes the account\'s uid, gid and groups, and carries no environment value', () => {
    const argv = launchArgv({ argv: ['/envs/base/bin/python', '-m', 'jupyterhub.singleuser'], runAs });
    assert.deepEqual(argv.slice(0, 6), ['/usr/bin/setpriv', '--reuid=1234', '--regid=1234', '--groups=1234,27', '--inh-caps=-all', '--']);
    assert.deepEqual(argv.slice(-3), ['/envs/base/bin/python', '-m', 'jupyterhub.singleuser']);
    const withCgroups = launchArgv({ argv: ['/bin/true'], runAs, procsFiles: ['/sys/fs/cgroup/memory/refinery/x/cgroup.procs'] });
    assert.equal(withCgroups[0], '/bin/sh', 'cgroups are joined (as root) before setpriv');
    assert.ok(withCgroups.indexOf('/usr/bin/setpriv') > withCgroups.indexOf('--'));
    assert.deepEqual(launchArgv({ argv: ['/bin/true'] }), ['/bin/true'], 'as the hub: the program itself');
  });

  test('every value reaches the program exactly, whatever it contains', () => {
    const env = { PLAIN: 'x', QUOTES: `it's "quoted"`, SHELLY: '$HOME `id` $(id) \\ ;|&', LINES: 'one\ntwo\n', EMPTY: '', PATH: '/usr/bin:/bin' };
    const text = shellEnvironment(env);
    const res = spawnSync('/bin/sh', ['-c', 'eval "$(cat)" && exec /usr/bin/env -0'], { input: text, env: {}, encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
    const seen = Object.fromEntries(res.stdout.split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    for (const [k, v] of Object.entries(env)) assert.equal(seen[k], v, k);
  });

  test('a variable name a shell cannot carry is refused, naming it', () => {
    assert.throws(() => shellEnvironment({ 'NOT-VALID': 'x' }), /"NOT-VALID"/);
    assert.throws(() => shellEnvironment({ 'A=B': 'x' }), /"A=B"/);
  });
});
