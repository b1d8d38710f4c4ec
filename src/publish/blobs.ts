import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { checkKey, type PublicationStore } from './store.js';

/** The default store: one file per key under a directory (`<data_dir>/publications/` unless configured). */
export class FilesBlobStore implements PublicationStore {
  constructor(private readonly dir: string) {}

  private pathOf(key: string): string {
    return join(this.dir, ...checkKey(key).split('/'));
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    const path = this.pathOf(key);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    // write beside, then rename: a reader sees the old file or the whole new one
    const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(tmp, bytes, { mode: 0o600 });
      await rename(tmp, path);
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.pathOf(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    await rm(path, { force: true });
    // the publication's folder goes with its last file (the store's own folder stays)
    if (key.includes('/')) await rmdir(dirname(path)).catch(() => undefined);
  }

  describe(): string {
    return `files in ${this.dir}`;
  }
}
