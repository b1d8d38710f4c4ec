// Configuration: defaults, value syntax (durations, listen addresses, secret references) and the error
// messages people get for mistakes: each must name the key (path) that is wrong.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError, databaseTarget, loadConfig, parseConfigText, resolveSecret } from '../../src/config/load.js';
import { tmpDir, type TmpDir } from '../helpers/tmp.js';

let dir: TmpDir;
before(async () => {
  dir = await tmpDir('config');
});
after(() => dir?.cleanup());

const parse = (text: string, file = join(dir.path, 'refinery.yaml')) => parseConfigText(text, file).config;

/** The problems a config text has, as the user sees them (one string); fails when it is accepted. */
function problems(text: string): string {
  try {
    parse(text);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error.message;
  }
  assert.fail(`configuration was accepted:\n${text}`);
}

describe('defaults', () => {
  test('no file: the documented defaults, data_dir relative to the working directory', () => {
    const { config, source } = loadConfig();
    assert.equal(source, '(defaults)');
    assert.deepEqual(config.listen, { host: '127.0.0.1', port: 8000 });
    assert.equal(config.data_dir, join(process.cwd(), 'data'));
    assert.equal(config.database, undefined);
    assert.deepEqual(databaseTarget(config), { kind: 'sqlite', path: join(process.cwd(), 'data', 'refinery.sqlite') });
    assert.equal(config.log_level, 'info');
    assert.deepEqual(config.auth.admin_users, ['admin']);
    assert.equal(config.auth.session_max_age, 14 * 86400);
    assert.equal(config.auth.login_attempts, 5);
    assert.equal(config.auth.login_window, 300);
    assert.deepEqual(config.services, []);
    assert.equal(config.spawner.start_timeout, 120);
    assert.equal(config.spawner.default_url, '/lab');
    assert.deepEqual(config.named_servers, { enabled: true, limit_per_user: 5 });
    assert.equal(config.reconcile_interval, 60);
  });

  test('an empty file is the defaults too; relative paths resolve against the file\'s directory', async () => {
    const sub = join(dir.path, 'etc');
    await mkdir(sub, { recursive: true });
    await writeFile(join(sub, 'empty.yaml'), '');
    const { config } = loadConfig(join(sub, 'empty.yaml'));
    assert.deepEqual(config.listen, { host: '127.0.0.1', port: 8000 });
    assert.equal(config.data_dir, join(sub, 'data'));

    await writeFile(join(sub, 'rel.yaml'), 'data_dir: state\ndatabase: sqlite:db/hub.sqlite\n');
    const rel = loadConfig(join(sub, 'rel.yaml')).config;
    assert.equal(rel.data_dir, join(sub, 'state'));
    assert.deepEqual(databaseTarget(rel), { kind: 'sqlite', path: join(sub, 'db', 'hub.sqlite') });
  });

  test('a missing file is an error that names it', () => {
    const missing = join(dir.path, 'nope.yaml');
    assert.throws(() => loadConfig(missing), (e: Error) => e instanceof ConfigError && e.message.includes(missing) && /ENOENT/.test(e.message));
  });
});

describe('values', () => {
  test('durations: seconds as numbers, or with ms/s/m/h/d units', () => {
    const c = parse('auth:\n  login_window: 5m\n  session_max_age: 2h\nspawner:\n  start_timeout: "90s"\n  stop_grace: 1.5\n  poll_interval: 500ms\nreconcile_interval: 14d\n');
    assert.equal(c.auth.login_window, 300);
    assert.equal(c.auth.session_max_age, 7200);
    assert.equal(c.spawner.start_timeout, 90);
    assert.equal(c.spawner.stop_grace, 1.5);
    assert.equal(c.spawner.poll_interval, 0.5);
    assert.equal(c.reconcile_interval, 14 * 86400);
    assert.equal(parse('auth:\n  login_window: 1.5m\n').auth.login_window, 90);
  });

  test('bad durations name the key and show the accepted forms', () => {
    const msg = problems('spawner:\n  start_timeout: 5 minutes\n');
    assert.match(msg, /spawner\.start_timeout/);
    assert.match(msg, /"5m"/);
    assert.match(problems('auth:\n  login_window: -3\n'), /auth\.login_window/);
  });

  test('listen: host:port, :port, a bare port, [IPv6]:port', () => {
    assert.deepEqual(parse('listen: "0.0.0.0:9000"').listen, { host: '0.0.0.0', port: 9000 });
    assert.deepEqual(parse('listen: "localhost:8081"').listen, { host: 'localhost', port: 8081 });
    assert.deepEqual(parse('listen: ":9001"').listen, { host: '0.0.0.0', port: 9001 });
    assert.deepEqual(parse('listen: 9002').listen, { host: '0.0.0.0', port: 9002 });
    assert.deepEqual(parse('listen: "[::1]:9003"').listen, { host: '::1', port: 9003 });
  });

  test('listen: nonsense, out-of-range ports and URLs are refused, naming listen', () => {
    for (const bad of ['nonsense', '"127.0.0.1:99999"', '"127.0.0.1:"', '"http://127.0.0.1:8000"', 'true']) {
      const msg = problems(`listen: ${bad}\n`);
      assert.match(msg, /(^|\s)listen: /, `for listen: ${bad}\n${msg}`);
    }
    assert.match(problems('listen: nonsense\n'), /"nonsense"/);
  });

  test('secret references: inline, {env: NAME}, {file: path} (relative to the config file, trimmed)', async () => {
    const file = join(dir.path, 'refinery.yaml');
    await writeFile(join(dir.path, 'token.txt'), 'from-a-file\n');
    process.env.REFINERY_TEST_SECRET = 'from-the-env';
    try {
      const c = parse('services:\n  - name: a\n    api_token: inline-value\n  - name: b\n    api_token: {env: REFINERY_TEST_SECRET}\n  - name: c\n    api_token: {file: token.txt}\n', file);
      const values = c.services.map((s, i) => resolveSecret(s.api_token, `services[${i}].api_token`, file, dir.path));
      assert.deepEqual(values, ['inline-value', 'from-the-env', 'from-a-file']);
    } finally {
      delete process.env.REFINERY_TEST_SECRET;
    }
  });

  test('a missing secret names the key and the variable or file', () => {
    const file = join(dir.path, 'refinery.yaml');
    assert.throws(
      () => resolveSecret({ env: 'REFINERY_TEST_UNSET_VARIABLE' }, 'services[0].api_token', file, dir.path),
      (e: Error) => e instanceof ConfigError && e.message.includes('services[0].api_token') && e.message.includes('REFINERY_TEST_UNSET_VARIABLE'),
    );
    assert.throws(
      () => resolveSecret({ file: 'no-such-secret.txt' }, 'spawner.env.KEY', file, dir.path),
      (e: Error) => e instanceof ConfigError && e.message.includes('spawner.env.KEY') && e.message.includes(join(dir.path, 'no-such-secret.txt')),
    );
  });

  test('a secret reference with a misspelt source is refused at its key', () => {
    assert.match(problems('services:\n  - name: a\n    api_token: {envv: X}\n'), /services\[0\]\.api_token/);
  });

  test('database: PostgreSQL URLs are kept, sqlite: paths are resolved', () => {
    assert.deepEqual(databaseTarget(parse('database: postgres://u:p@db:5432/hub\n')), { kind: 'postgres', url: 'postgres://u:p@db:5432/hub' });
    assert.deepEqual(databaseTarget(parse('database: postgresql://db/hub\n')), { kind: 'postgres', url: 'postgresql://db/hub' });
    assert.deepEqual(databaseTarget(parse('database: "sqlite:///var/lib/refinery/hub.sqlite"\n')), { kind: 'sqlite', path: '/var/lib/refinery/hub.sqlite' });
  });
});

describe('mistakes', () => {
  test('an unknown top-level key is named, with a suggestion', () => {
    const msg = problems('lisen: "127.0.0.1:8000"\n');
    assert.match(msg, /lisen: unknown key/);
    assert.match(msg, /did you mean "listen"\?/);
  });

  test('unknown nested keys are named by their full path, with a suggestion', () => {
    assert.match(problems('auth:\n  login_atempts: 3\n'), /auth\.login_atempts: unknown key \(did you mean "login_attempts"\?\)/);
    assert.match(problems('services:\n  - name: x\n    api_token: t\n    scops: []\n'), /services\[0\]\.scops: unknown key \(did you mean "scopes"\?\)/);
    assert.match(problems('spawner:\n  comand: [jupyter]\n'), /spawner\.comand: unknown key \(did you mean "command"\?\)/);
  });

  test('no suggestion when nothing is close', () => {
    const msg = problems('xyzzy_frobnicate: 1\n');
    assert.match(msg, /xyzzy_frobnicate: unknown key/);
    assert.doesNotMatch(msg, /did you mean/);
  });

  test('type errors name the path, what was expected and what was given', () => {
    assert.match(problems('auth:\n  login_attempts: five\n'), /auth\.login_attempts: expected number, got string "five"/);
    assert.match(problems('auth: [1, 2]\n'), /auth: expected object, got a list/);
    assert.match(problems('log_level: loud\n'), /log_level: expected one of "fatal", .*"trace", got string "loud"/);
    assert.match(problems('named_servers:\n  limit_per_user: -1\n'), /named_servers\.limit_per_user/);
    assert.match(problems('services:\n  - api_token: t\n'), /services\[0\]\.name: expected string \(missing\)/);
  });

  test('unknown scopes of a service name the service\'s scopes key', () => {
    const msg = problems('services:\n  - name: ok\n    api_token: a\n    scopes: [read:users]\n  - name: bad\n    api_token: b\n    scopes: [read:users, not-a-scope]\n');
    assert.match(msg, /services\[1\]\.scopes: unknown scope "not-a-scope"/);
    assert.doesNotMatch(msg, /services\[0\]/);
  });

  test('duplicate service names are refused', () => {
    assert.match(problems('services:\n  - name: s\n    api_token: a\n  - name: s\n    api_token: b\n'), /services\[1\]\.name: duplicate service name "s"/);
  });

  test('YAML syntax errors give the line', () => {
    assert.match(problems('data_dir: ./data\nlisten: a: b\nlog_level: info\n'), /line 2, column 9/);
    assert.match(problems('data_dir: ./data\n\tlisten: 1\n'), /line 2, column 1: Tabs are not allowed/);
    assert.match(problems('log_level: info\nlog_level: debug\n'), /line 2, column 1: Map keys must be unique/);
  });

  test('the top level must be a mapping', () => {
    assert.match(problems('- listen\n- data_dir\n'), /top level must be a mapping/);
  });

  test('every problem is reported, not just the first', () => {
    const msg = problems('lisen: 1\nlog_level: loud\nauth:\n  login_attempts: five\n');
    assert.match(msg, /lisen/);
    assert.match(msg, /log_level/);
    assert.match(msg, /auth\.login_attempts/);
  });
});
