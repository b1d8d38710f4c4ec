import { randomInt } from 'node:crypto';
import argon2 from 'argon2';

export async function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, { type: argon2.argon2id });
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}

/**
 * A hash to verify against when the user does not exist, so that a wrong user name takes as long
 * as a wrong password and timing does not reveal which accounts exist.
 */
let decoyHash: Promise<string> | undefined;
export function decoyPasswordHash(): Promise<string> {
  decoyHash ??= hashPassword('refinery-decoy-password');
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
