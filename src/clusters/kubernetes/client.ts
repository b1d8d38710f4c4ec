/**
 * The few Kubernetes API calls the cluster backends make, behind a small interface (KubeClient), and
 * one implementation over HTTPS (HttpKubeClient).
 *
 * Why not `@kubernetes/client-node`: the backends need create / get / list-by-label / merge-patch /
 * delete on six namespaced resources; that library brings a generated client for every API group and
 * its own HTTP stack. Why node:https and not fetch: Node's global fetch cannot be given a CA bundle
 * without the separate `undici` package (its Agent), and an in-cluster API server is signed by the
 * cluster's own CA.
 *
 * Every write asks for `fieldValidation=Strict`, so an unknown field is an error (400) instead of
 * being dropped silently by the API server, and schema violations come back as 422 Invalid; both
 * surface as KubeApiError with the server's message.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** A namespaced resource type: `group` '' is the core API (`/api/v1`). */
export interface Resource {
  group: string;
  version: string;
  /** The URL segment: 'pods', 'daskclusters'. */
  plural: string;
  kind: string;
}

export const RESOURCES = {
  pod: { group: '', version: 'v1', plural: 'pods', kind: 'Pod' },
  service: { group: '', version: 'v1', plural: 'services', kind: 'Service' },
  secret: { group: '', version: 'v1', plural: 'secrets', kind: 'Secret' },
  deployment: { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment' },
  networkPolicy: { group: 'networking.k8s.io', version: 'v1', plural: 'networkpolicies', kind: 'NetworkPolicy' },
  daskCluster: { group: 'kubernetes.dask.org', version: 'v1', plural: 'daskclusters', kind: 'DaskCluster' },
  sparkConnect: { group: 'sparkoperator.k8s.io', version: 'v1alpha1', plural: 'sparkconnects', kind: 'SparkConnect' },
} as const satisfies Record<string, Resource>;

export function apiVersionOf(resource: Resource): string {
  return resource.group ? `${resource.group}/${resource.version}` : resource.version;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
}

/** Any API object; backends read the parts they know with the helpers in objects.ts. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/** An answer of the API server other than success, with its Status reason ('NotFound', 'AlreadyExists', 'Invalid', ...). */
export class KubeApiError extends Error {
  constructor(readonly status: number, readonly reason: string, message: string) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export interface KubeClient {
  create(resource: Resource, namespace: string, object: KubeObject): Promise<KubeObject>;
  /** null when it does not exist. */
  get(resource: Resource, namespace: string, name: string): Promise<KubeObject | null>;
  /** `labelSelector` as the API takes it: `a=b,c`. */
  list(resource: Resource, namespace: string, labelSelector: string): Promise<KubeObject[]>;
  /** A JSON merge patch (RFC 7386). */
  patch(resource: Resource, namespace: string, name: string, patch: Record<string, unknown>): Promise<KubeObject>;
  /** Deletes (dependents in the background); false when it was already gone. */
  delete(resource: Resource, namespace: string, name: string): Promise<boolean>;
}

export interface HttpKubeClientOptions {
  /** `https://10.0.0.1:443`; in a pod: from KUBERNETES_SERVICE_HOST/PORT. */
  server: string;
  /** The bearer token, or a function that reads it (projected tokens rotate: re-read each request). */
  token?: string | (() => string);
  /** PEM of the CA that signed the API server's certificate. */
  ca?: string | Buffer;
  /** Per request. Default 30 s. */
  timeoutMs?: number;
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The namespace this pod runs in (the service account's), or null outside a cluster. */
export function inClusterNamespace(dir = SERVICE_ACCOUNT_DIR): string | null {
  try {
    return readFileSync(`${dir}/namespace`, 'utf8').trim() || null;
  } catch {
    return null;
  }
}

/** The connection a pod has to its own API server: service-account token and CA, KUBERNETES_SERVICE_* address. */
export function inClusterOptions(env: NodeJS.ProcessEnv = process.env, dir = SERVICE_ACCOUNT_DIR): HttpKubeClientOptions {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new Error('not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST is not set): configure the API server address');
  let cached = { token: '', at: 0 };
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    // kubelet refreshes the projected token well before it expires; a minute's cache is safe
    token: () => {
      if (Date.now() - cached.at > 60_000) cached = { token: readFileSync(`${dir}/token`, 'utf8').trim(), at: Date.now() };
      return cached.token;
    },
    ca: readFileSync(`${dir}/ca.crt`),
  };
}

export class HttpKubeClient implements KubeClient {
  private readonly base: URL;

  constructor(private readonly o: HttpKubeClientOptions) {
    this.base = new URL(o.server);
  }

  private path(resource: Resource, namespace: string, name?: string): string {
    const prefix = resource.group ? `/apis/${resource.group}/${resource.version}` : `/api/${resource.version}`;
    return `${prefix}/namespaces/${encodeURIComponent(namespace)}/${resource.plural}${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
  }

  private send(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; json: unknown }> {
    const url = new URL(path, this.base);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const token = typeof this.o.token === 'function' ? this.o.token() : this.o.token;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    if (payload) Object.assign(headers, { 'content-type': contentType, 'content-length': String(payload.length) });
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, { method, headers, timeout: this.o.timeoutMs ?? 30_000, ...(url.protocol === 'https:' && this.o.ca ? { ca: this.o.ca } : {}) }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown = null;
          try {
            json = text ? JSON.parse(text) : null;
          } catch {
            json = { message: text.slice(0, 300) };
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      });
      req.on('timeout', () => req.destroy(new Error(`the Kubernetes API did not answer ${method} ${url.pathname} in time`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  private async call(method: string, path: string, body?: unknown, contentType?: string): Promise<unknown> {
    const { status, json } = await this.send(method, path, body, contentType);
    if (status >= 200 && status < 300) return json;
    const s = (json ?? {}) as { reason?: string; message?: string };
    throw new KubeApiError(status, s.reason ?? String(status), s.message ?? `${method} ${path}: HTTP ${status}`);
  }

  async create(resource: Resource, namespace: string, object: KubeObject): Promise<KubeObject> {
    return (await this.call('POST', `${this.path(resource, namespace)}?fieldValidation=Strict`, object)) as KubeObject;
  }

  async get(resource: Resource, namespace: string, name: string): Promise<KubeObject | null> {
    try {
      return (await this.call('GET', this.path(resource, namespace, name))) as KubeObject;
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) return null;
      throw error;
    }
  }

  async list(resource: Resource, namespace: string, labelSelector: string): Promise<KubeObject[]> {
    const list = (await this.call('GET', `${this.path(resource, namespace)}?labelSelector=${encodeURIComponent(labelSelector)}`)) as { items?: KubeObject[] };
    // list items carry no apiVersion/kind of their own; put them back so they read like single objects
    return (list.items ?? []).map((item) => ({ ...item, apiVersion: apiVersionOf(resource), kind: resource.kind }));
  }

  async patch(resource: Resource, namespace: string, name: string, patch: Record<string, unknown>): Promise<KubeObject> {
    return (await this.call('PATCH', `${this.path(resource, namespace, name)}?fieldValidation=Strict`, patch, 'application/merge-patch+json')) as KubeObject;
  }

  async delete(resource: Resource, namespace: string, name: string): Promise<boolean> {
    try {
      await this.call('DELETE', this.path(resource, namespace, name), { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' });
      return true;
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) return false;
      throw error;
    }
  }
}
