// A container's environment, resolved as the kubelet resolves it: the image's ENV, then what the
// kubelet adds (HOSTNAME, the API server's address), then `envFrom` in order, then `env` in order
// with $(VAR) references to earlier variables expanded. Secrets and ConfigMaps are read through the
// API as this node, which the Node authorizer allows only for pods bound to it.
import { cpus, totalmem } from 'node:os';
import type { CoreV1Api, V1Container, V1Pod } from '@kubernetes/client-node';
import { apiStatus } from '../kube-cluster/errors.js';
import type { LocalImage } from './images.js';

/** Why a container cannot be created yet; kubelet reports these as CreateContainerConfigError and retries. */
export class ContainerConfigError extends Error {}

export interface EnvContext {
  core: CoreV1Api;
  pod: V1Pod;
  podIP: string;
  hostIP: string;
  image: LocalImage;
  /** HOME when the image does not set one. */
  home: string;
  /** The API server, for KUBERNETES_SERVICE_HOST/PORT (the `kubernetes` Service's clusterIP routes nowhere here). */
  apiServer: URL;
  /** Added to every container so leftovers can be traced to a test run. */
  markers: Record<string, string>;
}

export interface ResolvedEnv {
  /** The process environment. */
  env: Record<string, string>;
  /** What $(VAR) in command and args may refer to (the kubelet-defined variables). */
  vars: Record<string, string>;
}

export async function containerEnv(container: V1Container, ctx: EnvContext): Promise<ResolvedEnv> {
  const { pod, image } = ctx;
  const namespace = pod.metadata?.namespace ?? 'default';
  const env: Record<string, string> = { ...ctx.markers };
  const basePath = image.env?.PATH ?? process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin';
  Object.assign(env, image.env ?? {});
  env.PATH = [...(image.pathPrefix ?? []), basePath].join(':');
  env.HOME ??= ctx.home;
  env.HOSTNAME = pod.spec?.hostname ?? pod.metadata?.name ?? '';
  env.KUBERNETES_SERVICE_HOST = ctx.apiServer.hostname;
  env.KUBERNETES_SERVICE_PORT = ctx.apiServer.port || '443';
  env.KUBERNETES_SERVICE_PORT_HTTPS = env.KUBERNETES_SERVICE_PORT;

  const secrets = new Map<string, Promise<Record<string, string> | undefined>>();
  const configMaps = new Map<string, Promise<Record<string, string> | undefined>>();
  const secret = (name: string): Promise<Record<string, string> | undefined> => {
    if (!secrets.has(name)) secrets.set(name, readData(() => ctx.core.readNamespacedSecret({ name, namespace }), true));
    return secrets.get(name)!;
  };
  const configMap = (name: string): Promise<Record<string, string> | undefined> => {
    if (!configMaps.has(name)) configMaps.set(name, readData(() => ctx.core.readNamespacedConfigMap({ name, namespace }), false));
    return configMaps.get(name)!;
  };

  // $(VAR) sees what the kubelet defines (the service variables, envFrom, earlier env entries),
  // not the image's ENV, which the runtime adds later.
  const defined: Record<string, string> = {
    KUBERNETES_SERVICE_HOST: env.KUBERNETES_SERVICE_HOST,
    KUBERNETES_SERVICE_PORT: env.KUBERNETES_SERVICE_PORT,
    KUBERNETES_SERVICE_PORT_HTTPS: env.KUBERNETES_SERVICE_PORT_HTTPS,
  };
  for (const source of container.envFrom ?? []) {
    const prefix = source.prefix ?? '';
    if (source.secretRef) {
      const data = await secret(source.secretRef.name ?? '');
      if (!data && !source.secretRef.optional) throw new ContainerConfigError(`secret "${source.secretRef.name}" not found`);
      for (const [k, v] of Object.entries(data ?? {})) env[prefix + k] = defined[prefix + k] = v;
    } else if (source.configMapRef) {
      const data = await configMap(source.configMapRef.name ?? '');
      if (!data && !source.configMapRef.optional) throw new ContainerConfigError(`configmap "${source.configMapRef.name}" not found`);
      for (const [k, v] of Object.entries(data ?? {})) env[prefix + k] = defined[prefix + k] = v;
    }
  }

  for (const variable of container.env ?? []) {
    let value: string | undefined;
    const from = variable.valueFrom;
    if (!from) {
      value = expand(variable.value ?? '', defined);
    } else if (from.fieldRef) {
      value = fieldValue(from.fieldRef.fieldPath, ctx);
    } else if (from.secretKeyRef) {
      const { name = '', key, optional } = from.secretKeyRef;
      const data = await secret(name);
      if (!data && !optional) throw new ContainerConfigError(`secret "${name}" not found`);
      value = data?.[key];
      if (data && value === undefined && !optional) throw new ContainerConfigError(`couldn't find key ${key} in Secret ${namespace}/${name}`);
    } else if (from.configMapKeyRef) {
      const { name = '', key, optional } = from.configMapKeyRef;
      const data = await configMap(name);
      if (!data && !optional) throw new ContainerConfigError(`configmap "${name}" not found`);
      value = data?.[key];
      if (data && value === undefined && !optional) throw new ContainerConfigError(`couldn't find key ${key} in ConfigMap ${namespace}/${name}`);
    } else if (from.resourceFieldRef) {
      value = resourceValue(container, from.resourceFieldRef.resource);
    }
    if (value === undefined) continue;
    env[variable.name] = value;
    defined[variable.name] = value;
  }
  return { env, vars: defined };
}

/** $(VAR) -> its value when defined, left as written otherwise; $$ -> $ (Kubernetes' expansion rules). */
export function expand(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) => {
    if (match === '$$') return '$';
    return name !== undefined && name in vars ? vars[name]! : match;
  });
}

function fieldValue(path: string, ctx: EnvContext): string {
  const { pod } = ctx;
  const meta = pod.metadata ?? {};
  const labelOrAnnotation = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (labelOrAnnotation) return (labelOrAnnotation[1] === 'labels' ? meta.labels : meta.annotations)?.[labelOrAnnotation[2]!] ?? '';
  switch (path) {
    case 'metadata.name': return meta.name ?? '';
    case 'metadata.namespace': return meta.namespace ?? '';
    case 'metadata.uid': return meta.uid ?? '';
    case 'spec.nodeName': return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName': return pod.spec?.serviceAccountName ?? '';
    case 'status.hostIP': case 'status.hostIPs': return ctx.hostIP;
    case 'status.podIP': case 'status.podIPs': return ctx.podIP;
    default: throw new ContainerConfigError(`unsupported fieldRef fieldPath "${path}"`);
  }
}

/** limits.cpu etc. as the kubelet gives them (cpu in whole cores rounded up, memory in bytes); unset limits are this node's capacity. */
function resourceValue(container: V1Container, resource: string): string {
  const [kind, name] = resource.split('.') as ['limits' | 'requests', string];
  const quantity = container.resources?.[kind]?.[name];
  if (name === 'cpu') return String(quantity === undefined ? cpus().length : Math.ceil(cpuCores(quantity)));
  if (name === 'memory') return String(quantity === undefined ? totalmem() : bytes(quantity));
  return quantity ?? '0';
}

function cpuCores(q: string): number {
  return q.endsWith('m') ? Number(q.slice(0, -1)) / 1000 : Number(q);
}

const SUFFIX: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
function bytes(q: string): number {
  const m = /^(\d+(?:\.\d+)?)([A-Za-z]*)$/.exec(q);
  return m ? Math.round(Number(m[1]) * (SUFFIX[m[2]!] ?? 1)) : 0;
}

/** A Secret's or ConfigMap's data as strings, undefined when it does not exist. */
async function readData(
  read: () => Promise<{ data?: Record<string, string>; binaryData?: Record<string, string> }>,
  base64: boolean,
): Promise<Record<string, string> | undefined> {
  try {
    const object = await read();
    const data: Record<string, string> = {};
    for (const [k, v] of Object.entries(object.data ?? {})) data[k] = base64 ? Buffer.from(v, 'base64').toString('utf8') : v;
    return data;
  } catch (err) {
    const status = apiStatus(err);
    if (status?.code === 404) return undefined;
    // 403 too: the Node authorizer allows a Secret only once it has seen a pod on this node use it.
    throw new ContainerConfigError(status ? `${status.code}: ${status.message}` : String(err));
  }
}
