import { randomInt } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/tables.js';
import { deleteTokensWhere } from '../db/tokens.js';

// no look-alikes (0/O, 1/l/I) so a password read off the screen can be typed
const PASSWORD_ALPHABET = 'abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** A random password for an admin to hand over: at least 16 characters (~94 bits), grouped for reading. */
export function generatePassword(minLength: number): string {
  const length = Math.max(16, minLength);
  let out = '';
  for (let i = 0; i < length; i++) out += PASSWORD_ALPHABET[randomInt(PASSWORD_ALPHABET.length)];
  return out.replace(/(.{4})(?=.)/g, '$1-');
}

/**
 * End a user's sign-in sessions (all, or all but `keepHash`), with the OAuth tokens they produced:
 * after a password change or reset, nobody stays signed in with the old password.
 */
export async function endSessionsOfUser(db: Kysely<Database>, userId: number, keepHash?: string): Promise<number> {
  let query = db.selectFrom('sessions').select(['hash', 'id']).where('user_id', '=', userId);
  if (keepHash) query = query.where('hash', '!=', keepHash);
  const sessions = await query.execute();
  for (const session of sessions) {
    await db.deleteFrom('sessions').where('hash', '=', session.hash).execute();
    await deleteTokensWhere(db, { sessionId: session.id });
  }
  return sessions.length;
}
