import type { Scheduling } from '../config/scheduling.js';
import type { SecretRef } from '../config/secret-ref.js';
import type { VolumeConfig } from './schema.js';
import type { QuotaLimits } from '../clusters/quota.js';

/** Where a piece of the plan came from, shown to people so they can tell why a setting is there. */
export type Source = `image ${string}` | `size ${string}` | `profile ${string}` | `option ${string}` | 'you';

export type PlanEnvValue = { value: string; source: Source } | { secret: SecretRef; source: Source } | { authState: string; source: Source };

export interface PlanResources {
  cpu: { guarantee?: number; limit?: number };
  /** Bytes. */
  memory: { guarantee?: number; limit?: number };
  gpu?: number;
}

/** What the user picked, after defaults and fallbacks: the form pre-selects this next time. */
export interface Selections {
  image: string;
  size: string | null;
  profile: string | null;
  options: Record<string, string>;
  env: Record<string, string>;
  /** The person's sizing of the plan's cluster (only what they picked; the rest is the profile's); absent when nothing was. */
  cluster?: ClusterChoices;
}

/**
 * Everything needed to start one server, decided before anything starts: a pure function of the
 * user, their groups, the catalog and their selections.
 */
export interface SpawnPlan {
  image: { name: string; display_name: string };
  local: { environment?: string; command?: string[] };
  kubernetes?: { image: string; pull_policy?: string };
  size: { name: string; display_name: string } | null;
  resources: PlanResources;
  /** On Kubernetes: where the pod may run, on top of spawner.kubernetes' own. */
  scheduling: Scheduling;
  env: Record<string, PlanEnvValue>;
  volumes: (VolumeConfig & { source: Source })[];
  clusters: (Record<string, unknown> & { source: Source })[];
  storage: (Record<string, unknown> & { source: Source }) | null;
  default_url: string | null;
  /** The first cluster's size, the limits the person's quota leaves, for the form's controls; null without a cluster. */
  cluster: ClusterSizing | null;
  /** Profiles that matched, in the order they were applied. */
  applied: Source[];
  selections: Selections;
  /** Selections that no longer exist and were replaced by defaults. */
  warnings: string[];
}

/** Parsed choices; memory in bytes. */
export interface ClusterChoices {
  workers?: number;
  worker_cores?: number;
  worker_memory?: number;
}

/** The plan's sized cluster, for the form and the plan review: current values, the quota, and the limits they leave. */
export interface ClusterSizing {
  name: string;
  kind: string;
  workers: number;
  worker_cores: number;
  /** Bytes. */
  worker_memory: number;
  /** The master's or scheduler's share, which counts against the quota too. */
  head: { cores: number; memory: number };
  /** Largest value for each control with the other two as they are (quota and schema bounds). */
  max: { workers: number; worker_cores: number; worker_memory: number };
  /** What the quota leaves for this cluster's workers (after the head and the plan's other clusters); null = no limit. */
  room: { workers: number | null; cores: number | null; memory: number | null };
  quota: QuotaLimits;
}

