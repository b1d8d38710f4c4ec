import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { checkedKey, CredentialError, trimKey, type AccessKey, type CredentialSource, type Person } from '../credentials.js';

/** Reads one Secret's data (values decoded); null when it does not exist. */
export interface KubernetesSecretReader {
  /** The namespace the hub runs in (the default for secrets). */
  readonly namespace: string;
  read(namespace: string, name: string): Promise<Record<string, string> | null>;
}

interface Settings {
  name: string;
  namespace?: string | undefined;
  access_key_field: string;
  secret_key_field: string;
}

/**
 * A Kubernetes Secret per person, found by a name template (`s3-{user}`, `team-{group}`): the
 * person's own name is tried first, then, if the template has `{group}`, each of their groups.
 */
export class KubernetesSecretSource implements CredentialSource {
  readonly kind = 'kubernetes-secret';

  constructor(
    private readonly reader: KubernetesSecretReader,
    private readonly settings: Settings,
  ) {}

  describe(): string {
    return `the Kubernetes Secret ${this.settings.namespace ?? this.reader.namespace}/${this.settings.name}`;
  }

  async keyFor(person: Person): Promise<AccessKey> {
    const namespace = this.settings.namespace ?? this.reader.namespace;
    const names = this.settings.name.includes('{group}')
      ? person.groups.map((g) => secretName(this.settings.name, person.name, g))
      : [secretName(this.settings.name, person.name, null)];
    for (const name of names) {
      const data = await this.reader.read(namespace, name);
      if (!data) continue;
      const where = (field: string) => `field ${field} of Secret ${namespace}/${name}`;
      const access = data[this.settings.access_key_field];
      const secret = data[this.settings.secret_key_field];
      if (access === undefined) throw new CredentialError(`${where(this.settings.access_key_field)} is missing`);
      if (secret === undefined) throw new CredentialError(`${where(this.settings.secret_key_field)} is missing`);
      return checkedKey(trimKey(access), trimKey(secret), { access: where(this.settings.access_key_field), secret: where(this.settings.secret_key_field) });
    }
    throw new CredentialError(`no Kubernetes Secret for ${person.name}: looked for ${names.map((n) => `${namespace}/${n}`).join(', ') || `a group secret (${person.name} is in no group)`}`);
  }
}

/** Secret names are DNS subdomains: lowercase, "-" for anything else. */
function secretName(template: string, user: string, group: string | null): string {
  const part = (v: string) => v.toLowerCase().replace(/[^a-z0-9.-]+/g, '-');
  return template.replaceAll('{user}', part(user)).replaceAll('{group}', group === null ? '' : part(group));
}

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The in-cluster reader: the pod's service account talks to the API server (`get` on secrets needed). */
export function inClusterSecretReader(dir = SERVICE_ACCOUNT, env = process.env): KubernetesSecretReader {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new Error('not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST is not set)');
  const ca = readFileSync(`${dir}/ca.crt`);
  return {
    namespace: readFileSync(`${dir}/namespace`, 'utf8').trim(),
    read: async (ns, name) => {
      // the token is re-read each time: kubelet rotates projected tokens
      const token = (await readFile(`${dir}/token`, 'utf8')).trim();
      const path = `/api/v1/namespaces/${encodeURIComponent(ns)}/secrets/${encodeURIComponent(name)}`;
      const { status, body } = await get({ host, port, path, ca, token });
      if (status === 404) return null;
      if (status === 403) throw new CredentialError(`the hub may not read Secret ${ns}/${name} (403): give its service account "get" on secrets`);
      if (status !== 200) throw new CredentialError(`reading Secret ${ns}/${name} failed: the API server answered ${status}`);
      const data = (JSON.parse(body) as { data?: Record<string, string> }).data ?? {};
      return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    },
  };
}

function get(o: { host: string; port: string; path: string; ca: Buffer; token: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: o.host, port: o.port, path: o.path, ca: o.ca, headers: { authorization: `Bearer ${o.token}`, accept: 'application/json' }, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('the Kubernetes API server did not answer within 10 s')));
    req.on('error', reject);
    req.end();
  });
}
