import { join, resolve } from 'node:path';

const REPO = resolve(import.meta.dirname, '..', '..', '..');

/**
 * `spawner.command` for a server that starts in a fraction of a second and answers 200 to every
 * GET (test/helpers/fake-singleuser.py), for tests about the hub rather than about Jupyter.
 */
export const FAKE_SINGLEUSER: string[] = [join(REPO, 'envs', 'base', 'bin', 'python'), join(REPO, 'test', 'helpers', 'fake-singleuser.py')];
