/**
 * TLS with mutual authentication for a local Dask cluster, so that its scheduler and workers talk
 * only to holders of this cluster's certificates: the owner's notebook kernels and the cluster's own
 * processes. Without it any local account could connect to the scheduler (Dask has no other
 * authentication) and run code as the owner.
 *
 * Per cluster (each reserve(), i.e. each start of its server) a fresh CA signs three certificates
 * (scheduler, workers, client); the CA's key is thrown away at once, so nothing can sign another.
 * distributed requires a certificate from both ends (`Security`: CERT_REQUIRED on both sides, no
 * host name check), so a peer without one signed by this CA fails the handshake.
 *
 * Files (EC P-256, PEM): `<dir>/ca.pem`, `{scheduler,worker,client}.pem` and `.key`, all 0600 and
 * owned by the cluster's account; `<dir>` is made by the caller where the owner cannot replace it.
 * Certificates are made with the `openssl` command (Node can verify X.509 but not issue it).
 *
 * The processes learn them from Dask's configuration variables: scheduler and workers
 * `DASK_DISTRIBUTED__COMM__TLS__{CA_FILE,SCHEDULER__*,WORKER__*}` and REQUIRE_ENCRYPTION; the
 * notebook server the CA and the client pair, so that `Client()` with no arguments (address from
 * DASK_SCHEDULER_ADDRESS, `tls://`) builds its `Security()` from them.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunAs } from '../../host/accounts.js';
import { ensureDir, PASSAGE_DIR, PRIVATE_DIR, removeTree, writePrivateFile } from '../../host/files.js';
import { ClusterError } from '../backend.js';

export interface DaskTlsFiles {
  ca: string;
  scheduler: { cert: string; key: string };
  worker: { cert: string; key: string };
  client: { cert: string; key: string };
}

const ROLES = ['scheduler', 'worker', 'client'] as const;
const FILE_NAMES = ['ca.pem', ...ROLES.flatMap((r) => [`${r}.pem`, `${r}.key`])];
const VALID_DAYS = '3650';

/** The openssl configuration: a CA that signs end certificates only, and end certificates for loopback usable as server and client. */
const OPENSSL_CONFIG = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyAgreement
extendedKeyUsage = serverAuth,clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = IP:127.0.0.1,IP:::1,DNS:localhost
`;

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd, timeout: 30_000, env: { PATH: '/usr/bin:/bin', LANG: 'C' } }, (error, _stdout, stderr) => {
      if (!error) resolve();
      else if ((error as NodeJS.ErrnoException).code === 'ENOENT') reject(new ClusterError('Dask clusters need the openssl command for their TLS certificates, and it was not found (Debian: apt-get install openssl)'));
      else reject(new ClusterError(`Could not make the Dask cluster's TLS certificates: openssl ${args[0]} failed: ${String(stderr).trim().split('\n').filter((l) => !/^-+$/.test(l)).slice(-3).join('; ') || error.message}`));
    });
  });
}

/** Where the files of a cluster's TLS go, by name. */
export function daskTlsFiles(dir: string): DaskTlsFiles {
  const pair = (role: string) => ({ cert: join(dir, `${role}.pem`), key: join(dir, `${role}.key`) });
  return { ca: join(dir, 'ca.pem'), scheduler: pair('scheduler'), worker: pair('worker'), client: pair('client') };
}

/**
 * Make a new CA and the three certificates in `dir` (created with mode 0711 when `owner` is another
 * account, else 0700; existing files replaced), all given to `owner`. `label` names the cluster in
 * the certificates' subjects.
 */
export async function makeDaskTls(dir: string, owner: RunAs | null, label: string): Promise<DaskTlsFiles> {
  await ensureDir(dir, owner ? PASSAGE_DIR : PRIVATE_DIR);
  // made in a private directory of the hub's, then handed over file by file: the CA key never leaves it
  const work = await mkdtemp(join(dir, '.new-'));
  try {
    await writePrivateFile(join(work, 'openssl.cnf'), OPENSSL_CONFIG);
    const subject = (what: string) => `/O=Refinery/OU=Dask cluster ${label.replace(/[/=+,\\]/g, '_')}/CN=${what}`;
    await openssl(['req', '-x509', '-new', '-config', 'openssl.cnf', '-extensions', 'ca', ...EC_KEY, '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', subject('CA'), '-days', VALID_DAYS], work);
    for (const role of ROLES) {
      await openssl(['req', '-x509', '-new', '-config', 'openssl.cnf', '-extensions', 'leaf', '-CA', 'ca.pem', '-CAkey', 'ca.key', ...EC_KEY, '-keyout', `${role}.key`, '-out', `${role}.pem`, '-subj', subject(role), '-days', VALID_DAYS], work);
    }
    const files = daskTlsFiles(dir);
    for (const name of FILE_NAMES) await writePrivateFile(join(dir, name), await readFile(join(work, name)), owner);
    return files;
  } finally {
    await removeTree(work).catch(() => undefined);
  }
}

/** Is every file of a cluster's TLS there? */
export async function daskTlsComplete(dir: string): Promise<boolean> {
  try {
    const names = new Set(await readdir(dir));
    return FILE_NAMES.every((n) => names.has(n));
  } catch {
    return false;
  }
}

/** Dask configuration for the notebook server: `Client()` trusts the cluster's CA and shows its client certificate. */
export function daskClientTlsEnv(files: DaskTlsFiles): Record<string, string> {
  return {
    DASK_DISTRIBUTED__COMM__TLS__CA_FILE: files.ca,
    DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT: files.client.cert,
    DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY: files.client.key,
  };
}

/** Dask configuration for the scheduler and workers: TLS only, this CA only. */
export function daskClusterTlsEnv(files: DaskTlsFiles): Record<string, string> {
  return {
    DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION: 'True',
    DASK_DISTRIBUTED__COMM__TLS__CA_FILE: files.ca,
    DASK_DISTRIBUTED__COMM__TLS__SCHEDULER__CERT: files.scheduler.cert,
    DASK_DISTRIBUTED__COMM__TLS__SCHEDULER__KEY: files.scheduler.key,
    DASK_DISTRIBUTED__COMM__TLS__WORKER__CERT: files.worker.cert,
    DASK_DISTRIBUTED__COMM__TLS__WORKER__KEY: files.worker.key,
    DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT: files.client.cert,
    DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY: files.client.key,
  };
}
