/**
 * Where on a Kubernetes cluster a server's pod may run: node selector, tolerations and affinity, with
 * KubeSpawner's key names. Set for every pod in `spawner.kubernetes`, and per image, size, profile
 * and option in the catalog (GPU nodes for the GPU size, say); the local spawner has no nodes to pick
 * and ignores them.
 */
import { z } from 'zod';

/** A label key: an optional DNS-subdomain prefix and a name of at most 63 characters. */
export const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
export const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

export const nodeSelectorSchema = z.record(z.string().regex(LABEL_KEY, 'a label key'), z.string().regex(LABEL_VALUE, 'a label value'));

export const tolerationSchema = z.strictObject({
  key: z.string().optional(),
  operator: z.enum(['Exists', 'Equal']).optional(),
  value: z.string().optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
  toleration_seconds: z.number().int().optional(),
});

/** A pod affinity as Kubernetes takes it (nodeAffinity, podAffinity, podAntiAffinity); the API server checks its shape. */
export const affinitySchema = z.record(z.string(), z.unknown());

/** The catalog's keys (images, sizes, profiles, options). */
export const schedulingShape = {
  node_selector: nodeSelectorSchema.optional(),
  tolerations: z.array(tolerationSchema).optional(),
  affinity: affinitySchema.optional(),
};

export type TolerationConfig = z.output<typeof tolerationSchema>;

/** Where a pod may run, after every layer is folded in. */
export interface Scheduling {
  node_selector: Record<string, string>;
  tolerations: TolerationConfig[];
  affinity?: Record<string, unknown>;
}

/**
 * Fold `layer` onto `base`: node selector entries merge (the later layer wins a key), tolerations add
 * up (an identical one is kept once), an affinity replaces the earlier one whole (two affinities cannot
 * be merged without changing what either means).
 */
export function foldScheduling(base: Scheduling, layer: Partial<Scheduling>): Scheduling {
  const tolerations = [...base.tolerations];
  for (const t of layer.tolerations ?? []) {
    if (!tolerations.some((have) => JSON.stringify(have) === JSON.stringify(t))) tolerations.push(t);
  }
  const affinity = layer.affinity ?? base.affinity;
  return {
    node_selector: { ...base.node_selector, ...layer.node_selector },
    tolerations,
    ...(affinity ? { affinity } : {}),
  };
}

/** Does this say anything about where a pod may run? */
export function hasScheduling(s: Scheduling): boolean {
  return Object.keys(s.node_selector).length > 0 || s.tolerations.length > 0 || s.affinity !== undefined;
}
