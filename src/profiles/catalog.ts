import { readFileSync, existsSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log.js';
import { ConfigError } from '../config/errors.js';
import { describeIssue } from '../config/issues.js';
import { parseYamlMapping } from '../config/yaml.js';
import { loadConfig, resolveSecret, type LoadedConfig } from '../config/load.js';
import { catalogSchema, profileSchema, type Catalog, type ImageConfig, type ProfileConfig, type SettingsConfig } from './schema.js';
import { DEFAULT_CATALOG } from './defaults.js';
import { clusterRequestSchema } from '../clusters/request.js';
import { absoluteStoragePaths, storageRequestSchema } from '../storage/config.js';
import { EMBEDDED_ENDPOINT, EMBEDDED_STORAGE_PROFILE, embeddedStorage } from '../storage/embedded-config.js';

const CATALOG_KEYS = ['images', 'sizes', 'profiles', 'profile_list'] as const;

/** The Refinery checkout, which the default catalog's environment paths are relative to. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(resolve(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/**
 * The catalog a configuration describes: the profiles file's keys over the main file's, over the
 * shipped defaults (for `images` and `sizes`). Throws ConfigError naming the file and key.
 */
export function loadCatalog(loaded: LoadedConfig): Catalog {
  const { config } = loaded;
  const fromMain: Record<string, unknown> = {};
  for (const key of CATALOG_KEYS) if (config[key] !== undefined) fromMain[key] = config[key];

  let fromFile: Record<string, unknown> = {};
  let fileSource = loaded.source;
  let fileDir = loaded.baseDir;
  if (config.profiles_file) {
    const path = isAbsolute(config.profiles_file) ? config.profiles_file : resolve(loaded.baseDir, config.profiles_file);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new ConfigError(path, [`cannot read the profiles file (profiles_file in ${loaded.source}): ${(error as NodeJS.ErrnoException).code ?? String(error)}`]);
    }
    const raw = parseYamlMapping(text, path);
    const parsed = catalogSchema.safeParse(raw, { reportInput: true });
    if (!parsed.success) throw new ConfigError(path, parsed.error.issues.map((i) => describeIssue(i, catalogSchema)));
    fromFile = Object.fromEntries(Object.entries(parsed.data).filter(([, v]) => v !== undefined));
    fileSource = path;
    fileDir = dirname(path);
  }

  const defaults = catalogSchema.parse(DEFAULT_CATALOG);
  const pick = <K extends (typeof CATALOG_KEYS)[number]>(key: K): { value: Catalog[K]; dir: string; source: string } => {
    if (fromFile[key] !== undefined) return { value: fromFile[key] as Catalog[K], dir: fileDir, source: fileSource };
    if (fromMain[key] !== undefined) return { value: fromMain[key] as Catalog[K], dir: loaded.baseDir, source: loaded.source };
    return { value: (defaults[key] ?? []) as Catalog[K], dir: repoRoot(), source: '(built-in catalog)' };
  };
  const embedded = embeddedStorage(config);
  const images = pick('images');
  // the built-in profiles name the built-in images: with images of one's own, they do not apply
  const builtInProfiles = fromFile.profiles === undefined && fromMain.profiles === undefined;
  const profiles = builtInProfiles && images.source !== '(built-in catalog)' ? { value: [], dir: repoRoot(), source: '(built-in catalog)' } : pick('profiles');
  const offered = pick('profile_list');
  // paths (environments, secret files) are relative to the file that named them
  const catalog: Catalog = {
    images: images.value.map((image) => ({
      ...absoluteSecretFiles(image, images.dir),
      ...(image.local?.environment && !isAbsolute(image.local.environment) ? { local: { ...image.local, environment: resolve(images.dir, image.local.environment) } } : {}),
    })),
    sizes: pick('sizes').value,
    profiles: profiles.value.map((p) => absoluteSecretFiles(p, profiles.dir)),
    profile_list: offered.value.map((p) => ({
      ...p,
      overrides: absoluteSecretFiles(p.overrides, offered.dir),
      profile_options: Object.fromEntries(Object.entries(p.profile_options).map(([key, option]) => [key, {
        ...option,
        choices: Object.fromEntries(Object.entries(option.choices).map(([c, choice]) => [c, { ...choice, overrides: absoluteSecretFiles(choice.overrides, offered.dir) }])),
        ...(option.unlisted_choice ? { unlisted_choice: { ...option.unlisted_choice, overrides: absoluteSecretFiles(option.unlisted_choice.overrides, offered.dir) } } : {}),
      }])),
    })),
  };
  const endpoints = [...config.storage.endpoints.map((e) => e.name), ...(embedded.on ? [EMBEDDED_ENDPOINT] : [])];
  const problems = validateCatalog(catalog, (ref, where) => resolveSecret(ref, where, fileSource, fileDir), { endpoints, configSource: loaded.source });
  if (problems.length) throw new ConfigError(config.profiles_file ? fileSource : loaded.source, problems);
  // added after the checks, so that problems name the profiles by their place in the file
  return { ...catalog, profiles: withEmbeddedStorage(catalog.profiles, embedded.on) };
}

/**
 * With the embedded object store, everyone gets a key and a bucket in it: a profile for everyone,
 * first so that any profile giving storage of its own wins. Not added when some profile already
 * says where storage comes from.
 */
function withEmbeddedStorage(profiles: ProfileConfig[], embedded: boolean): ProfileConfig[] {
  if (!embedded || profiles.some((p) => p.storage)) return profiles;
  return [profileSchema.parse(EMBEDDED_STORAGE_PROFILE), ...profiles];
}

/** `profiles[2].overrides` → ['profiles', 2, 'overrides'] */
function pathOf(where: string): (string | number)[] {
  return where.split(/\.|(?=\[)/).flatMap((part) => {
    const index = /^\[(\d+)\]$/.exec(part);
    return index ? [Number(index[1])] : part.split('[').map((p, k) => (k ? Number(p.replace(']', '')) : p)).filter((p) => p !== '');
  });
}

/** A copy of `settings` whose `{secret: {file}}` references (and storage paths) are absolute, resolved against `dir`. */
function absoluteSecretFiles<T extends { env?: SettingsConfig['env']; storage?: SettingsConfig['storage'] }>(settings: T, dir: string): T {
  if (settings.storage) settings = { ...settings, storage: absoluteStoragePaths(settings.storage, dir, (d, p) => (isAbsolute(p) ? p : resolve(d, p))) };
  if (!settings.env) return settings;
  const env = Object.fromEntries(Object.entries(settings.env).map(([name, value]) => {
    if (typeof value === 'string' || !('secret' in value) || typeof value.secret === 'string' || !('file' in value.secret) || isAbsolute(value.secret.file)) return [name, value];
    return [name, { secret: { file: resolve(dir, value.secret.file) } }];
  }));
  return { ...settings, env };
}

/** Cross-references a schema cannot check: unique names, references that exist, one default, regexes that compile, secrets that can be read. */
export function validateCatalog(
  catalog: Catalog,
  readSecret?: (ref: Parameters<typeof resolveSecret>[0], where: string) => string,
  /** Storage endpoints defined in the main configuration, which profiles' `storage.endpoint` must name. */
  storage?: { endpoints: readonly string[]; configSource: string },
): string[] {
  const problems: string[] = [];
  const unique = (items: { name: string }[], key: string) => {
    const seen = new Set<string>();
    items.forEach((item, i) => {
      if (seen.has(item.name)) problems.push(`${key}[${i}].name: ${JSON.stringify(item.name)} is used twice`);
      seen.add(item.name);
    });
  };
  unique(catalog.images, 'images');
  unique(catalog.sizes, 'sizes');
  unique(catalog.profiles, 'profiles');
  unique(catalog.profile_list.map((p) => ({ name: p.slug })), 'profile_list');
  const oneDefault = (items: { default: boolean }[], key: string) => {
    if (items.filter((i) => i.default).length > 1) problems.push(`${key}: more than one is marked default: true`);
  };
  oneDefault(catalog.images, 'images');
  oneDefault(catalog.sizes, 'sizes');
  oneDefault(catalog.profile_list, 'profile_list');
  if (catalog.images.length === 0) problems.push('images: the catalog needs at least one image');
  const imageNames = new Set(catalog.images.map((i) => i.name));
  const sizeNames = new Set(catalog.sizes.map((s) => s.name));
  catalog.images.forEach((image, i) => {
    image.sizes?.forEach((s, j) => {
      if (!sizeNames.has(s)) problems.push(`images[${i}].sizes[${j}]: no size named ${JSON.stringify(s)}`);
    });
    if (!image.local && !image.kubernetes) problems.push(`images[${i}]: say how to run it: local.environment, local.command or kubernetes.image`);
  });
  const checkImages = (list: string[] | undefined, where: string) =>
    list?.forEach((name, j) => {
      if (!imageNames.has(name)) problems.push(`${where}.images[${j}]: no image named ${JSON.stringify(name)}`);
    });
  catalog.profiles.forEach((p, i) => checkImages(p.images, `profiles[${i}]`));
  catalog.profile_list.forEach((p, i) => {
    checkImages(p.images, `profile_list[${i}]`);
    for (const [key, option] of Object.entries(p.profile_options)) {
      const regex = option.unlisted_choice?.validation_regex;
      if (regex) {
        try {
          new RegExp(regex);
        } catch (error) {
          problems.push(`profile_list[${i}].profile_options.${key}.unlisted_choice.validation_regex: not a valid regular expression (${(error as Error).message})`);
        }
      }
      if (Object.keys(option.choices).length === 0 && !option.unlisted_choice?.enabled) problems.push(`profile_list[${i}].profile_options.${key}: give at least one choice or enable unlisted_choice`);
    }
  });
  const checkClusters = (settings: { clusters?: Record<string, unknown>[] | undefined; storage?: Record<string, unknown> | undefined }, where: string) => {
    settings.clusters?.forEach((cluster, j) => {
      const parsed = clusterRequestSchema.safeParse(cluster, { reportInput: true });
      if (!parsed.success) for (const issue of parsed.error.issues) problems.push(describeIssue({ ...issue, path: [...pathOf(where), 'clusters', j, ...issue.path] }, catalogSchema));
    });
    if (settings.storage) {
      const parsed = storageRequestSchema.safeParse(settings.storage, { reportInput: true });
      if (!parsed.success) for (const issue of parsed.error.issues) problems.push(describeIssue({ ...issue, path: [...pathOf(where), 'storage', ...issue.path] }, catalogSchema));
      else if (storage && !storage.endpoints.includes(parsed.data.endpoint)) {
        problems.push(`${where}.storage.endpoint: no endpoint named ${JSON.stringify(parsed.data.endpoint)} in storage.endpoints of ${storage.configSource} (known: ${storage.endpoints.map((e) => JSON.stringify(e)).join(', ') || 'none'})`);
      }
    }
  };
  catalog.images.forEach((x, i) => checkClusters(x, `images[${i}]`));
  catalog.profiles.forEach((x, i) => checkClusters(x, `profiles[${i}]`));
  catalog.profile_list.forEach((x, i) => {
    checkClusters(x.overrides, `profile_list[${i}].overrides`);
    for (const [key, option] of Object.entries(x.profile_options)) {
      for (const [c, choice] of Object.entries(option.choices)) checkClusters(choice.overrides, `profile_list[${i}].profile_options.${key}.choices.${c}.overrides`);
    }
  });
  if (readSecret) {
    const secrets = (settings: { env?: Record<string, unknown> | undefined }, where: string) => {
      for (const [name, value] of Object.entries(settings.env ?? {})) {
        if (value && typeof value === 'object' && 'secret' in value) {
          try {
            readSecret((value as { secret: Parameters<typeof resolveSecret>[0] }).secret, `${where}.env.${name}.secret`);
          } catch (error) {
            problems.push(error instanceof ConfigError ? error.problems.join('; ') : String(error));
          }
        }
      }
    };
    catalog.images.forEach((x, i) => secrets(x, `images[${i}]`));
    catalog.profiles.forEach((x, i) => secrets(x, `profiles[${i}]`));
    catalog.profile_list.forEach((x, i) => {
      secrets(x.overrides, `profile_list[${i}].overrides`);
      // a choice's secrets are read when someone picks it: check them now, not at that spawn
      for (const [key, option] of Object.entries(x.profile_options)) {
        for (const [c, choice] of Object.entries(option.choices)) secrets(choice.overrides, `profile_list[${i}].profile_options.${key}.choices.${c}.overrides`);
        if (option.unlisted_choice) secrets(option.unlisted_choice.overrides, `profile_list[${i}].profile_options.${key}.unlisted_choice.overrides`);
      }
    });
  }
  return problems;
}

export interface CatalogStatus {
  loadedAt: string;
  /** Files that were read (main config, profiles file). */
  sources: string[];
  /** The last reload's error, while the previous good catalog stays in force. */
  error: string | null;
  errorAt: string | null;
}

/**
 * The catalog in force. `reload()` re-reads the files; a broken edit is reported and the last good
 * catalog stays. `watch()` reloads when the files change.
 */
export class CatalogStore {
  /** What the configuration files say. */
  private configured: Catalog;
  /** That plus images discovered elsewhere (ImageStreams): what people are offered. */
  private catalog: Catalog;
  private readonly discovered = new Map<string, ImageConfig[]>();
  private state: CatalogStatus;
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private loaded: LoadedConfig, private readonly log: Logger) {
    this.configured = loadCatalog(loaded);
    this.catalog = this.configured;
    this.state = { loadedAt: new Date().toISOString(), sources: this.files(), error: null, errorAt: null };
  }

  current(): Catalog {
    return this.catalog;
  }

  status(): CatalogStatus {
    return { ...this.state };
  }

  /**
   * Images from a source other than the files (one ImageStream namespace, say), replacing what that
   * source said before. They are offered after the configured images; a configured image of the same
   * name wins, so an administrator can always override a discovered one.
   */
  setDiscovered(source: string, images: ImageConfig[]): void {
    this.discovered.set(source, images);
    this.combine();
  }

  private combine(): void {
    const taken = new Set(this.configured.images.map((i) => i.name));
    const extra: ImageConfig[] = [];
    for (const [source, images] of this.discovered) {
      for (const image of images) {
        if (taken.has(image.name)) {
          this.log.warn({ image: image.name, source }, 'a discovered image has the name of another image; the other one is offered');
          continue;
        }
        taken.add(image.name);
        extra.push(image);
      }
    }
    this.catalog = extra.length ? { ...this.configured, images: [...this.configured.images, ...extra] } : this.configured;
  }

  private files(): string[] {
    const files = this.loaded.source === '(defaults)' ? [] : [resolve(this.loaded.source)];
    const extra = this.loaded.config.profiles_file;
    if (extra) files.push(isAbsolute(extra) ? extra : resolve(this.loaded.baseDir, extra));
    return files;
  }

  /** Re-read the configuration; returns the error message when the new one is broken. */
  reload(): { ok: true } | { ok: false; error: string } {
    try {
      const fresh = this.loaded.source === '(defaults)' ? this.loaded : loadConfig(this.loaded.source);
      const catalog = loadCatalog(fresh);
      this.configured = catalog;
      this.combine();
      this.loaded = fresh;
      this.state = { loadedAt: new Date().toISOString(), sources: this.files(), error: null, errorAt: null };
      this.log.info({ images: catalog.images.length, profiles: catalog.profiles.length }, 'catalog and profiles reloaded');
      this.rewatch();
      return { ok: true };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.state = { ...this.state, error: message, errorAt: new Date().toISOString() };
      this.log.error({ err: message }, 'configuration change rejected; the previous catalog and profiles stay in force');
      return { ok: false, error: message };
    }
  }

  /** Reload when a configuration file changes (editors replace files, so the directory is watched). */
  watch(): void {
    this.rewatch();
  }

  private rewatch(): void {
    if (!this.watchers.length && !this.state.sources.length) return;
    this.unwatch();
    const byDir = new Map<string, Set<string>>();
    for (const file of this.state.sources) {
      const set = byDir.get(dirname(file)) ?? new Set<string>();
      set.add(basename(file));
      byDir.set(dirname(file), set);
    }
    for (const [dir, names] of byDir) {
      try {
        const watcher = watch(dir, (_event, name) => {
          if (name && !names.has(name.toString())) return;
          clearTimeout(this.timer);
          // editors write in several steps: wait for the file to settle
          this.timer = setTimeout(() => this.reload(), 300);
          this.timer.unref();
        });
        watcher.unref();
        this.watchers.push(watcher);
      } catch (error) {
        this.log.warn({ dir, err: String(error) }, 'cannot watch configuration directory; use `refinery reload` after edits');
      }
    }
  }

  private unwatch(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
  }

  close(): void {
    clearTimeout(this.timer);
    this.unwatch();
  }
}
