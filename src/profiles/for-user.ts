import type { Kysely } from 'kysely';
import type { Database } from '../db/tables.js';
import type { UserRow } from '../db/users.js';
import { groupsOfUsers, updateUser } from '../db/users.js';
import type { Catalog } from './schema.js';
import type { SpawnPlan } from './plan.js';
import { resolvePlan, type SelectionInput } from './resolve.js';
import { rememberedSelections, withRememberedSelections } from './selections.js';

/** Resolve a user's plan from the database's view of them (groups, last selections). */
export async function planForUser(db: Kysely<Database>, catalog: Catalog, user: UserRow, server: string, requested: SelectionInput): Promise<SpawnPlan> {
  const groups = (await groupsOfUsers(db, [user.id])).get(user.id) ?? [];
  return resolvePlan(catalog, { user: user.name, groups, server }, requested, rememberedSelections(user.preferences));
}

/** Remember what was picked, so the form pre-selects it next time. */
export async function rememberSelections(db: Kysely<Database>, user: UserRow, plan: SpawnPlan): Promise<void> {
  const { image, size, profile, options, env } = plan.selections;
  const remembered: SelectionInput = { image, options, env, ...(size ? { size } : {}), ...(profile ? { profile } : {}) };
  await updateUser(db, user.id, { preferences: withRememberedSelections(user.preferences, remembered) });
}
