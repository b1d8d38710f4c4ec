/**
 * System accounts on this machine: one per person when the hub runs as root, so that people's
 * servers and clusters run under a uid of their own instead of the hub's.
 *
 * An account is either created by Refinery (`refinery-<name>`, with useradd/groupadd from Debian's
 * passwd package: a system account with its own group, no password, no login shell, its home the
 * person's Refinery home) or an existing one an administrator maps a person to (LDAP or sssd users),
 * looked up through NSS (`getent`, `id`), so both kinds look the same to the rest of the hub.
 *
 * Every command runs through execFile with an argument array: no shell ever sees a name.
 *
 * Ownership: an account Refinery creates carries a comment (the GECOS field) derived from the
 * Refinery name it was made for. An existing account with the expected system name but another
 * comment is never taken over or deleted: two Refinery names whose system names collide, or an
 * account an administrator made by hand, give an error instead.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';

/** Who a process runs as. */
export interface RunAs {
  /** The system user name (for messages and logs). */
  account: string;
  uid: number;
  gid: number;
  /** Supplementary groups (the primary group included), as NSS reports them. */
  groups: number[];
}

/** A system account as NSS knows it. */
export interface SystemAccount extends RunAs {
  home: string;
  shell: string;
  /** The GECOS field. */
  comment: string;
}

export class AccountError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AccountError';
  }
}

/** Longest user name useradd accepts (shadow's LOGIN_NAME_MAX on Linux is 256, but 32 is what utmp and most tools handle). */
export const MAX_ACCOUNT_NAME = 32;
const PREFIX = 'refinery-';
/** A Refinery name that can be used as it is after the prefix. */
const PLAIN_NAME = /^[a-z0-9_][a-z0-9_-]*$/;
/** What any account name given in the configuration must look like (Debian's useradd accepts these). */
export const ACCOUNT_NAME = /^[a-z_][a-z0-9_.-]*\$?$/i;
const NOLOGIN = '/usr/sbin/nologin';

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * The system user name Refinery creates for a person: `refinery-<name>` when that is a valid and
 * short enough name, else a shortened, cleaned form with 8 hex digits of the name's SHA-256, so
 * that it is the same at every start and different for different names.
 */
export function createdAccountName(name: string): string {
  const plain = `${PREFIX}${name}`;
  if (PLAIN_NAME.test(name) && plain.length <= MAX_ACCOUNT_NAME) return plain;
  const hash = sha256(`refinery-account:${name}`).slice(0, 8);
  const room = MAX_ACCOUNT_NAME - PREFIX.length - hash.length - 1;
  const cleaned = name.toLowerCase().replace(/[^a-z0-9_]+/g, '-').replace(/^-+/, '').slice(0, room).replace(/-+$/, '');
  return `${PREFIX}${cleaned ? `${cleaned}-` : ''}${hash}`;
}

/** The comment of an account Refinery created for `name` (no ':' , ',' or newline: it is a GECOS field). */
export function createdAccountComment(name: string): string {
  return `Refinery account ${sha256(`refinery-account:${name}`).slice(0, 16)}`;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], timeoutMs = 30_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' } }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(new AccountError(`${file} could not be run: ${error.message}`));
        return;
      }
      resolve({ code: error ? Number(error.code) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** The account called `name`, or null when NSS knows none. */
export async function lookupAccount(name: string): Promise<SystemAccount | null> {
  const passwd = await run('getent', ['passwd', '--', name]);
  if (passwd.code === 2) return null;
  if (passwd.code !== 0) throw new AccountError(`looking up the system account ${name} failed: ${passwd.stderr.trim() || `getent exited with ${passwd.code}`}`);
  const fields = passwd.stdout.split('\n')[0]!.split(':');
  if (fields.length < 7 || fields[0] !== name) throw new AccountError(`getent passwd ${name} gave an entry that is not the account ${name}`);
  const uid = Number(fields[2]);
  const gid = Number(fields[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new AccountError(`the system account ${name} has no numeric uid and gid`);
  const ids = await run('id', ['-G', '--', name]);
  if (ids.code !== 0) throw new AccountError(`listing the groups of the system account ${name} failed: ${ids.stderr.trim() || `id exited with ${ids.code}`}`);
  const groups = ids.stdout.trim().split(/\s+/).filter(Boolean).map(Number).filter((g) => Number.isInteger(g));
  return { account: name, uid, gid, groups: groups.includes(gid) ? groups : [gid, ...groups], comment: fields[4] ?? '', home: fields[5] ?? '', shell: fields[6] ?? '' };
}

async function groupExists(name: string): Promise<boolean> {
  const found = await run('getent', ['group', '--', name]);
  if (found.code === 0) return true;
  if (found.code === 2) return false;
  throw new AccountError(`looking up the group ${name} failed: ${found.stderr.trim() || `getent exited with ${found.code}`}`);
}

/** useradd/groupadd/userdel take a lock on /etc/passwd: when another one holds it, they fail; try again. */
async function runLocked(file: string, args: string[], doing: string, ok: (code: number) => boolean): Promise<Run> {
  for (let attempt = 0; ; attempt++) {
    const result = await run(file, args);
    if (ok(result.code)) return result;
    // 1 (useradd/groupadd: cannot update the file), 10 (groupadd/userdel/groupdel: cannot lock/update)
    const busy = (result.code === 1 || result.code === 10) && /lock|try again/i.test(result.stderr);
    if (!busy || attempt >= 20) throw new AccountError(`${doing} failed: ${result.stderr.trim() || `${file} exited with ${result.code}`}`);
    await new Promise((r) => setTimeout(r, 100 + attempt * 50));
  }
}

/**
 * The account Refinery keeps for `name`, created when missing: a system user and group of the
 * same name (see createdAccountName), no password, shell nologin, home `home` (not created here).
 * An account of that name that Refinery did not make for `name` is an error.
 */
export async function ensureCreatedAccount(name: string, home: string): Promise<SystemAccount> {
  const account = createdAccountName(name);
  const comment = createdAccountComment(name);
  const check = (found: SystemAccount): SystemAccount => {
    if (found.comment !== comment) {
      throw new AccountError(`the system account ${account} exists but was not created by Refinery for ${JSON.stringify(name)}; remove it, or map the person to an account with spawner.local.system_users`);
    }
    if (found.uid === 0) throw new AccountError(`the system account ${account} has uid 0`);
    return found;
  };
  const existing = await lookupAccount(account);
  if (existing) return check(existing);
  if (!(await groupExists(account))) {
    // 9: made meanwhile by another start
    await runLocked('groupadd', ['--system', '--', account], `creating the system group ${account}`, (code) => code === 0 || code === 9);
  }
  await runLocked(
    'useradd',
    ['--system', '--gid', account, '--home-dir', home, '--no-create-home', '--shell', NOLOGIN, '--comment', comment, '--', account],
    `creating the system account ${account}`,
    (code) => code === 0 || code === 9,
  );
  const made = await lookupAccount(account);
  if (!made) throw new AccountError(`the system account ${account} was created but cannot be looked up`);
  return check(made);
}

/**
 * Delete the account Refinery created for `name`, and its group. Nothing happens when there is
 * none, or when the account of that name was not made by Refinery for `name`. Fails while
 * processes of the account still run (userdel refuses).
 */
export async function deleteCreatedAccount(name: string): Promise<boolean> {
  const account = createdAccountName(name);
  const existing = await lookupAccount(account);
  if (!existing || existing.comment !== createdAccountComment(name)) return false;
  // 6: gone meanwhile
  await runLocked('userdel', ['--', account], `deleting the system account ${account}`, (code) => code === 0 || code === 6);
  // userdel removes the user's own group when nothing else uses it; make sure, as useradd made it for it
  if (await groupExists(account)) await runLocked('groupdel', ['--', account], `deleting the system group ${account}`, (code) => code === 0 || code === 6);
  return true;
}
