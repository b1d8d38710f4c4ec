// The Helm chart in deploy/chart: helm lint and helm template with the default and the OpenShift
// values, every rendered object server-side applied (dry run) to a real API server in a namespace
// that enforces the restricted Pod Security Standard, the hub's pod template admitted there as a
// pod, the rendered configuration accepted by Refinery's own loader, and the hub's Role the same
// as deploy/kubernetes/rbac.yaml.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, KubernetesObjectApi, PatchStrategy, type KubernetesObject, type V1Deployment, type V1PolicyRule } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { parseConfigText } from '../../src/config/load.js';
import { repoRoot } from '../../src/host/repo-root.js';
import { startKubeCluster, type KubeCluster } from '../helpers/kube-cluster.js';

const run = promisify(execFile);
const ROOT = repoRoot();
const CHART = join(ROOT, 'deploy', 'chart');
const HELM = join(ROOT, '.tools', 'bin', 'helm');
const NS = 'notebooks';

interface Rendered extends KubernetesObject {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

async function helm(args: string[]): Promise<string> {
  const { stdout } = await run(HELM, args, { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

async function render(values: string[] = [], set: string[] = []): Promise<Rendered[]> {
  const text = await helm(['template', 'refinery', CHART, '--namespace', NS, ...values.flatMap((v) => ['-f', join(CHART, v)]), ...set.flatMap((s) => ['--set', s])]);
  return parseAllDocuments(text).map((d) => d.toJS() as Rendered | null).filter((o): o is Rendered => !!o);
}

function one(objects: Rendered[], kind: string, name?: string): Rendered {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.equal(found.length, 1, `one ${kind}${name ? ` ${name}` : ''} in ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found[0]!;
}

function configOf(objects: Rendered[]): string {
  const data = (one(objects, 'ConfigMap') as Rendered & { data: Record<string, string> }).data;
  assert.ok(data['refinery.yaml'], 'the ConfigMap holds refinery.yaml');
  return data['refinery.yaml'];
}

let cluster: KubeCluster;
let objectsApi: KubernetesObjectApi;
let core: CoreV1Api;

before(async () => {
  cluster = await startKubeCluster();
  const kc = cluster.adminKubeConfig();
  objectsApi = KubernetesObjectApi.makeApiClient(kc);
  core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: NS, labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' } } } });
});

after(async () => {
  await cluster?.stop();
});

/** Server-side apply with dryRun=All: validation, defaulting and admission run; nothing is stored. */
async function applyDryRun(objects: Rendered[]): Promise<string[]> {
  const refused: string[] = [];
  for (const object of objects) {
    const body = { ...object, metadata: { ...object.metadata, namespace: object.metadata.namespace ?? NS } };
    try {
      await objectsApi.patch(body, undefined, 'All', 'refinery-chart-test', true, PatchStrategy.ServerSideApply);
    } catch (error) {
      refused.push(`${object.kind}/${object.metadata.name}: ${String((error as { body?: unknown }).body ?? error)}`);
    }
  }
  return refused;
}

/** The hub's pod as the Deployment would make it, admitted (dry run) in the restricted namespace. */
async function admitHubPod(objects: Rendered[]): Promise<void> {
  const deployment = one(objects, 'Deployment') as unknown as V1Deployment;
  const template = deployment.spec!.template;
  // admission looks the pod's ServiceAccount up: that one object is made for real
  const account = one(objects, 'ServiceAccount');
  await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: account.metadata.name } } }).catch((error: unknown) => {
    if ((error as { code?: number }).code !== 409) throw error;
  });
  await core.createNamespacedPod({ namespace: NS, dryRun: 'All', body: { metadata: { ...template.metadata, name: 'refinery-hub-admission' }, spec: template.spec! } });
}

describe('the Helm chart', () => {
  test('helm lint passes with the default and the OpenShift values', { timeout: 60_000 }, async () => {
    for (const values of [[], ['-f', join(CHART, 'values-openshift.yaml')]]) {
      const out = await helm(['lint', CHART, ...values]);
      assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  test('default values: every object applies to the real API server and the hub\'s pod is admitted as restricted', { timeout: 120_000 }, async () => {
    const objects = await render();
    const kinds = objects.map((o) => o.kind).sort();
    assert.deepEqual(kinds, ['ConfigMap', 'Deployment', 'NetworkPolicy', 'NetworkPolicy', 'PersistentVolumeClaim', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service', 'ServiceAccount']);
    assert.deepEqual(await applyDryRun(objects), []);
    await admitHubPod(objects);
    const deployment = one(objects, 'Deployment') as unknown as V1Deployment;
    const container = deployment.spec!.template.spec!.containers[0]!;
    assert.equal(container.readinessProbe?.httpGet?.path, '/hub/health');
    assert.equal(container.livenessProbe?.httpGet?.path, '/hub/health');
    assert.equal(deployment.spec!.replicas, 1);
  });

  test('the rendered configuration is valid Refinery configuration, with the namespace and the hub\'s address filled in', async () => {
    const { config } = parseConfigText(configOf(await render()), '/etc/refinery/refinery.yaml');
    assert.equal(config.spawner.type, 'kubernetes');
    assert.equal(config.spawner.kubernetes?.namespace, NS);
    assert.equal(config.spawner.kubernetes?.hub_name, 'refinery');
    assert.equal(config.spawner.kubernetes?.hub_connect_url, `http://refinery.${NS}.svc:8000`);
    assert.deepEqual(config.listen, { host: '0.0.0.0', port: 8000 });
    assert.equal(config.data_dir, '/srv/refinery/data');
  });

  test('PostgreSQL from a Secret: the URL reaches the hub through the environment, never the ConfigMap', async () => {
    const objects = await render([], ['database.existingSecret=refinery-db']);
    const text = configOf(objects);
    const { config } = (() => {
      process.env.REFINERY_DATABASE_URL = 'postgres://hub:pw@db:5432/refinery';
      try { return parseConfigText(text, '/etc/refinery/refinery.yaml'); } finally { delete process.env.REFINERY_DATABASE_URL; }
    })();
    assert.equal(config.database, 'postgres://hub:pw@db:5432/refinery');
    const env = (one(objects, 'Deployment') as unknown as V1Deployment).spec!.template.spec!.containers[0]!.env ?? [];
    assert.deepEqual(env.find((e) => e.name === 'REFINERY_DATABASE_URL')?.valueFrom?.secretKeyRef, { name: 'refinery-db', key: 'url' });
    assert.deepEqual(await applyDryRun(objects), []);
  });

  test('the hub\'s Role is exactly the one in deploy/kubernetes/rbac.yaml, which the Kubernetes tests run the hub with', async () => {
    const manifest = parseAllDocuments(await readFile(join(ROOT, 'deploy', 'kubernetes', 'rbac.yaml'), 'utf8')).map((d) => d.toJS() as Rendered & { rules?: V1PolicyRule[] });
    const expected = manifest.find((o) => o.kind === 'Role')!.rules;
    const rendered = (one(await render(), 'Role') as Rendered & { rules: V1PolicyRule[] }).rules;
    assert.deepEqual(rendered, expected);
  });

  test('OpenShift values: a Route with edge TLS instead of an Ingress, no fixed ids, ImageStreams readable; the rest applies', { timeout: 120_000 }, async () => {
    const objects = await render(['values-openshift.yaml']);
    const route = one(objects, 'Route') as Rendered & { spec: { tls: { termination: string }; to: { name: string } } };
    assert.equal(route.spec.tls.termination, 'edge');
    assert.equal(route.spec.to.name, one(objects, 'Service').metadata.name);
    assert.equal(objects.filter((o) => o.kind === 'Ingress').length, 0);
    const security = (one(objects, 'Deployment') as unknown as V1Deployment).spec!.template.spec!.securityContext!;
    assert.equal(security.runAsUser, undefined);
    assert.equal(security.fsGroup, undefined);
    assert.equal(security.runAsNonRoot, true);
    const rules = (one(objects, 'Role') as Rendered & { rules: V1PolicyRule[] }).rules;
    assert.ok(rules.some((r) => r.apiGroups?.includes('image.openshift.io') && r.resources?.includes('imagestreams') && r.verbs.includes('watch')));
    const { config } = parseConfigText(configOf(objects), '/etc/refinery/refinery.yaml');
    assert.equal(config.auth.type, 'openshift');
    assert.equal(config.auth.openshift?.client_id, `system:serviceaccount:${NS}:refinery-hub`, 'the hub\'s service account is the OAuth client');
    assert.match(one(objects, 'ServiceAccount').metadata.annotations?.['serviceaccounts.openshift.io/oauth-redirectreference.refinery'] ?? '', /"kind":"Route","name":"refinery"/);
    // this API server has no route.openshift.io: everything else must apply as on OpenShift
    assert.deepEqual(await applyDryRun(objects.filter((o) => o.kind !== 'Route')), []);
    await admitHubPod(objects);
  });

  test('an Ingress when asked for, with TLS from a Secret', { timeout: 60_000 }, async () => {
    const objects = await render([], ['ingress.enabled=true', 'ingress.host=hub.example.org', 'ingress.tlsSecret=hub-tls']);
    const ingress = one(objects, 'Ingress') as Rendered & { spec: { tls: { secretName: string }[]; rules: { host: string }[] } };
    assert.equal(ingress.spec.rules[0]!.host, 'hub.example.org');
    assert.equal(ingress.spec.tls[0]!.secretName, 'hub-tls');
    assert.deepEqual(await applyDryRun([ingress]), []);
  });
});
