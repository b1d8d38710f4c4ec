import { resolveSecret } from '../config/load.js';
import type { SpawnPlan } from './plan.js';

/** Whether the plan puts a field of the person's sign-in into the environment. */
export function needsAuthState(plan: SpawnPlan): boolean {
  return Object.values(plan.env).some((entry) => 'authState' in entry);
}

/**
 * The plan's environment with secret references read and sign-in fields filled from `authState`, for
 * the spawner only (never shown or logged). Throws AuthStateMissing when the sign-in lacks a field.
 */
export function resolvePlanEnv(plan: SpawnPlan, authState?: Record<string, unknown>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, entry] of Object.entries(plan.env)) {
    if ('value' in entry) env[name] = entry.value;
    else if ('secret' in entry) env[name] = resolveSecret(entry.secret, `env.${name} (${entry.source})`, entry.source, '/');
    else {
      const value = authState?.[entry.authState];
      if (typeof value !== 'string' || !value) throw new AuthStateMissing(name, entry.authState);
      env[name] = value;
    }
  }
  return env;
}

/** A variable asks for a field of the sign-in that this person's sign-in does not have. */
export class AuthStateMissing extends Error {
  constructor(readonly variable: string, readonly field: string) {
    super(`${variable} is your sign-in's ${field}, which this hub does not have for you: sign out and sign in again with your organization's sign-in (auth state is kept only for people who sign in through a provider, with auth.enable_auth_state)`);
    this.name = 'AuthStateMissing';
  }
}
