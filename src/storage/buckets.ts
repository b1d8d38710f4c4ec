import { createHash } from 'node:crypto';
import type { Person } from './credentials.js';

/** S3's bucket naming rules (the strict, DNS-compatible form every store accepts). */
const BUCKET = /^(?!\d+\.\d+\.\d+\.\d+$)(?!xn--)(?!.*\.\.)(?!.*-s3alias$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** A name as it may appear inside a bucket name: lowercase, other characters as "-". */
function bucketPart(value: string): string {
  return value.toLowerCase().replace(/[^a-z0-9.-]+/g, '-');
}

/**
 * A valid bucket name made from one that is not (too short, too long, a bad first or last
 * character): its usable characters, then "-" and 8 hex digits of the person's name's hash, so two
 * people never get the same one. For a store nobody configured (the embedded one), where a person
 * named "al" must still get a bucket; a configured template's bad result stays an error.
 */
export function fittedBucketName(name: string, personName: string): string {
  const hash = createHash('sha256').update(personName).digest('hex').slice(0, 8);
  let stem = name.replace(/[^a-z0-9.-]+/g, '-').replace(/\.{2,}/g, '.').replace(/^[^a-z0-9]+/, '');
  if (stem.startsWith('xn--')) stem = stem.slice(4);
  stem = stem.slice(0, 63 - 9).replace(/[^a-z0-9]+$/, '');
  return `${stem || 'u'}-${hash}`;
}

export class BucketNameError extends Error {
  override readonly name = 'BucketNameError';
}

/**
 * The buckets a profile's templates give for a person, in order, without duplicates: `{user}`
 * becomes their name and a template with `{group}` one bucket per group they are in (none when
 * they are in none). Throws BucketNameError naming the template when a result is not a valid name;
 * with `fitNames`, such a result is made into a valid one instead (fittedBucketName).
 */
export function expandBuckets(templates: readonly string[], person: Person, options: { fitNames?: boolean } = {}): { name: string; perUser: boolean }[] {
  const out: { name: string; perUser: boolean }[] = [];
  const seen = new Set<string>();
  templates.forEach((template, i) => {
    const groups = template.includes('{group}') ? person.groups : [null];
    for (const group of groups) {
      let name = template.replaceAll('{user}', bucketPart(person.name)).replaceAll('{group}', group === null ? '' : bucketPart(group));
      const unknown = /\{[^}]*\}/.exec(name);
      if (unknown) throw new BucketNameError(`storage.buckets[${i}]: ${JSON.stringify(template)} uses ${unknown[0]}; only {user} and {group} are filled in`);
      if (options.fitNames && !BUCKET.test(name)) name = fittedBucketName(name, group === null ? person.name : `${person.name}\0${group}`);
      if (!BUCKET.test(name)) {
        throw new BucketNameError(`storage.buckets[${i}]: ${JSON.stringify(template)} gives ${JSON.stringify(name)} for ${person.name}, which is not a valid bucket name (3–63 lowercase letters, digits, "." and "-", starting and ending with a letter or digit)`);
      }
      if (seen.has(name)) continue;
      seen.add(name);
      out.push({ name, perUser: template.includes('{user}') });
    }
  });
  return out;
}
