// src/profiles/catalog.ts: cross-reference checks a schema cannot make, loading the catalog from the
// main file and a separate profiles_file, and the CatalogStore that keeps the last good catalog.
import { EMBEDDED_STORAGE_PROFILE } from '../../src/storage/embedded-config.js';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfig, parseConfigText } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { CatalogStore, loadCatalog, validateCatalog } from '../../src/profiles/catalog.js';
import { catalogSchema, type Catalog } from '../../src/profiles/schema.js';
import { tmpDir, waitFor, type TmpDir } from '../helpers/tmp.js';

const REPO = resolve(import.meta.dirname, '..', '..', '..');

/** The profiles the files give, without the one the embedded object store adds for everyone. */
const configured = (catalog: Catalog) => catalog.profiles.filter((p) => p.name !== EMBEDDED_STORAGE_PROFILE.name);

function catalogOf(input: z.input<typeof catalogSchema>): Catalog {
  const parsed = catalogSchema.parse(input);
  return { images: parsed.images ?? [], sizes: parsed.sizes ?? [], profiles: parsed.profiles ?? [], profile_list: parsed.profile_list ?? [] };
}

const py = { name: 'py', display_name: 'Py', local: { command: ['/bin/true'] } };
const small = { name: 'small', display_name: 'Small' };

/** loadCatalog's problems, or [] when it loads. */
function loadProblems(configPath: string): { file: string; problems: string[] } | null {
  try {
    loadCatalog(loadConfig(configPath));
    return null;
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return { file: error.file, problems: error.problems };
  }
}

const someProblem = (problems: string[], pattern: RegExp) => assert.ok(problems.some((p) => pattern.test(p)), `expected a problem matching ${pattern}, got:\n  ${problems.join('\n  ')}`);

describe('validateCatalog', () => {
  test('a valid catalog has no problems', () => {
    assert.deepEqual(validateCatalog(catalogOf({ images: [py], sizes: [small] })), []);
  });

  test('names used twice are named by key path', () => {
    const problems = validateCatalog(catalogOf({
      images: [py, { ...py, display_name: 'Py again' }],
      sizes: [small, small],
      profiles: [{ name: 'p' }, { name: 'q' }, { name: 'p' }],
      profile_list: [{ slug: 'o', display_name: 'O' }, { slug: 'o', display_name: 'O2' }],
    }));
    someProblem(problems, /^images\[1\]\.name: "py" is used twice/);
    someProblem(problems, /^sizes\[1\]\.name: "small" is used twice/);
    someProblem(problems, /^profiles\[2\]\.name: "p" is used twice/);
    someProblem(problems, /^profile_list\[1\]\.name: "o" is used twice/);
  });

  test('two defaults are refused', () => {
    const problems = validateCatalog(catalogOf({
      images: [{ ...py, default: true }, { ...py, name: 'py2', default: true }],
      sizes: [{ ...small, default: true }, { name: 'big', display_name: 'Big', default: true }],
      profile_list: [{ slug: 'a', display_name: 'A', default: true }, { slug: 'b', display_name: 'B', default: true }],
    }));
    someProblem(problems, /^images: more than one is marked default/);
    someProblem(problems, /^sizes: more than one is marked default/);
    someProblem(problems, /^profile_list: more than one is marked default/);
  });

  test('a profile naming a missing image, an image naming a missing size', () => {
    const problems = validateCatalog(catalogOf({
      images: [{ ...py, sizes: ['small', 'gigantic'] }],
      sizes: [small],
      profiles: [{ name: 'p', images: ['py', 'spork'] }],
      profile_list: [{ slug: 'o', display_name: 'O', images: ['sparkk'] }],
    }));
    someProblem(problems, /^profiles\[0\]\.images\[1\]: no image named "spork"/);
    someProblem(problems, /^profile_list\[0\]\.images\[0\]: no image named "sparkk"/);
    someProblem(problems, /^images\[0\]\.sizes\[1\]: no size named "gigantic"/);
    assert.equal(problems.length, 3, problems.join('\n'));
  });

  test('a regex that does not compile', () => {
    const problems = validateCatalog(catalogOf({
      images: [py],
      profile_list: [{ slug: 'o', display_name: 'O', profile_options: { version: { display_name: 'V', unlisted_choice: { enabled: true, validation_regex: '^(v[0-9]+$' } } } }],
    }));
    someProblem(problems, /^profile_list\[0\]\.profile_options\.version\.unlisted_choice\.validation_regex: not a valid regular expression/);
  });

  test('an option with nothing to choose, an image with no way to run, no images at all', () => {
    someProblem(validateCatalog(catalogOf({ images: [py], profile_list: [{ slug: 'o', display_name: 'O', profile_options: { v: { display_name: 'V' } } }] })), /^profile_list\[0\]\.profile_options\.v: give at least one choice/);
    someProblem(validateCatalog(catalogOf({ images: [{ name: 'nothing', display_name: 'Nothing' }] })), /^images\[0\]: say how to run it/);
    someProblem(validateCatalog(catalogOf({ images: [] })), /^images: the catalog needs at least one image/);
  });

  describe('secrets', () => {
    const VAR = 'REFINERY_TEST_SECRET_THAT_IS_NOT_SET';
    before(() => {
      delete process.env[VAR];
    });
    const secret = { secret: { env: VAR } };
    const read = (ref: Parameters<NonNullable<Parameters<typeof validateCatalog>[1]>>[0], where: string): string => {
      if (typeof ref === 'object' && 'env' in ref && !process.env[ref.env]) throw new ConfigError('test.yaml', [`${where}: environment variable ${ref.env} is not set`]);
      return 'x';
    };

    test('a secret from a missing environment variable is a problem naming where it is used', () => {
      const problems = validateCatalog(catalogOf({
        images: [{ ...py, env: { IMG_KEY: secret } }],
        profiles: [{ name: 'p', env: { PROFILE_KEY: secret } }],
        profile_list: [{
          slug: 'o', display_name: 'O', overrides: { env: { OFFERED_KEY: secret } },
          profile_options: {
            bucket: {
              display_name: 'Bucket',
              choices: { a: { display_name: 'A', overrides: { env: { CHOICE_KEY: secret } } } },
              unlisted_choice: { enabled: true, overrides: { env: { TYPED_KEY: secret } } },
            },
          },
        }],
      }), read);
      someProblem(problems, /^images\[0\]\.env\.IMG_KEY\.secret: environment variable REFINERY_TEST_SECRET_THAT_IS_NOT_SET is not set/);
      someProblem(problems, /^profiles\[0\]\.env\.PROFILE_KEY\.secret: /);
      someProblem(problems, /^profile_list\[0\]\.overrides\.env\.OFFERED_KEY\.secret: /);
      // a choice's secret is read when that choice is spawned: it must be checked at load time too
      someProblem(problems, /^profile_list\[0\]\.profile_options\.bucket\.choices\.a\.overrides\.env\.CHOICE_KEY\.secret: /);
      someProblem(problems, /^profile_list\[0\]\.profile_options\.bucket\.unlisted_choice\.overrides\.env\.TYPED_KEY\.secret: /);
      assert.equal(problems.length, 5, problems.join('\n'));
    });

    test('without a reader, secrets are not checked', () => {
      assert.deepEqual(validateCatalog(catalogOf({ images: [{ ...py, env: { K: secret } }] })), []);
    });
  });
});

describe('loadCatalog', () => {
  let dir: TmpDir;
  before(async () => {
    dir = await tmpDir('catalog');
  });
  after(() => dir.cleanup());

  let n = 0;
  /** A fresh directory holding refinery.yaml (and whatever else is written into it). */
  async function setup(main: Record<string, unknown>, files: Record<string, string | Record<string, unknown>> = {}): Promise<{ root: string; config: string }> {
    const root = join(dir.path, `case-${++n}`);
    await mkdir(root, { recursive: true });
    for (const [name, content] of Object.entries(files)) {
      await mkdir(join(root, name, '..'), { recursive: true });
      await writeFile(join(root, name), typeof content === 'string' ? content : stringify(content));
    }
    const config = join(root, 'refinery.yaml');
    await writeFile(config, stringify({ data_dir: join(root, 'data'), ...main }));
    return { root, config };
  }

  test('without catalog keys: the shipped images and sizes, environments inside the checkout', async () => {
    const { config } = await setup({});
    const catalog = loadCatalog(loadConfig(config));
    assert.deepEqual(catalog.images.map((i) => i.name), ['python', 'spark', 'dask']);
    assert.deepEqual(catalog.sizes.map((s) => s.name), ['small', 'medium', 'large']);
    // python runs the spawner's own command (spawner.command, else envs/base's jupyterhub-singleuser)
    assert.deepEqual(catalog.images.map((i) => i.local?.environment), [undefined, ...['spark', 'dask'].map((e) => join(REPO, 'envs', e))]);
    // the built-in profiles give the spark and dask images their clusters
    assert.deepEqual(configured(catalog).map((p) => [p.name, p.images, p.clusters?.map((c) => c.kind)]), [['spark-cluster', ['spark'], ['spark']], ['dask-cluster', ['dask'], ['dask']]]);
  });

  test('the embedded object store gives everyone storage first (any profile of storage wins); off, or with a profile giving storage, it adds nothing', async () => {
    const plain = loadCatalog(loadConfig((await setup({})).config));
    assert.deepEqual(plain.profiles[0], { ...plain.profiles[0], name: EMBEDDED_STORAGE_PROFILE.name, storage: EMBEDDED_STORAGE_PROFILE.storage });
    const off = loadCatalog(loadConfig((await setup({ storage: { embedded: false } })).config));
    assert.deepEqual(off.profiles.map((p) => p.name), ['spark-cluster', 'dask-cluster']);
    const own = loadCatalog(loadConfig((await setup({ profiles: [{ name: 'lake', storage: { endpoint: 'embedded', buckets: ['shared'], credentials: { source: 'provisioned' } } }] })).config));
    assert.deepEqual(own.profiles.map((p) => p.name), ['lake']);
  });

  test('images of one\'s own: no built-in profiles (they name the built-in images)', async () => {
    const { config } = await setup({ images: [{ name: 'spark', display_name: 'My Spark', local: { environment: 'envs/spark' } }] });
    assert.deepEqual(configured(loadCatalog(loadConfig(config))), []);
  });

  test('profiles_file overrides the main file\'s keys, key by key', async () => {
    const { root, config } = await setup(
      {
        profiles_file: 'sub/profiles.yaml',
        images: [{ name: 'main-image', display_name: 'Main image', local: { environment: 'envs/main' } }],
        sizes: [{ name: 'tiny', display_name: 'Tiny' }],
        profiles: [{ name: 'from-main', env: { TOKEN: { secret: { file: 'main-token.txt' } } } }],
      },
      {
        'main-token.txt': 'main-secret\n',
        'sub/list-token.txt': 'list-secret\n',
        'sub/profiles.yaml': {
          sizes: [{ name: 'huge', display_name: 'Huge' }],
          profile_list: [{
            slug: 'offered', display_name: 'Offered',
            overrides: { env: { LIST_TOKEN: { secret: { file: 'list-token.txt' } } } },
            profile_options: { v: { display_name: 'V', choices: { a: { display_name: 'A', overrides: { env: { CHOICE_TOKEN: { secret: { file: 'list-token.txt' } } } } } } } },
          }],
        },
      },
    );
    const catalog = loadCatalog(loadConfig(config));
    assert.deepEqual(catalog.sizes.map((s) => s.name), ['huge'], 'the profiles file\'s sizes replace the main file\'s');
    assert.deepEqual(catalog.images.map((i) => i.name), ['main-image'], 'the main file\'s images stay');
    assert.deepEqual(configured(catalog).map((p) => p.name), ['from-main']);
    // relative paths resolve against the file that names them
    assert.equal(catalog.images[0]!.local?.environment, join(root, 'envs', 'main'));
    assert.deepEqual(configured(catalog)[0]!.env?.TOKEN, { secret: { file: join(root, 'main-token.txt') } });
    assert.deepEqual(catalog.profile_list[0]!.overrides.env?.LIST_TOKEN, { secret: { file: join(root, 'sub', 'list-token.txt') } });
    assert.deepEqual(catalog.profile_list[0]!.profile_options.v!.choices.a!.overrides.env?.CHOICE_TOKEN, { secret: { file: join(root, 'sub', 'list-token.txt') } });
  });

  test('images in the profiles file resolve their environments against the profiles file', async () => {
    const { root, config } = await setup(
      { profiles_file: 'conf/profiles.yaml' },
      { 'conf/profiles.yaml': { images: [{ name: 'x', display_name: 'X', local: { environment: '../envs/x' } }, { name: 'y', display_name: 'Y', local: { environment: '/opt/y' } }] } },
    );
    const catalog = loadCatalog(loadConfig(config));
    assert.equal(catalog.images[0]!.local?.environment, join(root, 'envs', 'x'));
    assert.equal(catalog.images[1]!.local?.environment, '/opt/y');
    assert.deepEqual(catalog.sizes.map((s) => s.name), ['small', 'medium', 'large'], 'the shipped sizes when nobody lists any');
  });

  test('a secret file that cannot be read is a problem naming the key and the path', async () => {
    const { root, config } = await setup({ profiles: [{ name: 'p', env: { TOKEN: { secret: { file: 'missing.txt' } } } }] });
    const result = loadProblems(config);
    assert.ok(result);
    someProblem(result.problems, new RegExp(`^profiles\\[0\\]\\.env\\.TOKEN\\.secret: cannot read secret file ${join(root, 'missing.txt').replace(/[.]/g, '\\.')}: ENOENT`));
  });

  test('storage in profiles: an unknown endpoint, a bad source and bad keys are named; relative secret paths are resolved', async () => {
    const storage = { endpoints: [{ name: 'lake', url: 'http://127.0.0.1:7070' }] };
    const bad = await setup({
      storage,
      profiles: [
        { name: 'a', storage: { endpoint: 'pond', credentials: { source: 'provisioned' } } },
        { name: 'b', storage: { endpoint: 'lake', credentials: { source: 'vault' } } },
        { name: 'c', storage: { endpoint: 'lake', credentials: { source: 'directory', path: 'keys', access_key_file: '../x' } } },
      ],
    });
    const result = loadProblems(bad.config);
    assert.ok(result);
    someProblem(result.problems, /^profiles\[0\]\.storage\.endpoint: no endpoint named "pond" in storage\.endpoints of .*refinery\.yaml \(known: "lake"\)/);
    someProblem(result.problems, /^profiles\[1\]\.storage\.credentials\.source/);
    someProblem(result.problems, /^profiles\[2\]\.storage\.credentials\.access_key_file/);

    const good = await setup({ storage, profiles: [
      { name: 'd', storage: { endpoint: 'lake', credentials: { source: 'directory', path: 'keys' } } },
      { name: 's', storage: { endpoint: 'lake', credentials: { source: 'static', access_key: 'AK', secret_key: { file: 'secret.txt' } } } },
    ] });
    const catalog = loadCatalog(loadConfig(good.config));
    assert.equal((catalog.profiles[0]!.storage!.credentials as { path: string }).path, join(good.root, 'keys'));
    assert.deepEqual((catalog.profiles[1]!.storage!.credentials as { secret_key: unknown }).secret_key, { file: join(good.root, 'secret.txt') });
  });

  test('a storage endpoint with credentials in its URL, or a bad URL, is refused at load', () => {
    assert.throws(() => parseConfigText(stringify({ storage: { endpoints: [{ name: 'lake', url: 'http://ak:sk@127.0.0.1:7070' }] } }), '/etc/refinery.yaml'), /storage\.endpoints\[0\]\.url.*not in the URL/s);
    assert.throws(() => parseConfigText(stringify({ storage: { endpoints: [{ name: 'lake', url: 'ftp://x' }] } }), '/etc/refinery.yaml'), /storage\.endpoints\[0\]\.url.*http/s);
  });

  test('cross-reference problems in the profiles file name that file and the key', async () => {
    const { root, config } = await setup(
      { profiles_file: 'profiles.yaml' },
      { 'profiles.yaml': { profiles: [{ name: 'p', images: ['nope'] }], profile_list: [{ slug: 'o', display_name: 'O', profile_options: { v: { display_name: 'V', unlisted_choice: { enabled: true, validation_regex: '[' } } } }] } },
    );
    const result = loadProblems(config);
    assert.ok(result);
    assert.equal(result.file, join(root, 'profiles.yaml'));
    someProblem(result.problems, /^profiles\[0\]\.images\[0\]: no image named "nope"/);
    someProblem(result.problems, /^profile_list\[0\]\.profile_options\.v\.unlisted_choice\.validation_regex: not a valid regular expression/);
  });

  test('schema problems in the profiles file: unknown key (with a hint), YAML syntax (with the line)', async () => {
    const unknown = await setup({ profiles_file: 'profiles.yaml' }, { 'profiles.yaml': { profiles: [{ name: 'p', evn: { A: 'b' } }] } });
    const r1 = loadProblems(unknown.config);
    assert.ok(r1);
    assert.equal(r1.file, join(unknown.root, 'profiles.yaml'));
    someProblem(r1.problems, /^profiles\[0\]\.evn: unknown key \(did you mean "env"\?\)/);

    const syntax = await setup({ profiles_file: 'profiles.yaml' }, { 'profiles.yaml': 'profiles:\n  - name: p\n    env: {A: "b"\n' });
    const r2 = loadProblems(syntax.config);
    assert.ok(r2);
    assert.equal(r2.file, join(syntax.root, 'profiles.yaml'));
    someProblem(r2.problems, /^line \d+, column \d+: /);
  });

  test('a missing profiles file is an error naming it and the main file', async () => {
    const { root, config } = await setup({ profiles_file: 'gone.yaml' });
    const result = loadProblems(config);
    assert.ok(result);
    assert.equal(result.file, join(root, 'gone.yaml'));
    someProblem(result.problems, /profiles_file in .*refinery\.yaml.*ENOENT/);
  });
});

describe('CatalogStore', () => {
  let dir: TmpDir;
  before(async () => {
    dir = await tmpDir('catalog-store');
  });
  after(() => dir.cleanup());

  function logger(): { log: ReturnType<typeof createLogger>; lines: () => Record<string, unknown>[] } {
    let text = '';
    const destination = new Writable({ write(chunk: Buffer, _enc, done) { text += chunk.toString(); done(); } });
    const log = createLogger({ level: 'info', destination });
    return { log, lines: () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
  }

  const profilesWith = (value: string) => stringify({ images: [py], profiles: [{ name: 'p', env: { VALUE: value } }] });

  test('reload takes a valid edit, keeps the last good catalog on a broken one, and says why', async () => {
    const config = join(dir.path, 'reload.yaml');
    const profiles = join(dir.path, 'reload-profiles.yaml');
    await writeFile(profiles, profilesWith('one'));
    await writeFile(config, stringify({ data_dir: join(dir.path, 'data'), profiles_file: profiles }));
    const { log, lines } = logger();
    const store = new CatalogStore(loadConfig(config), log);
    try {
      assert.equal(configured(store.current())[0]!.env?.VALUE, 'one');
      assert.deepEqual(store.status().sources, [config, profiles]);

      await writeFile(profiles, profilesWith('two'));
      assert.deepEqual(store.reload(), { ok: true });
      assert.equal(configured(store.current())[0]!.env?.VALUE, 'two');

      await writeFile(profiles, 'profiles:\n  - name: p\n    evn: {VALUE: three}\n');
      const result = store.reload();
      assert.equal(result.ok, false);
      assert.match(!result.ok ? result.error : '', /reload-profiles\.yaml.*\n.*profiles\[0\]\.evn: unknown key/);
      assert.equal(configured(store.current())[0]!.env?.VALUE, 'two', 'the last good catalog stays in force');
      const status = store.status();
      assert.match(status.error ?? '', /profiles\[0\]\.evn/);
      assert.ok(status.errorAt);
      const rejected = lines().find((l) => l.level === 50);
      assert.ok(rejected, 'an error is logged');
      assert.match(String(rejected.msg), /rejected/);
      assert.match(String(rejected.err), /profiles\[0\]\.evn: unknown key/);

      await writeFile(profiles, profilesWith('four'));
      assert.deepEqual(store.reload(), { ok: true });
      assert.equal(configured(store.current())[0]!.env?.VALUE, 'four');
      assert.equal(store.status().error, null, 'a good reload clears the error');
    } finally {
      store.close();
    }
  });

  test('watch reloads when the profiles file is replaced, as editors do', async () => {
    const config = join(dir.path, 'watch.yaml');
    const profiles = join(dir.path, 'watch-profiles.yaml');
    await writeFile(profiles, profilesWith('before'));
    await writeFile(config, stringify({ data_dir: join(dir.path, 'data'), profiles_file: profiles }));
    const store = new CatalogStore(loadConfig(config), logger().log);
    try {
      store.watch();
      const temp = join(dir.path, '.watch-profiles.yaml.swp');
      await writeFile(temp, profilesWith('after'));
      const { rename } = await import('node:fs/promises');
      await rename(temp, profiles);
      await waitFor(() => configured(store.current())[0]!.env?.VALUE === 'after', { timeoutMs: 5000, message: 'the watched file to be reloaded' });
      // and again, after the first reload re-established the watch
      await writeFile(profiles, profilesWith('again'));
      await waitFor(() => configured(store.current())[0]!.env?.VALUE === 'again', { timeoutMs: 5000, message: 'the second edit to be reloaded' });
    } finally {
      store.close();
    }
  });
});
