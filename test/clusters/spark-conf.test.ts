// The pure parts of the local Spark backend: sizes, request checks, spark-defaults.conf, Spark's launcher output.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ClusterError, type ClusterRequest } from '../../src/clusters/backend.js';
import {
  MiB,
  SPARK_MIN_HEAP,
  overheadMiB,
  parseJvmMemoryMiB,
  parseSparkDefaults,
  renderSparkDefaults,
  sparkDefaults,
  sparkRequestProblems,
  sparkSizing,
} from '../../src/clusters/spark/conf.js';
import { findJava, jvmArgv, parseLauncherOutput, scalaVersionOf, type SparkJvm } from '../../src/clusters/spark/jvm.js';
import { tmpDir, type TmpDir } from '../helpers/tmp.js';

const GiB = 1024 * MiB;

function request(overrides: Partial<ClusterRequest> = {}): ClusterRequest {
  return {
    kind: 'spark', name: 'spark', workers: 2,
    worker: { cores: 1, memory: 512 * MiB },
    head: { cores: 1, memory: 512 * MiB },
    conf: {}, connect: false,
    ...overrides,
  };
}

describe('Spark sizes', () => {
  test('worker memory is executor memory; the worker cgroup adds the overhead and the daemon', () => {
    const s = sparkSizing(request());
    assert.equal(s.executorMemoryMiB, 512);
    assert.equal(s.workerCores, 1);
    assert.equal(s.workerMemoryLimit, (512 + 384 + 256 + 160) * MiB);
    assert.equal(s.workerCpuLimit, 1);
    assert.equal(s.masterHeapMiB, 384);
    assert.equal(s.masterMemoryLimit, 544 * MiB, 'heap + non-heap when that is more than head.memory');
    assert.equal(s.connectHeapMiB, 1024, 'the Connect server gets at least 1 GiB');
  });

  test('fractional cores: Spark gets whole cores, the cgroup the exact figure', () => {
    const s = sparkSizing(request({ worker: { cores: 1.5, memory: 2 * GiB }, head: { cores: 0.5, memory: 2 * GiB } }));
    assert.equal(s.workerCores, 2);
    assert.equal(s.workerCpuLimit, 1.5);
    assert.equal(s.masterCpuLimit, 0.5);
    assert.equal(s.masterMemoryLimit, 2 * GiB);
    assert.equal(s.connectHeapMiB, 2048);
    assert.equal(sparkSizing(request({ worker: { cores: 0.25, memory: GiB } })).workerCores, 1);
  });

  test('spark.driver.memory from conf sizes the Connect server', () => {
    assert.equal(sparkSizing(request({ conf: { 'spark.driver.memory': '3g' } })).connectHeapMiB, 3072);
    assert.equal(overheadMiB(8192), 820);
    assert.equal(overheadMiB(512), 384);
  });

  test('JVM memory strings', () => {
    assert.equal(parseJvmMemoryMiB('512m'), 512);
    assert.equal(parseJvmMemoryMiB('2g'), 2048);
    assert.equal(parseJvmMemoryMiB('2G'), 2048);
    assert.equal(parseJvmMemoryMiB('1024'), 1024);
    assert.equal(parseJvmMemoryMiB('1t'), 1024 * 1024);
    assert.equal(parseJvmMemoryMiB('2048k'), 2);
    assert.equal(parseJvmMemoryMiB('lots'), null);
    assert.equal(parseJvmMemoryMiB('1.5g'), null);
  });
});

describe('Spark request checks', () => {
  const machine = 16 * GiB;

  test('a reasonable request passes', () => {
    assert.deepEqual(sparkRequestProblems(request(), machine), []);
    assert.deepEqual(sparkRequestProblems(request({ workers: 0, worker: { cores: 1, memory: 100 * MiB } }), machine), [], 'no workers: their size does not matter');
  });

  test('memory below Spark minimum or above the machine is refused, naming the numbers', () => {
    const small = sparkRequestProblems(request({ worker: { cores: 1, memory: SPARK_MIN_HEAP - MiB } }), machine);
    assert.match(small.join(), /at least 450 MiB.*449 MiB/);
    const huge = sparkRequestProblems(request({ worker: { cores: 1, memory: 10 * 1024 * GiB } }), machine);
    assert.match(huge.join(), /each worker asks for 10240 GiB of memory.*more than this machine has \(16 GiB\)/);
    const master = sparkRequestProblems(request({ head: { cores: 1, memory: 64 * GiB } }), machine);
    assert.match(master.join(), /master asks for 64 GiB/);
    const connect = sparkRequestProblems(request({ connect: true, conf: { 'spark.driver.memory': '100g' } }), machine);
    assert.match(connect.join(), /Spark Connect server asks for 100 GiB/);
  });

  test('conf keys Refinery owns, odd keys and impossible executor sizes are refused', () => {
    const problems = sparkRequestProblems(request({
      conf: {
        'spark.master': 'local[*]',
        'spark.authenticate.secret': 'x',
        'fs.s3a.endpoint': 'http://x',
        'spark.executor.memory': '4g',
        'spark.sql.shuffle.partitions': '8',
      },
    }), machine);
    assert.equal(problems.length, 4, problems.join('\n'));
    assert.match(problems.join('\n'), /spark\.master cannot be set: the master address is chosen by Refinery/);
    assert.match(problems.join('\n'), /spark\.authenticate\.secret cannot be set/);
    assert.match(problems.join('\n'), /"fs\.s3a\.endpoint" is not a Spark setting/);
    assert.match(problems.join('\n'), /spark\.executor\.memory \(4096 MiB\) is more than a worker has \(512 MiB\)/);
    assert.match(sparkRequestProblems(request({ conf: { 'spark.executor.memory': '300m' } }), machine).join(), /at least 450 MiB per executor/);
  });
});

describe('spark-defaults.conf', () => {
  test('wiring first, then sizes, then the profile, which may change sizes but not wiring', () => {
    const entries = sparkDefaults({
      host: '127.0.0.1', masterPort: 7077, appUiPort: 4050, sizing: sparkSizing(request()), workers: 2,
      conf: { 'spark.executor.memory': '480m', 'spark.sql.shuffle.partitions': '8', 'spark.master': 'local' },
      authSecret: 's3cret', connectToken: 'tok',
    });
    const map = new Map(entries);
    assert.equal(map.get('spark.master'), 'spark://127.0.0.1:7077');
    assert.equal(map.get('spark.driver.host'), '127.0.0.1');
    assert.equal(map.get('spark.driver.bindAddress'), '127.0.0.1');
    assert.equal(map.get('spark.ui.port'), '4050');
    assert.equal(map.get('spark.authenticate'), 'true');
    assert.equal(map.get('spark.authenticate.secret'), 's3cret');
    assert.equal(map.get('spark.connect.authenticate.token'), 'tok');
    assert.equal(map.get('spark.master.rest.enabled'), 'false');
    assert.equal(map.get('spark.executor.cores'), '1');
    assert.equal(map.get('spark.executor.memory'), '480m');
    assert.equal(map.get('spark.sql.shuffle.partitions'), '8');
  });

  test('values survive java.util.Properties escaping', () => {
    const entries: [string, string][] = [
      ['spark.a', 'plain'],
      ['spark.b', ' leading space and = : # !'],
      ['spark.c', 'back\\slash\nnew line\ttab'],
      ['spark.d', 'ünïcødé'],
      ['spark.e', ''],
    ];
    const text = renderSparkDefaults(entries, ['a comment']);
    assert.ok(text.startsWith('# a comment\n'));
    assert.equal(text.split('\n').length, entries.length + 2, 'one line per entry: newlines are escaped');
    assert.deepEqual([...parseSparkDefaults(text)], entries);
  });
});

describe("Spark's launcher and Java", () => {
  let dir: TmpDir;
  before(async () => {
    dir = await tmpDir('spark-conf');
  });
  after(() => dir.cleanup());

  test("the launcher's command line is picked apart", () => {
    const out = [
      '', '/usr/lib/jvm/java-17/bin/java', '-cp', '/s/conf/:/s/jars/slf4j-api-2.0.17.jar:/s/jars/*', '-Xmx1g',
      '-XX:+IgnoreUnrecognizedVMOptions', '--add-opens=java.base/java.lang=ALL-UNNAMED', '-Dio.netty.tryReflectionSetAccessible=true',
      'org.apache.spark.deploy.master.Master', '',
    ].join('\0');
    const parsed = parseLauncherOutput(out, 'org.apache.spark.deploy.master.Master');
    assert.deepEqual(parsed, {
      classpath: ['/s/jars/slf4j-api-2.0.17.jar', '/s/jars/*'],
      options: ['-XX:+IgnoreUnrecognizedVMOptions', '--add-opens=java.base/java.lang=ALL-UNNAMED', '-Dio.netty.tryReflectionSetAccessible=true'],
    });
    assert.equal(parseLauncherOutput('Error: something', 'org.apache.spark.deploy.master.Master'), null);
    assert.equal(scalaVersionOf(['a.jar', 'spark-core_2.13-4.3.0.jar']), '2.13');
    assert.equal(scalaVersionOf(['a.jar']), null);
  });

  test('daemons get C1 and the serial collector, the Connect server does not; secrets never go to argv', () => {
    const jvm: SparkJvm = { java: '/j/bin/java', javaHome: '/j', sparkHome: '/s', scalaVersion: '2.13', classpath: '/s/jars/*', options: ['--add-opens=x'], fingerprint: 'f' };
    const master = jvmArgv(jvm, { role: 'master', heapMiB: 384, args: ['--port', '1'], archive: '/a.jsa', sysProps: { 'spark.port.maxRetries': '0' } });
    assert.deepEqual(master.slice(0, 8), ['/j/bin/java', '-cp', '/s/jars/*', '-Xmx384m', '-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-XX:SharedArchiveFile=/a.jsa', '-Dspark.port.maxRetries=0']);
    assert.deepEqual(master.slice(-4), ['--add-opens=x', 'org.apache.spark.deploy.master.Master', '--port', '1']);
    const connect = jvmArgv(jvm, { role: 'connect', heapMiB: 1024, args: [] });
    assert.ok(!connect.includes('-XX:TieredStopAtLevel=1'));
    assert.equal(connect.at(-1), 'org.apache.spark.deploy.SparkSubmit');
  });

  test('a JAVA_HOME without java, or no java at all, is a ClusterError that says so', () => {
    assert.throws(() => findJava('/nowhere/jdk', '/usr/bin'), (e: unknown) => e instanceof ClusterError && /JAVA_HOME is \/nowhere\/jdk, which has no bin\/java/.test(e.message));
    assert.throws(() => findJava(undefined, join(dir.path, 'empty')), (e: unknown) => e instanceof ClusterError && /no `java` on PATH/.test(e.message));
    const bin = join(dir.path, 'jdk', 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'java'), '#!/bin/sh\n', { mode: 0o755 });
    assert.deepEqual(findJava(join(dir.path, 'jdk'), ''), { java: join(bin, 'java'), javaHome: join(dir.path, 'jdk') });
    assert.deepEqual(findJava(undefined, `/nonexistent:${bin}`), { java: join(bin, 'java'), javaHome: join(dir.path, 'jdk') });
  });
});
