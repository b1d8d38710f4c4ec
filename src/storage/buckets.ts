import type { Person } from './credentials.js';

/** S3's bucket naming rules (the strict, DNS-compatible form every store accepts). */
const BUCKET = /^(?!\d+\.\d+\.\d+\.\d+$)(?!xn--)(?!.*\.\.)(?!.*-s3alias$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** A name as it may appear inside a bucket name: lowercase, other characters as "-". */
function bucketPart(value: string): string {
  return value.toLowerCase().replace(/[^a-z0-9.-]+/g, '-');
}

export class BucketNameError extends Error {
  override readonly name = 'BucketNameError';
}

/**
 * The buckets a profile's templates give for a person, in order, without duplicates: `{user}`
 * becomes their name and a template with `{group}` one bucket per group they are in (none when
 * they are in none). Throws BucketNameError naming the template when a result is not a valid name.
 */
export function expandBuckets(templates: readonly string[], person: Person): { name: string; perUser: boolean }[] {
  const out: { name: string; perUser: boolean }[] = [];
  const seen = new Set<string>();
  templates.forEach((template, i) => {
    const groups = template.includes('{group}') ? person.groups : [null];
    for (const group of groups) {
      const name = template.replaceAll('{user}', bucketPart(person.name)).replaceAll('{group}', group === null ? '' : bucketPart(group));
      const unknown = /\{[^}]*\}/.exec(name);
      if (unknown) throw new BucketNameError(`storage.buckets[${i}]: ${JSON.stringify(template)} uses ${unknown[0]}; only {user} and {group} are filled in`);
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
