/**
 * Java command lines for Spark's daemons, without `spark-class`.
 *
 * `spark-class X` runs a first JVM (org.apache.spark.launcher.Main) only to print the command line of
 * the real one, then execs it. Here that first JVM runs once per backend (sparkJvm(), cached), and its
 * answer (the JVM module options Spark needs on Java 17, the classpath) is reused for every process.
 * The daemons then start with flags that matter on a small, busy machine (measured on this 2-core VM,
 * master + 1 worker to "worker registered", Nov 2026):
 *
 *   spark-class, defaults                          5.7–6.4 s   ~8 s CPU
 *   java directly, defaults                        5.2–5.3 s   ~7.5–8 s CPU
 *   + -XX:TieredStopAtLevel=1 -XX:+UseSerialGC     2.0–2.7 s   ~3.8 s CPU
 *   + a class data sharing archive (cds.ts)        1.2–1.3 s   ~2.2 s CPU
 *
 * C1-only JIT and the serial collector suit the master and the worker daemons: small heaps, little
 * work, start-up dominated by class loading and JIT. They are NOT used for the Connect server (a
 * driver that plans and runs queries: C2 pays off) nor for executors (started by the workers with the
 * application's own options).
 *
 * The classpath leaves out the configuration directory that spark-class would put first: Spark reads
 * spark-defaults.conf through SPARK_CONF_DIR (not the classpath), log4j gets its file through
 * -Dlog4j2.configurationFile, and a class data sharing archive cannot be used with a non-empty
 * directory on the classpath. (Executors still get SPARK_CONF_DIR on their classpath from the worker.)
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { ClusterError } from '../backend.js';

/**
 * Bumped when the flags below change, or what the archives' training runs load (cds.ts), so class
 * archives made otherwise are not reused. 2: the Connect server's training answers queries.
 */
const FLAGS_VERSION = 2;
/** Flags of the master and worker daemons (see above). */
export const DAEMON_JVM_FLAGS = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC'];

export type SparkRole = 'master' | 'worker' | 'connect';

export const MAIN_CLASS: Record<SparkRole, string> = {
  master: 'org.apache.spark.deploy.master.Master',
  worker: 'org.apache.spark.deploy.worker.Worker',
  connect: 'org.apache.spark.deploy.SparkSubmit',
};
export const CONNECT_SERVER_CLASS = 'org.apache.spark.sql.connect.service.SparkConnectServer';

export interface JavaInstallation {
  /** The java program (absolute). */
  java: string;
  /** JAVA_HOME to give the processes: the one configured, or the installation `java` belongs to. */
  javaHome: string;
}

/**
 * The java program: `<javaHome>/bin/java` when a JAVA_HOME is configured (a JAVA_HOME that has none is
 * an error, as spark-class would make it), else `java` on PATH. Throws a ClusterError that says which.
 */
export function findJava(javaHome: string | undefined, pathEnv: string | undefined): JavaInstallation {
  if (javaHome) {
    const java = join(javaHome, 'bin', 'java');
    if (!isExecutableFile(java)) {
      throw new ClusterError(`Java was not found: JAVA_HOME is ${javaHome}, which has no bin/java. Spark needs Java 17 (set JAVA_HOME to a JDK, or unset it to use java from PATH).`);
    }
    return { java, javaHome };
  }
  for (const dir of (pathEnv ?? '').split(delimiter)) {
    if (!dir) continue;
    const java = join(dir, 'java');
    if (!isExecutableFile(java)) continue;
    let real = java;
    try {
      real = realpathSync(java);
    } catch {
      // keep the link
    }
    return { java: real, javaHome: dirname(dirname(real)) };
  }
  throw new ClusterError('Java was not found: there is no `java` on PATH and JAVA_HOME is not set. Spark needs Java 17.');
}

function isExecutableFile(path: string): boolean {
  try {
    const st = statSync(path);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** What every Spark JVM of one installation shares. */
export interface SparkJvm extends JavaInstallation {
  sparkHome: string;
  scalaVersion: string;
  /** Spark's jars (no directories). */
  classpath: string;
  /** JVM options from Spark's launcher (module opens, netty properties), without heap settings. */
  options: string[];
  /** Changes when Java, Spark's jars or the flags change: names class archives. */
  fingerprint: string;
}

/** The Scala version of the jars (`spark-core_2.13-4.3.0.jar` → 2.13), which the launcher needs to be told. */
export function scalaVersionOf(jarNames: string[]): string | null {
  for (const name of jarNames) {
    const m = /^spark-core_(\d+\.\d+)-/.exec(name);
    if (m) return m[1]!;
  }
  return null;
}

/**
 * Pick Spark's launcher output apart: `<java> -cp <cp> -Xmx1g <options...> <main class> <args...>`,
 * NUL-separated. Returns the options between the heap size and the main class, and the classpath
 * without directories.
 */
export function parseLauncherOutput(output: string, mainClass: string): { classpath: string[]; options: string[] } | null {
  const args = output.split('\0').map((a) => a.replace(/^\s+|\s+$/g, '')).filter((a) => a !== '');
  const cp = args.indexOf('-cp');
  const main = args.lastIndexOf(mainClass);
  if (cp < 0 || main < cp + 2) return null;
  const classpath = args[cp + 1]!.split(':').filter((e) => e.endsWith('.jar') || e.endsWith('/*'));
  const options = args.slice(cp + 2, main).filter((o) => !/^-Xm[xs]/.test(o));
  return classpath.length ? { classpath, options } : null;
}

function statKey(path: string): string {
  try {
    const st = statSync(path);
    return `${path}:${st.size}:${Math.floor(st.mtimeMs)}`;
  } catch {
    return `${path}:-`;
  }
}

const cache = new Map<string, Promise<SparkJvm>>();

/** Ask Spark's launcher (once per Java and Spark installation and process) what the JVMs need. */
export function sparkJvm(java: JavaInstallation, sparkHome: string): Promise<SparkJvm> {
  const key = `${java.java}\0${sparkHome}`;
  let found = cache.get(key);
  if (!found) {
    found = computeSparkJvm(java, sparkHome);
    cache.set(key, found);
    found.catch(() => cache.delete(key));
  }
  return found;
}

async function computeSparkJvm(java: JavaInstallation, sparkHome: string): Promise<SparkJvm> {
  const jarsDir = join(sparkHome, 'jars');
  let jars: string[];
  try {
    jars = readdirSync(jarsDir).filter((n) => n.endsWith('.jar')).sort();
  } catch {
    throw new ClusterError(`Spark was not found: ${jarsDir} does not exist (create envs/spark with \`bash scripts/setup-python.sh --only spark\`)`);
  }
  const scalaVersion = scalaVersionOf(jars);
  if (!scalaVersion) throw new ClusterError(`Spark was not found: no spark-core jar in ${jarsDir}`);
  const mainClass = MAIN_CLASS.master;
  const output = await new Promise<string>((resolvePromise, reject) => {
    execFile(
      java.java,
      ['-Xmx128m', '-cp', join(jarsDir, '*'), 'org.apache.spark.launcher.Main', mainClass],
      {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', JAVA_HOME: java.javaHome, SPARK_HOME: sparkHome, SPARK_SCALA_VERSION: scalaVersion },
        timeout: 60_000,
        maxBuffer: 1024 * 1024,
        encoding: 'latin1',
      },
      (error, stdout, stderr) => {
        if (error) reject(new ClusterError(`Java could not run Spark's launcher (${java.java}): ${error.message.split('\n')[0]}`, String(stderr).slice(-2000)));
        else resolvePromise(stdout);
      },
    );
  });
  const parsed = parseLauncherOutput(output, mainClass);
  if (!parsed) throw new ClusterError("Spark's launcher gave a command line this backend does not understand", output.replace(/\0/g, ' ').slice(0, 2000));
  const libjvm = join(java.javaHome, 'lib', 'server', 'libjvm.so');
  const fingerprint = createHash('sha256')
    .update([
      `flags:${FLAGS_VERSION}:${DAEMON_JVM_FLAGS.join(' ')}`,
      statKey(java.java),
      statKey(existsSync(libjvm) ? realpathSync(libjvm) : libjvm),
      ...jars.map((n) => statKey(join(jarsDir, n))),
      parsed.options.join(' '),
      parsed.classpath.join(':'),
    ].join('\n'))
    .digest('hex')
    .slice(0, 16);
  return { ...java, sparkHome, scalaVersion, classpath: parsed.classpath.join(':'), options: parsed.options, fingerprint };
}

export interface JvmCommand {
  role: SparkRole;
  heapMiB: number;
  args: string[];
  /** `-D` system properties: never secrets (they are visible in the process list). */
  sysProps?: Record<string, string>;
  /** log4j2 configuration file. */
  log4jConfig?: string;
  /** Use this class data sharing archive (a missing or unusable one is ignored by the JVM). */
  archive?: string;
  /** Write a class data sharing archive here when the JVM exits normally (training, cds.ts). */
  dumpArchive?: string;
}

/** The argv of one Spark JVM. */
export function jvmArgv(jvm: SparkJvm, c: JvmCommand): string[] {
  const flags = c.role === 'connect' ? [] : DAEMON_JVM_FLAGS;
  return [
    jvm.java,
    '-cp', jvm.classpath,
    `-Xmx${Math.max(64, Math.floor(c.heapMiB))}m`,
    ...flags,
    ...(c.archive ? [`-XX:SharedArchiveFile=${c.archive}`] : []),
    ...(c.dumpArchive ? [`-XX:ArchiveClassesAtExit=${c.dumpArchive}`] : []),
    ...(c.log4jConfig ? [`-Dlog4j2.configurationFile=${c.log4jConfig}`] : []),
    ...Object.entries(c.sysProps ?? {}).map(([k, v]) => `-D${k}=${v}`),
    ...jvm.options,
    MAIN_CLASS[c.role],
    ...c.args,
  ];
}

/** log4j2 configuration of the daemons: Spark's defaults, with milliseconds in the timestamps. */
export const DAEMON_LOG4J2 = `# Written by Refinery for the cluster's master, workers and Connect server (not the notebook's driver).
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss.SSS} %p %c{1}: %m%n%ex
logger.jetty.name = org.sparkproject.jetty
logger.jetty.level = warn
logger.jetty2.name = org.sparkproject.jetty.util.component.AbstractLifeCycle
logger.jetty2.level = error
logger.nativecode.name = org.apache.hadoop.util.NativeCodeLoader
logger.nativecode.level = error
`;
