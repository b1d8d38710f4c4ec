// conf of a Dask cluster request → worker flags and Dask configuration variables. The variable
// names are checked against Dask itself (dask.config.collect_env from envs/dask), not against our
// own idea of them.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { daskConfProblems, daskConfigEnvName, daskWorkerOptions } from '../../src/clusters/dask/conf.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const REPO = resolve(HERE, HERE.includes('/dist/') ? '../../..' : '../..');
const PYTHON = join(REPO, 'envs', 'dask', 'bin', 'python');

const worker = { cores: 2, memory: 1024 ** 3 };

describe('Dask cluster conf', () => {
  test('worker options become dask worker flags; threads default to the cores', () => {
    const plain = daskWorkerOptions({ worker, conf: {} });
    assert.equal(plain.nthreads, 2);
    assert.equal(plain.nanny, true);
    assert.deepEqual(plain.args, ['--nanny', '--no-dashboard']);
    assert.deepEqual(plain.env, {});

    const o = daskWorkerOptions({
      worker: { cores: 0.5, memory: 1 },
      conf: { '--lifetime': '1h', 'lifetime-restart': 'false', resources: 'GPU=2 MEM=10e9', preload: 'mod_a, mod_b', nanny: 'false', dashboard: 'true', nthreads: '4' },
    });
    assert.equal(o.nthreads, 4, 'nthreads in conf overrides the cores');
    assert.equal(o.nanny, false);
    assert.deepEqual(o.args, ['--lifetime', '1h', '--no-lifetime-restart', '--resources', 'GPU=2 MEM=10e9', '--preload', 'mod_a', '--preload', 'mod_b', '--no-nanny', '--dashboard']);
    assert.equal(daskWorkerOptions({ worker: { cores: 0.25, memory: 1 }, conf: {} }).nthreads, 1, 'at least one thread');
  });

  test('keys with dots become Dask configuration variables that Dask reads back as the same keys and values', { skip: !existsSync(PYTHON) && 'envs/dask is missing' }, () => {
    const conf = {
      'distributed.worker.memory.spill': '0.7',
      'distributed.worker.memory.pause': 'false',
      'distributed.scheduler.idle-timeout': '1h',
      'distributed.worker.daemon': 'true',
    };
    const o = daskWorkerOptions({ worker, conf });
    assert.equal(daskConfigEnvName('distributed.scheduler.idle-timeout'), 'DASK_DISTRIBUTED__SCHEDULER__IDLE_TIMEOUT');
    assert.deepEqual(Object.keys(o.env).sort(), [
      'DASK_DISTRIBUTED__SCHEDULER__IDLE_TIMEOUT', 'DASK_DISTRIBUTED__WORKER__DAEMON', 'DASK_DISTRIBUTED__WORKER__MEMORY__PAUSE', 'DASK_DISTRIBUTED__WORKER__MEMORY__SPILL',
    ]);
    const out = execFileSync(PYTHON, ['-c', [
      'import json, os, dask',
      'keys = ["distributed.worker.memory.spill", "distributed.worker.memory.pause", "distributed.scheduler.idle-timeout", "distributed.worker.daemon"]',
      'print(json.dumps({k: dask.config.get(k) for k in keys}))',
    ].join('\n')], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...o.env }, encoding: 'utf8', timeout: 60_000 });
    assert.deepEqual(JSON.parse(out), {
      'distributed.worker.memory.spill': 0.7,
      'distributed.worker.memory.pause': false,
      'distributed.scheduler.idle-timeout': '1h',
      'distributed.worker.daemon': true,
    });
  });

  test('unknown, managed and malformed options are refused, naming the key', () => {
    assert.deepEqual(daskConfProblems({ lifetime: '2h', 'distributed.worker.memory.target': '0.6' }), []);
    const problems = daskConfProblems({
      nthread: '2',
      'memory-limit': '4G',
      '--host': '0.0.0.0',
      'tls-key': '/k',
      lifetime: 'forever',
      nanny: 'maybe',
      resources: 'GPU',
      'distributed..x': '1',
      nthreads: '0',
    });
    assert.equal(problems.length, 9, problems.join('\n'));
    assert.match(problems[0]!, /^conf\.nthread: unknown Dask worker option/);
    assert.match(problems[1]!, /^conf\.memory-limit: cannot be set here \(set the memory per worker with `worker\.memory`/);
    assert.match(problems[2]!, /^conf\.--host: cannot be set here \(addresses are chosen by Refinery\)/);
    assert.match(problems[3]!, /^conf\.tls-key: cannot be set here/);
    assert.match(problems[4]!, /^conf\.lifetime: expected a duration/);
    assert.match(problems[5]!, /^conf\.nanny: expected true or false/);
    assert.match(problems[6]!, /^conf\.resources: expected resources/);
    assert.match(problems[7]!, /^conf\.distributed\.\.x: not a Dask configuration key/);
    assert.match(problems[8]!, /^conf\.nthreads: expected a whole number/);
    assert.match(daskConfProblems({ lifetime: '1h', '--lifetime': '2h' }).join(), /given twice/);
  });
});
