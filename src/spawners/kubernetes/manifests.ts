/**
 * The objects of one server, built from a SpawnRequest and the configuration: no I/O here.
 *
 * POD. One container "notebook" running the configured cmd (jupyterhub-singleuser) from the catalog
 * image, listening on $(POD_IP):port, which the hub reaches directly (no Service needed).
 * JUPYTERHUB_SERVICE_URL says so with $(POD_IP), which the kubelet expands from the fieldRef defined
 * before it. Secret variables are secretKeyRefs into the server's Secret; every other variable is a
 * plain value, so `kubectl get pod -o yaml` shows what the server got, minus secrets.
 * securityContext passes the `restricted` Pod Security Standard and OpenShift's restricted-v2 SCC:
 * runAsNonRoot, no privilege escalation, all capabilities dropped, seccomp RuntimeDefault, and no
 * fixed uid/gid/fsGroup unless configured (OpenShift assigns one from the namespace's range).
 * restartPolicy OnFailure (KubeSpawner's): a server that exits cleanly (File > Shut Down) stays
 * down, a crash restarts it.
 */
import type { V1Affinity, V1PersistentVolumeClaim, V1Pod, V1PodSpec, V1Secret, V1Volume, V1VolumeMount, V1EnvVar } from '@kubernetes/client-node';
import { foldScheduling, type Scheduling } from '../../config/scheduling.js';
import type { KubernetesSpawnerConfig } from '../../config/kubernetes.js';
import type { SpawnRequest } from '../spawner.js';
import { COMPONENT, expandName, serverAnnotations, serverLabels } from './names.js';

export const CONTAINER = 'notebook';
const HOME_VOLUME = 'home';

export interface ServerNames {
  pod: string;
  secret: string;
  claim: string | null;
}

export function serverNames(config: KubernetesSpawnerConfig, user: string, server: string): ServerNames {
  const pod = expandName(config.pod_name_template, user, server);
  return {
    pod,
    // the pod's own name plus a suffix: unique wherever the pod name is (DNS subdomain, up to 253)
    secret: `${pod}-env`,
    claim: config.home_volume ? expandName(config.home_claim_template, user, '') : null,
  };
}

/** CPU in cores as a quantity ("500m", "2"). */
export function cpuQuantity(cores: number): string {
  const milli = Math.max(1, Math.round(cores * 1000));
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}

/** Bytes as a quantity (whole bytes: exact, as the size said). */
export function memoryQuantity(bytes: number): string {
  return String(Math.max(1, Math.round(bytes)));
}

function resourcesOf(r: SpawnRequest['resources']): { requests?: Record<string, string>; limits?: Record<string, string> } {
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  if (r?.cpuGuarantee) requests.cpu = cpuQuantity(r.cpuGuarantee);
  if (r?.memoryGuarantee) requests.memory = memoryQuantity(r.memoryGuarantee);
  if (r?.cpuLimit) limits.cpu = cpuQuantity(r.cpuLimit);
  if (r?.memoryLimit) limits.memory = memoryQuantity(r.memoryLimit);
  return { ...(Object.keys(requests).length ? { requests } : {}), ...(Object.keys(limits).length ? { limits } : {}) };
}

function volumesOf(request: SpawnRequest, config: KubernetesSpawnerConfig, names: ServerNames): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const volumes: V1Volume[] = [];
  const mounts: V1VolumeMount[] = [];
  if (names.claim) {
    volumes.push({ name: HOME_VOLUME, persistentVolumeClaim: { claimName: names.claim } });
    mounts.push({ name: HOME_VOLUME, mountPath: config.home_mount_path });
  }
  for (const v of request.volumes ?? []) {
    // profile volume names are slugs; a prefix keeps them apart from the home volume
    const name = `v-${v.name}`.slice(0, 63).replace(/[^a-z0-9-]/g, '-').replace(/-+$/, '');
    if (v.claim) volumes.push({ name, persistentVolumeClaim: { claimName: v.claim, readOnly: v.readOnly } });
    else if (v.configMap) volumes.push({ name, configMap: { name: v.configMap } });
    else if (v.secret) volumes.push({ name, secret: { secretName: v.secret } });
    else if (v.emptyDir) volumes.push({ name, emptyDir: {} });
    else if (v.hostPath) volumes.push({ name, hostPath: { path: v.hostPath } });
    else continue;
    mounts.push({ name, mountPath: v.mountPath, readOnly: v.readOnly });
  }
  return { volumes, mounts };
}

export interface PodInput {
  request: SpawnRequest;
  config: KubernetesSpawnerConfig;
  namespace: string;
  names: ServerNames;
  image: { name: string; pullPolicy?: string };
  /** The environment without JUPYTERHUB_SERVICE_URL (added here) and with the hub's address for pods. */
  env: Record<string, string>;
  /** Names of `env` that live in the Secret. */
  secretNames: ReadonlySet<string>;
  args: readonly string[];
  stopGraceSeconds: number;
}

/** The spawner's own node selector, tolerations and affinity, then the catalog's for this server. */
function schedulingOf(config: KubernetesSpawnerConfig, fromCatalog: Scheduling | undefined): Pick<V1PodSpec, 'nodeSelector' | 'tolerations' | 'affinity'> {
  const base: Scheduling = { node_selector: config.node_selector, tolerations: config.tolerations, ...(config.affinity ? { affinity: config.affinity } : {}) };
  const s = fromCatalog ? foldScheduling(base, fromCatalog) : base;
  return {
    ...(Object.keys(s.node_selector).length ? { nodeSelector: s.node_selector } : {}),
    ...(s.tolerations.length ? {
      tolerations: s.tolerations.map((t) => ({
        ...(t.key !== undefined ? { key: t.key } : {}), ...(t.operator ? { operator: t.operator } : {}),
        ...(t.value !== undefined ? { value: t.value } : {}), ...(t.effect ? { effect: t.effect } : {}),
        ...(t.toleration_seconds !== undefined ? { tolerationSeconds: t.toleration_seconds } : {}),
      })),
    } : {}),
    // the API server checks the affinity's shape; Refinery passes it as written
    ...(s.affinity ? { affinity: s.affinity as V1Affinity } : {}),
  };
}

export function podManifest(input: PodInput): V1Pod {
  const { request, config, names } = input;
  const labels = serverLabels(config.hub_name, COMPONENT.server, request.user, request.serverName);
  const env: V1EnvVar[] = [
    { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    { name: 'JUPYTERHUB_SERVICE_URL', value: `http://$(POD_IP):${config.port}${request.servicePrefix}` },
  ];
  for (const name of Object.keys(input.env).sort()) {
    if (name === 'POD_IP' || name === 'JUPYTERHUB_SERVICE_URL') continue;
    // a literal "$(" in a value would be expanded by the kubelet; "$$" keeps it as written
    env.push(input.secretNames.has(name)
      ? { name, valueFrom: { secretKeyRef: { name: names.secret, key: name } } }
      : { name, value: input.env[name]!.replaceAll('$', '$$') });
  }
  const { volumes, mounts } = volumesOf(request, config, names);
  const pullPolicy = input.image.pullPolicy ?? config.image_pull_policy;
  const resources = resourcesOf(request.resources);
  const ids = {
    ...(config.uid !== undefined ? { runAsUser: config.uid } : {}),
    ...(config.gid !== undefined ? { runAsGroup: config.gid } : {}),
  };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: names.pod, namespace: input.namespace, labels, annotations: serverAnnotations(request.user, request.serverName) },
    spec: {
      restartPolicy: 'OnFailure',
      enableServiceLinks: false,
      automountServiceAccountToken: config.automount_service_account_token,
      ...(config.service_account ? { serviceAccountName: config.service_account } : {}),
      terminationGracePeriodSeconds: input.stopGraceSeconds,
      securityContext: {
        runAsNonRoot: true,
        seccompProfile: { type: 'RuntimeDefault' },
        ...ids,
        ...(config.fs_group !== undefined ? { fsGroup: config.fs_group } : {}),
      },
      ...schedulingOf(config, request.scheduling),
      ...(config.image_pull_secrets.length ? { imagePullSecrets: config.image_pull_secrets.map((name) => ({ name })) } : {}),
      ...(volumes.length ? { volumes } : {}),
      containers: [{
        name: CONTAINER,
        image: input.image.name,
        ...(pullPolicy ? { imagePullPolicy: pullPolicy } : {}),
        command: [...config.cmd],
        ...(input.args.length ? { args: [...input.args] } : {}),
        env,
        ports: [{ name: 'notebook-port', containerPort: config.port, protocol: 'TCP' }],
        ...(Object.keys(resources).length ? { resources } : {}),
        // Ready means the server answers: what the hub waits for before it routes to it
        readinessProbe: { httpGet: { path: `${request.servicePrefix}api`, port: config.port }, periodSeconds: 2, failureThreshold: 3 },
        securityContext: {
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
          runAsNonRoot: true,
          seccompProfile: { type: 'RuntimeDefault' },
          ...ids,
        },
        ...(mounts.length ? { volumeMounts: mounts } : {}),
      }],
    },
  };
}

/** The server's Secret: its secret environment, read by the pod through secretKeyRefs. */
export function secretManifest(input: { config: KubernetesSpawnerConfig; namespace: string; names: ServerNames; user: string; server: string; data: Record<string, string> }): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: input.names.secret,
      namespace: input.namespace,
      labels: serverLabels(input.config.hub_name, COMPONENT.env, input.user, input.server),
      annotations: serverAnnotations(input.user, input.server),
    },
    type: 'Opaque',
    // stringData is write-only: the API server stores it base64-encoded in data
    stringData: { ...input.data },
  };
}

/** The person's home claim: made once, kept when servers stop. */
export function homeClaimManifest(input: { config: KubernetesSpawnerConfig; namespace: string; name: string; user: string }): V1PersistentVolumeClaim {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: input.name,
      namespace: input.namespace,
      labels: serverLabels(input.config.hub_name, COMPONENT.home, input.user, ''),
      annotations: serverAnnotations(input.user, ''),
    },
    spec: {
      accessModes: ['ReadWriteOnce'],
      ...(input.config.storage_class ? { storageClassName: input.config.storage_class } : {}),
      resources: { requests: { storage: input.config.home_size } },
    },
  };
}
