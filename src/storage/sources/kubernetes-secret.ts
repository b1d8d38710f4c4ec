import type { KubeApi } from '../../kubernetes/api.js';
import { kubeError, orMissing } from '../../kubernetes/errors.js';
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

/**
 * Secrets read through the hub's Kubernetes client (src/kubernetes: in a pod its service account,
 * re-reading the rotated token; outside, a kubeconfig). The hub needs `get` on secrets.
 */
export function kubeSecretReader(api: KubeApi): KubernetesSecretReader {
  return {
    namespace: api.namespace,
    read: async (ns, name) => {
      let secret;
      try {
        secret = await orMissing(() => api.core.readNamespacedSecret({ name, namespace: ns }));
      } catch (error) {
        const e = kubeError(error);
        if (e.reason === 'forbidden') throw new CredentialError(`the hub may not read Secret ${ns}/${name} (403): give its service account "get" on secrets`);
        throw new CredentialError(`reading Secret ${ns}/${name} failed: ${e.message}`);
      }
      if (!secret) return null;
      return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    },
  };
}
