/**
 * The data directory's own permissions, set at start-up. With per-user accounts (people.ts) the
 * data directory must be enterable by them (their homes are inside) but nothing of the hub's may be
 * readable: the directory itself is 0711 (no listing), the SQLite database and its journal 0600,
 * the published notebooks and deleted homes 0700. Also checks that everything people's processes
 * need from outside (the data directory's parents, the Python environments, Java) can be reached
 * by an account that is not the hub's.
 */
import { existsSync, statSync } from 'node:fs';
import { chmod, lstat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { RunMode } from './people.js';
import { PASSAGE_DIR, PRIVATE_DIR, ensureDir } from './files.js';

export class DataDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataDirError';
  }
}

/** The directories above `path` (from `/` down) that another account cannot pass through. */
export function unreachableParents(path: string): string[] {
  const blocked: string[] = [];
  for (let dir = dirname(resolve(path)); ; dir = dirname(dir)) {
    try {
      if ((statSync(dir).mode & 0o001) === 0) blocked.unshift(dir);
    } catch {
      // missing: created later with our own modes
    }
    if (dir === dirname(dir)) break;
  }
  return blocked;
}

/**
 * Paths another account cannot use: a parent without o+x, or the path itself without o+r (and o+x
 * for directories and programs). For the start-up warning about environments and Java.
 */
export function unusableByOthers(path: string): string[] {
  const problems = unreachableParents(path).map((d) => `${d} (mode ${modeText(d)}) cannot be entered`);
  try {
    const st = statSync(path);
    const wanted = st.isDirectory() || (st.mode & 0o100) !== 0 ? 0o005 : 0o004;
    if ((st.mode & wanted) !== wanted) problems.push(`${path} (mode ${modeText(path)}) cannot be ${st.isDirectory() ? 'entered or listed' : wanted === 0o005 ? 'run' : 'read'}`);
  } catch {
    // a missing path is someone else's error message
  }
  return problems;
}

function modeText(path: string): string {
  try {
    return (statSync(path).mode & 0o7777).toString(8).padStart(4, '0');
  } catch {
    return '?';
  }
}

/** Files of an SQLite database (the journal files may be missing). */
function sqliteFiles(path: string): string[] {
  return [path, `${path}-wal`, `${path}-shm`, `${path}-journal`];
}

/**
 * Make the data directory (and, per-user, the directories of the layout) with the right modes.
 * Per-user, a data directory whose parents other accounts cannot enter is an error naming them.
 */
export async function prepareDataDir(dataDir: string, mode: RunMode): Promise<void> {
  const dir = resolve(dataDir);
  if (mode === 'hub') {
    await ensureDirKeepingMode(dir, PRIVATE_DIR);
    return;
  }
  const blocked = unreachableParents(dir);
  if (blocked.length) {
    throw new DataDirError(`data_dir ${dir} cannot be reached by people's system accounts: ${blocked.map((d) => `${d} (mode ${modeText(d)})`).join(', ')} ${blocked.length > 1 ? 'need' : 'needs'} o+x (chmod o+x), or put data_dir elsewhere`);
  }
  await ensureDir(dir, PASSAGE_DIR);
  await ensureDir(join(dir, 'users'), PASSAGE_DIR);
  await ensureDir(join(dir, 'run'), PASSAGE_DIR);
  for (const hubOnly of ['publications', 'deleted']) {
    if (existsSync(join(dir, hubOnly))) await ensureDir(join(dir, hubOnly), PRIVATE_DIR);
  }
}

/** Created with `mode` when missing; an existing directory keeps whatever its owner chose. */
async function ensureDirKeepingMode(dir: string, mode: number): Promise<void> {
  if (!existsSync(dir)) await ensureDir(dir, mode);
}

/** The SQLite database and its journal files readable by the hub's account only. */
export async function restrictDatabase(path: string): Promise<void> {
  for (const file of sqliteFiles(path)) {
    const st = await lstat(file).catch(() => null);
    if (st?.isFile() && (st.mode & 0o077) !== 0) await chmod(file, st.mode & 0o700);
  }
}
