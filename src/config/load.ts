import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { checkScopesExist, ScopeError } from '../policy/scopes.js';
import { configSchema, type Config, type SecretRef } from './schema.js';
import { ConfigError } from './errors.js';
import { describeIssue } from './issues.js';
import { parseYamlMapping } from './yaml.js';
import { userHostsFrom } from '../servers/user-hosts.js';

export { ConfigError } from './errors.js';

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
  return fromObject(parseYamlMapping(text, file), file, dirname(resolve(file)));
}

function fromObject(raw: unknown, source: string, baseDir: string): LoadedConfig {
  // reportInput: issues carry the offending value, so messages can say what was given
  const parsed = configSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) throw new ConfigError(source, parsed.error.issues.map((issue) => describeIssue(issue, configSchema)));
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
  problems.push(...subdomainProblems(config));
  if (problems.length) throw new ConfigError(source, problems);
  config.data_dir = isAbsolute(config.data_dir) ? config.data_dir : resolve(baseDir, config.data_dir);
  if (config.database !== undefined) config.database = resolveSecret(config.database, 'database', source, baseDir);
  if (typeof config.database === 'string' && !/^postgres(ql)?:\/\//.test(config.database)) {
    const path = config.database.replace(/^sqlite:(\/\/)?/, '');
    config.database = path === ':memory:' || isAbsolute(path) ? path : resolve(baseDir, path);
  }
  return { config, source, baseDir };
}

/** `subdomain_host` must parse, name the same host as `public_url`, and not put published pages on a user's host. */
function subdomainProblems(config: Config): string[] {
  if (config.subdomain_host === undefined) return [];
  let hosts;
  try {
    hosts = userHostsFrom(config.subdomain_host, config.public_url);
  } catch (error) {
    return [`subdomain_host: ${(error as Error).message}`];
  }
  const problems: string[] = [];
  if (config.public_url && new URL(config.public_url).origin !== hosts.hubOrigin) {
    problems.push(`subdomain_host: the hub would be at ${hosts.hubOrigin} but public_url says ${new URL(config.public_url).origin}; give both the same host`);
  }
  const pages = config.publish.public_url ? new URL(config.publish.public_url).host : undefined;
  if (pages && hosts.isUserHost(pages)) {
    problems.push(`publish.public_url: ${pages} is where a user's servers would be under subdomain_host ${hosts.hubHost}; use a name outside it`);
  }
  return problems;
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

/** A database URL fit to show: its password replaced. */
export function redactDatabaseUrl(url: string): string {
  if (!/^postgres(ql)?:\/\//.test(url)) return url;
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '(hidden)';
    return parsed.toString();
  } catch {
    return '(a PostgreSQL URL that does not parse)';
  }
}

/** Where the database lives: a PostgreSQL URL, or a SQLite file path. */
export function databaseTarget(config: Config): { kind: 'postgres'; url: string } | { kind: 'sqlite'; path: string } {
  const db = config.database;
  // fromObject has read any {env}/{file} reference; a config that skipped it is a programming error
  if (db !== undefined && typeof db !== 'string') throw new Error('databaseTarget: the database reference was not resolved (load the config with loadConfig)');
  if (db && /^postgres(ql)?:\/\//.test(db)) return { kind: 'postgres', url: db };
  if (!db) return { kind: 'sqlite', path: resolve(config.data_dir, 'refinery.sqlite') };
  return { kind: 'sqlite', path: db };
}
