/**
 * Where the hub's Kubernetes connection comes from: a KubeConfig object (tests, embedding), a
 * kubeconfig file (running outside the cluster), or, inside a pod, the service account's token, CA
 * and namespace under /var/run/secrets/kubernetes.io/serviceaccount (the token file is re-read as
 * the kubelet rotates it: client-node's tokenFile provider).
 */
import { existsSync, readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubeConnectionOptions {
  /** Used as given (and its context's namespace, unless `namespace` is set). */
  kubeConfig?: KubeConfig;
  /** A kubeconfig file; its current context. */
  kubeconfigPath?: string;
  /** The namespace to work in; default: the kubeconfig context's, in a pod the service account's, else "default". */
  namespace?: string;
  /** Where the service account's files are mounted (tests point it elsewhere). */
  serviceAccountDir?: string;
  env?: NodeJS.ProcessEnv;
}

export interface KubeConnection {
  kubeConfig: KubeConfig;
  namespace: string;
  /** 'given', 'kubeconfig <path>' or 'in-cluster': for messages. */
  source: string;
}

/** Resolve the connection; throws an Error that says what is missing and which setting would fix it. */
export function kubeConnection(options: KubeConnectionOptions = {}): KubeConnection {
  const env = options.env ?? process.env;
  if (options.kubeConfig) {
    return { kubeConfig: options.kubeConfig, namespace: options.namespace ?? contextNamespace(options.kubeConfig) ?? 'default', source: 'given' };
  }
  if (options.kubeconfigPath) {
    if (!existsSync(options.kubeconfigPath)) throw new Error(`kubeconfig ${options.kubeconfigPath} does not exist`);
    const kc = new KubeConfig();
    kc.loadFromFile(options.kubeconfigPath);
    if (!kc.getCurrentCluster()) throw new Error(`kubeconfig ${options.kubeconfigPath} has no current context with a cluster`);
    return { kubeConfig: kc, namespace: options.namespace ?? contextNamespace(kc) ?? 'default', source: `kubeconfig ${options.kubeconfigPath}` };
  }
  const dir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  if (!env.KUBERNETES_SERVICE_HOST || !existsSync(`${dir}/token`)) {
    throw new Error(`not running in a Kubernetes pod (no KUBERNETES_SERVICE_HOST or no ${dir}/token): set spawner.kubernetes.kubeconfig to a kubeconfig file`);
  }
  const kc = new KubeConfig();
  // loadFromCluster reads KUBERNETES_SERVICE_* from process.env
  const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
  process.env.KUBERNETES_SERVICE_HOST = env.KUBERNETES_SERVICE_HOST;
  process.env.KUBERNETES_SERVICE_PORT = env.KUBERNETES_SERVICE_PORT ?? '443';
  try {
    kc.loadFromCluster(dir === SERVICE_ACCOUNT_DIR ? '' : dir.slice(0, dir.length - SERVICE_ACCOUNT_DIR.length));
  } finally {
    restore('KUBERNETES_SERVICE_HOST', saved.host);
    restore('KUBERNETES_SERVICE_PORT', saved.port);
  }
  const namespace = options.namespace ?? (existsSync(`${dir}/namespace`) ? readFileSync(`${dir}/namespace`, 'utf8').trim() : '') ?? 'default';
  return { kubeConfig: kc, namespace: namespace || 'default', source: 'in-cluster' };
}

function restore(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

function contextNamespace(kc: KubeConfig): string | undefined {
  const context = kc.getContextObject(kc.getCurrentContext());
  return context?.namespace || undefined;
}
