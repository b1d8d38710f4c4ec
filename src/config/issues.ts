import type { z } from 'zod';

function keyPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : `${out ? '.' : ''}${String(part)}`;
  return out || '(top level)';
}

/** The keys a mapping at `path` may have (walking through defaults, optionals and lists), for "did you mean". */
function knownKeysAt(root: z.ZodType, path: ReadonlyArray<PropertyKey>): string[] | undefined {
  type Def = { type?: string; innerType?: unknown; in?: unknown; element?: unknown; shape?: Record<string, unknown> };
  const defOf = (schema: unknown): Def | undefined => (schema as { _zod?: { def?: Def } } | undefined)?._zod?.def;
  const unwrap = (schema: unknown): Def | undefined => {
    let def = defOf(schema);
    for (let i = 0; def && i < 10; i++) {
      if (def.innerType !== undefined && ['default', 'optional', 'nullable', 'prefault', 'readonly', 'catch'].includes(def.type ?? '')) def = defOf(def.innerType);
      else if (def.type === 'pipe') def = defOf(def.in);
      else break;
    }
    return def;
  };
  let def = unwrap(root);
  for (const part of path) {
    if (typeof part === 'number') def = def?.type === 'array' ? unwrap(def.element) : undefined;
    else def = def?.type === 'object' ? unwrap(def.shape?.[String(part)]) : undefined;
  }
  return def?.type === 'object' && def.shape ? Object.keys(def.shape) : undefined;
}

/** One line for a schema violation: where (key path), what was expected, what was given, and "did you mean". */
export function describeIssue(issue: z.core.$ZodIssue, root: z.ZodType): string {
  const where = keyPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const parentKeys = knownKeysAt(root, issue.path);
    return issue.keys
      .map((key) => {
        const fullPath = issue.path.length ? `${where}.${key}` : key;
        const hint = parentKeys ? closest(key, parentKeys) : undefined;
        return `${fullPath}: unknown key${hint ? ` (did you mean "${hint}"?)` : ''}`;
      })
      .join('; ');
  }
  if (issue.code === 'invalid_type') {
    return `${where}: expected ${issue.expected}${'input' in issue && issue.input === undefined ? ' (missing)' : `, got ${describeValue(issue.input)}`}`;
  }
  if (issue.code === 'invalid_value') {
    return `${where}: expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${describeValue(issue.input)}`;
  }
  return `${where}: ${issue.message}`;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(word, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}
