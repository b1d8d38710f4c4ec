// Object storage works with nothing but the AWS_* variables Refinery puts in a server's and a
// cluster's environment (no keys or endpoints in code), against a REAL versitygw on loopback:
// boto3 in envs/base, pandas over s3fs in envs/spark, dask.dataframe over s3fs in envs/dask, and
// Spark's s3a:// on a real local standalone cluster (LocalSparkBackend, started with the storage
// environment like the hub starts it). The keys must reach every JVM through its environment only:
// not argv, not spark-defaults.conf. First the pure parts of src/clusters/spark/s3a.ts.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ClusterOwner, ClusterRequest } from '../../src/clusters/backend.js';
import { parseSparkDefaults, renderSparkDefaults } from '../../src/clusters/spark/conf.js';
import { LocalSparkBackend, SPARK_MARKER_ENV, parseLocalSparkState, type LocalSparkState } from '../../src/clusters/spark/local.js';
import { DEFAULT_S3A_JARS_DIR, ENV_CREDENTIALS_PROVIDER, s3aConf, s3aJarsProblem, updateS3aConf, withS3aConf } from '../../src/clusters/spark/s3a.js';
import { silentLogger } from '../../src/log.js';
import { processesWithEnv } from '../helpers/processes.js';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.js';
import { tmpDir, type TmpDir } from '../helpers/tmp.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const REPO = resolve(HERE, HERE.includes('/dist/') ? '../../..' : '../..');
const python = (env: string) => join(REPO, 'envs', env, 'bin', 'python');
const MiB = 1024 ** 2;
const JOB_TIMEOUT_MS = 240_000;

const STORAGE_ENV = {
  AWS_ACCESS_KEY_ID: 'AKIAREFINERYTEST',
  AWS_SECRET_ACCESS_KEY: 'not-a-real-secret-0123456789',
  AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:7070',
  AWS_ENDPOINT_URL: 'http://127.0.0.1:7070',
  AWS_DEFAULT_REGION: 'eu-test-1',
};

describe('s3a conf (src/clusters/spark/s3a.ts)', () => {
  test('nothing without a key pair', () => {
    assert.deepEqual(s3aConf({}, '/jars'), {});
    assert.deepEqual(s3aConf({ AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:7070' }, '/jars'), {});
  });

  test('jars on both class paths, the endpoint path-style without TLS, keys left to the environment', () => {
    const conf = s3aConf(STORAGE_ENV, '/opt/jars');
    assert.deepEqual(conf, {
      'spark.driver.extraClassPath': '/opt/jars/*',
      'spark.executor.extraClassPath': '/opt/jars/*',
      'spark.hadoop.fs.s3a.aws.credentials.provider': ENV_CREDENTIALS_PROVIDER,
      'spark.hadoop.fs.s3a.endpoint.region': 'eu-test-1',
      'spark.hadoop.fs.s3a.endpoint': 'http://127.0.0.1:7070',
      'spark.hadoop.fs.s3a.path.style.access': 'true',
      'spark.hadoop.fs.s3a.connection.ssl.enabled': 'false',
    });
    const text = JSON.stringify(conf);
    assert.ok(!text.includes(STORAGE_ENV.AWS_SECRET_ACCESS_KEY) && !text.includes(STORAGE_ENV.AWS_ACCESS_KEY_ID), 'no key in the conf');
  });

  test('TLS follows the scheme; the S3 endpoint wins over the general one; region defaults to us-east-1', () => {
    const conf = s3aConf({ ...STORAGE_ENV, AWS_ENDPOINT_URL_S3: 'https://s3.example.org', AWS_DEFAULT_REGION: '' }, '/j');
    assert.equal(conf['spark.hadoop.fs.s3a.endpoint'], 'https://s3.example.org');
    assert.equal(conf['spark.hadoop.fs.s3a.connection.ssl.enabled'], 'true');
    assert.equal(conf['spark.hadoop.fs.s3a.endpoint.region'], 'us-east-1');
    const aws = s3aConf({ AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' }, '/j');
    assert.equal(aws['spark.hadoop.fs.s3a.endpoint'], undefined, 'no endpoint: AWS itself, virtual-host style');
    assert.equal(aws['spark.hadoop.fs.s3a.path.style.access'], undefined);
  });

  test("the profile's values win, its class paths are kept after the jars, and a start without storage removes them", () => {
    const profile = { 'spark.executor.extraClassPath': '/home/me/extra.jar', 'spark.hadoop.fs.s3a.endpoint': 'http://other:9000' };
    const reserved: [string, string][] = [['spark.master', 'spark://127.0.0.1:1'], ...Object.entries(profile)];
    const first = new Map(withS3aConf(reserved, profile, STORAGE_ENV, '/j'));
    assert.equal(first.get('spark.master'), 'spark://127.0.0.1:1');
    assert.equal(first.get('spark.executor.extraClassPath'), '/j/*:/home/me/extra.jar');
    assert.equal(first.get('spark.driver.extraClassPath'), '/j/*');
    assert.equal(first.get('spark.hadoop.fs.s3a.endpoint'), 'http://other:9000');
    assert.equal(first.get('spark.hadoop.fs.s3a.path.style.access'), 'true');
    const again = new Map(withS3aConf(first, profile, STORAGE_ENV, '/j'));
    assert.deepEqual([...again], [...first], 'applying twice changes nothing');
    const without = new Map(withS3aConf(first, profile, {}, '/j'));
    assert.deepEqual([...without].sort(), [...reserved].sort(), 'back to what reserve() wrote');
  });

  test('updateS3aConf rewrites the file in place: header kept, 0600, no key', async () => {
    const dir = await tmpDir('s3a-conf');
    try {
      const file = join(dir.path, 'spark-defaults.conf');
      writeFileSync(file, renderSparkDefaults([['spark.master', 'spark://127.0.0.1:1'], ['spark.authenticate.secret', 's']], ['Written by a test.']), { mode: 0o600 });
      assert.ok(await updateS3aConf(file, {}, STORAGE_ENV, '/j'));
      const text = readFileSync(file, 'utf8');
      assert.ok(text.startsWith('# Written by a test.\n'));
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.equal(parseSparkDefaults(text).get('spark.hadoop.fs.s3a.endpoint'), STORAGE_ENV.AWS_ENDPOINT_URL_S3);
      assert.equal(parseSparkDefaults(text).get('spark.authenticate.secret'), 's');
      assert.ok(!text.includes(STORAGE_ENV.AWS_SECRET_ACCESS_KEY) && !text.includes(STORAGE_ENV.AWS_ACCESS_KEY_ID));
      assert.equal(await updateS3aConf(file, {}, {}, '/j'), null);
      assert.deepEqual([...parseSparkDefaults(readFileSync(file, 'utf8')).keys()], ['spark.master', 'spark.authenticate.secret']);
    } finally {
      await dir.cleanup();
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// Against a real server

interface PythonRun {
  /** The first line the script printed that starts with `{`, parsed. */
  result: Promise<Record<string, unknown>>;
  /** Let a script that waits on stdin (WAIT_STDIN) finish. */
  release(): void;
  done: Promise<{ code: number | null; stderr: string }>;
}

/**
 * Run a Python script of envs/<env> the way a kernel of the user's server runs: a clean environment
 * with only PATH, HOME (no ~/.aws), LANG and `env`. The script is argv, so it must not contain a key.
 */
function runPython(env: string, vars: Record<string, string>, home: string, script: string, wait = false): PythonRun {
  mkdirSync(home, { recursive: true });
  const child = spawn(python(env), ['-c', script], {
    cwd: home,
    env: { PATH: `${join(REPO, 'envs', env, 'bin')}:/usr/local/bin:/usr/bin:/bin`, HOME: home, LANG: 'C.UTF-8', ...vars, ...(wait ? { WAIT_STDIN: '1' } : {}) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let settle!: (v: Record<string, unknown>) => void;
  let reject!: (e: Error) => void;
  const result = new Promise<Record<string, unknown>>((res, rej) => {
    settle = res;
    reject = rej;
  });
  result.catch(() => undefined);
  const timer = setTimeout(() => child.kill('SIGKILL'), JOB_TIMEOUT_MS);
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    const line = stdout.split('\n').find((l) => l.startsWith('{') && l.endsWith('}'));
    if (line) settle(JSON.parse(line) as Record<string, unknown>);
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const done = new Promise<{ code: number | null; stderr: string }>((res) => {
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`envs/${env}/bin/python exited with ${code} before printing a result:\n${stderr.slice(-4000)}`));
      res({ code, stderr });
    });
  });
  return { result, release: () => child.stdin.end('\n'), done };
}

async function pythonResult(env: string, vars: Record<string, string>, home: string, script: string): Promise<Record<string, unknown>> {
  const run = runPython(env, vars, home, script);
  const result = await run.result;
  const { code, stderr } = await run.done;
  assert.equal(code, 0, `envs/${env}/bin/python exited with ${code}:\n${stderr.slice(-3000)}`);
  return result;
}

const MISSING_ENVS = ['base', 'spark', 'dask'].filter((e) => !existsSync(python(e)));
const SKIP = MISSING_ENVS.length > 0 && `envs/${MISSING_ENVS.join(', envs/')} missing (bash scripts/setup-python.sh)`;
const SKIP_SPARK = SKIP || (s3aJarsProblem(DEFAULT_S3A_JARS_DIR) ?? false);

const BUCKET = 'refinery-s3-clients';
/** The CSV Spark, pandas and dask read: a header and ROWS rows. */
const ROWS = 1234;

describe('S3 clients with only the AWS_* environment (real versitygw)', { skip: SKIP, timeout: 900_000 }, () => {
  let dir: TmpDir;
  let server: TestS3Server;
  let storageEnv: Record<string, string>;
  let secret: string;

  before(async () => {
    dir = await tmpDir('s3-clients');
    server = await startS3Server();
    secret = server.root.secretAccessKey;
    assert.ok(secret.length >= 8, 'a secret long enough to look for');
    storageEnv = {
      AWS_ACCESS_KEY_ID: server.root.accessKeyId,
      AWS_SECRET_ACCESS_KEY: secret,
      AWS_ENDPOINT_URL_S3: server.url,
      AWS_ENDPOINT_URL: server.url,
      AWS_DEFAULT_REGION: server.region,
    };
  });

  after(async () => {
    await server?.stop();
    await dir?.cleanup();
  });

  test('envs/base: boto3.client("s3") creates a bucket, puts and gets an object', async () => {
    const r = await pythonResult('base', storageEnv, join(dir.path, 'home'), `
import json, boto3
s3 = boto3.client("s3")
s3.create_bucket(Bucket=${JSON.stringify(BUCKET)})
body = "id,value\\n" + "".join(f"{i},{i * i}\\n" for i in range(${ROWS}))
s3.put_object(Bucket=${JSON.stringify(BUCKET)}, Key="data/rows.csv", Body=body.encode())
got = s3.get_object(Bucket=${JSON.stringify(BUCKET)}, Key="data/rows.csv")["Body"].read().decode()
keys = [o["Key"] for o in s3.list_objects_v2(Bucket=${JSON.stringify(BUCKET)})["Contents"]]
print(json.dumps({"same": got == body, "keys": keys, "endpoint": s3.meta.endpoint_url, "boto3": boto3.__version__}))
`);
    assert.equal(r.same, true, 'get_object returns what put_object stored');
    assert.deepEqual(r.keys, ['data/rows.csv']);
    assert.equal(r.endpoint, server.url, 'boto3 took the endpoint from AWS_ENDPOINT_URL_S3');
  });

  test('envs/spark: pandas writes and reads s3:// (s3fs)', async () => {
    const r = await pythonResult('spark', storageEnv, join(dir.path, 'home'), `
import json, pandas as pd, s3fs
df = pd.read_csv("s3://${BUCKET}/data/rows.csv")
df.assign(double=df.value * 2).to_csv("s3://${BUCKET}/pandas/out.csv", index=False)
back = pd.read_csv("s3://${BUCKET}/pandas/out.csv")
print(json.dumps({"rows": len(df), "back": len(back), "sum": int(back.double.sum()), "pandas": pd.__version__, "s3fs": s3fs.__version__}))
`);
    assert.equal(r.rows, ROWS);
    assert.equal(r.back, ROWS);
    assert.equal(r.sum, 2 * Array.from({ length: ROWS }, (_, i) => i * i).reduce((a, b) => a + b, 0));
  });

  test('envs/dask: dask.dataframe.read_csv("s3://...") counts the rows', async () => {
    const r = await pythonResult('dask', storageEnv, join(dir.path, 'home'), `
import json, dask, dask.dataframe as dd
df = dd.read_csv("s3://${BUCKET}/data/*.csv", blocksize="4KB")
print(json.dumps({"rows": int(df.shape[0].compute()), "partitions": df.npartitions, "dask": dask.__version__}))
`);
    assert.equal(r.rows, ROWS);
    assert.ok((r.partitions as number) > 1, 'read in several blocks (ranged GETs)');
  });

  /**
   * A local Spark cluster started as the hub starts one: the storage environment goes to start() (the
   * cluster's processes) and into the server's environment next to the cluster's addresses (the
   * notebook's driver).
   */
  async function startCluster(user: string, connect: boolean): Promise<StorageCluster> {
    const backend = new LocalSparkBackend({ dataDir: dir.path, log: silentLogger(), scratchDir: join(dir.path, 'scratch'), classArchives: { train: false } });
    const owner: ClusterOwner = { user, server: '', homeDir: join(dir.path, 'users', user) };
    const request: ClusterRequest = {
      kind: 'spark', name: 'spark', workers: 1,
      worker: { cores: 1, memory: 512 * MiB }, head: { cores: 1, memory: 512 * MiB },
      conf: {}, connect,
    };
    const addresses = await backend.reserve(owner, request);
    const started = await backend.start(owner, request, addresses, {
      timeoutMs: 120_000, signal: new AbortController().signal, onProgress: () => undefined, env: storageEnv,
    });
    const state = parseLocalSparkState(started);
    assert.ok(state, 'start() returns a local Spark state');
    return { backend, state, home: owner.homeDir!, notebookEnv: { ...addresses.env, ...storageEnv } };
  }

  describe('Spark s3a:// on a local standalone cluster', { skip: SKIP_SPARK }, () => {
    let cluster: StorageCluster | undefined;
    let state: LocalSparkState;
    let notebookEnv: Record<string, string>;

    before(async () => {
      cluster = await startCluster('alice', false);
      ({ state, notebookEnv } = cluster);
    });

    after(async () => {
      if (cluster) await cluster.backend.stop(cluster.state);
    });

    test('spark-defaults.conf has the S3A entries and no key', () => {
      const text = readFileSync(join(notebookEnv.SPARK_CONF_DIR!, 'spark-defaults.conf'), 'utf8');
      const conf = parseSparkDefaults(text);
      assert.equal(conf.get('spark.hadoop.fs.s3a.endpoint'), server.url);
      assert.equal(conf.get('spark.hadoop.fs.s3a.path.style.access'), 'true');
      assert.equal(conf.get('spark.hadoop.fs.s3a.aws.credentials.provider'), ENV_CREDENTIALS_PROVIDER);
      assert.equal(conf.get('spark.executor.extraClassPath'), join(DEFAULT_S3A_JARS_DIR, '*'));
      assert.ok(!text.includes(secret), 'the secret key is not in the conf');
      assert.ok(!text.includes(server.root.accessKeyId), 'the access key id is not in the conf');
    });

    test('SparkSession.builder.getOrCreate() reads and writes s3a:// with nothing but the environment', async (t: TestContext) => {
      const run = runPython('spark', notebookEnv, cluster!.home, `
import json, os, sys, time
t0 = time.time()
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
df = spark.read.csv("s3a://${BUCKET}/data/rows.csv", header=True)
rows = df.count()
t1 = time.time()
# A write goes through S3A's multipart upload and, at commit, its rename (copy + delete).
df.where("id % 2 = 0").write.mode("overwrite").option("header", True).csv("s3a://${BUCKET}/spark/even")
even = spark.read.csv("s3a://${BUCKET}/spark/even", header=True).count()
# What the executors' Python workers see of the environment (the secret only as a hash).
def env_of_worker(_):
    import hashlib, os
    return (os.environ.get("AWS_ENDPOINT_URL_S3"), hashlib.sha256(os.environ.get("AWS_SECRET_ACCESS_KEY", "").encode()).hexdigest())
seen = spark.sparkContext.parallelize(range(2), 2).map(env_of_worker).distinct().collect()
print(json.dumps({"rows": rows, "even": even, "executorEnv": sorted([list(s) for s in seen]), "appId": spark.sparkContext.applicationId,
  "read_s": round(t1 - t0, 1), "total_s": round(time.time() - t0, 1)}), flush=True)
if os.environ.get("WAIT_STDIN"):
    sys.stdin.readline()
spark.stop()
`, true);
      let released = false;
      try {
        const r = await run.result;
        assert.equal(r.rows, ROWS, 'spark.read.csv("s3a://...").count() is the number of rows written');
        assert.equal(r.even, ROWS / 2, 'what Spark wrote to s3a:// reads back');
        assert.deepEqual(r.executorEnv, [[server.url, createHash('sha256').update(secret).digest('hex')]], "executors' Python workers have the storage environment");

        // While the application runs: its executors are children of the worker and have the keys in
        // their environment, and no process on the machine has the secret in its argv.
        const clusterPids = processesWithEnv(SPARK_MARKER_ENV.clusterId, state.clusterId);
        const executors = clusterPids.filter((pid) => cmdline(pid).includes('CoarseGrainedExecutorBackend'));
        assert.ok(executors.length >= 1, 'an executor runs');
        for (const pid of [...executors, state.master!.pid, ...state.workers.map((w) => w.pid)]) {
          const env = environ(pid);
          assert.equal(env.get('AWS_SECRET_ACCESS_KEY'), secret, `process ${pid} (${role(pid)}) has the secret in its environment`);
          assert.equal(env.get('AWS_ENDPOINT_URL_S3'), server.url);
        }
        const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8', maxBuffer: 64 * MiB });
        assert.ok(ps.includes('CoarseGrainedExecutorBackend') && ps.includes('org.apache.spark.deploy.worker.Worker'), 'ps shows the Spark processes');
        assert.ok(!ps.includes(secret), 'no process has the secret key in its argv');
        for (const pid of clusterPids) assert.ok(!cmdline(pid).includes(secret), `not in the argv of ${pid}`);
        t.diagnostic(`spark: read ${r.rows} rows in ${r.read_s} s (session included), all in ${r.total_s} s; ${executors.length} executor(s)`);
        run.release();
        released = true;
        const { code, stderr } = await run.done;
        assert.equal(code, 0, stderr.slice(-3000));
      } finally {
        if (!released) run.release();
      }
    });
  });

  describe('Spark Connect s3a:// (the Connect server is the driver)', { skip: SKIP_SPARK }, () => {
    let cluster: StorageCluster | undefined;

    before(async () => {
      cluster = await startCluster('bob', true);
    });

    after(async () => {
      if (cluster) await cluster.backend.stop(cluster.state);
    });

    test('a Connect session reads s3a:// and writes Parquet there', async (t: TestContext) => {
      const c = cluster!;
      // The Connect server is started without spark-submit's launcher, so the S3A jars are on its own
      // command line, and the keys are not.
      const connectArgs = cmdline(c.state.connect!.pid);
      assert.ok(connectArgs.includes(join(DEFAULT_S3A_JARS_DIR, '*')), 'the Connect server has the S3A jars on its classpath');
      assert.ok(!connectArgs.includes(secret));
      const r = await pythonResult('spark', c.notebookEnv, c.home, `
import json, time
t0 = time.time()
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
df = spark.read.csv("s3a://${BUCKET}/data/rows.csv", header=True)
rows = df.count()
df.write.mode("overwrite").parquet("s3a://${BUCKET}/connect/rows.parquet")
back = spark.read.parquet("s3a://${BUCKET}/connect/rows.parquet").count()
print(json.dumps({"session": type(spark).__module__, "rows": rows, "back": back, "s": round(time.time() - t0, 1)}))
spark.stop()
`);
      assert.equal(r.session, 'pyspark.sql.connect.session', 'SPARK_REMOTE makes it a Connect session');
      assert.equal(r.rows, ROWS);
      assert.equal(r.back, ROWS);
      t.diagnostic(`connect: read and wrote ${r.rows} rows in ${r.s} s`);
    });
  });
});

// ---------------------------------------------------------------------------------------------------

interface StorageCluster {
  backend: LocalSparkBackend;
  state: LocalSparkState;
  /** The owner's home (the kernel's cwd and HOME). */
  home: string;
  /** What the notebook server's kernels get: the cluster's addresses and the storage environment. */
  notebookEnv: Record<string, string>;
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

function environ(pid: number): Map<string, string> {
  const env = new Map<string, string>();
  for (const e of readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0')) {
    const eq = e.indexOf('=');
    if (eq > 0) env.set(e.slice(0, eq), e.slice(eq + 1));
  }
  return env;
}

function role(pid: number): string {
  return environ(pid).get(SPARK_MARKER_ENV.role) ?? '?';
}
