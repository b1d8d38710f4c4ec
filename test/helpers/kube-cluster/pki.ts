// The test control plane's certificates and keys, made with the openssl command line: a CA, serving
// certificates (the API server's, the node agent's), client certificates (a node's identity) and the
// service-account signing key pair. P-256 keys: generating one takes milliseconds where RSA-2048
// takes a noticeable fraction of a second, and every Kubernetes component accepts them.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

async function openssl(cwd: string, args: string[]): Promise<void> {
  try {
    await execFileP('openssl', args, { cwd });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`openssl ${args[0]} failed: ${e.message}\n${e.stderr ?? ''}`);
  }
}

export interface CertificateFiles {
  certFile: string;
  keyFile: string;
}

export interface CertificateRequest {
  /** File name stem in the PKI directory: <name>.crt, <name>.key. */
  name: string;
  /** Subject CN; for a client certificate the user name Kubernetes sees. */
  commonName: string;
  /** Subject O entries; for a client certificate the user's groups. */
  organizations?: string[];
  usage: 'server' | 'client';
  /** Subject alternative names of a serving certificate. */
  ips?: string[];
  dnsNames?: string[];
}

/** A certificate authority in a directory, issuing certificates into the same directory. */
export class TestCertificateAuthority {
  readonly certFile: string;
  private readonly keyFile: string;
  private serial = 1;

  private constructor(private readonly dir: string) {
    this.certFile = join(dir, 'ca.crt');
    this.keyFile = join(dir, 'ca.key');
  }

  static async create(dir: string, commonName: string): Promise<TestCertificateAuthority> {
    const ca = new TestCertificateAuthority(dir);
    await openssl(dir, [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-days', '30', '-subj', `/CN=${commonName}`, '-keyout', ca.keyFile, '-out', ca.certFile,
    ]);
    return ca;
  }

  async issue(request: CertificateRequest): Promise<CertificateFiles> {
    const keyFile = join(this.dir, `${request.name}.key`);
    const certFile = join(this.dir, `${request.name}.crt`);
    const csrFile = join(this.dir, `${request.name}.csr`);
    const extFile = join(this.dir, `${request.name}.ext`);
    const subject = `/CN=${request.commonName}${(request.organizations ?? []).map((o) => `/O=${o}`).join('')}`;
    await openssl(this.dir, [
      'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-subj', subject, '-keyout', keyFile, '-out', csrFile,
    ]);
    const names = [...(request.ips ?? []).map((ip) => `IP:${ip}`), ...(request.dnsNames ?? []).map((d) => `DNS:${d}`)];
    const ext = [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${request.usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
      ...(names.length > 0 ? [`subjectAltName=${names.join(',')}`] : []),
    ];
    await writeFile(extFile, `${ext.join('\n')}\n`);
    await openssl(this.dir, [
      'x509', '-req', '-in', csrFile, '-CA', this.certFile, '-CAkey', this.keyFile,
      '-set_serial', String(this.serial++), '-days', '30', '-extfile', extFile, '-out', certFile,
    ]);
    return { certFile, keyFile };
  }
}

/** The key pair the API server signs service-account tokens with (and verifies them by). */
export async function serviceAccountKeyPair(dir: string): Promise<{ privateKeyFile: string; publicKeyFile: string }> {
  const privateKeyFile = join(dir, 'sa.key');
  const publicKeyFile = join(dir, 'sa.pub');
  await openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', privateKeyFile]);
  await openssl(dir, ['ec', '-in', privateKeyFile, '-pubout', '-out', publicKeyFile]);
  return { privateKeyFile, publicKeyFile };
}
