/**
 * `spawner.kubernetes`: how the Kubernetes spawner makes pods (src/spawners/kubernetes). Names
 * follow KubeSpawner's where it has one (pod_name_template, image_pull_policy, storage_class,
 * service_account, node_selector, hub_connect_url, uid, gid, fs_group ...).
 */
import { z } from 'zod';
import { NAME_FIELDS } from '../spawners/kubernetes/names.js';
import { affinitySchema, nodeSelectorSchema, tolerationSchema } from './scheduling.js';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A quantity as Kubernetes writes storage sizes: 10Gi, 500Mi, 1T. */
const QUANTITY = /^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/;

const nameTemplate = (what: string) => z.string().min(1).superRefine((template, ctx) => {
  const perServer = template.includes('{user_server}') || (template.includes('{username}') && template.includes('{servername}'));
  if (!perServer) ctx.addIssue({ code: 'custom', message: `a ${what} name template needs {user_server}, or {username} and {servername}: otherwise two servers get one ${what}` });
  const sample = template.replace(/\{(username|servername|user_server)\}/g, 'x');
  if (/\{[^}]*\}/.test(sample)) ctx.addIssue({ code: 'custom', message: `unknown placeholder in ${JSON.stringify(template)} (use ${NAME_FIELDS.join(', ')})` });
  else if (!DNS_LABEL.test(sample)) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(template)} does not make a DNS-1123 label (lowercase letters, digits and "-", starting and ending with a letter or digit)` });
});

const claimTemplate = z.string().min(1).superRefine((template, ctx) => {
  if (!template.includes('{username}')) ctx.addIssue({ code: 'custom', message: 'the home claim template needs {username}: otherwise people share one home' });
  const sample = template.replace(/\{(username|servername|user_server)\}/g, 'x');
  if (!DNS_LABEL.test(sample)) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(template)} does not make a DNS-1123 label` });
});

export const kubernetesSpawnerSchema = z.strictObject({
  /** Where pods go. Default: the kubeconfig context's namespace, in a pod the hub's own. */
  namespace: z.string().regex(DNS_LABEL, 'a namespace is a DNS-1123 label (lowercase letters, digits and "-")').optional(),
  /** A kubeconfig file for running outside the cluster; default: the pod's service account. */
  kubeconfig: z.string().min(1).optional(),
  /** Tells this hub's pods from another hub's in a shared namespace (label app.kubernetes.io/instance). */
  hub_name: z.string().regex(DNS_LABEL, 'a DNS-1123 label').default('refinery'),
  pod_name_template: nameTemplate('pod').default('jupyter-{user_server}'),
  /** The server's program in the image (KubeSpawner's cmd); spawner.args follow. */
  cmd: z.array(z.string()).nonempty().default(['jupyterhub-singleuser']),
  /** The port the server listens on inside the pod. */
  port: z.number().int().min(1).max(65535).default(8888),
  /** Default for images whose catalog entry sets none (Kubernetes' default otherwise). */
  image_pull_policy: z.enum(['Always', 'IfNotPresent', 'Never']).optional(),
  image_pull_secrets: z.array(z.string().regex(DNS_LABEL, 'a Secret name')).default([]),
  /** A PersistentVolumeClaim per person for their home, made on first start and kept. */
  home_volume: z.boolean().default(true),
  home_claim_template: claimTemplate.default('claim-{username}'),
  storage_class: z.string().min(1).optional(),
  home_size: z.string().regex(QUANTITY, 'a size such as "10Gi"').default('10Gi'),
  home_mount_path: z.string().regex(/^\//, 'an absolute path').default('/home/jovyan'),
  /** The pods' ServiceAccount; default: the namespace's "default". */
  service_account: z.string().regex(DNS_LABEL, 'a ServiceAccount name').optional(),
  /** Mount the ServiceAccount's API token into the pod (off: a notebook has no business with the API). */
  automount_service_account_token: z.boolean().default(false),
  /** For every pod; the catalog's images, sizes, profiles and options add theirs. */
  node_selector: nodeSelectorSchema.default({}),
  tolerations: z.array(tolerationSchema).default([]),
  /** A pod affinity as Kubernetes takes it (nodeAffinity, podAffinity, podAntiAffinity); checked by the API server. */
  affinity: affinitySchema.optional(),
  /** Fixed ids (unset: the image's USER, or what OpenShift assigns). */
  uid: z.number().int().min(1).optional(),
  gid: z.number().int().min(0).optional(),
  fs_group: z.number().int().min(0).optional(),
  /** How pods reach the hub's API, e.g. http://refinery.team.svc:8081 (default: the hub's own address). */
  hub_connect_url: z.string().url().optional(),
});

export type KubernetesSpawnerConfig = z.output<typeof kubernetesSpawnerSchema>;
export const KUBERNETES_SPAWNER_DEFAULTS: KubernetesSpawnerConfig = kubernetesSpawnerSchema.parse({});
