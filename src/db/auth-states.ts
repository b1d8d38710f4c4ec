import type { Kysely } from 'kysely';
import type { Database } from './tables.js';
import { nowIso } from './time.js';

export async function encryptedAuthStateOf(db: Kysely<Database>, userId: number): Promise<string | undefined> {
  const row = await db.selectFrom('auth_states').select('encrypted').where('user_id', '=', userId).executeTakeFirst();
  return row?.encrypted;
}

export async function saveEncryptedAuthState(db: Kysely<Database>, userId: number, encrypted: string): Promise<void> {
  const updated = nowIso();
  await db.insertInto('auth_states').values({ user_id: userId, encrypted, updated })
    .onConflict((oc) => oc.column('user_id').doUpdateSet({ encrypted, updated }))
    .execute();
}
