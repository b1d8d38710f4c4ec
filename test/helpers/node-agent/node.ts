// The Node object of the agent, registered and kept alive as a kubelet does: created with this
// machine's capacity and a Ready condition, its Lease in kube-node-lease renewed every 10 s, its
// status (conditions' heartbeat) posted every minute.
import { cpus, hostname, release, totalmem } from 'node:os';
import { statfsSync } from 'node:fs';
import {
  CoordinationV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1Node,
} from '@kubernetes/client-node';
import { apiStatus } from '../kube-cluster/errors.js';
import { time } from './status.js';

export const KUBELET_VERSION = 'v1.35.4';
const LEASE_SECONDS = 40;
const LEASE_RENEW_MS = 10_000;
const STATUS_MS = 60_000;

export interface NodeRegistration {
  stop(): void;
}

export interface NodeSettings {
  name: string;
  hostIP: string;
  /** Where the agent's kubelet-like API answers (containerLogs), for the API server's pods/log. */
  kubeletPort: number;
  /** Where pods' files go: its free space is the node's ephemeral-storage. */
  dataDir: string;
  labels?: Record<string, string>;
  onError(message: string): void;
}

/** Capacity as a kubelet reports it: every core, all memory (in Ki), 110 pods. */
function capacity(dataDir: string): Record<string, string> {
  let storage = '10Gi';
  try {
    const fs = statfsSync(dataDir);
    storage = `${Math.floor((fs.blocks * fs.bsize) / 1024)}Ki`;
  } catch {
    /* keep the default */
  }
  return { cpu: String(cpus().length), memory: `${Math.floor(totalmem() / 1024)}Ki`, pods: '110', 'ephemeral-storage': storage };
}

function nodeStatus(s: NodeSettings, now: Date): NonNullable<V1Node['status']> {
  const cap = capacity(s.dataDir);
  const heartbeat = { lastHeartbeatTime: now, lastTransitionTime: now };
  return {
    capacity: cap,
    allocatable: cap,
    conditions: [
      { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory', message: 'kubelet has sufficient memory available', ...heartbeat },
      { type: 'DiskPressure', status: 'False', reason: 'KubeletHasNoDiskPressure', message: 'kubelet has no disk pressure', ...heartbeat },
      { type: 'PIDPressure', status: 'False', reason: 'KubeletHasSufficientPID', message: 'kubelet has sufficient PID available', ...heartbeat },
      { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', ...heartbeat },
    ],
    addresses: [
      { type: 'InternalIP', address: s.hostIP },
      { type: 'Hostname', address: s.name },
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: s.kubeletPort } },
    nodeInfo: {
      architecture: process.arch === 'x64' ? 'amd64' : process.arch,
      operatingSystem: 'linux',
      osImage: `refinery test node agent on ${hostname()}`,
      kernelVersion: release(),
      kubeletVersion: KUBELET_VERSION,
      kubeProxyVersion: '',
      containerRuntimeVersion: 'refinery-node-agent://1',
      machineID: '',
      systemUUID: '',
      bootID: '',
    },
  };
}

export async function registerNode(kc: KubeConfig, s: NodeSettings): Promise<NodeRegistration> {
  const core = kc.makeApiClient(CoreV1Api);
  const coordination = kc.makeApiClient(CoordinationV1Api);
  const labels = {
    'kubernetes.io/hostname': s.name,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': process.arch === 'x64' ? 'amd64' : process.arch,
    ...(s.labels ?? {}),
  };
  try {
    await core.createNode({ body: { metadata: { name: s.name, labels }, status: nodeStatus(s, new Date()) } });
  } catch (err) {
    if (apiStatus(err)?.code !== 409) throw err;
    await postStatus(); // registered before (a restarted agent): bring its status up to date
  }

  const owner = await core.readNode({ name: s.name });
  // renewTime is a MicroTime (exactly six fractional digits); @kubernetes/client-node 1.4 sends a
  // Date with three, which the API server refuses, so it goes in a patch as a string.
  const renewLease = async (): Promise<void> => {
    const body = { spec: { holderIdentity: s.name, leaseDurationSeconds: LEASE_SECONDS, renewTime: microTime(new Date()) } };
    const patch = (): Promise<unknown> =>
      coordination.patchNamespacedLease({ name: s.name, namespace: 'kube-node-lease', body }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    try {
      await patch();
    } catch (err) {
      if (apiStatus(err)?.code !== 404) throw err;
      await coordination.createNamespacedLease({
        namespace: 'kube-node-lease',
        body: {
          metadata: {
            name: s.name,
            namespace: 'kube-node-lease',
            ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: s.name, uid: owner.metadata?.uid ?? '' }],
          },
          spec: { holderIdentity: s.name, leaseDurationSeconds: LEASE_SECONDS },
        },
      });
      await patch();
    }
  };
  async function postStatus(): Promise<void> {
    await core.patchNodeStatus(
      { name: s.name, body: { status: jsonTimes(nodeStatus(s, new Date())) } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
  }

  await renewLease();
  const leaseTimer = setInterval(() => renewLease().catch((err: unknown) => s.onError(`lease of node ${s.name}: ${String(err)}`)), LEASE_RENEW_MS);
  const statusTimer = setInterval(() => postStatus().catch((err: unknown) => s.onError(`status of node ${s.name}: ${String(err)}`)), STATUS_MS);
  return {
    stop: () => {
      clearInterval(leaseTimer);
      clearInterval(statusTimer);
    },
  };
}

function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** A patch body is sent as it is: Dates must already be RFC 3339 strings. */
function jsonTimes(value: unknown): unknown {
  if (value instanceof Date) return time(value);
  if (Array.isArray(value)) return value.map(jsonTimes);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonTimes(v)]));
  return value;
}
