// A pod's volumes, as the kubelet sets them up before its containers start: each becomes a directory
// under the pod's directory (an emptyDir; a ConfigMap's or Secret's keys as files; a projected
// service account token, CA bundle and namespace; a claim's bound PersistentVolume), read through
// the API as this node, which the Node authorizer allows only for pods bound to it. Mounting them at
// their paths happens in the container's own mount namespace (mounts.ts).
import { chownSync, chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CoreV1Api, V1KeyToPath, V1Pod, V1Volume } from '@kubernetes/client-node';
import { isNotFound } from '../kube-cluster/errors.js';
import { ContainerConfigError } from './env.js';

/** Volume name -> the host directory that holds it. */
export type PodVolumes = Map<string, string>;

/** Who owns what a volume holds: the pod's user, and its fsGroup (or group) so every container may write. */
interface Owner {
  uid: number;
  gid: number;
}

/** Only root can give files away; otherwise everything stays the agent's own. */
function own(path: string, owner: Owner): void {
  if (process.getuid?.() === 0) chownSync(path, owner.uid, owner.gid);
}

function writeKeys(dir: string, data: Record<string, Buffer>, items: V1KeyToPath[] | undefined, owner: Owner, defaultMode: number): void {
  const entries = items?.length ? items.map((i) => [i.path, data[i.key], i.mode] as const) : Object.entries(data).map(([k, v]) => [k, v, undefined] as const);
  for (const [path, bytes, mode] of entries) {
    if (bytes === undefined) continue;
    const file = join(dir, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, bytes);
    chmodSync(file, mode ?? defaultMode);
    own(file, owner);
  }
}

const text = (data: Record<string, string> | undefined): Record<string, Buffer> =>
  Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v)]));
const base64 = (data: Record<string, string> | undefined): Record<string, Buffer> =>
  Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]));

/** A missing object is what the kubelet reports as a mount failure and retries; anything else is a fault. */
async function read<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (isNotFound(error)) throw new ContainerConfigError(`MountVolume.SetUp failed: ${what} not found`);
    throw error;
  }
}

async function fill(core: CoreV1Api, pod: V1Pod, volume: V1Volume, dir: string, owner: Owner): Promise<void> {
  const namespace = pod.metadata?.namespace ?? 'default';
  if (volume.emptyDir) return;
  if (volume.configMap) {
    const name = volume.configMap.name ?? '';
    const cm = await read(`configmap "${name}"`, () => core.readNamespacedConfigMap({ name, namespace }));
    writeKeys(dir, text(cm.data), volume.configMap.items, owner, volume.configMap.defaultMode ?? 0o644);
    return;
  }
  if (volume.secret) {
    const name = volume.secret.secretName ?? '';
    const secret = await read(`secret "${name}"`, () => core.readNamespacedSecret({ name, namespace }));
    writeKeys(dir, base64(secret.data), volume.secret.items, owner, volume.secret.defaultMode ?? 0o644);
    return;
  }
  if (volume.projected) {
    const mode = volume.projected.defaultMode ?? 0o644;
    for (const source of volume.projected.sources ?? []) {
      if (source.serviceAccountToken) {
        const account = pod.spec?.serviceAccountName ?? 'default';
        const { status } = await core.createNamespacedServiceAccountToken({
          name: account, namespace,
          body: {
            spec: {
              audiences: source.serviceAccountToken.audience ? [source.serviceAccountToken.audience] : [],
              expirationSeconds: source.serviceAccountToken.expirationSeconds ?? 3607,
              boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata?.name ?? '', uid: pod.metadata?.uid ?? '' },
            },
          },
        });
        writeKeys(dir, { [source.serviceAccountToken.path]: Buffer.from(status?.token ?? '') }, undefined, owner, mode);
      } else if (source.configMap) {
        const name = source.configMap.name ?? '';
        const cm = await read(`configmap "${name}"`, () => core.readNamespacedConfigMap({ name, namespace }));
        writeKeys(dir, text(cm.data), source.configMap.items, owner, mode);
      } else if (source.secret) {
        const name = source.secret.name ?? '';
        const secret = await read(`secret "${name}"`, () => core.readNamespacedSecret({ name, namespace }));
        writeKeys(dir, base64(secret.data), source.secret.items, owner, mode);
      } else if (source.downwardAPI) {
        const fields: Record<string, Buffer> = {};
        for (const item of source.downwardAPI.items ?? []) {
          if (item.fieldRef?.fieldPath === 'metadata.namespace') fields[item.path] = Buffer.from(namespace);
          else if (item.fieldRef?.fieldPath === 'metadata.name') fields[item.path] = Buffer.from(pod.metadata?.name ?? '');
          else throw new Error(`volume ${volume.name}: downwardAPI field ${item.fieldRef?.fieldPath ?? item.path} is not supported by this node agent`);
        }
        writeKeys(dir, fields, undefined, owner, mode);
      }
    }
    return;
  }
  throw new Error(`volume ${volume.name}: this node agent supports emptyDir, configMap, secret, projected and persistentVolumeClaim volumes`);
}

/** The bound PersistentVolume's hostPath, or a directory of the agent's own for a volume of another kind. */
async function claimDir(core: CoreV1Api, pod: V1Pod, claimName: string, agentVolumes: string): Promise<string> {
  const namespace = pod.metadata?.namespace ?? 'default';
  const claim = await read(`persistentvolumeclaim "${claimName}"`, () => core.readNamespacedPersistentVolumeClaim({ name: claimName, namespace }));
  const volumeName = claim.spec?.volumeName;
  if (!volumeName || claim.status?.phase !== 'Bound') throw new ContainerConfigError(`persistentvolumeclaim "${claimName}" is not bound`);
  const pv = await read(`persistentvolume "${volumeName}"`, () => core.readPersistentVolume({ name: volumeName }));
  return pv.spec?.hostPath?.path ?? join(agentVolumes, volumeName);
}

/**
 * Make every volume of the pod; returns where each is. Throws ContainerConfigError for what may appear
 * later (an object not created yet, a claim not bound yet), as the kubelet waits for those.
 */
export async function preparePodVolumes(core: CoreV1Api, pod: V1Pod, podDir: string, agentVolumes: string, owner: Owner): Promise<PodVolumes> {
  const out: PodVolumes = new Map();
  for (const volume of pod.spec?.volumes ?? []) {
    const claim = volume.persistentVolumeClaim?.claimName;
    const dir = claim ? await claimDir(core, pod, claim, agentVolumes) : join(podDir, 'volumes', volume.name);
    const fresh = !existsSync(dir);
    mkdirSync(dir, { recursive: true });
    // writable by the pod's group, as the kubelet makes volumes for an fsGroup
    if (fresh || !claim) {
      chmodSync(dir, volume.emptyDir || claim ? 0o2775 : 0o755);
      own(dir, owner);
    }
    if (!claim) await fill(core, pod, volume, dir, owner);
    out.set(volume.name, dir);
  }
  return out;
}
