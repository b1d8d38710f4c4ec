// Where a server's pod may run: the spawner's own node selector, tolerations and affinity, then each
// catalog layer's (image < size < admin profiles < offered profile < option), into the pod spec.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, parseConfigText } from '../../src/config/load.js';
import { resolvePlan } from '../../src/profiles/resolve.js';
import type { Catalog } from '../../src/profiles/schema.js';
import { podManifest, serverNames } from '../../src/spawners/kubernetes/manifests.js';

const FILE = '/etc/refinery/refinery.yaml';

const YAML = `
spawner:
  type: kubernetes
  kubernetes:
    node_selector: {node-pool: notebooks}
    tolerations: [{key: dedicated, operator: Equal, value: notebooks, effect: NoSchedule}]
images:
  - name: python
    display_name: Python
    default: true
    kubernetes: {image: quay.io/team/python:1}
  - name: cuda
    display_name: CUDA
    kubernetes: {image: quay.io/team/cuda:12}
    node_selector: {gpu-driver: "550"}
sizes:
  - name: small
    display_name: Small
    default: true
  - name: gpu
    display_name: One GPU
    gpu: 1
    node_selector: {node-pool: gpu, accelerator: a100}
    tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
profiles:
  - name: physics
    groups: [physics]
    tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}, {key: physics, operator: Exists}]
profile_list:
  - slug: standard
    display_name: Standard
    default: true
    profile_options:
      zone:
        display_name: Zone
        choices:
          any: {display_name: Any, default: true}
          west:
            display_name: West
            overrides:
              affinity:
                nodeAffinity:
                  requiredDuringSchedulingIgnoredDuringExecution:
                    nodeSelectorTerms: [{matchExpressions: [{key: topology.kubernetes.io/zone, operator: In, values: [west-1]}]}]
`;

const { config } = parseConfigText(YAML, FILE);
const catalog: Catalog = { images: config.images ?? [], sizes: config.sizes ?? [], profiles: config.profiles ?? [], profile_list: config.profile_list ?? [] };
const kube = config.spawner.kubernetes!;

function podFor(user: string, groups: string[], selection: Record<string, unknown>) {
  const plan = resolvePlan(catalog, { user, groups, server: '' }, selection);
  return podManifest({
    request: {
      user, serverName: '', env: {}, servicePrefix: `/user/${user}/`, startTimeoutMs: 1000, onProgress: () => undefined,
      signal: new AbortController().signal, scheduling: plan.scheduling,
    },
    config: kube, namespace: 'lab', names: serverNames(kube, user, ''), image: { name: plan.kubernetes!.image },
    env: {}, secretNames: new Set(), args: [], stopGraceSeconds: 3,
  }).spec!;
}

describe('where a pod may run', () => {
  test('without catalog settings the pod gets the spawner\'s own node selector and tolerations', () => {
    const spec = podFor('alice', [], {});
    assert.deepEqual(spec.nodeSelector, { 'node-pool': 'notebooks' });
    assert.deepEqual(spec.tolerations, [{ key: 'dedicated', operator: 'Equal', value: 'notebooks', effect: 'NoSchedule' }]);
    assert.equal(spec.affinity, undefined);
  });

  test('the GPU size sends the pod to GPU nodes: its selector wins a shared key, tolerations add up', () => {
    const spec = podFor('alice', [], { size: 'gpu' });
    assert.deepEqual(spec.nodeSelector, { 'node-pool': 'gpu', accelerator: 'a100' });
    assert.deepEqual(spec.tolerations, [
      { key: 'dedicated', operator: 'Equal', value: 'notebooks', effect: 'NoSchedule' },
      { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
    ]);
  });

  test('image, size and a group\'s profile fold together; an identical toleration is kept once', () => {
    const spec = podFor('bob', ['physics'], { image: 'cuda', size: 'gpu' });
    assert.deepEqual(spec.nodeSelector, { 'node-pool': 'gpu', accelerator: 'a100', 'gpu-driver': '550' });
    assert.deepEqual(spec.tolerations?.map((t) => t.key), ['dedicated', 'nvidia.com/gpu', 'physics']);
  });

  test('a chosen option\'s affinity reaches the pod as written', () => {
    const spec = podFor('alice', [], { profile: 'standard', options: { zone: 'west' } });
    assert.deepEqual(spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms?.[0]?.matchExpressions?.[0]?.values, ['west-1']);
    assert.equal(podFor('alice', [], { profile: 'standard', options: { zone: 'any' } }).affinity, undefined);
  });

  test('a bad label key or toleration operator in a size is named by its key', () => {
    let message = '';
    try {
      parseConfigText('sizes:\n  - name: gpu\n    display_name: GPU\n    node_selector: {"bad key!": x}\n    tolerations: [{operator: Maybe}]\n', FILE);
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error));
      message = error.message;
    }
    assert.match(message, /sizes\[0\]\.node_selector/);
    assert.match(message, /sizes\[0\]\.tolerations\[0\]\.operator/);
  });
});
