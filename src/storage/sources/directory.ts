import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { checkedKey, CredentialError, trimKey, type AccessKey, type CredentialSource, type Person } from '../credentials.js';
import { describeFsError } from './static.js';
import { groupNameProblem, usernameProblem } from '../../auth/names.js';

/**
 * Per-user and per-group key pairs in a directory laid out like mounted Kubernetes Secrets:
 *
 *   <path>/users/alice/AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
 *   <path>/groups/data-eng/AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
 *
 * The person's own directory wins; otherwise the first of their groups that has one. A directory
 * that exists but holds a broken pair is an error (not a reason to fall through to a group key:
 * that would hand someone a key meant for others because their own was mistyped).
 */
export class DirectorySource implements CredentialSource {
  readonly kind = 'directory';

  constructor(
    private readonly path: string,
    private readonly files: { access: string; secret: string },
  ) {}

  describe(): string {
    return `the secret directory ${this.path}`;
  }

  async keyFor(person: Person): Promise<AccessKey> {
    // a name that could leave the directory (`..`, `a/b`) is never a candidate, whatever made the group
    const candidates = [
      ...(usernameProblem(person.name) ? [] : [join('users', person.name)]),
      ...person.groups.filter((g) => !groupNameProblem(g)).map((g) => join('groups', g)),
    ];
    for (const candidate of candidates) {
      const dir = join(this.path, candidate);
      if (!(await isDirectory(dir))) continue;
      const access = join(dir, this.files.access);
      const secret = join(dir, this.files.secret);
      return checkedKey(await this.read(access), await this.read(secret), { access, secret });
    }
    throw new CredentialError(`${this.describe()} has no key pair for ${person.name} (looked for ${candidates.join(', ')})`);
  }

  private async read(file: string): Promise<string> {
    try {
      return trimKey(await readFile(file, 'utf8'));
    } catch (error) {
      throw new CredentialError(`cannot read ${file} (${this.describe()}): ${describeFsError(error)}`);
    }
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw new CredentialError(`cannot look into ${path}: ${describeFsError(error)}`);
  }
}
