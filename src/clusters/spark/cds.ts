/**
 * Class data sharing (CDS) archives for Spark's JVMs: the classes a master, a worker or a Connect
 * server loads at start-up, parsed and verified once and then mapped from a file by every later JVM
 * (and shared between them in memory). On this machine that halves a daemon's start-up again after
 * the flags of jvm.ts (master + worker to "registered": 2.3 s → 1.2 s, CPU 4 s → 2.2 s).
 *
 * Java 17 makes such an archive from a "training" run (-XX:ArchiveClassesAtExit, written when the JVM
 * exits normally, SIGTERM included) and uses it with -XX:SharedArchiveFile. An archive only fits the
 * exact JVM, classpath and flags it was made with; the file name carries a fingerprint of those
 * (SparkJvm.fingerprint), and a JVM given an archive that does not fit (or a damaged one) warns and
 * runs without it, so a wrong archive costs speed, never a failed start.
 *
 * Training: a throw-away master and worker (and a Connect server on `local[1]`) on free loopback
 * ports, in a temporary directory under the archive directory, with no cluster markers (no backend
 * mistakes them for a user's cluster) and a `timeout` guard (they end even if the hub dies). Once the
 * worker registered (and the Connect server listens), they get SIGTERM, write their archives, and
 * the files are renamed into place. With a Python that has the Connect client, the training Connect
 * server first answers the warm-up queries (connect-warmup.ts), so its archive also holds the
 * classes of planning, code generation and running a first query, which a new Connect server would
 * otherwise load from the jars on its first query. One training at a time per fingerprint and process; concurrent
 * hubs are safe (temporary names, atomic rename). About 10 s of CPU, once per machine and Java/Spark
 * installation; archives of other fingerprints are removed afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../log.js';
import { freePort } from '../../util/ports.js';
import { CONNECT_SERVER_CLASS, DAEMON_LOG4J2, jvmArgv, type SparkJvm, type SparkRole } from './jvm.js';
import { masterStatus } from './master-api.js';
import { warmUpCommand } from './connect-warmup.js';
import { sleep } from '../../util/sleep.js';

const ROLES: SparkRole[] = ['master', 'worker', 'connect'];
/** An archive smaller than this is not a real one. */
const MIN_ARCHIVE_BYTES = 1024 * 1024;
const TRAIN_TIMEOUT_S = 300;

export class SparkClassArchives {
  readonly dir: string;
  private readonly host: string;
  private readonly log: Logger;
  private readonly running = new Map<string, Promise<Partial<Record<SparkRole, string>>>>();
  private readonly failed = new Set<string>();

  /** The Python with the Connect client, for the training Connect server's queries; none: no queries. */
  private readonly python: string | undefined;

  constructor(options: { dir: string; host: string; log: Logger; python?: string }) {
    this.dir = options.dir;
    this.host = options.host;
    this.log = options.log;
    this.python = options.python;
  }

  path(jvm: SparkJvm, role: SparkRole): string {
    return join(this.dir, `spark-${role}-${jvm.fingerprint}.jsa`);
  }

  /** The archives that exist for this JVM, by role. */
  available(jvm: SparkJvm): Partial<Record<SparkRole, string>> {
    const out: Partial<Record<SparkRole, string>> = {};
    for (const role of ROLES) {
      const path = this.path(jvm, role);
      try {
        if (statSync(path).size >= MIN_ARCHIVE_BYTES) out[role] = path;
      } catch {
        // not there
      }
    }
    return out;
  }

  /**
   * Make the missing archives (one run at a time per fingerprint). Never rejects; resolves with what
   * exists afterwards. After a failed training, only `retry` tries again (the automatic calls after
   * each start would otherwise retrain, and warn, every time).
   */
  prepare(jvm: SparkJvm, options: { retry?: boolean } = {}): Promise<Partial<Record<SparkRole, string>>> {
    const missing = ROLES.filter((r) => !this.available(jvm)[r]);
    if (!missing.length || (this.failed.has(jvm.fingerprint) && !options.retry)) return Promise.resolve(this.available(jvm));
    let run = this.running.get(jvm.fingerprint);
    if (!run) {
      run = this.train(jvm, missing)
        .catch((err: unknown) => {
          this.failed.add(jvm.fingerprint);
          this.log.warn({ err: String(err), dir: this.dir }, 'could not make class data sharing archives for Spark; clusters start without them');
        })
        .then(() => this.available(jvm))
        .finally(() => this.running.delete(jvm.fingerprint));
      this.running.set(jvm.fingerprint, run);
    }
    return run;
  }

  private async train(jvm: SparkJvm, roles: SparkRole[]): Promise<void> {
    const started = Date.now();
    // readable by everyone: the JVMs of people's system accounts map the archives (they hold class data only)
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
    await chmod(this.dir, 0o755);
    await this.sweep(jvm);
    const tmp = await mkdtemp(join(this.dir, 'train-'));
    const children: ChildProcess[] = [];
    // Each training run is its own process group (`timeout` and the JVM under it): a signal to the
    // group reaches the JVM too. SIGKILL to `timeout` alone would orphan the JVM without its guard.
    const signalGroup = (c: ChildProcess, signal: NodeJS.Signals) => {
      if (c.pid === undefined) return;
      try {
        process.kill(-c.pid, signal);
      } catch {
        // the group is gone already
      }
    };
    const killAll = () => {
      for (const c of children) signalGroup(c, 'SIGKILL');
    };
    process.once('exit', killAll);
    try {
      await mkdir(join(tmp, 'conf'));
      await mkdir(join(tmp, 'work'));
      const log4j = join(tmp, 'log4j2.properties');
      await writeFile(log4j, DAEMON_LOG4J2);
      const env: Record<string, string> = {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        LANG: 'C.UTF-8',
        HOME: tmp,
        JAVA_HOME: jvm.javaHome,
        SPARK_HOME: jvm.sparkHome,
        SPARK_CONF_DIR: join(tmp, 'conf'),
        SPARK_SCALA_VERSION: jvm.scalaVersion,
        SPARK_LOCAL_IP: this.host,
        SPARK_LOCAL_HOSTNAME: this.host,
        SPARK_LOCAL_DIRS: join(tmp, 'work'),
        SPARK_CONNECT_MODE: '0',
        REFINERY_SPARK_CDS_TRAINING: this.dir,
      };
      const timeoutBin = existsSync('/usr/bin/timeout') ? '/usr/bin/timeout' : null;
      const run = async (role: SparkRole, heapMiB: number, args: string[]) => {
        const argv = jvmArgv(jvm, { role, heapMiB, args, log4jConfig: log4j, dumpArchive: join(tmp, `${role}.jsa`), sysProps: { 'spark.master.rest.enabled': 'false' } });
        const full = timeoutBin ? [timeoutBin, '-s', 'TERM', '-k', '30', String(TRAIN_TIMEOUT_S), ...argv] : argv;
        const logPath = join(tmp, `${role}.log`);
        const file = await open(logPath, 'a');
        try {
          const child = spawn(full[0]!, full.slice(1), { cwd: tmp, env, stdio: ['ignore', file.fd, file.fd], detached: true });
          child.on('error', () => undefined);
          children.push(child);
          return { role, child, logPath, exit: new Promise<number | null>((r) => child.once('exit', (code) => r(code))) };
        } finally {
          await file.close();
        }
      };
      const host = this.host.includes(':') ? `[${this.host}]` : this.host;
      const deadline = Date.now() + 240_000;
      const done: { role: SparkRole; child: ChildProcess; logPath: string; exit: Promise<number | null> }[] = [];

      if (roles.includes('master') || roles.includes('worker')) {
        const mp = await freePort(this.host);
        const mwp = await freePort(this.host);
        const master = await run('master', 256, ['--host', this.host, '--port', String(mp), '--webui-port', String(mwp)]);
        // The worker only once the master is ALIVE (see local.ts on lost registrations): training must not wait 15 s.
        for (;;) {
          if (master.child.exitCode !== null) throw new Error(`training master exited (${await tail(master.logPath)})`);
          if ((await masterStatus(this.host, mwp, 1000))?.status === 'ALIVE') break;
          if (Date.now() > deadline) throw new Error('training master did not come up');
          await sleep(100);
        }
        const worker = await run('worker', 256, ['--host', this.host, '--port', String(await freePort(this.host)), '--webui-port', String(await freePort(this.host)), '--cores', '1', '--memory', '512m', '--work-dir', join(tmp, 'work'), `spark://${host}:${mp}`]);
        for (;;) {
          if (worker.child.exitCode !== null) throw new Error(`training worker exited (${await tail(worker.logPath)})`);
          if ((await masterStatus(this.host, mwp, 1000))?.aliveworkers) break;
          if (Date.now() > deadline) throw new Error('training worker did not register');
          await sleep(100);
        }
        // Load the classes of the pages people look at, too.
        await fetchQuietly(`http://${host}:${mwp}/`);
        done.push(master, worker);
      }
      if (roles.includes('connect')) {
        const port = await freePort(this.host);
        const connect = await run('connect', 1024, [
          '--class', CONNECT_SERVER_CLASS, '--name', 'Spark Connect server (class archive training)',
          '--master', 'local[1]',
          '--conf', `spark.connect.grpc.binding.address=${this.host}`,
          '--conf', `spark.connect.grpc.binding.port=${port}`,
          '--conf', `spark.ui.port=${await freePort(this.host)}`,
          '--conf', `spark.driver.host=${this.host}`,
          '--conf', `spark.driver.bindAddress=${this.host}`,
          'spark-internal',
        ]);
        for (;;) {
          if (connect.child.exitCode !== null) throw new Error(`training Connect server exited (${await tail(connect.logPath)})`);
          if ((await readFile(connect.logPath, 'utf8').catch(() => '')).includes('Spark Connect server started at')) break;
          if (Date.now() > deadline) throw new Error('training Connect server did not come up');
          await sleep(200);
        }
        if (this.python) await this.trainQueries(this.python, port, env, connect.logPath, Math.max(1000, deadline - Date.now()));
        done.push(connect);
      }
      for (const d of done) signalGroup(d.child, 'SIGTERM');
      for (const d of done) {
        const code = await Promise.race([d.exit, sleep(90_000).then(() => 'timeout' as const)]);
        if (code === 'timeout') {
          signalGroup(d.child, 'SIGKILL');
          throw new Error(`training ${d.role} did not exit after SIGTERM`);
        }
        const file = join(tmp, `${d.role}.jsa`);
        const size = await stat(file).then((s) => s.size).catch(() => 0);
        if (!roles.includes(d.role)) continue;
        if (size < MIN_ARCHIVE_BYTES) {
          this.log.warn({ role: d.role, code, log: await tail(d.logPath) }, 'a Spark class archive training run wrote no archive');
          continue;
        }
        await chmod(file, 0o644);
        await rename(file, this.path(jvm, d.role));
      }
      this.log.info({ dir: this.dir, roles: Object.keys(this.available(jvm)), ms: Date.now() - started }, 'made class data sharing archives for Spark');
    } finally {
      killAll();
      process.removeListener('exit', killAll);
      await rm(tmp, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
    }
  }

  /** The warm-up queries against the training Connect server; a failure only makes a smaller archive. */
  private async trainQueries(python: string, port: number, env: Record<string, string>, logPath: string, timeoutMs: number): Promise<void> {
    const file = await open(logPath, 'a');
    try {
      const command = warmUpCommand(python, env, `sc://localhost:${port}`);
      const child = spawn(command.argv[0]!, command.argv.slice(1), { cwd: env.HOME, env: command.env, stdio: ['ignore', file.fd, file.fd] });
      const code = await new Promise<number | string>((resolve) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve('timeout');
        }, timeoutMs);
        child.once('error', (err) => {
          clearTimeout(timer);
          resolve(err.message);
        });
        child.once('exit', (c) => {
          clearTimeout(timer);
          resolve(c ?? 'signal');
        });
      });
      if (code !== 0) this.log.warn({ code, log: await tail(logPath) }, 'the training Connect server\'s queries failed; its class archive covers start-up only');
    } finally {
      await file.close();
    }
  }

  /** Remove archives of other fingerprints and training leftovers older than an hour. */
  private async sweep(jvm: SparkJvm): Promise<void> {
    let names: string[] = [];
    try {
      names = readdirSync(this.dir);
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(this.dir, name);
      const m = /^spark-(?:master|worker|connect)-([0-9a-f]{16})\.jsa$/.exec(name);
      if (m && m[1] !== jvm.fingerprint) await rm(path, { force: true }).catch(() => undefined);
      if (name.startsWith('train-')) {
        const age = Date.now() - (await stat(path).then((s) => s.mtimeMs).catch(() => Date.now()));
        if (age > 3600_000) await rm(path, { recursive: true, force: true }).catch(() => undefined);
      }
    }
  }
}

async function tail(path: string): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l.trim()).slice(-5).join(' | ').slice(-1000);
}

async function fetchQuietly(url: string): Promise<void> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer();
  } catch {
    // only for warming up classes
  }
}
