// The command lines of the control plane's four servers. Everything binds to 127.0.0.1.
import { join } from 'node:path';

export interface ControlPlaneLayout {
  dir: string;
  etcdPort: number;
  etcdPeerPort: number;
  apiServerPort: number;
  controllerManagerPort: number;
  schedulerPort: number;
  caFile: string;
  serving: { certFile: string; keyFile: string };
  /** The API server's identity towards node agents (pods/log goes through it). */
  kubeletClient: { certFile: string; keyFile: string };
  serviceAccount: { privateKeyFile: string; publicKeyFile: string };
  tokenFile: string;
  controllerManagerKubeconfig: string;
  schedulerKubeconfig: string;
}

/**
 * Service ClusterIPs are allocated from here, but nothing routes to them (no kube-proxy): clients in
 * tests must connect to pod IPs (127.0.x.y), never to a Service's clusterIP.
 */
export const SERVICE_CLUSTER_IP_RANGE = '10.96.0.0/16';

export function etcdArgs(l: ControlPlaneLayout): string[] {
  const client = `http://127.0.0.1:${l.etcdPort}`;
  const peer = `http://127.0.0.1:${l.etcdPeerPort}`;
  return [
    '--name', 'test',
    '--data-dir', join(l.dir, 'etcd'),
    '--listen-client-urls', client, '--advertise-client-urls', client,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `test=${peer}`,
    // A throwaway store: no fsync (much faster on a shared disk), nothing kept.
    '--unsafe-no-fsync',
    '--log-level', 'warn',
  ];
}

export function apiServerArgs(l: ControlPlaneLayout): string[] {
  return [
    `--etcd-servers=http://127.0.0.1:${l.etcdPort}`,
    '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${l.apiServerPort}`,
    `--tls-cert-file=${l.serving.certFile}`, `--tls-private-key-file=${l.serving.keyFile}`,
    `--client-ca-file=${l.caFile}`,
    `--token-auth-file=${l.tokenFile}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${l.serviceAccount.publicKeyFile}`,
    `--service-account-signing-key-file=${l.serviceAccount.privateKeyFile}`,
    // As a production cluster: nodes may touch only their own Node and pods (Node authorizer plus
    // the NodeRestriction admission plugin), everyone else gets what RBAC grants.
    '--authorization-mode=Node,RBAC',
    // Added to the defaults, which already include NamespaceLifecycle, ServiceAccount, PodSecurity,
    // LimitRanger, ResourceQuota, Priority, DefaultTolerationSeconds and the admission webhooks.
    '--enable-admission-plugins=NodeRestriction',
    // Privileged pods are then refused by PodSecurity where a namespace asks for it, as in production.
    '--allow-privileged=true',
    `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
    // No endpoints for the `kubernetes` Service: they would be 127.0.0.1, which Endpoints refuse.
    '--endpoint-reconciler-type=none',
    // pods/log: the API server calls the node agent like a kubelet, at the node's InternalIP.
    `--kubelet-client-certificate=${l.kubeletClient.certFile}`,
    `--kubelet-client-key=${l.kubeletClient.keyFile}`,
    `--kubelet-certificate-authority=${l.caFile}`,
    '--kubelet-preferred-address-types=InternalIP',
    '--profiling=false',
  ];
}

/**
 * The controllers the tests and the Kubernetes spawner rely on, not the ~40 of a full cluster
 * (each costs CPU on a 2-core machine): garbage collection of ownerReferences, namespace deletion,
 * default ServiceAccounts and their legacy token Secrets, ReplicaSets and what makes them
 * (Deployments, StatefulSets), the aggregated admin/edit/view ClusterRoles, the kube-root-ca.crt
 * ConfigMap, EndpointSlices for Services, removal of pods whose node is gone, and node lifecycle:
 * the API server taints every new Node node.kubernetes.io/not-ready (TaintNodesByCondition) and
 * only this controller lifts it once the node reports Ready (and marks a node whose Lease stops
 * being renewed NotReady), and the PersistentVolume binder (claims bind to PersistentVolumes a
 * test made, so a pod with a home claim can be scheduled). Not running: taint-based eviction,
 * ResourceQuota usage, Jobs, CronJobs, DaemonSets, volume provisioning and attachment.
 */
export const CONTROLLERS = [
  'garbage-collector-controller',
  'namespace-controller',
  'serviceaccount-controller',
  'serviceaccount-token-controller',
  'replicaset-controller',
  'deployment-controller',
  'statefulset-controller',
  'clusterrole-aggregation-controller',
  'root-ca-certificate-publisher-controller',
  'endpointslice-controller',
  'pod-garbage-collector-controller',
  'node-lifecycle-controller',
  'persistentvolume-binder-controller',
];

export function controllerManagerArgs(l: ControlPlaneLayout): string[] {
  return [
    `--kubeconfig=${l.controllerManagerKubeconfig}`,
    '--bind-address=127.0.0.1', `--secure-port=${l.controllerManagerPort}`,
    '--leader-elect=false',
    // Each controller acts as its own ServiceAccount in kube-system, with its own RBAC role, as
    // kubeadm sets it up: a controller that lacks a permission fails here as it would there.
    '--use-service-account-credentials=true',
    `--service-account-private-key-file=${l.serviceAccount.privateKeyFile}`,
    `--root-ca-file=${l.caFile}`,
    `--controllers=${CONTROLLERS.join(',')}`,
    '--cluster-name=refinery-test',
    `--flex-volume-plugin-dir=${join(l.dir, 'flexvolume')}`,
    // Look at nodes every second rather than every 5: a new node agent's not-ready taint goes sooner.
    '--node-monitor-period=1s',
  ];
}

export function schedulerArgs(l: ControlPlaneLayout): string[] {
  return [
    `--kubeconfig=${l.schedulerKubeconfig}`,
    '--bind-address=127.0.0.1', `--secure-port=${l.schedulerPort}`,
    '--leader-elect=false',
  ];
}
