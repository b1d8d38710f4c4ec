/**
 * With per-user accounts, people's servers run programs the hub's installation provides: the
 * images' Python environments, Refinery's Jupyter configuration (python/jupyter-config), Java for
 * Spark. A file only root can read there makes a start fail with "Permission denied" deep in a log;
 * this says so once, at start-up, naming the paths and their modes.
 */
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from '../log.js';
import type { Catalog } from '../profiles/schema.js';
import { proxyGuardConfigDir, type LocalSpawner } from './local.js';
import { unusableByOthers } from '../host/data-dir.js';

/** Log one warning listing what other accounts cannot use of what their servers need. */
export function warnAboutUnreachablePrograms(spawner: LocalSpawner, catalog: Catalog, log: Logger): void {
  const paths = new Set<string>([spawner.command[0]!, proxyGuardConfigDir()]);
  // a script's interpreter: the environment's python next to it
  if (spawner.command[0]!.startsWith('/')) paths.add(join(dirname(spawner.command[0]!), 'python'));
  for (const image of catalog.images) {
    if (image.local?.environment) paths.add(join(image.local.environment, 'bin', 'python'));
    if (image.local?.command?.[0]?.startsWith('/')) paths.add(image.local.command[0]);
  }
  if (process.env.JAVA_HOME) paths.add(join(process.env.JAVA_HOME, 'bin', 'java'));
  // a virtual environment's python is a link to the interpreter it was made from (pyenv keeps those in root's home)
  for (const p of [...paths]) {
    try {
      paths.add(realpathSync(p));
    } catch {
      // missing: reported when a server needs it
    }
  }
  const problems = [...paths].filter((p) => existsSync(p)).flatMap((p) => unusableByOthers(p));
  if (problems.length) {
    log.warn({ problems: [...new Set(problems)] }, 'people\'s system accounts cannot use some of what their servers need; servers may fail to start (make these readable and enterable by others)');
  }
}
