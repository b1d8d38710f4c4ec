import { z } from 'zod';
import { schedulingShape } from '../config/scheduling.js';
import { secretRef } from '../config/secret-ref.js';

/**
 * The image catalog and profile rules, as they appear in configuration (in the main file, or in a
 * separate `profiles_file` that can be edited and reloaded while the hub runs).
 */

const slug = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'use lowercase letters, digits, ".", "_" and "-" (at most 63), starting with a letter or digit');

export { byteSize } from './byte-size.js';
import { byteSize } from './byte-size.js';

const cpuAmount = z.number().positive().max(1024);

export const resourcesSchema = z.strictObject({
  cpu: z.strictObject({ guarantee: cpuAmount.optional(), limit: cpuAmount.optional() }).optional(),
  memory: z.strictObject({ guarantee: byteSize.optional(), limit: byteSize.optional() }).optional(),
  gpu: z.number().int().min(0).optional(),
});

/**
 * A variable's value: text, a secret reference, or a field of the person's sign-in (auth state, e.g.
 * `{auth_state: access_token}`: their provider's token, current at each start).
 */
const envValue = z.union([z.string(), z.strictObject({ secret: secretRef }), z.strictObject({ auth_state: z.string().min(1) })]);

export const volumeSchema = z.strictObject({
  name: slug,
  mount_path: z.string().regex(/^\//, 'an absolute path inside the server'),
  read_only: z.boolean().default(false),
  /** Locally: a directory on this machine (with `{user}` filled in). On Kubernetes: a hostPath. */
  host_path: z.string().optional(),
  /** On Kubernetes: an existing PersistentVolumeClaim (with `{user}` filled in). */
  claim: z.string().optional(),
  /** On Kubernetes: an existing ConfigMap or Secret as files, or a fresh empty directory for the pod's lifetime. */
  config_map: z.string().optional(),
  secret: z.string().optional(),
  empty_dir: z.boolean().optional(),
});

/** What a profile (or a chosen option) contributes to the plan. Env and volumes add up; the rest: later wins. */
export const settingsShape = {
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names use letters, digits and "_"'), envValue).optional(),
  resources: resourcesSchema.optional(),
  volumes: z.array(volumeSchema).optional(),
  /** Cluster requests; their shape is checked by the cluster backends. */
  clusters: z.array(z.record(z.string(), z.unknown())).optional(),
  /** Object storage settings; their shape is checked by the storage module. */
  storage: z.record(z.string(), z.unknown()).optional(),
  default_url: z.string().optional(),
  /** On Kubernetes: which nodes the pod may run on (node_selector, tolerations, affinity). */
  ...schedulingShape,
};
export const settingsSchema = z.strictObject(settingsShape);

const filterShape = {
  /** Who and what a profile applies to; omitted = everyone / every image. */
  users: z.array(z.string()).optional(),
  groups: z.array(z.string()).optional(),
  images: z.array(slug).optional(),
};

const contentItem = z.union([z.string(), z.strictObject({ name: z.string(), version: z.string().optional() })]);

export const imageSchema = z.strictObject({
  name: slug,
  display_name: z.string().min(1),
  description: z.string().default(''),
  /** What is inside, shown on the card: "Python 3.11", or {name, version}. */
  contents: z.array(contentItem).default([]),
  order: z.number().default(100),
  default: z.boolean().default(false),
  recommended: z.boolean().default(false),
  /** Shown as a warning on the card; the image still works. */
  deprecated: z.string().optional(),
  /** Which sizes may be picked with this image (default: all). */
  sizes: z.array(slug).optional(),
  /** Who sees the image (omitted = everyone). */
  users: z.array(z.string()).optional(),
  groups: z.array(z.string()).optional(),
  local: z
    .strictObject({
      /** A Python environment directory (its bin/python runs `-m jupyterhub.singleuser`). */
      environment: z.string().optional(),
      /** Or the program to run, e.g. ["/opt/conda/bin/jupyterhub-singleuser"]. */
      command: z.array(z.string()).nonempty().optional(),
    })
    .optional(),
  kubernetes: z.strictObject({ image: z.string().min(1), pull_policy: z.enum(['Always', 'IfNotPresent', 'Never']).optional() }).optional(),
  ...settingsShape,
});

export const sizeSchema = z.strictObject({
  name: slug,
  display_name: z.string().min(1),
  description: z.string().default(''),
  default: z.boolean().default(false),
  ...resourcesSchema.shape,
  /** On Kubernetes: e.g. the GPU size's pods go to GPU nodes. */
  ...schedulingShape,
});

export const profileSchema = z.strictObject({
  name: slug,
  description: z.string().default(''),
  ...filterShape,
  ...settingsShape,
});

const choiceSchema = z.strictObject({
  display_name: z.string().min(1),
  description: z.string().default(''),
  default: z.boolean().default(false),
  overrides: settingsSchema.default({}),
});

const profileOptionSchema = z.strictObject({
  display_name: z.string().min(1),
  choices: z.record(slug, choiceSchema).default({}),
  unlisted_choice: z
    .strictObject({
      enabled: z.boolean().default(false),
      display_name: z.string().default('Other'),
      display_name_in_choices: z.string().optional(),
      validation_regex: z.string().optional(),
      validation_regex_error_message: z.string().optional(),
      /** Overrides applied with the typed value: `{value}` in strings is replaced by it. */
      overrides: settingsSchema.default({}),
    })
    .optional(),
});

/** A choice offered on the spawn form, in the shape of KubeSpawner's `profile_list`. */
export const offeredProfileSchema = z.strictObject({
  slug,
  display_name: z.string().min(1),
  description: z.string().default(''),
  default: z.boolean().default(false),
  ...filterShape,
  overrides: settingsSchema.default({}),
  profile_options: z.record(slug, profileOptionSchema).default({}),
});

export const catalogShape = {
  images: z.array(imageSchema).optional(),
  sizes: z.array(sizeSchema).optional(),
  profiles: z.array(profileSchema).optional(),
  profile_list: z.array(offeredProfileSchema).optional(),
};
export const catalogSchema = z.strictObject(catalogShape);

export type ImageConfig = z.output<typeof imageSchema>;
export type SizeConfig = z.output<typeof sizeSchema>;
export type ProfileConfig = z.output<typeof profileSchema>;
export type OfferedProfileConfig = z.output<typeof offeredProfileSchema>;
export type SettingsConfig = z.output<typeof settingsSchema>;
export type ResourcesConfig = z.output<typeof resourcesSchema>;
export type VolumeConfig = z.output<typeof volumeSchema>;
export type EnvValueConfig = z.output<typeof envValue>;
export interface Catalog {
  images: ImageConfig[];
  sizes: SizeConfig[];
  profiles: ProfileConfig[];
  profile_list: OfferedProfileConfig[];
}
