/**
 * A real Kubernetes control plane for one test file: etcd, kube-apiserver, kube-controller-manager
 * and kube-scheduler from .tools/bin (built by `bash scripts/setup.sh --test`), on 127.0.0.1 in a
 * temp dir. No kubelet: pair it with test/helpers/node-agent.ts for pods that actually run.
 *
 *   import { startKubeCluster, type KubeCluster } from './kube-cluster.js';
 *   let cluster: KubeCluster;
 *   before(async () => { cluster = await startKubeCluster(); });
 *   after(() => cluster?.stop());
 *   const kc = cluster.adminKubeConfig();            // system:masters, for setting tests up
 *   const team = await cluster.createNamespace('team-a');   // + a ServiceAccount token bound to a Role
 *   team.kubeConfig.makeApiClient(CoreV1Api)          // what the code under test should use
 *
 * The API server serves TLS with a CA made for this cluster (caFile), authenticates a static admin
 * token, client certificates from that CA and ServiceAccount tokens, and authorizes with Node and
 * RBAC; admission is the default set plus NodeRestriction, PodSecurity included. The controller
 * manager runs the controllers listed in kube-cluster/flags.ts (garbage collector, namespaces,
 * ServiceAccounts, ReplicaSets...). Starting takes a few seconds; share one cluster per file.
 *
 * Services get a clusterIP from 10.96.0.0/16 but nothing routes there: connect to pod IPs.
 * stop() kills the four processes and removes the temp dir; if the test process exits without it,
 * an exit hook does the same. Without the binaries it throws: tests fail loudly rather than skip.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { freePort } from '../../src/util/ports.js';
import { repoRoot } from '../../src/host/repo-root.js';
import { tmpDir } from './tmp.js';
import { createNamespaceAccess, type NamespaceAccess, type NamespaceOptions } from './kube-cluster/access.js';
import { killDaemon, launchDaemon, logTail, type Daemon } from './kube-cluster/daemons.js';
import {
  apiServerArgs,
  controllerManagerArgs,
  etcdArgs,
  schedulerArgs,
  type ControlPlaneLayout,
} from './kube-cluster/flags.js';
import { kubeConfigFor, writeKubeconfig } from './kube-cluster/kubeconfig.js';
import { serviceAccountKeyPair, TestCertificateAuthority, type CertificateFiles } from './kube-cluster/pki.js';

export { SPAWNER_RULES, type NamespaceAccess, type NamespaceOptions } from './kube-cluster/access.js';
export { apiStatus, isNotFound } from './kube-cluster/errors.js';

export interface KubeCluster {
  /** The API server, e.g. https://127.0.0.1:41234. */
  url: string;
  /** The CA that signed the API server's certificate (and every other certificate of this cluster). */
  caFile: string;
  /** A static token of user "admin" in group system:masters. */
  adminToken: string;
  /** A kubeconfig file for the admin token (for kubectl, or KubeConfig.loadFromFile). */
  kubeconfigPath: string;
  /** A fresh client configuration as the admin. */
  adminKubeConfig(): KubeConfig;
  /** A namespace plus a ServiceAccount bound to a Role there, with its token (see kube-cluster/access.ts). */
  createNamespace(name: string, options?: NamespaceOptions): Promise<NamespaceAccess>;
  /** A certificate signed by this cluster's CA: a client identity (CN = user, O = groups) or a serving certificate. */
  issueCertificate(request: { name: string; commonName: string; organizations?: string[]; usage: 'client' | 'server'; ips?: string[] }): Promise<CertificateFiles>;
  /** Milliseconds from the call of startKubeCluster until /readyz answered ok. */
  startupMs: number;
  /** Resident memory of each process now, in MiB (from /proc). */
  memoryMiB(): Promise<Record<string, number>>;
  /** Kill everything and remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface StartKubeClusterOptions {
  /** Directory with etcd, kube-apiserver, kube-controller-manager, kube-scheduler (default: env REFINERY_KUBE_BIN_DIR, else <repo>/.tools/bin). */
  binDir?: string;
  /** Give up waiting for /readyz after this long (default 120 s: a loaded 2-core machine is slow). */
  startTimeoutMs?: number;
}

const BINARIES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;
const INSTALL_HINT = 'Build them with `bash scripts/setup.sh --test` (scripts/setup-kube.sh), or set REFINERY_KUBE_BIN_DIR.';

export async function startKubeCluster(options: StartKubeClusterOptions = {}): Promise<KubeCluster> {
  const started = Date.now();
  const binDir = options.binDir ?? process.env.REFINERY_KUBE_BIN_DIR ?? join(repoRoot(), '.tools', 'bin');
  const missing = BINARIES.filter((b) => !existsSync(join(binDir, b)));
  if (missing.length > 0) throw new Error(`startKubeCluster: ${missing.join(', ')} not found in ${binDir}. ${INSTALL_HINT}`);
  const tokens = { admin: randomToken(), controllerManager: randomToken(), scheduler: randomToken() };

  let lastError: Error | undefined;
  // freePort() releases its ports before the servers bind them; someone may take one meanwhile.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const tmp = await tmpDir('kube');
    const daemons: Daemon[] = [];
    let stopped: Promise<void> | undefined;
    const stop = (): Promise<void> =>
      (stopped ??= (async () => {
        // The servers first (they would log connection errors), etcd last.
        for (const d of [...daemons].reverse()) await killDaemon(d);
        await tmp.cleanup();
      })());
    try {
      const { layout, ca } = await prepare(tmp.path, tokens);
      const url = `https://127.0.0.1:${layout.apiServerPort}`;
      const kubeconfigPath = await writeKubeconfig(join(tmp.path, 'admin.kubeconfig'), url, layout.caFile, 'admin', { token: tokens.admin });

      // All four at once: each waits for what it needs (the API server for etcd, the others for
      // the API server) by retrying, which is quicker than starting them one after the other.
      const bin = (name: (typeof BINARIES)[number]): string => join(binDir, name);
      daemons.push(launchDaemon('etcd', bin('etcd'), etcdArgs(layout), tmp.path));
      daemons.push(launchDaemon('kube-apiserver', bin('kube-apiserver'), apiServerArgs(layout), tmp.path));
      daemons.push(launchDaemon('kube-controller-manager', bin('kube-controller-manager'), controllerManagerArgs(layout), tmp.path));
      daemons.push(launchDaemon('kube-scheduler', bin('kube-scheduler'), schedulerArgs(layout), tmp.path));
      await waitUntilReady(daemons, url, layout.caFile, tokens.admin, options.startTimeoutMs ?? 120_000);

      const admin = (): KubeConfig => kubeConfigFor(url, layout.caFile, 'admin', { token: tokens.admin });
      return {
        url,
        caFile: layout.caFile,
        adminToken: tokens.admin,
        kubeconfigPath,
        startupMs: Date.now() - started,
        adminKubeConfig: admin,
        createNamespace: (name, nsOptions) => createNamespaceAccess(admin(), url, layout.caFile, name, nsOptions),
        issueCertificate: (request) => ca.issue(request),
        memoryMiB: () => memoryOf(daemons),
        stop,
      };
    } catch (err) {
      await stop();
      lastError = err instanceof Error ? err : new Error(String(err));
      if (!/address already in use/i.test(lastError.message)) break;
    }
  }
  throw lastError ?? new Error('startKubeCluster: failed');
}

// ---------------------------------------------------------------------------------------------

interface Tokens {
  admin: string;
  controllerManager: string;
  scheduler: string;
}

/**
 * token,user,uid,"groups": the admin, and the controller manager and scheduler as the users their
 * bootstrap RBAC roles are bound to (system:kube-controller-manager, system:kube-scheduler).
 */
function tokenFile(tokens: Tokens): string {
  return [
    `${tokens.admin},admin,admin,"system:masters"`,
    `${tokens.controllerManager},system:kube-controller-manager,system:kube-controller-manager`,
    `${tokens.scheduler},system:kube-scheduler,system:kube-scheduler`,
    '',
  ].join('\n');
}

/** Ports, certificates, keys, the token file and the components' kubeconfigs in `dir`. */
async function prepare(dir: string, tokens: Tokens): Promise<{ layout: ControlPlaneLayout; ca: TestCertificateAuthority }> {
  const pki = join(dir, 'pki');
  await Promise.all([mkdir(pki), mkdir(join(dir, 'logs')), mkdir(join(dir, 'flexvolume'))]);
  const ports = await distinctFreePorts(5);
  const ca = await TestCertificateAuthority.create(pki, 'refinery-test-ca');
  const [serving, kubeletClient, serviceAccount] = await Promise.all([
    ca.issue({
      name: 'apiserver',
      commonName: 'kube-apiserver',
      usage: 'server',
      ips: ['127.0.0.1'],
      dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
    }),
    ca.issue({ name: 'apiserver-kubelet-client', commonName: 'kube-apiserver-kubelet-client', organizations: ['system:masters'], usage: 'client' }),
    serviceAccountKeyPair(pki),
  ]);
  const layout: ControlPlaneLayout = {
    dir,
    etcdPort: ports[0]!,
    etcdPeerPort: ports[1]!,
    apiServerPort: ports[2]!,
    controllerManagerPort: ports[3]!,
    schedulerPort: ports[4]!,
    caFile: ca.certFile,
    serving,
    kubeletClient,
    serviceAccount,
    tokenFile: join(pki, 'tokens.csv'),
    controllerManagerKubeconfig: join(dir, 'kube-controller-manager.kubeconfig'),
    schedulerKubeconfig: join(dir, 'kube-scheduler.kubeconfig'),
  };
  const url = `https://127.0.0.1:${layout.apiServerPort}`;
  await Promise.all([
    writeFile(layout.tokenFile, tokenFile(tokens), { mode: 0o600 }),
    writeKubeconfig(layout.controllerManagerKubeconfig, url, ca.certFile, 'system:kube-controller-manager', { token: tokens.controllerManager }),
    writeKubeconfig(layout.schedulerKubeconfig, url, ca.certFile, 'system:kube-scheduler', { token: tokens.scheduler }),
  ]);
  return { layout, ca };
}

async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/** Until GET /readyz says ok (etcd reachable, RBAC bootstrap roles and priority classes made...). */
async function waitUntilReady(daemons: Daemon[], url: string, caFile: string, token: string, timeoutMs: number): Promise<void> {
  const agent = new Agent({ ca: await readFile(caFile), keepAlive: false });
  const deadline = Date.now() + timeoutMs;
  let last = '';
  try {
    while (Date.now() < deadline) {
      const dead = daemons.find((d) => d.exited);
      if (dead) throw new Error(`startKubeCluster: ${dead.exited}\n--- ${dead.name} log ---\n${logTail(dead)}`);
      last = await new Promise<string>((resolve) => {
        const req = request(`${url}/readyz`, { agent, headers: { authorization: `Bearer ${token}` }, timeout: 5_000 }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve(res.statusCode === 200 ? 'ok' : `${res.statusCode}: ${body.slice(0, 300)}`));
        });
        req.on('timeout', () => req.destroy(new Error('timed out')));
        req.on('error', (err) => resolve(err.message));
        req.end();
      });
      if (last === 'ok') return;
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    agent.destroy();
  }
  const apiserver = daemons.find((d) => d.name === 'kube-apiserver');
  throw new Error(
    `startKubeCluster: ${url}/readyz not ok after ${timeoutMs} ms (last: ${last})` +
      (apiserver ? `\n--- kube-apiserver log ---\n${logTail(apiserver)}` : ''),
  );
}

async function memoryOf(daemons: Daemon[]): Promise<Record<string, number>> {
  const result: Record<string, number> = {};
  for (const d of daemons) {
    if (d.exited || d.child.pid === undefined) continue;
    const status = await readFile(`/proc/${d.child.pid}/status`, 'utf8').catch(() => '');
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    if (kb) result[d.name] = Math.round(Number(kb) / 1024);
  }
  return result;
}

function randomToken(): string {
  return randomBytes(24).toString('hex');
}
