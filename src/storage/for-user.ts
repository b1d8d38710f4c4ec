import type { Kysely } from 'kysely';
import type { Database } from '../db/tables.js';
import { groupsOfUsers, type UserRow } from '../db/users.js';
import { serversOfUsers } from '../db/servers.js';
import type { Catalog } from '../profiles/schema.js';
import { planForUser } from '../profiles/for-user.js';
import type { StorageService, StorageSummary } from './service.js';
import type { Person } from './credentials.js';

/** One storage setup a person has: which of their servers get it, what it is (or why it cannot be had). */
export interface StorageOfUser {
  /** Server names ('' = the default server) whose plans give this storage. */
  servers: string[];
  /** The plan's raw storage settings, for fetching keys on request. */
  settings: Record<string, unknown>;
  summary: StorageSummary | null;
  error: string | null;
  /** Whose: the person and their groups, as the keys are looked up for. */
  person: Person;
}

/**
 * The object storage a person's servers get, from each server's plan (what it was last started
 * with, else the defaults); with no servers yet, what their next default server would get.
 * Entries that give the same endpoint and buckets are merged.
 */
export async function storageOfUser(db: Kysely<Database>, catalog: Catalog, storage: StorageService, user: UserRow): Promise<StorageOfUser[]> {
  const groups = (await groupsOfUsers(db, [user.id])).get(user.id) ?? [];
  const rows = (await serversOfUsers(db, [user.id])).get(user.id) ?? [];
  const names = rows.length ? rows.map((r) => r.name) : [''];
  const person: Person = { name: user.name, groups };
  const out: StorageOfUser[] = [];
  for (const server of names) {
    let plan;
    try {
      plan = await planForUser(db, catalog, user, server, {});
    } catch {
      continue; // a server whose remembered choices no longer resolve shows nothing here; its spawn form says why
    }
    if (!plan.storage) continue;
    let summary: StorageSummary | null = null;
    let error: string | null = null;
    try {
      summary = storage.describe(plan.storage, person);
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
    const same = out.find((o) => o.summary && summary && o.summary.endpoint === summary.endpoint && o.summary.buckets.join() === summary.buckets.join() && o.summary.credentials === summary.credentials);
    if (same) same.servers.push(server);
    else out.push({ servers: [server], settings: plan.storage, summary, error, person });
  }
  return out;
}

/** The secret keys a person's servers get (to keep them out of what they publish). */
export async function secretsOfUser(db: Kysely<Database>, catalog: Catalog, storage: StorageService, user: UserRow): Promise<string[]> {
  const secrets: string[] = [];
  for (const entry of await storageOfUser(db, catalog, storage, user)) {
    if (entry.summary) secrets.push((await storage.keys(entry.settings, entry.person)).secretAccessKey);
  }
  return secrets;
}
