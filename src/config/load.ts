import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument, LineCounter } from 'yaml';
import type { z } from 'zod';
import { checkScopesExist, ScopeError } from '../auth/scopes.js';
import { configSchema, type Config, type SecretRef } from './schema.js';

/** A configuration problem, with where it is and what was expected. */
export class ConfigError extends Error {
  constructor(readonly file: string, readonly problems: string[]) {
    super(`${file}: invalid configuration\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  config: Config;
  /** The file it came from, or '(defaults)'. */
  source: string;
  /** Directory relative paths in the file are resolved against. */
  baseDir: string;
}

/** Load and validate a YAML config file; with no file, the embedded defaults. */
export function loadConfig(file?: string): LoadedConfig {
  if (!file) return fromObject({}, '(defaults)', process.cwd());
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [`cannot read the file: ${(error as NodeJS.ErrnoException).code ?? String(error)}`]);
  }
  return parseConfigText(text, file);
}

export function parseConfigText(text: string, file: string): LoadedConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ConfigError(file, doc.errors.map((e) => {
      const at = e.linePos?.[0];
      return `${at ? `line ${at.line}, column ${at.col}: ` : ''}${e.message.split('\n')[0]}`;
    }));
  }
  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(file, ['the top level must be a mapping of keys (listen:, data_dir:, ...)']);
  }
  return fromObject(raw, file, dirname(resolve(file)));
}

function fromObject(raw: unknown, source: string, baseDir: string): LoadedConfig {
  // reportInput: issues carry the offending value, so messages can say what was given
  const parsed = configSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) throw new ConfigError(source, parsed.error.issues.map(describeIssue));
  const config = parsed.data;
  const problems: string[] = [];
  config.services.forEach((service, i) => {
    try {
      checkScopesExist(service.scopes);
    } catch (error) {
      if (error instanceof ScopeError) problems.push(`services[${i}].scopes: ${error.message}`);
      else throw error;
    }
  });
  const names = new Set<string>();
  config.services.forEach((service, i) => {
    if (names.has(service.name)) problems.push(`services[${i}].name: duplicate service name ${JSON.stringify(service.name)}`);
    names.add(service.name);
  });
  if (problems.length) throw new ConfigError(source, problems);
  config.data_dir = isAbsolute(config.data_dir) ? config.data_dir : resolve(baseDir, config.data_dir);
  if (config.database && !/^postgres(ql)?:\/\//.test(config.database)) {
    const path = config.database.replace(/^sqlite:(\/\/)?/, '');
    config.database = path === ':memory:' || isAbsolute(path) ? path : resolve(baseDir, path);
  }
  return { config, source, baseDir };
}

function keyPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : `${out ? '.' : ''}${String(part)}`;
  return out || '(top level)';
}

/** The keys a mapping at `path` may have (walking through defaults, optionals and lists), for "did you mean". */
function knownKeysAt(path: ReadonlyArray<PropertyKey>): string[] | undefined {
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
  let def = unwrap(configSchema);
  for (const part of path) {
    if (typeof part === 'number') def = def?.type === 'array' ? unwrap(def.element) : undefined;
    else def = def?.type === 'object' ? unwrap(def.shape?.[String(part)]) : undefined;
  }
  return def?.type === 'object' && def.shape ? Object.keys(def.shape) : undefined;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const where = keyPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const parentKeys = knownKeysAt(issue.path);
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

/** Read a secret reference's value. Throws ConfigError naming the key when the source is missing. */
export function resolveSecret(ref: SecretRef, where: string, source: string, baseDir: string): string {
  if (typeof ref === 'string') return ref;
  if ('env' in ref) {
    const value = process.env[ref.env];
    if (!value) throw new ConfigError(source, [`${where}: environment variable ${ref.env} is not set`]);
    return value;
  }
  const path = isAbsolute(ref.file) ? ref.file : resolve(baseDir, ref.file);
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw new ConfigError(source, [`${where}: cannot read secret file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`]);
  }
}

/** Where the database lives: a PostgreSQL URL, or a SQLite file path. */
export function databaseTarget(config: Config): { kind: 'postgres'; url: string } | { kind: 'sqlite'; path: string } {
  const db = config.database;
  if (db && /^postgres(ql)?:\/\//.test(db)) return { kind: 'postgres', url: db };
  if (!db) return { kind: 'sqlite', path: resolve(config.data_dir, 'refinery.sqlite') };
  return { kind: 'sqlite', path: db };
}
