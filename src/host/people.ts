/**
 * Where a person lives on this machine and who their processes run as.
 *
 * Two ways to run (`spawner.local.run_as`):
 *
 * - `per-user` (the default when Refinery runs as root): every person's servers and cluster
 *   processes run as a system account of their own (accounts.ts), so they cannot read or change
 *   each other's files, the hub's database and secrets, or the hub's and each other's processes
 *   (/proc/<pid>/environ). Layout under data_dir:
 *
 *     data_dir/                  0711 root   (enterable, not listable)
 *       users/                   0711 root
 *         <name>/                0700 person  HOME, cwd and notebook root
 *       run/                     0711 root
 *         <name>/                0711 root    what the hub keeps for the person's servers and clusters:
 *           <server>.log            0600 person  logs (the person may read their own)
 *           <server>.<cluster>/     0711 root    cluster configuration (files 0600 person)
 *       deleted/                 0700 root    homes of deleted people
 *       refinery.sqlite          0600 root
 *
 *   The person cannot create, rename or replace anything in the root-owned directories, so the hub
 *   (root) never writes through a link the person planted.
 *
 * - `hub`: everything runs as the hub's own account (the only choice when it is not root): people
 *   are kept apart by the proxy only, not on this machine. Files of the person's servers and clusters
 *   stay in `<home>/.refinery/`.
 */
import { existsSync } from 'node:fs';
import { lstat, mkdir, rename } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from '../log.js';
import { AccountError, createdAccountName, deleteCreatedAccount, ensureCreatedAccount, lookupAccount, type RunAs } from './accounts.js';
import { PASSAGE_DIR, PRIVATE_DIR, chownTree, ensureDir, removeTree } from './files.js';

export type RunMode = 'hub' | 'per-user';

/** A person's place: home, the directory the hub keeps their server and cluster files in, and who their processes run as. */
export interface PersonPlace {
  name: string;
  home: string;
  runDir: string;
  /** null: the hub's own account. */
  runAs: RunAs | null;
}

export interface LocalPeopleOptions {
  dataDir: string;
  mode: RunMode;
  /** Refinery name → existing system account (per-user mode); everyone else gets a created account. */
  systemUsers?: Readonly<Record<string, string>>;
  log: Logger;
}

/** Why people are or are not kept apart on this machine, for the log and the Admin page. */
export interface Isolation {
  isolated: boolean;
  message: string;
}

const isRoot = () => process.getuid?.() === 0;

/** A name that can be one path segment (the hub validates names; this is the file layout's own guard). */
function checkName(name: string): void {
  if (!name || name === '.' || name === '..' || /[/\\\0]/.test(name) || name.length > 255) throw new AccountError(`Invalid user name for a home directory: ${JSON.stringify(name)}`);
}

export class LocalPeople {
  readonly dataDir: string;
  readonly mode: RunMode;
  private readonly systemUsers: Readonly<Record<string, string>>;
  private readonly log: Logger;
  /** prepare() and forget() of one name run one after the other (two servers of a person start at once). */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(o: LocalPeopleOptions) {
    this.dataDir = resolve(o.dataDir);
    this.mode = o.mode;
    this.systemUsers = o.systemUsers ?? {};
    this.log = o.log;
  }

  isolation(): Isolation {
    if (this.mode === 'per-user') return { isolated: true, message: 'Each person\'s servers and clusters run as a system account of their own.' };
    const why = isRoot() ? 'spawner.local.run_as is "hub"' : 'Refinery does not run as root';
    return {
      isolated: false,
      message: `People are not isolated from each other on this machine (${why}): every server and cluster runs as the hub's own account, so one person's code can read other people's files and processes, and the hub's database. The proxy still keeps people out of each other's servers.`,
    };
  }

  homeOf(name: string): string {
    return join(this.dataDir, 'users', name);
  }

  runDirOf(name: string): string {
    return this.mode === 'per-user' ? join(this.dataDir, 'run', name) : join(this.homeOf(name), '.refinery');
  }

  /** The system account a person's processes run as (per-user mode): mapped, else created. Never creates anything. */
  accountNameOf(name: string): string {
    return this.systemUsers[name] ?? createdAccountName(name);
  }

  /** Make sure the person's account (per-user), home and run directory exist and are theirs. Idempotent. */
  prepare(name: string): Promise<PersonPlace> {
    checkName(name);
    return this.serial(name, () => (this.mode === 'per-user' ? this.preparePerUser(name) : this.prepareShared(name)));
  }

  private async prepareShared(name: string): Promise<PersonPlace> {
    const home = this.homeOf(name);
    const runDir = this.runDirOf(name);
    await mkdir(runDir, { recursive: true, mode: PRIVATE_DIR });
    await ensureDir(home, PRIVATE_DIR);
    await ensureDir(runDir, PRIVATE_DIR);
    return { name, home, runDir, runAs: null };
  }

  private async preparePerUser(name: string): Promise<PersonPlace> {
    const home = this.homeOf(name);
    const runDir = this.runDirOf(name);
    const runAs = await this.account(name, home);
    await ensureDir(join(this.dataDir, 'users'), PASSAGE_DIR);
    const existing = await lstat(home).catch(() => null);
    if (existing?.isSymbolicLink()) throw new AccountError(`${home} is a symbolic link; a home directory must be a directory`);
    if (!existing) await mkdir(home, { mode: PRIVATE_DIR });
    else if (existing.uid !== runAs.uid) {
      // a home from before people had accounts (or mapped to another one since): all of it becomes theirs
      this.log.info({ user: name, account: runAs.account, home }, 'giving an existing home directory to its person\'s system account');
      await chownTree(home, runAs);
    }
    await ensureDir(home, PRIVATE_DIR, runAs);
    await ensureDir(join(this.dataDir, 'run'), PASSAGE_DIR);
    await ensureDir(runDir, PASSAGE_DIR, { uid: 0, gid: 0 });
    return { name, home, runDir, runAs };
  }

  private async account(name: string, home: string): Promise<RunAs> {
    const mapped = this.systemUsers[name];
    if (mapped === undefined) {
      const made = await ensureCreatedAccount(name, home);
      return { account: made.account, uid: made.uid, gid: made.gid, groups: made.groups };
    }
    const found = await lookupAccount(mapped);
    if (!found) throw new AccountError(`spawner.local.system_users maps ${name} to the system account ${mapped}, which does not exist on this machine`);
    if (found.uid === 0 || found.uid === process.getuid?.()) {
      throw new AccountError(`spawner.local.system_users maps ${name} to ${mapped}, which is ${found.uid === 0 ? 'root' : 'the hub\'s own account'}; people must run as accounts of their own`);
    }
    return { account: found.account, uid: found.uid, gid: found.gid, groups: found.groups };
  }

  /**
   * A person was deleted: their system account goes (when Refinery created it), their home moves to
   * `data_dir/deleted/<name>-<time>` (root only: an administrator can restore or remove it; nothing of
   * it reaches a new person of the same name), and what the hub kept for them is removed. Their
   * processes must be stopped first. Idempotent. Returns where the home went, if it existed.
   */
  forget(name: string): Promise<string | null> {
    checkName(name);
    return this.serial(name, async () => {
      if (isRoot() && this.systemUsers[name] === undefined && (await deleteCreatedAccount(name))) {
        this.log.info({ user: name, account: createdAccountName(name) }, 'deleted the system account of a deleted person');
      }
      let archived: string | null = null;
      const home = this.homeOf(name);
      if (existsSync(home)) {
        const deleted = join(this.dataDir, 'deleted');
        await ensureDir(deleted, PRIVATE_DIR);
        archived = join(deleted, `${name}-${new Date().toISOString().replace(/[-:]/g, '')}`);
        await rename(home, archived);
        this.log.info({ user: name, archived }, 'moved the home directory of a deleted person out of reach');
      }
      const runDir = join(this.dataDir, 'run', name);
      if (existsSync(runDir)) await removeTree(runDir);
      return archived;
    });
  }

  private serial<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(name) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.queues.set(name, settled);
    void settled.then(() => {
      if (this.queues.get(name) === settled) this.queues.delete(name);
    });
    return next;
  }
}

/**
 * The run mode a configuration asks for: `spawner.local.run_as`, by default per-user exactly when
 * the hub runs as root. Per-user without root is an error naming the setting.
 */
export function runModeOf(runAs: RunMode | undefined, source: string): RunMode {
  const root = isRoot();
  const mode = runAs ?? (root ? 'per-user' : 'hub');
  if (mode === 'per-user' && !root) throw new AccountError(`${source}: spawner.local.run_as is "per-user", which needs Refinery to run as root (it creates and switches to people's system accounts)`);
  return mode;
}
