import type { Provisioner } from '../provisioner.js';
import type { AccessKey, CredentialSource, Person } from '../credentials.js';

/**
 * Keys created for each person through the store's admin API on first use; the store stays the
 * source of truth (nothing is kept by Refinery), so a key rotated or revoked there is what the next
 * spawn gets.
 */
export class ProvisionedSource implements CredentialSource {
  readonly kind = 'provisioned';

  constructor(
    private readonly provisioner: Provisioner,
    private readonly endpoint: string,
    /** Store account name for a person (a prefix may keep Refinery's accounts apart from others). */
    readonly accountOf: (person: Pick<Person, 'name'>) => string,
  ) {}

  describe(): string {
    return `keys provisioned through the ${this.provisioner.kind} admin API of endpoint "${this.endpoint}"`;
  }

  keyFor(person: Person): Promise<AccessKey> {
    return this.provisioner.ensureAccount(this.accountOf(person));
  }
}
