import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { SpawnPlan } from '../profiles/plan.js';
import { SpawnError } from '../spawners/spawner.js';

/**
 * The program that runs a plan's image on this machine: the image's own command, or its Python
 * environment's `python -m jupyterhub.singleuser` (so the default kernel is that environment's too).
 * Undefined means the spawner's configured default.
 */
export function localCommand(plan: SpawnPlan): string[] | undefined {
  if (plan.local.command) return plan.local.command;
  const env = plan.local.environment;
  if (!env) return undefined;
  const python = join(env, 'bin', 'python');
  if (!existsSync(python)) {
    throw new SpawnError(`The ${plan.image.display_name} image is not installed on this machine (${env} is missing). An administrator can build it with: bash scripts/setup-python.sh`);
  }
  return [python, '-m', 'jupyterhub.singleuser'];
}
