// Kubeconfig files and in-memory KubeConfigs for the test control plane.
import { writeFile } from 'node:fs/promises';
import { KubeConfig } from '@kubernetes/client-node';

export type Credentials = { token: string } | { certFile: string; keyFile: string };

/** A kubeconfig document (JSON is YAML, and every client reads it). */
export function kubeconfigDocument(server: string, caFile: string, user: string, credentials: Credentials, namespace = 'default'): string {
  const userEntry =
    'token' in credentials
      ? { token: credentials.token }
      : { 'client-certificate': credentials.certFile, 'client-key': credentials.keyFile };
  return `${JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'refinery-test', cluster: { server, 'certificate-authority': caFile } }],
      users: [{ name: user, user: userEntry }],
      contexts: [{ name: user, context: { cluster: 'refinery-test', user, namespace } }],
      'current-context': user,
    },
    null,
    2,
  )}\n`;
}

export async function writeKubeconfig(path: string, ...args: Parameters<typeof kubeconfigDocument>): Promise<string> {
  await writeFile(path, kubeconfigDocument(...args), { mode: 0o600 });
  return path;
}

/** A client configuration for `server`, trusting `caFile`, as `user` with `credentials`. */
export function kubeConfigFor(server: string, caFile: string, user: string, credentials: Credentials, namespace = 'default'): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfigDocument(server, caFile, user, credentials, namespace));
  return kc;
}
