import { randomInt } from 'node:crypto';
import argon2 from 'argon2';
import { WorkQueue } from '../util/work-queue.js';

/**
 * argon2 runs on libuv's thread pool (4 threads unless UV_THREADPOOL_SIZE says otherwise), which
 * file access, DNS and process spawning need too. Password work gets two of them at most, so a burst
 * of sign-ins (or someone hammering the form) slows sign-ins down instead of everything else. Past
 * the queue, QueueFullError: the sign-in page answers "busy".
 */
export const ARGON2_CONCURRENCY = 2;
const passwordWork = new WorkQueue({ concurrency: ARGON2_CONCURRENCY, maxWaiting: 64 });

export async function hashPassword(password: string): Promise<string> {
  return passwordWork.run(() => argon2.hash(password, { type: argon2.argon2id }));
}

/** False for a wrong password or an unreadable hash; throws QueueFullError when too many are waiting. */
export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  return passwordWork.run(async () => {
    try {
      return await argon2.verify(hash, password);
    } catch {
      return false;
    }
  });
}

/**
 * A hash to verify against when the user does not exist, so that a wrong user name takes as long
 * as a wrong password and timing does not reveal which accounts exist.
 */
let decoyHash: Promise<string> | undefined;
export function decoyPasswordHash(): Promise<string> {
  // a refusal (busy) is not remembered: the next caller tries again
  decoyHash ??= hashPassword('refinery-decoy-password').catch((error: unknown) => {
    decoyHash = undefined;
    throw error;
  });
  return decoyHash;
}

// no look-alikes (0/O, 1/l/I) so a password read off the screen can be typed
const PASSWORD_ALPHABET = 'abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** A random password for an admin to hand over: at least 16 characters (~94 bits), grouped for reading. */
export function generatePassword(minLength: number): string {
  const length = Math.max(16, minLength);
  let out = '';
  for (let i = 0; i < length; i++) out += PASSWORD_ALPHABET[randomInt(PASSWORD_ALPHABET.length)];
  return out.replace(/(.{4})(?=.)/g, '$1-');
}
