// src/profiles/resolve.ts: which images and profiles a person gets, and how their settings fold into a
// SpawnPlan (image < size < admin profiles in configuration order < chosen offered profile < its
// options < the person's own variables), with stale selections falling back to defaults.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { z } from 'zod';
import { catalogSchema, type Catalog } from '../../src/profiles/schema.js';
import { imagesFor, presentPlan, resolvePlan, SelectionError, type PlanSubject, type SelectionInput } from '../../src/profiles/resolve.js';

type CatalogInput = z.input<typeof catalogSchema>;

/** A catalog as configuration would give it (schema defaults applied). */
function catalogOf(input: CatalogInput): Catalog {
  const parsed = catalogSchema.parse(input);
  return { images: parsed.images ?? [], sizes: parsed.sizes ?? [], profiles: parsed.profiles ?? [], profile_list: parsed.profile_list ?? [] };
}

const G = 1000 ** 3;

const INPUT: CatalogInput = {
  images: [
    {
      name: 'python', display_name: 'Python', default: true, order: 10,
      local: { environment: '/opt/envs/base' },
      env: { A: 'image', B: 'image', C: 'image', D: 'image', E: 'image', WHO: '{user} on {server}' },
      volumes: [{ name: 'home', mount_path: '/home/jovyan', host_path: '/srv/home/{user}' }],
    },
    {
      name: 'spark', display_name: 'Spark', order: 20, sizes: ['small', 'medium'],
      local: { environment: '/opt/envs/spark' },
      env: { PYSPARK_PYTHON: 'python3' },
    },
    { name: 'lab-physics', display_name: 'Physics lab', order: 30, groups: ['physics'], local: { command: ['/bin/true'] } },
    { name: 'lab-carol', display_name: 'Carol\'s lab', order: 40, users: ['carol'], local: { command: ['/bin/true'] } },
  ],
  sizes: [
    { name: 'small', display_name: 'Small', default: true, cpu: { guarantee: 0.5, limit: 1 }, memory: { guarantee: '1G', limit: '2G' } },
    { name: 'medium', display_name: 'Medium', cpu: { guarantee: 1, limit: 2 }, memory: { guarantee: '2G', limit: '4G' } },
    { name: 'large', display_name: 'Large', cpu: { guarantee: 2, limit: 4 }, memory: { guarantee: '4G', limit: '8G' } },
  ],
  profiles: [
    { name: 'everyone', env: { B: 'everyone', C: 'everyone', D: 'everyone', E: 'everyone' }, resources: { cpu: { limit: 3 } } },
    {
      name: 'physics', groups: ['physics'],
      env: { C: 'physics', D: 'physics', E: 'physics', PHYSICS_DATA: '/data/{user}' },
      volumes: [{ name: 'data', mount_path: '/data', host_path: '/srv/physics/{user}/{server}', read_only: true }],
    },
    { name: 'spark-only', images: ['spark'], env: { SPARK_ONLY: 'yes' } },
    { name: 'for-bob', users: ['bob'], env: { BOB: 'yes' } },
    {
      name: 'late', env: { C: 'late', D: 'late', E: 'late' }, resources: { memory: { limit: '3G' } },
      volumes: [{ name: 'home', mount_path: '/home/override', host_path: '/other/{user}' }],
    },
  ],
  profile_list: [
    {
      slug: 'standard', display_name: 'Standard', default: true,
      overrides: { env: { D: 'offered', E: 'offered' }, resources: { cpu: { guarantee: 0.25 } } },
      profile_options: {
        version: {
          display_name: 'Version',
          choices: {
            stable: { display_name: 'Stable', default: true, overrides: { env: { E: 'option', VERSION: 'stable' } } },
            edge: { display_name: 'Edge', overrides: { env: { E: 'option', VERSION: 'edge' } } },
          },
          unlisted_choice: {
            enabled: true,
            validation_regex: '^v[0-9]+\\.[0-9]+$',
            validation_regex_error_message: 'Use a version like v1.2',
            overrides: { env: { E: 'option', VERSION: '{value}' }, volumes: [{ name: 'release', mount_path: '/release', host_path: '/srv/releases/{value}/{user}' }] },
          },
        },
        memory: {
          display_name: 'Memory',
          choices: {
            normal: { display_name: 'Normal', default: true },
            big: { display_name: 'Big', overrides: { resources: { memory: { limit: '16G' } } } },
          },
        },
      },
    },
    { slug: 'gpu', display_name: 'GPU', groups: ['physics'], overrides: { resources: { gpu: 1 }, env: { GPU: 'on' } } },
    { slug: 'spark-tuned', display_name: 'Spark, tuned', images: ['spark'], overrides: { env: { SPARK_TUNED: 'yes' } } },
  ],
};

const catalog = catalogOf(INPUT);
const alice: PlanSubject = { user: 'alice', groups: ['physics'], server: '' };
const bob: PlanSubject = { user: 'bob', groups: ['chemistry'], server: '' };
const carol: PlanSubject = { user: 'carol', groups: [], server: '' };

const envValues = (plan: ReturnType<typeof resolvePlan>) =>
  Object.fromEntries(Object.entries(plan.env).map(([k, v]) => [k, 'value' in v ? v.value : '(secret)']));

/** Asserts `fn` throws a SelectionError for `field`, returning it for further checks. */
function selectionError(fn: () => unknown, field: string): SelectionError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof SelectionError, `expected a SelectionError for ${field}, got ${caught instanceof Error ? `${caught.name}: ${caught.message}` : String(caught)}`);
  assert.equal(caught.field, field, caught.message);
  return caught;
}

describe('which profiles apply', () => {
  test('a rule for group physics applies to a member, not to a non-member', () => {
    const forAlice = resolvePlan(catalog, alice);
    assert.equal(forAlice.env.PHYSICS_DATA && 'value' in forAlice.env.PHYSICS_DATA && forAlice.env.PHYSICS_DATA.value, '/data/alice');
    assert.ok(forAlice.applied.includes('profile physics'));
    const forBob = resolvePlan(catalog, bob);
    assert.equal(forBob.env.PHYSICS_DATA, undefined);
    assert.ok(!forBob.applied.includes('profile physics'));
    assert.ok(!forBob.volumes.some((v) => v.name === 'data'), 'nor its volume');
  });

  test('a rule for a user applies to that user only', () => {
    assert.equal(envValues(resolvePlan(catalog, bob)).BOB, 'yes');
    assert.equal(envValues(resolvePlan(catalog, alice)).BOB, undefined);
  });

  test('a rule for image spark applies with spark, not with python', () => {
    const spark = resolvePlan(catalog, bob, { image: 'spark' });
    assert.equal(envValues(spark).SPARK_ONLY, 'yes');
    assert.ok(spark.applied.includes('profile spark-only'));
    const python = resolvePlan(catalog, bob, { image: 'python' });
    assert.equal(envValues(python).SPARK_ONLY, undefined);
    assert.ok(!python.applied.includes('profile spark-only'));
  });

  test('offered profiles are filtered the same way: gpu only for physics, spark-tuned only with spark', () => {
    assert.equal(resolvePlan(catalog, alice, { profile: 'gpu' }).resources.gpu, 1);
    selectionError(() => resolvePlan(catalog, bob, { profile: 'gpu' }), 'profile');
    assert.equal(envValues(resolvePlan(catalog, bob, { image: 'spark', profile: 'spark-tuned' })).SPARK_TUNED, 'yes');
    const err = selectionError(() => resolvePlan(catalog, bob, { image: 'python', profile: 'spark-tuned' }), 'profile');
    assert.match(err.message, /spark-tuned/);
  });

  test('applied lists the matching profiles in the order they were folded in', () => {
    assert.deepEqual(resolvePlan(catalog, alice).applied, ['profile everyone', 'profile physics', 'profile late', 'profile standard']);
    assert.deepEqual(resolvePlan(catalog, bob, { image: 'spark' }).applied, ['profile everyone', 'profile spark-only', 'profile for-bob', 'profile late', 'profile standard']);
  });

  test('images are visible by users and groups', () => {
    assert.deepEqual(imagesFor(catalog, alice).map((i) => i.name), ['python', 'spark', 'lab-physics']);
    assert.deepEqual(imagesFor(catalog, bob).map((i) => i.name), ['python', 'spark']);
    assert.deepEqual(imagesFor(catalog, carol).map((i) => i.name), ['python', 'spark', 'lab-carol']);
    assert.equal(resolvePlan(catalog, alice, { image: 'lab-physics' }).image.name, 'lab-physics');
    selectionError(() => resolvePlan(catalog, bob, { image: 'lab-physics' }), 'image');
    selectionError(() => resolvePlan(catalog, alice, { image: 'lab-carol' }), 'image');
  });

  test('a remembered image the person may no longer see falls back to the default with a warning', () => {
    const plan = resolvePlan(catalog, bob, {}, { image: 'lab-physics' });
    assert.equal(plan.image.name, 'python');
    assert.equal(plan.warnings.length, 1);
    assert.match(plan.warnings[0]!, /lab-physics/);
  });
});

describe('merge order', () => {
  test('env: image < admin profiles in configuration order < offered profile < option', () => {
    const plan = resolvePlan(catalog, alice, { options: { version: 'edge' } });
    const env = envValues(plan);
    assert.equal(env.A, 'image');
    assert.equal(env.B, 'everyone');
    assert.equal(env.C, 'late', 'physics (earlier in configuration) is overridden by late');
    assert.equal(env.D, 'offered');
    assert.equal(env.E, 'option');
    assert.equal(env.VERSION, 'edge');
    assert.equal(plan.env.A?.source, 'image python');
    assert.equal(plan.env.B?.source, 'profile everyone');
    assert.equal(plan.env.C?.source, 'profile late');
    assert.equal(plan.env.D?.source, 'profile standard');
    assert.equal(plan.env.E?.source, 'option version');
  });

  test('configuration order decides between admin profiles, not their names', () => {
    const reversed = catalogOf({ ...INPUT, profiles: [...(INPUT.profiles ?? [])].reverse() });
    const env = envValues(resolvePlan(reversed, alice));
    assert.equal(env.C, 'everyone', 'now everyone comes last among the profiles setting C');
    assert.equal(env.B, 'everyone');
  });

  test('env adds up across layers', () => {
    const env = envValues(resolvePlan(catalog, alice, { image: 'spark', profile: 'gpu' }));
    assert.equal(env.PYSPARK_PYTHON, 'python3');
    assert.equal(env.B, 'everyone');
    assert.equal(env.PHYSICS_DATA, '/data/alice');
    assert.equal(env.SPARK_ONLY, 'yes');
    assert.equal(env.GPU, 'on');
  });

  test('resources: the size, then profiles override field by field', () => {
    const plan = resolvePlan(catalog, bob);
    // small: cpu 0.5/1, memory 1G/2G; everyone: cpu.limit 3; late: memory.limit 3G; standard: cpu.guarantee 0.25
    assert.deepEqual(plan.resources.cpu, { guarantee: 0.25, limit: 3 });
    assert.deepEqual(plan.resources.memory, { guarantee: 1 * G, limit: 3 * G });
    assert.equal(plan.resources.gpu, undefined);
    const medium = resolvePlan(catalog, bob, { size: 'medium' });
    assert.deepEqual(medium.resources.memory, { guarantee: 2 * G, limit: 3 * G });
    assert.equal(medium.size?.name, 'medium');
  });

  test('an option overrides the offered profile and the admin profiles', () => {
    const plan = resolvePlan(catalog, bob, { options: { memory: 'big' } });
    assert.deepEqual(plan.resources.memory, { guarantee: 1 * G, limit: 16 * G });
    assert.deepEqual(plan.selections.options, { version: 'stable', memory: 'big' });
  });

  test('a size without memory leaves the memory of earlier layers alone; later scalar settings win', () => {
    const cat = catalogOf({
      images: [{ name: 'py', display_name: 'Py', local: { command: ['/bin/true'] }, default_url: '/lab', resources: { memory: { limit: '1G' } } }],
      sizes: [{ name: 'cpu-only', display_name: 'CPU only', cpu: { limit: 2 } }],
      profiles: [{ name: 'one', default_url: '/tree' }, { name: 'two', default_url: '/lab/tree/README.md' }],
    });
    const plan = resolvePlan(cat, bob);
    assert.deepEqual(plan.resources, { cpu: { limit: 2 }, memory: { limit: 1 * G } });
    assert.equal(plan.default_url, '/lab/tree/README.md');
  });

  test('volumes add up; a later volume with the same name replaces the earlier one', () => {
    const forAlice = resolvePlan(catalog, alice);
    const names = forAlice.volumes.map((v) => v.name).sort();
    assert.deepEqual(names, ['data', 'home']);
    const home = forAlice.volumes.find((v) => v.name === 'home')!;
    assert.equal(home.mount_path, '/home/override');
    assert.equal(home.host_path, '/other/alice');
    assert.equal(home.source, 'profile late');
    assert.deepEqual(resolvePlan(catalog, bob).volumes.map((v) => v.name), ['home']);
  });
});

describe('options', () => {
  test('the default choice is used when none is asked for', () => {
    const plan = resolvePlan(catalog, bob);
    assert.equal(plan.selections.profile, 'standard');
    assert.deepEqual(plan.selections.options, { version: 'stable', memory: 'normal' });
    assert.equal(envValues(plan).VERSION, 'stable');
  });

  test('a valid typed (unlisted) value is used, with {value} filled in', () => {
    const plan = resolvePlan(catalog, bob, { options: { version: 'v3.1' } });
    assert.equal(envValues(plan).VERSION, 'v3.1');
    assert.equal(plan.selections.options.version, 'v3.1');
    const release = plan.volumes.find((v) => v.name === 'release');
    assert.equal(release?.host_path, '/srv/releases/v3.1/bob');
    assert.equal(plan.env.VERSION?.source, 'option version');
  });

  test('a typed value that does not match the regex is refused, naming options.<key>', () => {
    const err = selectionError(() => resolvePlan(catalog, bob, { options: { version: 'latest' } }), 'options.version');
    assert.equal(err.message, 'Use a version like v1.2');
    // the regex is anchored by the configuration: a value containing a valid version is still refused
    selectionError(() => resolvePlan(catalog, bob, { options: { version: 'v1.2; rm -rf /' } }), 'options.version');
  });

  test('a listed choice key wins over the unlisted choice', () => {
    const plan = resolvePlan(catalog, bob, { options: { version: 'edge' } });
    assert.equal(envValues(plan).VERSION, 'edge');
    assert.ok(!plan.volumes.some((v) => v.name === 'release'));
  });

  test('a value that is not a choice, where typing is not allowed, is refused naming the option', () => {
    const err = selectionError(() => resolvePlan(catalog, bob, { options: { memory: 'huge' } }), 'options.memory');
    assert.match(err.message, /normal/);
    assert.match(err.message, /big/);
  });

  test('an option key the profile does not have is refused', () => {
    const err = selectionError(() => resolvePlan(catalog, bob, { options: { colour: 'blue' } }), 'options.colour');
    assert.match(err.message, /version/);
    selectionError(() => resolvePlan(catalog, alice, { profile: 'gpu', options: { version: 'edge' } }), 'options.version');
  });

  test('options without any offered profile are refused rather than silently ignored', () => {
    const cat = catalogOf({ images: [{ name: 'py', display_name: 'Py', local: { command: ['/bin/true'] } }] });
    selectionError(() => resolvePlan(cat, bob, { options: { version: 'edge' } }), 'options.version');
  });

  test('an unknown image, size or profile asked for explicitly is an error naming the field', () => {
    assert.match(selectionError(() => resolvePlan(catalog, bob, { image: 'julia' }), 'image').message, /julia.*python, spark/s);
    selectionError(() => resolvePlan(catalog, bob, { size: 'huge' }), 'size');
    // large exists, but not with spark
    assert.match(selectionError(() => resolvePlan(catalog, bob, { image: 'spark', size: 'large' }), 'size').message, /small, medium/);
    selectionError(() => resolvePlan(catalog, bob, { profile: 'nope' }), 'profile');
  });
});

describe('stale selections fall back to defaults with a warning', () => {
  test('a remembered image that was removed', () => {
    const plan = resolvePlan(catalog, bob, {}, { image: 'julia', size: 'medium' });
    assert.equal(plan.image.name, 'python');
    assert.equal(plan.selections.image, 'python');
    assert.ok(plan.warnings.some((w) => w.includes('julia') && w.includes('python')), plan.warnings.join(' | '));
    assert.equal(plan.size?.name, 'medium', 'a size that still fits the new image carries over');
  });

  test('a remembered size the image no longer offers', () => {
    const plan = resolvePlan(catalog, bob, {}, { image: 'spark', size: 'large' });
    assert.equal(plan.image.name, 'spark');
    assert.equal(plan.size?.name, 'small');
    assert.ok(plan.warnings.some((w) => w.includes('large') && w.includes('small')), plan.warnings.join(' | '));
  });

  test('a size remembered with another image is dropped silently when it does not fit the new one', () => {
    const plan = resolvePlan(catalog, bob, { image: 'spark' }, { image: 'python', size: 'large' });
    assert.equal(plan.size?.name, 'small');
    assert.deepEqual(plan.warnings, []);
  });

  test('a remembered typed value that no longer matches the regex', () => {
    const plan = resolvePlan(catalog, bob, {}, { image: 'python', profile: 'standard', options: { version: 'latest' } });
    assert.equal(plan.selections.options.version, 'stable');
    assert.equal(envValues(plan).VERSION, 'stable');
    assert.ok(plan.warnings.some((w) => w.includes('latest')), plan.warnings.join(' | '));
  });

  test('a remembered choice that was removed', () => {
    const plan = resolvePlan(catalog, bob, {}, { image: 'python', profile: 'standard', options: { memory: 'gone' } });
    assert.equal(plan.selections.options.memory, 'normal');
    assert.ok(plan.warnings.some((w) => w.includes('gone')), plan.warnings.join(' | '));
  });

  test('remembered valid selections are kept, without warnings', () => {
    const remembered: SelectionInput = { image: 'python', size: 'medium', profile: 'gpu', options: {}, env: { MY_SETTING: 'on' } };
    const plan = resolvePlan(catalog, alice, {}, remembered);
    assert.deepEqual(plan.selections, { image: 'python', size: 'medium', profile: 'gpu', options: {}, env: { MY_SETTING: 'on' } });
    assert.deepEqual(plan.warnings, []);
  });

  test('a remembered variable an administrator now sets is dropped with a warning; asked for explicitly it is an error', () => {
    const plan = resolvePlan(catalog, alice, {}, { env: { PHYSICS_DATA: '/mine', MY_SETTING: 'on' } });
    assert.equal(envValues(plan).PHYSICS_DATA, '/data/alice');
    assert.equal(plan.env.PHYSICS_DATA?.source, 'profile physics');
    assert.equal(envValues(plan).MY_SETTING, 'on');
    assert.deepEqual(plan.selections.env, { MY_SETTING: 'on' });
    assert.ok(plan.warnings.some((w) => w.includes('PHYSICS_DATA')), plan.warnings.join(' | '));

    const err = selectionError(() => resolvePlan(catalog, alice, { env: { PHYSICS_DATA: '/mine' } }), 'env.PHYSICS_DATA');
    assert.match(err.message, /profile physics/);
    // for bob nobody sets it, so he may
    assert.equal(envValues(resolvePlan(catalog, bob, { env: { PHYSICS_DATA: '/mine' } })).PHYSICS_DATA, '/mine');
  });
});

describe('the person\'s own variables', () => {
  test('are added last, marked as theirs', () => {
    const plan = resolvePlan(catalog, bob, { env: { MY_SETTING: 'on' } });
    assert.deepEqual(plan.env.MY_SETTING, { value: 'on', source: 'you' });
    assert.deepEqual(plan.selections.env, { MY_SETTING: 'on' });
  });

  test('reserved names are refused', () => {
    for (const name of ['JUPYTERHUB_API_TOKEN', 'JUPYTERHUB_USER', 'PATH', 'HOME', 'MEM_LIMIT', 'JPY_API_TOKEN']) {
      selectionError(() => resolvePlan(catalog, bob, { env: { [name]: 'x' } }), `env.${name}`);
    }
    selectionError(() => resolvePlan(catalog, bob, { env: { '1BAD': 'x' } }), 'env.1BAD');
    selectionError(() => resolvePlan(catalog, bob, { env: { 'A-B': 'x' } }), 'env.A-B');
  });

  test('a variable set by the image is not theirs to change either', () => {
    selectionError(() => resolvePlan(catalog, bob, { image: 'spark', env: { PYSPARK_PYTHON: 'python2' } }), 'env.PYSPARK_PYTHON');
  });
});

describe('templating', () => {
  test('{user} and {server} are filled in env values and volume paths', () => {
    const plan = resolvePlan(catalog, { ...alice, server: 'lab2' });
    assert.equal(envValues(plan).WHO, 'alice on lab2');
    assert.equal(envValues(plan).PHYSICS_DATA, '/data/alice');
    assert.equal(plan.volumes.find((v) => v.name === 'data')?.host_path, '/srv/physics/alice/lab2');
    assert.equal(plan.volumes.find((v) => v.name === 'home')?.host_path, '/other/alice');
  });

  test('a person\'s own value is not templated', () => {
    assert.equal(envValues(resolvePlan(catalog, bob, { env: { MINE: '{user}' } })).MINE, '{user}');
  });
});

describe('presentPlan', () => {
  const SECRET = 'very-secret-value-7f3a9c';
  const withSecrets = catalogOf({
    images: [{ name: 'py', display_name: 'Py', local: { command: ['/bin/true'] }, env: { PLAIN: 'visible' } }],
    profiles: [{ name: 'storage', env: { S3_SECRET: { secret: SECRET }, FROM_ENV: { secret: { env: 'SOME_HUB_VAR' } } } }],
  });

  test('hides secret values, saying they are secret and where they come from', () => {
    const plan = resolvePlan(withSecrets, bob);
    const shown = presentPlan(plan) as { env: Record<string, { value: string | null; secret: boolean; source: string }> };
    assert.ok(!JSON.stringify(shown).includes(SECRET), 'the secret value is nowhere in the presented plan');
    assert.deepEqual(shown.env.S3_SECRET, { value: null, secret: true, source: 'profile storage' });
    assert.deepEqual(shown.env.FROM_ENV, { value: null, secret: true, source: 'profile storage' });
    assert.deepEqual(shown.env.PLAIN, { value: 'visible', secret: false, source: 'image py' });
    // the plan itself still carries the reference, for the spawner
    assert.ok(JSON.stringify(plan).includes(SECRET));
  });
});
