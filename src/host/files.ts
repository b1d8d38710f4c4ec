/**
 * Files the hub (often root) keeps for people. The rule that makes this safe: the hub only creates
 * or writes files in directories the person cannot change (root-owned), so no name in the path can
 * be a symbolic link the person planted; a file the person must read is handed to them with
 * fchown/lchown after it was made. Trees the person controls (their home, scratch space) are only
 * walked by coreutils (`chown -R -P`, `rm -rf`), whose traversal does not follow symbolic links even
 * when they are swapped in during the walk.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { chmod, lchown, lstat, mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import type { RunAs } from './accounts.js';

/** Directory modes of the layout: private to its owner, or enterable by everyone without listing. */
export const PRIVATE_DIR = 0o700;
export const PASSAGE_DIR = 0o711;

/** A directory (parents included) with exactly `mode`, owned by `owner` when given (else by whoever made it). */
export async function ensureDir(path: string, mode: number, owner?: Pick<RunAs, 'uid' | 'gid'> | null): Promise<void> {
  await mkdir(path, { recursive: true, mode });
  const st = await lstat(path);
  if (!st.isDirectory()) throw new Error(`${path} is not a directory`);
  if (owner && (st.uid !== owner.uid || st.gid !== owner.gid)) await lchown(path, owner.uid, owner.gid);
  if ((st.mode & 0o7777) !== mode) await chmod(path, mode);
}

/**
 * Open a log file for appending (created 0600, never through a symbolic link) and, with `owner`,
 * give it to them so they can read their own logs.
 */
export async function openLog(path: string, owner?: RunAs | null): Promise<FileHandle> {
  const handle = await open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  try {
    if (owner) {
      const st = await handle.stat();
      if (st.uid !== owner.uid || st.gid !== owner.gid) await handle.chown(owner.uid, owner.gid);
    }
    return handle;
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** Write a whole file (0600, `owner`'s when given) by renaming a fresh temporary file over it: readers never see half of it. */
export async function writePrivateFile(path: string, text: string | Uint8Array, owner?: RunAs | null): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    await handle.writeFile(text);
    if (owner) await handle.chown(owner.uid, owner.gid);
  } catch (error) {
    await handle.close();
    await unlink(tmp).catch(() => undefined);
    throw error;
  }
  await handle.close();
  await rename(tmp, path);
}

function coreutils(file: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 10 * 60_000, env: { PATH: '/usr/bin:/bin', LANG: 'C' } }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`${[file, ...args].join(' ')} failed: ${String(stderr).trim() || error.message}`));
      else resolve();
    });
  });
}

/** Give a whole tree to `owner` (symbolic links themselves, never what they point to). */
export function chownTree(path: string, owner: RunAs): Promise<void> {
  return coreutils('/bin/chown', ['-R', '-P', '--', `${owner.uid}:${owner.gid}`, path]);
}

/** Remove a tree that someone else may have written into (staying on its file system, never following links). */
export function removeTree(path: string): Promise<void> {
  return coreutils('/bin/rm', ['-rf', '--one-file-system', '--', path]);
}
