import { resolveSecret } from '../config/load.js';
import type { SpawnPlan } from './plan.js';

/** The plan's environment with secret references read, for the spawner only (never shown or logged). */
export function resolvePlanEnv(plan: SpawnPlan): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, entry] of Object.entries(plan.env)) {
    env[name] = 'secret' in entry ? resolveSecret(entry.secret, `env.${name} (${entry.source})`, entry.source, '/') : entry.value;
  }
  return env;
}
