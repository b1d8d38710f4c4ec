import { z } from 'zod';
import type { SelectionInput } from './resolve.js';

/**
 * `user_options` as the REST API (POST /users/{name}/server) and the spawn form send them. Unknown
 * fields are refused so a typo does not silently start the wrong thing.
 */
export const userOptionsSchema = z.strictObject({
  image: z.string().optional(),
  size: z.string().optional(),
  profile: z.string().optional(),
  options: z.record(z.string(), z.string()).optional(),
  env: z.record(z.string(), z.string()).optional(),
  /** The plan's cluster, sized by the person (src/profiles/cluster-choices.ts checks the values). */
  cluster_workers: z.union([z.number(), z.string()]).optional(),
  cluster_worker_cores: z.union([z.number(), z.string()]).optional(),
  cluster_worker_memory: z.union([z.number(), z.string()]).optional(),
});

/** What a user picked last time, as stored with their account; anything unreadable is ignored. */
export function rememberedSelections(preferences: string): SelectionInput {
  try {
    const parsed = userOptionsSchema.safeParse((JSON.parse(preferences) as { spawn?: unknown }).spawn ?? {});
    return parsed.success ? parsed.data : {};
  } catch {
    return {};
  }
}

export function withRememberedSelections(preferences: string, selections: SelectionInput): string {
  let current: Record<string, unknown> = {};
  try {
    current = JSON.parse(preferences) as Record<string, unknown>;
  } catch {
    // a broken value is replaced
  }
  return JSON.stringify({ ...current, spawn: selections });
}

/**
 * What a server should start with when nothing is asked: what that server ran last time, else what
 * its owner picked last for any server.
 */
export function rememberedFor(preferences: string, serverUserOptions: string | null | undefined): SelectionInput {
  if (serverUserOptions) {
    const parsed = userOptionsSchema.safeParse(safeJson(serverUserOptions));
    if (parsed.success && parsed.data.image) return parsed.data;
  }
  return rememberedSelections(preferences);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}
