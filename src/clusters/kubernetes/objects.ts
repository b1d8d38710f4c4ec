/**
 * Pure helpers shared by the Kubernetes cluster backends: object names, labels, quantities, the
 * per-cluster Secret, and reading pods' and objects' conditions. No I/O here.
 *
 * NAMES. A cluster's objects are named `<kind>-<slug>-<hash>`: the slug (user, server, cluster name,
 * lowercased, anything else than [a-z0-9] turned into "-") keeps them readable in `kubectl get`; the
 * hash (8 hex of sha256 over the exact user, server and cluster name) keeps two users apart whose
 * names slug alike ("a.b" and "a_b") and survives truncation. At most 40 characters: the Dask
 * operator appends "-scheduler" / "-default-worker-<10 hex>" and refuses names over 53, Spark limits
 * an executor pod-name prefix to 47, and Service names are DNS-1035 labels (≤ 63, starting with a
 * letter, which the kind prefix guarantees).
 *
 * LABELS on every object and pod template: `app.kubernetes.io/managed-by: refinery`,
 * `app.kubernetes.io/component` (dask-cluster / spark-cluster), `refinery.io/hub` (which hub's, when
 * several share a namespace), `refinery.io/user`, `refinery.io/server`, `refinery.io/cluster` (the
 * request's name) and `refinery.io/cluster-id` (the object name, what pods are selected by). Label
 * values are limited to 63 of [A-Za-z0-9-_.], so user and server appear there as a label-safe form,
 * and exactly in the annotations `refinery.io/user` / `refinery.io/server`, which list() reads.
 */
import { createHash } from 'node:crypto';
import type { ClusterKind, ClusterOwner } from '../backend.js';
import type { KubeObject, OwnerReference } from './client.js';

export const MANAGED_BY = 'app.kubernetes.io/managed-by';
export const LABEL = {
  component: 'app.kubernetes.io/component',
  hub: 'refinery.io/hub',
  user: 'refinery.io/user',
  server: 'refinery.io/server',
  cluster: 'refinery.io/cluster',
  id: 'refinery.io/cluster-id',
} as const;
export const ANNOTATION = { user: 'refinery.io/user', server: 'refinery.io/server', cluster: 'refinery.io/cluster' } as const;

export const MAX_OBJECT_NAME = 40;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
const MiB = 1024 ** 2;

function hash8(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 8);
}

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
}

/** `text` when it is a valid label value, else a readable slug with a hash of the exact text. */
export function labelValue(text: string): string {
  if (LABEL_VALUE.test(text)) return text;
  const s = slug(text).slice(0, 50).replace(/-+$/, '');
  return `${s ? `${s}-` : ''}${hash8(text)}`;
}

/** The name of a cluster's main object (and the prefix of all its other objects). */
export function clusterObjectName(kind: ClusterKind, owner: Pick<ClusterOwner, 'user' | 'server'>, clusterName: string): string {
  const tail = `-${hash8(owner.user, owner.server, clusterName)}`;
  const body = slug([owner.user, owner.server, clusterName].filter(Boolean).join('-')).slice(0, MAX_OBJECT_NAME - kind.length - 1 - tail.length).replace(/-+$/, '');
  return `${kind}${body ? `-${body}` : ''}${tail}`;
}

export interface ClusterIdentity {
  kind: ClusterKind;
  hub: string;
  user: string;
  server: string;
  /** The request's name ('spark', 'dask', ...). */
  name: string;
  /** clusterObjectName(). */
  object: string;
}

export function clusterLabels(id: ClusterIdentity): Record<string, string> {
  return {
    [MANAGED_BY]: 'refinery',
    [LABEL.component]: `${id.kind}-cluster`,
    [LABEL.hub]: labelValue(id.hub),
    [LABEL.user]: labelValue(id.user),
    [LABEL.server]: labelValue(id.server),
    [LABEL.cluster]: labelValue(id.name),
    [LABEL.id]: id.object,
  };
}

export function clusterAnnotations(id: ClusterIdentity): Record<string, string> {
  return { [ANNOTATION.user]: id.user, [ANNOTATION.server]: id.server, [ANNOTATION.cluster]: id.name };
}

/** The selector of every Refinery cluster of one kind of this hub. */
export function hubSelector(kind: ClusterKind, hub: string): string {
  return `${MANAGED_BY}=refinery,${LABEL.component}=${kind}-cluster,${LABEL.hub}=${labelValue(hub)}`;
}

/** The owner pod as the owner of a cluster's objects: when the pod goes, the garbage collector removes them. */
export function podOwnerReference(pod: { name: string; uid: string }): OwnerReference {
  return { apiVersion: 'v1', kind: 'Pod', name: pod.name, uid: pod.uid };
}

/** CPU as a Kubernetes quantity: whole cores as "2", fractions in millicores ("500m"). */
export function cpuQuantity(cores: number): string {
  const milli = Math.max(1, Math.round(cores * 1000));
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}

/** Memory as a Kubernetes quantity in MiB, rounded up ("1024Mi"). */
export function memoryQuantity(bytes: number): string {
  return `${Math.max(1, Math.ceil(bytes / MiB))}Mi`;
}

/** Requests equal to limits: the cluster gets what the quota counted, no more and no less (Guaranteed QoS). */
export function resources(cores: number, memoryBytes: number): { requests: Record<string, string>; limits: Record<string, string> } {
  const amount = { cpu: cpuQuantity(cores), memory: memoryQuantity(memoryBytes) };
  return { requests: { ...amount }, limits: { ...amount } };
}

/** The Secret's name of a cluster: `<object>-env`. */
export function envSecretName(object: string): string {
  return `${object}-env`;
}

// Kubernetes takes these as Secret keys and, through envFrom, as variable names
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

/** Environment variables that cannot be a Secret key / variable name. */
export function badEnvNames(env: Record<string, string>): string[] {
  return Object.keys(env).filter((k) => !ENV_NAME.test(k) || k.length > 253);
}

/**
 * The cluster's Secret with the environment start() was given (object-storage keys). Pods take it
 * with envFrom, so no value is ever in a pod spec or custom object; `stringData` is write-only (the
 * API server stores it base64-encoded in `data`).
 */
export function envSecret(id: ClusterIdentity, namespace: string, owner: OwnerReference, env: Record<string, string>): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: envSecretName(id.object), namespace, labels: clusterLabels(id), annotations: clusterAnnotations(id), ownerReferences: [owner] },
    type: 'Opaque',
    stringData: { ...env },
  };
}

// ---------------------------------------------------------------------------------------------------
// reading status

type Condition = { type?: string; status?: string; reason?: string; message?: string };
type ContainerStatus = { name?: string; state?: { waiting?: { reason?: string; message?: string }; terminated?: { reason?: string; exitCode?: number; message?: string } }; lastState?: { terminated?: { reason?: string; exitCode?: number; message?: string } } };
type PodStatus = { phase?: string; reason?: string; message?: string; conditions?: Condition[]; containerStatuses?: ContainerStatus[]; initContainerStatuses?: ContainerStatus[] };

export function statusOf(object: KubeObject | null | undefined): Record<string, unknown> {
  const s = object?.status;
  return s && typeof s === 'object' ? (s as Record<string, unknown>) : {};
}

function conditionOf(object: KubeObject, type: string): Condition | undefined {
  const conditions = (statusOf(object) as PodStatus).conditions;
  return Array.isArray(conditions) ? conditions.find((c) => c.type === type) : undefined;
}

/** A running pod whose readiness probe passes, and which is not being deleted. */
export function podReady(pod: KubeObject): boolean {
  return !pod.metadata.deletionTimestamp && (statusOf(pod) as PodStatus).phase === 'Running' && conditionOf(pod, 'Ready')?.status === 'True';
}

// Waiting reasons that do not clear up by waiting (ErrImagePull may: it turns into ImagePullBackOff if not)
const FATAL_WAITING = new Set(['ImagePullBackOff', 'InvalidImageName', 'CrashLoopBackOff', 'CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);

/** Why a pod will not become ready by itself, or null. */
export function podFailure(pod: KubeObject): string | null {
  const s = statusOf(pod) as PodStatus;
  const name = pod.metadata.name;
  if (s.phase === 'Failed') return `pod ${name} failed${s.reason ? ` (${s.reason})` : ''}${s.message ? `: ${s.message}` : ''}`;
  for (const c of [...(s.initContainerStatuses ?? []), ...(s.containerStatuses ?? [])]) {
    const waiting = c.state?.waiting;
    if (waiting?.reason && FATAL_WAITING.has(waiting.reason)) {
      const last = c.lastState?.terminated;
      const exited = last ? ` (last exit code ${last.exitCode ?? '?'}${last.reason ? `, ${last.reason}` : ''})` : '';
      return `container ${c.name ?? '?'} of pod ${name}: ${waiting.reason}${exited}${waiting.message ? `: ${waiting.message}` : ''}`;
    }
  }
  return null;
}

/** What a pod that is not ready waits for (unschedulable, pulling the image), or null. */
export function podWaiting(pod: KubeObject): string | null {
  const scheduled = conditionOf(pod, 'PodScheduled');
  if (scheduled?.status === 'False') return `pod ${pod.metadata.name} cannot be scheduled${scheduled.message ? `: ${scheduled.message}` : ''}`;
  for (const c of (statusOf(pod) as PodStatus).containerStatuses ?? []) {
    const reason = c.state?.waiting?.reason;
    if (reason) return `pod ${pod.metadata.name}: ${reason}${c.state?.waiting?.message ? ` (${c.state.waiting.message})` : ''}`;
  }
  return null;
}

/** The first failure among pods, and what the first not-ready one waits for. */
export function podsDiagnosis(pods: KubeObject[]): { failure: string | null; waiting: string | null } {
  let failure: string | null = null;
  let waiting: string | null = null;
  for (const pod of pods) {
    failure ??= podFailure(pod);
    if (!podReady(pod)) waiting ??= podWaiting(pod);
  }
  return { failure, waiting };
}

/** The labels that pick the owner's server pod out of everyone's (the spawner sets them). */
const OWNER_POD_KEYS = ['app.kubernetes.io/instance', 'app.kubernetes.io/component', 'hub.jupyter.org/username', 'hub.jupyter.org/servername'];

export function ownerPodSelector(podLabels: Record<string, string>): Record<string, string> {
  const picked = Object.fromEntries(OWNER_POD_KEYS.filter((k) => podLabels[k] !== undefined).map((k) => [k, podLabels[k]!]));
  return Object.keys(picked).length ? picked : podLabels;
}

export function networkPolicyName(object: string): string {
  return `${object}-ingress`;
}

/**
 * Only the owner's server pod, and the cluster's own pods among themselves (workers and head talk
 * both ways), may connect to the cluster's pods; everyone else's notebooks may not. Owned by the
 * server's pod like the rest of the cluster.
 */
export function clusterNetworkPolicy(id: ClusterIdentity, namespace: string, owner: OwnerReference, ownerPodLabels: Record<string, string>): KubeObject {
  const cluster = { [LABEL.id]: id.object };
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: networkPolicyName(id.object), namespace, labels: clusterLabels(id), annotations: clusterAnnotations(id), ownerReferences: [owner] },
    spec: {
      podSelector: { matchLabels: cluster },
      policyTypes: ['Ingress'],
      ingress: [{ from: [{ podSelector: { matchLabels: ownerPodSelector(ownerPodLabels) } }, { podSelector: { matchLabels: cluster } }] }],
    },
  };
}
