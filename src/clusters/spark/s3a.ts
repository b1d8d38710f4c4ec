/**
 * Spark's s3a:// file system (Hadoop's S3A, hadoop-aws) for a cluster whose environment carries
 * object-storage settings: the AWS_* variables Refinery gives a user's server and cluster processes.
 *
 * KEYS STAY IN THE ENVIRONMENT. The conf names a credentials provider that reads
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN) from the JVM's own environment, so
 * no key is ever written to spark-defaults.conf or put in argv. Every JVM that touches S3 has that
 * environment: the notebook's driver inherits the server's, the master, workers and Connect server get
 * the cluster's, and executors inherit their worker's (the standalone Worker starts them with its own
 * environment plus the application's few variables).
 *
 * JARS. pyspark ships Hadoop's client (hadoop-client-api/-runtime) but not hadoop-aws nor the AWS SDK.
 * scripts/setup.sh fetches hadoop-aws and the SDK modules S3A needs into envs/jars/s3a
 * (python/jars/s3a/pom.xml); they go on the driver's and executors' classpath (`extraClassPath`, which
 * Spark puts before its own jars) as `<dir>/*`, which java expands.
 *
 * ENDPOINT. A private store (versitygw, Ceph RGW) on an address such as http://127.0.0.1:7070 has no
 * per-bucket DNS names, so path-style addressing is on; the region is named so that the SDK never
 * tries to discover it; TLS follows the endpoint's scheme.
 */
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunAs } from '../../host/accounts.js';
import { writePrivateFile } from '../../host/files.js';
import { repoRoot } from '../../host/repo-root.js';
import { parseSparkDefaults, renderSparkDefaults } from './conf.js';

/** Where scripts/setup.sh puts the S3A jars. */
export const DEFAULT_S3A_JARS_DIR = join(repoRoot(), 'envs', 'jars', 's3a');

/** AWS SDK v2's provider of the process environment's keys (S3A accepts SDK v2 classes with a static create()). */
export const ENV_CREDENTIALS_PROVIDER = 'software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider';

/** The region when the environment names none: what boto3 and the SDK assume for a custom endpoint too. */
const DEFAULT_REGION = 'us-east-1';

const CLASSPATH_KEYS = ['spark.driver.extraClassPath', 'spark.executor.extraClassPath'] as const;

/** Every key s3aConf() may set: a start drops them before applying its own environment's. */
export const S3A_CONF_KEYS: readonly string[] = [
  ...CLASSPATH_KEYS,
  'spark.hadoop.fs.s3a.aws.credentials.provider',
  'spark.hadoop.fs.s3a.endpoint',
  'spark.hadoop.fs.s3a.endpoint.region',
  'spark.hadoop.fs.s3a.path.style.access',
  'spark.hadoop.fs.s3a.connection.ssl.enabled',
];

/** What the environment says about object storage (never the keys themselves). */
export interface S3Settings {
  /** AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL; null means AWS itself. */
  endpoint: string | null;
  region: string;
}

/**
 * The object-storage settings of an environment, or null when it has none: a key pair is what makes
 * storage usable, the endpoint and region only say where.
 */
export function s3Settings(env: Readonly<Record<string, string | undefined>>): S3Settings | null {
  if (!env.AWS_ACCESS_KEY_ID || !env.AWS_SECRET_ACCESS_KEY) return null;
  return {
    endpoint: env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || null,
    region: env.AWS_DEFAULT_REGION || env.AWS_REGION || DEFAULT_REGION,
  };
}

/** The classpath entry of the S3A jars (java expands `<dir>/*` to the jars in it). */
export function s3aClasspath(jarsDir: string): string {
  return join(jarsDir, '*');
}

/**
 * Spark conf entries that make s3a:// work with the storage settings of `env`; empty when `env` has
 * none. Never contains a key: only where the jars are, the endpoint, and how to find the keys.
 */
export function s3aConf(env: Readonly<Record<string, string | undefined>>, jarsDir: string): Record<string, string> {
  const s3 = s3Settings(env);
  if (!s3) return {};
  const classpath = s3aClasspath(jarsDir);
  const conf: Record<string, string> = {
    'spark.driver.extraClassPath': classpath,
    'spark.executor.extraClassPath': classpath,
    'spark.hadoop.fs.s3a.aws.credentials.provider': ENV_CREDENTIALS_PROVIDER,
    'spark.hadoop.fs.s3a.endpoint.region': s3.region,
  };
  if (s3.endpoint) {
    conf['spark.hadoop.fs.s3a.endpoint'] = s3.endpoint;
    // the endpoint's path_style setting (src/storage/env.ts); path-style unless it says otherwise
    conf['spark.hadoop.fs.s3a.path.style.access'] = String(env.REFINERY_S3_PATH_STYLE !== 'false');
    conf['spark.hadoop.fs.s3a.connection.ssl.enabled'] = String(!/^http:/i.test(s3.endpoint));
  }
  return conf;
}

/**
 * The entries of a cluster's spark-defaults.conf with the S3A entries of this start's environment:
 * those of an earlier start go first (a cluster started again without storage loses them); a value
 * the profile's `conf` set itself wins, except on the class paths, where the S3A jars come first and
 * the profile's entries follow.
 */
export function withS3aConf(
  entries: Iterable<readonly [string, string]>,
  profileConf: Readonly<Record<string, string>>,
  env: Readonly<Record<string, string | undefined>>,
  jarsDir: string,
): [string, string][] {
  const out = new Map<string, string>();
  for (const [key, value] of entries) {
    if (!S3A_CONF_KEYS.includes(key)) out.set(key, value);
    else if (profileConf[key] !== undefined) out.set(key, profileConf[key]);
  }
  for (const [key, value] of Object.entries(s3aConf(env, jarsDir))) {
    const own = profileConf[key];
    if (own === undefined) out.set(key, value);
    else if ((CLASSPATH_KEYS as readonly string[]).includes(key)) out.set(key, own ? `${value}:${own}` : value);
  }
  return [...out];
}

const S3A_HEADER = 'Object storage (s3a://): the keys are read from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), never written here.';

/**
 * Rewrite a spark-defaults.conf (renderSparkDefaults' format; its header comment is kept) with the
 * S3A entries of `env` (withS3aConf). Atomic: readers see the old file or the new one. Returns the
 * storage settings applied, or null when the environment has none.
 */
export async function updateS3aConf(
  file: string,
  profileConf: Readonly<Record<string, string>>,
  env: Readonly<Record<string, string | undefined>>,
  jarsDir: string,
  /** Who the file belongs to (the cluster's account); absent: whoever writes it. */
  owner?: RunAs | null,
): Promise<S3Settings | null> {
  const text = await readFile(file, 'utf8');
  const s3 = s3Settings(env);
  const header = text.split('\n').filter((l) => l.startsWith('# ')).map((l) => l.slice(2)).filter((l) => l !== S3A_HEADER);
  if (s3) header.push(S3A_HEADER);
  const updated = renderSparkDefaults(withS3aConf(parseSparkDefaults(text), profileConf, env, jarsDir), header);
  if (updated !== text) await writePrivateFile(file, updated, owner);
  return s3;
}

/** Why s3a:// cannot work with the jars in `jarsDir`, or null when they look complete. */
export function s3aJarsProblem(jarsDir: string): string | null {
  let names: string[];
  try {
    names = existsSync(jarsDir) ? readdirSync(jarsDir) : [];
  } catch {
    names = [];
  }
  const missing = ['hadoop-aws-', 's3-2', 'auth-2'].filter((prefix) => !names.some((n) => n.startsWith(prefix) && n.endsWith('.jar')));
  return missing.length ? `${jarsDir} lacks the S3A jars (${missing.map((p) => `${p}*.jar`).join(', ')}); make them with: bash scripts/setup.sh` : null;
}
