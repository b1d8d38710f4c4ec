// The spawn form's fields: the catalog as the form offers it to one person, the values it shows, and
// the parsing of a posted form into the `user_options` shape the resolver takes. The HTML is
// spawn-form.ts.
import type { Catalog, ImageConfig, OfferedProfileConfig, SizeConfig } from '../profiles/schema.js';
import type { ClusterSizing, SpawnPlan } from '../profiles/plan.js';
import { imagesFor, offeredProfilesFor, resolvePlan, SelectionError, sizesFor, type PlanSubject, type SelectionInput } from '../profiles/resolve.js';
import { clusterValues, type ClusterValues } from './spawn-form-cluster.js';

/** The select value meaning "Other…" (KubeSpawner's spelling). */
export const UNLISTED = 'unlisted_choice';
/** Hidden field that tells a submitted form from a one-click start (which takes the last settings). */
export const FORM_MARKER = 'spawn-form';

export interface EnvRow {
  name: string;
  value: string;
}

/** What the form shows as chosen: from the last start, or from what was just posted. */
export interface FormValues {
  image: string;
  size: string;
  profile: string;
  /** Per offered profile, per option key: the select's value (UNLISTED for "Other…"). */
  options: Record<string, Record<string, string>>;
  /** Per offered profile, per option key: the typed-in value for "Other…". */
  unlisted: Record<string, Record<string, string>>;
  env: EnvRow[];
  /** The cluster card's fields; null when the chosen image starts no cluster. */
  cluster: ClusterValues | null;
}

/**
 * Problems keyed by field: `image`, `size`, `profile`, `options.<key>` (of the chosen profile),
 * `env.<NAME>`, `env-row.<i>` (a row without a usable name); anything else is listed at the top only.
 */
export type FieldErrors = Record<string, string>;

/** What the form needs from the catalog for one person. */
export interface FormCatalog {
  images: ImageConfig[];
  /** Sizes any of the images allows, in catalog order. */
  sizes: SizeConfig[];
  sizesByImage: Map<string, string[]>;
  /** Offered profiles for any of the images, with the images each applies to. */
  profiles: { profile: OfferedProfileConfig; images: string[] }[];
  /** Per image that starts a cluster: its default size and the limits the person's quota leaves. */
  clusters: Record<string, ClusterSizing>;
}

/** Each image's cluster as the catalog's defaults give it (the form switches between them). */
function clustersByImage(catalog: Catalog, subject: PlanSubject, images: readonly ImageConfig[]): Record<string, ClusterSizing> {
  const out: Record<string, ClusterSizing> = {};
  for (const image of images) {
    try {
      const sizing = resolvePlan(catalog, subject, { image: image.name }).cluster;
      if (sizing) out[image.name] = sizing;
    } catch (error) {
      if (!(error instanceof SelectionError)) throw error;
    }
  }
  return out;
}

export function formCatalog(catalog: Catalog, subject: PlanSubject): FormCatalog {
  const images = imagesFor(catalog, subject);
  const sizesByImage = new Map(images.map((i) => [i.name, sizesFor(catalog, i).map((s) => s.name)]));
  const usedSizes = new Set([...sizesByImage.values()].flat());
  const profiles = catalog.profile_list
    .map((profile) => ({ profile, images: images.filter((i) => offeredProfilesFor(catalog, subject, i.name).includes(profile)).map((i) => i.name) }))
    .filter((p) => p.images.length > 0);
  return { images, sizes: catalog.sizes.filter((s) => usedSizes.has(s.name)), sizesByImage, profiles, clusters: clustersByImage(catalog, subject, images) };
}

export function defaultChoice(option: OfferedProfileConfig['profile_options'][string]): string {
  const entries = Object.entries(option.choices);
  return (entries.find(([, c]) => c.default) ?? entries[0])?.[0] ?? (option.unlisted_choice?.enabled ? UNLISTED : '');
}

/** The form's values for what the resolver chose (last settings, else defaults). */
export function valuesFromPlan(form: FormCatalog, selections: SpawnPlan['selections'], cluster: ClusterSizing | null = null): FormValues {
  const values: FormValues = { image: selections.image, size: selections.size ?? '', profile: selections.profile ?? '', options: {}, unlisted: {}, env: [], cluster: cluster ? clusterValues(cluster) : null };
  for (const { profile } of form.profiles) {
    const options: Record<string, string> = {};
    const typed: Record<string, string> = {};
    for (const [key, option] of Object.entries(profile.profile_options)) {
      const chosen = profile.slug === selections.profile ? selections.options[key] : undefined;
      if (chosen !== undefined && chosen in option.choices) options[key] = chosen;
      else if (chosen !== undefined && option.unlisted_choice?.enabled) {
        options[key] = UNLISTED;
        typed[key] = chosen;
      } else options[key] = defaultChoice(option);
    }
    values.options[profile.slug] = options;
    values.unlisted[profile.slug] = typed;
  }
  values.env = Object.entries(selections.env).map(([name, value]) => ({ name, value }));
  return values;
}

/** Whether a posted form came from the spawn form (else it is a one-click start with the last settings). */
export function isSpawnForm(fields: Record<string, string | undefined>): boolean {
  return fields[FORM_MARKER] === '1';
}

export function optionField(slug: string, key: string): string {
  return `profile-option-${slug}--${key}`;
}

/**
 * The posted form as the resolver's input, the values to show again, and problems found before
 * asking the resolver (a variable without a name, the same name twice, "Other…" left empty).
 */
export function parseSpawnForm(fields: Record<string, string | undefined>, catalog: Catalog, subject: PlanSubject): { selections: SelectionInput; values: FormValues; errors: FieldErrors } {
  const form = formCatalog(catalog, subject);
  const errors: FieldErrors = {};
  const values: FormValues = { image: fields.image ?? '', size: fields.size ?? '', profile: fields.profile ?? '', options: {}, unlisted: {}, env: [], cluster: null };
  const selections: SelectionInput = {};
  if (values.image) selections.image = values.image;
  if (values.size) selections.size = values.size;
  // the cluster fields count only with an image that starts a cluster (without JavaScript they are always on the page)
  if (form.clusters[values.image]) {
    values.cluster = { workers: (fields.cluster_workers ?? '').trim(), worker_cores: (fields.cluster_worker_cores ?? '').trim(), worker_memory: (fields.cluster_worker_memory ?? '').trim() };
    const labels = { cluster_workers: 'the number of workers', cluster_worker_cores: 'the cores per worker', cluster_worker_memory: 'the memory per worker' } as const;
    for (const [field, value] of [['cluster_workers', values.cluster.workers], ['cluster_worker_cores', values.cluster.worker_cores], ['cluster_worker_memory', values.cluster.worker_memory]] as const) {
      if (value) selections[field] = value;
      else if (fields[field] !== undefined) errors[field] = `Enter ${labels[field]}.`;
    }
  }

  for (const { profile } of form.profiles) {
    values.options[profile.slug] = {};
    values.unlisted[profile.slug] = {};
    for (const key of Object.keys(profile.profile_options)) {
      values.options[profile.slug]![key] = fields[optionField(profile.slug, key)] ?? '';
      values.unlisted[profile.slug]![key] = fields[`${optionField(profile.slug, key)}--unlisted-choice`] ?? '';
    }
  }
  // a profile only counts with an image that offers profiles (without JavaScript every profile is on the page)
  const image = form.images.find((i) => i.name === values.image);
  const offered = image ? offeredProfilesFor(catalog, subject, image.name) : [];
  if (values.profile && (!image || offered.length > 0)) {
    selections.profile = values.profile;
    const profile = form.profiles.find((p) => p.profile.slug === values.profile)?.profile;
    if (profile) {
      const options: Record<string, string> = {};
      for (const [key, option] of Object.entries(profile.profile_options)) {
        const picked = values.options[profile.slug]![key]!;
        if (picked === UNLISTED) {
          const typed = values.unlisted[profile.slug]![key]!.trim();
          values.unlisted[profile.slug]![key] = typed;
          // an option with nothing but "Other…" may be left empty (the resolver then skips it)
          if (typed) options[key] = typed;
          else if (Object.keys(option.choices).length) errors[`options.${key}`] = `Enter a value for ${option.display_name}, or pick one of the choices.`;
        } else if (picked) options[key] = picked;
      }
      selections.options = options;
    }
  }

  const indexes = Object.keys(fields)
    .map((k) => /^env-name-(\d{1,4})$/.exec(k)?.[1])
    .filter((i): i is string => i !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
  const env: Record<string, string> = {};
  for (const i of indexes) {
    const name = (fields[`env-name-${i}`] ?? '').trim();
    const value = fields[`env-value-${i}`] ?? '';
    if (!name && !value) continue;
    const row = values.env.length;
    values.env.push({ name, value });
    if (!name) errors[`env-row.${row}`] = 'Give this variable a name, or clear its value.';
    else if (name in env) errors[`env-row.${row}`] = `${name} is already set above; keep one of them.`;
    else env[name] = value;
  }
  selections.env = env;
  return { selections, values, errors };
}

// ---------------------------------------------------------------- rendering
