// A namespace and a ServiceAccount allowed only what a Role there grants, with a token from the
// TokenRequest API: how a namespaced component (the Kubernetes spawner) is meant to be deployed.
import {
  CoreV1Api,
  RbacAuthorizationV1Api,
  type KubeConfig,
  type V1PolicyRule,
} from '@kubernetes/client-node';
import { waitFor } from '../tmp.js';
import { kubeConfigFor } from './kubeconfig.js';
import { isNotFound } from './errors.js';

/** What a spawner needs in its own namespace: its pods (and their logs and events), Services, Secrets, ConfigMaps. */
export const SPAWNER_RULES: V1PolicyRule[] = [
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
  { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
  { apiGroups: [''], resources: ['events'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [''], resources: ['services', 'secrets', 'configmaps'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
];

export interface NamespaceOptions {
  labels?: Record<string, string>;
  /** What the ServiceAccount may do in the namespace (default SPAWNER_RULES). */
  rules?: V1PolicyRule[];
  /** Name of the ServiceAccount (default "refinery"). */
  serviceAccount?: string;
  /** Token lifetime; the API server's minimum is 600 s (default 3600). */
  tokenSeconds?: number;
}

export interface NamespaceAccess {
  namespace: string;
  serviceAccount: string;
  /** A bound ServiceAccount token (TokenRequest API), as a projected token volume would hold. */
  token: string;
  /** A client configuration that authenticates with `token`, default namespace `namespace`. */
  kubeConfig: KubeConfig;
}

export async function createNamespaceAccess(
  admin: KubeConfig,
  server: string,
  caFile: string,
  namespace: string,
  options: NamespaceOptions = {},
): Promise<NamespaceAccess> {
  const core = admin.makeApiClient(CoreV1Api);
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  const serviceAccount = options.serviceAccount ?? 'refinery';
  await core.createNamespace({ body: { metadata: { name: namespace, labels: options.labels ?? {} } } });
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: serviceAccount } } });
  await rbac.createNamespacedRole({ namespace, body: { metadata: { name: serviceAccount }, rules: options.rules ?? SPAWNER_RULES } });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name: serviceAccount },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: serviceAccount },
      subjects: [{ kind: 'ServiceAccount', name: serviceAccount, namespace }],
    },
  });
  const request = await core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: options.tokenSeconds ?? 3600 } },
  });
  const token = request.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${serviceAccount} returned no token`);
  // Pods that name no ServiceAccount run as "default", which the controller-manager creates; the
  // ServiceAccount admission plugin refuses them until it exists.
  await waitFor(
    () => core.readNamespacedServiceAccount({ name: 'default', namespace }).then(() => true, (err: unknown) => {
      if (isNotFound(err)) return false;
      throw err;
    }),
    { timeoutMs: 30_000, message: `ServiceAccount ${namespace}/default (made by kube-controller-manager)` },
  );
  return {
    namespace,
    serviceAccount,
    token,
    kubeConfig: kubeConfigFor(server, caFile, `system:serviceaccount:${namespace}:${serviceAccount}`, { token }, namespace),
  };
}
