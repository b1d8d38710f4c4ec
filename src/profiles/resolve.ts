import { foldScheduling } from '../config/scheduling.js';
import type { Catalog, ImageConfig, OfferedProfileConfig, SettingsConfig, SizeConfig } from './schema.js';
import type { ClusterChoices, PlanEnvValue, Source, SpawnPlan } from './plan.js';
import type { QuotaLimits } from '../clusters/quota.js';
import { applyChoices, CLUSTER_FIELDS, ClusterChoiceError, clusterSizing, hasChoices, parseClusterChoices, quotaRefusal, type ClusterChoiceInput } from './cluster-choices.js';

/** Who the plan is for. */
export interface PlanSubject {
  user: string;
  groups: readonly string[];
  /** '' for the default server. */
  server: string;
  /** Their cluster quota (effectiveQuota): cluster sizes beyond it are refused; omitted = no limit. */
  quota?: QuotaLimits | undefined;
}

/** What a request asks for; anything left out comes from what the user picked last time, then defaults. */
export interface SelectionInput {
  image?: string | undefined;
  size?: string | undefined;
  profile?: string | undefined;
  options?: Record<string, string> | undefined;
  env?: Record<string, string> | undefined;
  /** Sizing of the plan's cluster: cluster_workers, cluster_worker_cores, cluster_worker_memory (cluster-choices.ts). */
  cluster_workers?: number | string | undefined;
  cluster_worker_cores?: number | string | undefined;
  cluster_worker_memory?: number | string | undefined;
}

/** A selection that cannot be honoured, naming the field (`image`, `size`, `options.version`, `env.FOO`). */
export class SelectionError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
    this.name = 'SelectionError';
  }
}

/** Environment variables people may not set themselves: the hub's protocol with the server. */
const RESERVED_ENV = /^(JUPYTERHUB_|JPY_|REFINERY_|MEM_|CPU_)|^(PATH|HOME|USER|SHELL)$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function applies(filter: { users?: string[] | undefined; groups?: string[] | undefined; images?: string[] | undefined }, subject: PlanSubject, image?: string): boolean {
  const byUser = filter.users?.includes(subject.user);
  const byGroup = filter.groups?.some((g) => subject.groups.includes(g));
  const whoOk = (!filter.users && !filter.groups) || byUser || byGroup;
  const imageOk = !filter.images || image === undefined || filter.images.includes(image);
  return !!whoOk && imageOk;
}

/** Images this person may pick, in display order. */
export function imagesFor(catalog: Catalog, subject: PlanSubject): ImageConfig[] {
  return catalog.images.filter((i) => applies(i, subject)).sort((a, b) => a.order - b.order || a.display_name.localeCompare(b.display_name));
}

/** Sizes offered with an image. */
export function sizesFor(catalog: Catalog, image: ImageConfig): SizeConfig[] {
  return image.sizes ? catalog.sizes.filter((s) => image.sizes!.includes(s.name)) : catalog.sizes;
}

/** Offered profiles (KubeSpawner profile_list entries) for this person and image. */
export function offeredProfilesFor(catalog: Catalog, subject: PlanSubject, image: string): OfferedProfileConfig[] {
  return catalog.profile_list.filter((p) => applies(p, subject, image));
}

/** The one marked default, else the first. */
function pickDefault<T extends { default: boolean }>(items: readonly T[]): T | undefined {
  return items.find((i) => i.default) ?? items[0];
}

/**
 * Choose one of `items` by name: the requested one (an error if it is not offered), else the
 * remembered one (a warning and the default if it no longer is), else the default.
 */
function choose<T extends { default: boolean }>(
  items: readonly T[], nameOf: (item: T) => string, field: string, what: string,
  requested: string | undefined, remembered: string | undefined, warnings: string[],
): T | undefined {
  if (requested !== undefined && requested !== '') {
    const found = items.find((i) => nameOf(i) === requested);
    if (!found) {
      const offered = items.map(nameOf);
      throw new SelectionError(field, `no ${what} ${JSON.stringify(requested)} is offered to you${offered.length ? `; choose one of ${offered.join(', ')}` : ''}`);
    }
    return found;
  }
  if (remembered) {
    const found = items.find((i) => nameOf(i) === remembered);
    if (found) return found;
    const fallback = pickDefault(items);
    warnings.push(`The ${what} you used last time (${remembered}) is no longer offered${fallback ? `; using ${nameOf(fallback)} instead` : ''}.`);
    return fallback;
  }
  return pickDefault(items);
}

/** Replace `{user}`, `{server}` and (for typed-in choices) `{value}` in a string from configuration. */
function fill(text: string, vars: Record<string, string>): string {
  return text.replace(/\{(user|server|value)\}/g, (whole, name: string) => vars[name] ?? whole);
}

function fillSettings(settings: SettingsConfig, vars: Record<string, string>): SettingsConfig {
  const env = settings.env && Object.fromEntries(Object.entries(settings.env).map(([k, v]) => [k, typeof v === 'string' ? fill(v, vars) : v]));
  const volumes = settings.volumes?.map((v) => ({
    ...v,
    ...(v.host_path ? { host_path: fill(v.host_path, vars) } : {}),
    ...(v.claim ? { claim: fill(v.claim, vars) } : {}),
  }));
  return { ...settings, ...(env ? { env } : {}), ...(volumes ? { volumes } : {}) };
}

/** Fold one layer of settings into the plan: env and volumes and clusters add up, everything else is replaced. */
function apply(plan: SpawnPlan, settings: SettingsConfig, source: Source): void {
  for (const [key, value] of Object.entries(settings.env ?? {})) {
    plan.env[key] = typeof value === 'string' ? { value, source } : 'secret' in value ? { secret: value.secret, source } : { authState: value.auth_state, source };
  }
  const r = settings.resources;
  if (r?.cpu) plan.resources.cpu = { ...plan.resources.cpu, ...r.cpu };
  if (r?.memory) plan.resources.memory = { ...plan.resources.memory, ...r.memory };
  if (r?.gpu !== undefined) plan.resources.gpu = r.gpu;
  for (const volume of settings.volumes ?? []) {
    plan.volumes = plan.volumes.filter((v) => v.name !== volume.name);
    plan.volumes.push({ ...volume, source });
  }
  for (const cluster of settings.clusters ?? []) {
    // a later cluster with the same name (default: its kind) replaces the earlier one
    const name = String(cluster.name ?? cluster.kind);
    plan.clusters = plan.clusters.filter((c) => String(c.name ?? c.kind) !== name);
    plan.clusters.push({ ...cluster, source });
  }
  if (settings.node_selector || settings.tolerations || settings.affinity) {
    plan.scheduling = foldScheduling(plan.scheduling, {
      ...(settings.node_selector ? { node_selector: settings.node_selector } : {}),
      ...(settings.tolerations ? { tolerations: settings.tolerations } : {}),
      ...(settings.affinity ? { affinity: settings.affinity } : {}),
    });
  }
  if (settings.storage) plan.storage = { ...settings.storage, source };
  if (settings.default_url) plan.default_url = settings.default_url;
}

/**
 * Resolve a spawn: pick image, size, offered profile and options (requested, else remembered, else
 * default), then fold the settings in order — image, size, matching admin profiles in configuration
 * order, the chosen offered profile, its options, and last the person's own environment variables,
 * which may not replace anything an administrator set.
 */
export function resolvePlan(catalog: Catalog, subject: PlanSubject, requested: SelectionInput = {}, remembered: SelectionInput = {}): SpawnPlan {
  const warnings: string[] = [];
  const images = imagesFor(catalog, subject);
  const image = choose(images, (i) => i.name, 'image', 'image', requested.image, remembered.image, warnings);
  if (!image) throw new SelectionError('image', 'no image is offered to you; ask an administrator to add one to the catalog');

  const sizes = sizesFor(catalog, image);
  // what was picked with another image only carries over where it still fits; no warning otherwise
  const sameImage = image.name === remembered.image;
  const rememberedSize = sameImage || sizes.some((s) => s.name === remembered.size) ? remembered.size : undefined;
  const size = choose(sizes, (s) => s.name, 'size', 'size', requested.size, rememberedSize, warnings) ?? null;

  const offered = offeredProfilesFor(catalog, subject, image.name);
  const rememberedProfile = sameImage || offered.some((p) => p.slug === remembered.profile) ? remembered.profile : undefined;
  const profile = choose(offered, (p) => p.slug, 'profile', 'profile', requested.profile, rememberedProfile, warnings) ?? null;

  const vars = { user: subject.user, server: subject.server };
  const plan: SpawnPlan = {
    image: { name: image.name, display_name: image.display_name },
    local: { ...(image.local?.environment ? { environment: image.local.environment } : {}), ...(image.local?.command ? { command: [...image.local.command] } : {}) },
    ...(image.kubernetes ? { kubernetes: { ...image.kubernetes } } : {}),
    size: size ? { name: size.name, display_name: size.display_name } : null,
    resources: { cpu: {}, memory: {} },
    scheduling: { node_selector: {}, tolerations: [] },
    env: {},
    volumes: [],
    clusters: [],
    storage: null,
    default_url: null,
    applied: [],
    selections: { image: image.name, size: size?.name ?? null, profile: profile?.slug ?? null, options: {}, env: {} },
    cluster: null,
    warnings,
  };

  apply(plan, fillSettings(image, vars), `image ${image.name}`);
  if (size) {
    apply(plan, {
      resources: { ...(size.cpu ? { cpu: size.cpu } : {}), ...(size.memory ? { memory: size.memory } : {}), ...(size.gpu !== undefined ? { gpu: size.gpu } : {}) },
      ...(size.node_selector ? { node_selector: size.node_selector } : {}),
      ...(size.tolerations ? { tolerations: size.tolerations } : {}),
      ...(size.affinity ? { affinity: size.affinity } : {}),
    }, `size ${size.name}`);
  }
  for (const rule of catalog.profiles) {
    if (!applies(rule, subject, image.name)) continue;
    apply(plan, fillSettings(rule, vars), `profile ${rule.name}`);
    plan.applied.push(`profile ${rule.name}`);
  }

  if (!profile) {
    // options belong to an offered profile: without one they would be silently ignored
    const key = Object.keys(requested.options ?? {})[0];
    if (key !== undefined) throw new SelectionError(`options.${key}`, `no profile with options is offered with ${image.display_name}, so there is no option ${JSON.stringify(key)}`);
  }
  if (profile) {
    apply(plan, fillSettings(profile.overrides, vars), `profile ${profile.slug}`);
    plan.applied.push(`profile ${profile.slug}`);
    const optionsAsked = requested.options ?? {};
    const optionsRemembered = remembered.profile === profile.slug ? remembered.options ?? {} : {};
    for (const key of Object.keys(optionsAsked)) {
      if (!(key in profile.profile_options)) throw new SelectionError(`options.${key}`, `profile ${profile.slug} has no option ${JSON.stringify(key)}${Object.keys(profile.profile_options).length ? `; its options are ${Object.keys(profile.profile_options).join(', ')}` : ''}`);
    }
    for (const [key, option] of Object.entries(profile.profile_options)) {
      const asked = optionsAsked[key];
      const value = asked ?? optionsRemembered[key];
      const field = `options.${key}`;
      let chosen: { key: string; overrides: SettingsConfig; typed?: string } | undefined;
      if (value !== undefined && value !== '') {
        const choice = option.choices[value];
        if (choice) chosen = { key: value, overrides: choice.overrides };
        else if (option.unlisted_choice?.enabled) {
          const regex = option.unlisted_choice.validation_regex;
          if (regex && !new RegExp(`^(?:${regex})$`).test(value)) { // whole value, as the form's pattern attribute checks it
            const message = option.unlisted_choice.validation_regex_error_message ?? `${JSON.stringify(value)} does not match ${regex}`;
            if (asked !== undefined) throw new SelectionError(field, message);
            warnings.push(`The ${option.display_name} you used last time (${value}) is no longer accepted; using the default.`);
          } else chosen = { key: value, overrides: option.unlisted_choice.overrides, typed: value };
        } else if (asked !== undefined) {
          throw new SelectionError(field, `${JSON.stringify(value)} is not a choice for ${option.display_name}; choose one of ${Object.keys(option.choices).join(', ')}`);
        } else warnings.push(`The ${option.display_name} you used last time (${value}) is no longer offered; using the default.`);
      }
      if (!chosen) {
        const entries = Object.entries(option.choices);
        const fallback = entries.find(([, c]) => c.default) ?? entries[0];
        if (fallback) chosen = { key: fallback[0], overrides: fallback[1].overrides };
      }
      if (!chosen) continue;
      plan.selections.options[key] = chosen.key;
      apply(plan, fillSettings(chosen.overrides, { ...vars, ...(chosen.typed !== undefined ? { value: chosen.typed } : {}) }), `option ${key}`);
    }
  }

  sizeCluster(plan, image.display_name, subject.quota, requested, remembered);

  // the person's own variables: errors when asked for now, dropped with a warning when only remembered
  const asked = requested.env !== undefined;
  for (const [name, value] of Object.entries(requested.env ?? remembered.env ?? {})) {
    const problem = ownEnvProblem(plan, name, value);
    if (problem && asked) throw new SelectionError(`env.${name}`, problem);
    if (problem) {
      warnings.push(`Your variable ${name} from last time was left out: ${problem}.`);
      continue;
    }
    plan.env[name] = { value, source: 'you' };
    plan.selections.env[name] = value;
  }
  return plan;
}

function clusterInput(selection: SelectionInput): ClusterChoiceInput {
  return Object.fromEntries(CLUSTER_FIELDS.filter((f) => selection[f] !== undefined).map((f) => [f, selection[f]]));
}

/**
 * Apply the person's sizing (asked now, else remembered) to the plan's first cluster. What is asked
 * for and does not fit the schema or their quota is refused naming the field; what was only
 * remembered is dropped with a warning.
 */
function sizeCluster(plan: SpawnPlan, imageName: string, quota: QuotaLimits | undefined, requested: SelectionInput, remembered: SelectionInput): void {
  let asked: ClusterChoices;
  try {
    asked = parseClusterChoices(clusterInput(requested));
  } catch (error) {
    if (error instanceof ClusterChoiceError) throw new SelectionError(error.field, error.message);
    throw error;
  }
  let before: ClusterChoices = {};
  try {
    before = parseClusterChoices(clusterInput(remembered));
  } catch {
    plan.warnings.push('Your cluster size from last time is no longer accepted; using the default.');
  }
  const first = plan.clusters[0];
  if (!first) {
    const field = CLUSTER_FIELDS.find((f) => requested[f] !== undefined && requested[f] !== '');
    if (field) throw new SelectionError(field, `${imageName} starts no cluster here, so there is no cluster to size`);
    return;
  }
  const choices = { ...before, ...asked };
  const sized = [applyChoices(first, choices), ...plan.clusters.slice(1)];
  const refusal = quota && hasChoices(choices) ? quotaRefusal(sized, quota, asked) : undefined;
  if (refusal && hasChoices(asked)) throw new SelectionError(refusal.field, refusal.message);
  if (refusal) plan.warnings.push(`Your cluster size from last time no longer fits your quota (${refusal.message}); using the default.`);
  else {
    plan.clusters = sized;
    if (hasChoices(choices)) plan.selections.cluster = choices;
  }
  plan.cluster = clusterSizing(plan.clusters, quota ?? {});
}

function ownEnvProblem(plan: SpawnPlan, name: string, value: unknown): string | undefined {
  if (!ENV_NAME.test(name)) return `${JSON.stringify(name)} is not a valid environment variable name (letters, digits and "_", not starting with a digit)`;
  if (RESERVED_ENV.test(name)) return `${name} is set by Refinery itself and cannot be changed`;
  const existing = plan.env[name];
  if (existing) return `${name} is set by the administrator (${existing.source}) and cannot be changed`;
  if (typeof value !== 'string') return `${name} must be a string`;
  if (value.length > 32_768) return `the value of ${name} is too long (at most 32768 characters)`;
  return undefined;
}

/** Replace every `{secret: ...}` inside free-form settings (storage, clusters) with a marker. */
function maskSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskSecrets);
  if (!value || typeof value !== 'object') return value;
  if ('secret' in value) return { secret: true };
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskSecrets(v)]));
}

/** A plan's storage with its key pair (inline or referenced) replaced by a marker. */
function maskStorage(storage: SpawnPlan['storage']): unknown {
  if (!storage) return storage;
  const credentials = storage.credentials;
  if (!credentials || typeof credentials !== 'object') return maskSecrets(storage);
  const masked = Object.fromEntries(Object.entries(credentials).map(([k, v]) => [k, k === 'access_key' || k === 'secret_key' ? { secret: true } : v]));
  return maskSecrets({ ...storage, credentials: masked });
}

/** The plan as people may see it: secret values replaced by where they come from. */
export function presentPlan(plan: SpawnPlan): Record<string, unknown> {
  const env: Record<string, { value: string | null; secret: boolean; source: Source; auth_state?: string }> = {};
  for (const [name, entry] of Object.entries(plan.env)) {
    if ('value' in entry) env[name] = { value: entry.value, secret: false, source: entry.source };
    else env[name] = { value: null, secret: true, source: entry.source, ...('authState' in entry ? { auth_state: entry.authState } : {}) };
  }
  return { ...plan, env, clusters: maskSecrets(plan.clusters), storage: maskStorage(plan.storage) };
}

export type { PlanEnvValue };
