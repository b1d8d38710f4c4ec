import type { Kysely } from 'kysely';
import type { Database } from '../db/tables.js';
import type { UserRow } from '../db/users.js';
import { groupsOfUsers, updateUser } from '../db/users.js';
import type { Catalog } from './schema.js';
import type { SpawnPlan } from './plan.js';
import { resolvePlan, type SelectionInput } from './resolve.js';
import { rememberedFor, withRememberedSelections } from './selections.js';
import { findServer } from '../db/servers.js';
import { choicesAsOptions } from './cluster-choices.js';
import { effectiveQuota, type QuotasConfig } from '../clusters/quota.js';

/** Resolve a user's plan from the database's view of them (groups, last selections). */
export async function planForUser(db: Kysely<Database>, catalog: Catalog, user: UserRow, server: string, requested: SelectionInput, quotas?: QuotasConfig): Promise<SpawnPlan> {
  const groups = (await groupsOfUsers(db, [user.id])).get(user.id) ?? [];
  const row = await findServer(db, user.id, server);
  const quota = quotas ? effectiveQuota(quotas, user.name, groups) : undefined;
  return resolvePlan(catalog, { user: user.name, groups, server, quota }, requested, rememberedFor(user.preferences, row?.user_options));
}

/** The selections as stored: only what was chosen, no nulls. */
export function storedSelections(plan: SpawnPlan): SelectionInput {
  const { image, size, profile, options, env, cluster } = plan.selections;
  return { image, options, env, ...(size ? { size } : {}), ...(profile ? { profile } : {}), ...choicesAsOptions(cluster ?? {}) };
}

/** Remember what was picked, so the form pre-selects it next time. */
export async function rememberSelections(db: Kysely<Database>, user: UserRow, plan: SpawnPlan): Promise<void> {
  await updateUser(db, user.id, { preferences: withRememberedSelections(user.preferences, storedSelections(plan)) });
}
