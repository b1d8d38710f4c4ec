// Catalog images from OpenShift ImageStreams (images_from: imagestreams) against the real API server:
// three annotated streams become cards with their software lists, badges and one card per tag; a
// stream without the notebook label is not offered; a tag added later shows up on the spawn form
// without a restart; starting one runs a pod with that tag's imported image reference.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { repoRoot } from '../../src/host/repo-root.js';
import { launchKubeHub, startKubeWorld, type KubeWorld } from '../helpers/kube-hub.js';
import { installImageStreamCrd } from '../helpers/openshift-crds.js';
import { startServerAndWait, type RefineryProcess } from '../helpers/refinery.js';
import { addUser, signIn } from '../helpers/session.js';
import { waitFor } from '../helpers/tmp.js';

const NS = 'lab';
const REGISTRY = 'image-registry.openshift-image-registry.svc:5000/lab';
const DS_2025_1 = `${REGISTRY}/datascience@sha256:${'1'.repeat(64)}`;
const DS_2025_2 = `${REGISTRY}/datascience@sha256:${'2'.repeat(64)}`;
const DS_2026_1 = `${REGISTRY}/datascience@sha256:${'3'.repeat(64)}`;
const TORCH = `${REGISTRY}/pytorch@sha256:${'4'.repeat(64)}`;
const MINIMAL = 'quay.io/team/minimal:1.0';

let world: KubeWorld;
let hub: RefineryProcess;
let custom: CustomObjectsApi;

const software = (items: [string, string][]) => JSON.stringify(items.map(([name, version]) => ({ name, version })));

function stream(name: string, labels: Record<string, string>, annotations: Record<string, string>, tags: { name: string; ref: string; annotations?: Record<string, string> }[]) {
  return {
    apiVersion: 'image.openshift.io/v1', kind: 'ImageStream',
    metadata: { name, namespace: NS, labels, annotations },
    spec: { lookupPolicy: { local: true }, tags: tags.map((t) => ({ name: t.name, annotations: t.annotations ?? {}, from: { kind: 'DockerImage', name: `${REGISTRY}/${name}:${t.name}` }, referencePolicy: { type: 'Local' } })) },
    // what OpenShift's image import writes: the digest each tag resolved to
    status: { dockerImageRepository: `${REGISTRY}/${name}`, tags: tags.map((t) => ({ tag: t.name, items: [{ created: '2026-11-01T00:00:00Z', dockerImageReference: t.ref, image: t.ref.split('@')[1] ?? '' }] })) },
  };
}

const NOTEBOOK = { 'opendatahub.io/notebook-image': 'true' };

before(async () => {
  const base = { pathPrefix: [join(repoRoot(), 'envs', 'base', 'bin')], uid: 1000, gid: 1000 };
  world = await startKubeWorld(NS, {
    images: { [DS_2025_2]: base, [DS_2026_1]: base },
    // what the chart's openshift.imageStreams adds to the hub's Role
    extraRules: [{ apiGroups: ['image.openshift.io'], resources: ['imagestreams'], verbs: ['get', 'list', 'watch'] }],
  });
  const adminKc = world.cluster.adminKubeConfig();
  await installImageStreamCrd(adminKc);
  custom = adminKc.makeApiClient(CustomObjectsApi);
  const create = (body: object) => custom.createNamespacedCustomObject({ group: 'image.openshift.io', version: 'v1', namespace: NS, plural: 'imagestreams', body });
  await create(stream('datascience', NOTEBOOK, {
    'opendatahub.io/notebook-image-name': 'Data Science',
    'opendatahub.io/notebook-image-desc': 'Pandas, scikit-learn and friends',
    'opendatahub.io/notebook-image-order': '10',
  }, [
    { name: '2025.1', ref: DS_2025_1, annotations: { 'opendatahub.io/notebook-software': software([['Python', 'v3.9']]), 'opendatahub.io/image-tag-outdated': 'true' } },
    {
      name: '2025.2', ref: DS_2025_2, annotations: {
        'opendatahub.io/notebook-software': software([['Python', 'v3.11']]),
        'opendatahub.io/notebook-python-dependencies': software([['Pandas', '2.2'], ['Scikit-learn', '1.5']]),
        'opendatahub.io/notebook-image-recommended': 'true',
      },
    },
  ]));
  await create(stream('pytorch', NOTEBOOK, { 'opendatahub.io/notebook-image-name': 'PyTorch', 'opendatahub.io/notebook-image-order': '20' }, [
    { name: '2025.2', ref: TORCH, annotations: { 'opendatahub.io/notebook-software': software([['CUDA', '12.4'], ['Python', 'v3.11']]) } },
  ]));
  await create(stream('minimal', NOTEBOOK, { 'opendatahub.io/notebook-image-name': 'Minimal Python', 'opendatahub.io/notebook-image-order': '5' }, [{ name: '1.0', ref: MINIMAL }]));
  await create(stream('builder', {}, { 'opendatahub.io/notebook-image-name': 'Not a notebook' }, [{ name: 'latest', ref: `${REGISTRY}/builder@sha256:${'5'.repeat(64)}` }]));
  hub = await launchKubeHub(world, { images_from: [{ imagestreams: {} }] });
  await addUser(hub, 'alice', 'alice-password-1');
});

after(async () => {
  await hub?.cleanup();
  await world?.stop();
});

interface OfferedImage { name: string; display_name: string; description: string; contents: { name: string; version: string | null }[]; recommended: boolean; deprecated: string | null }

async function offered(): Promise<OfferedImage[]> {
  const res = await hub.api('/hub/api/users/alice/spawn-options');
  assert.equal(res.status, 200);
  return ((await res.json()) as { images: OfferedImage[] }).images;
}

describe('images from ImageStreams', () => {
  test('three annotated streams are cards with their software, badges and one card per tag; others are not offered', { timeout: 60_000 }, async () => {
    const images = await waitFor(async () => {
      const list = await offered();
      return list.some((i) => i.name === 'datascience-2025.2') ? list : undefined;
    }, { timeoutMs: 30_000, message: 'the ImageStreams to be in the catalog' });
    const names = images.map((i) => i.name);
    // configured images keep their place; discovered ones follow in their streams' order
    assert.deepEqual(names.filter((n) => !['python', 'missing'].includes(n)), ['minimal-1.0', 'datascience-2025.1', 'datascience-2025.2', 'pytorch-2025.2']);
    assert.ok(!names.some((n) => n.startsWith('builder')), 'a stream without the notebook label is not offered');
    const ds = images.find((i) => i.name === 'datascience-2025.2')!;
    assert.equal(ds.display_name, 'Data Science 2025.2');
    assert.equal(ds.description, 'Pandas, scikit-learn and friends');
    assert.deepEqual(ds.contents, [{ name: 'Python', version: 'v3.11' }, { name: 'Pandas', version: '2.2' }, { name: 'Scikit-learn', version: '1.5' }]);
    assert.equal(ds.recommended, true);
    assert.equal(ds.deprecated, null);
    const old = images.find((i) => i.name === 'datascience-2025.1')!;
    assert.match(old.deprecated ?? '', /outdated/);
    assert.equal(old.recommended, false);

    const page = await (await (await signIn(hub, 'alice', 'alice-password-1')).get('/hub/spawn/alice')).text();
    assert.match(page, /Data Science 2025\.2/);
    assert.match(page, /Scikit-learn <span class="chip-version">1\.5<\/span>/);
  });

  test('a tag added to a stream is offered within seconds, without a restart', { timeout: 60_000 }, async () => {
    const started = Date.now();
    const patch = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
    await custom.patchNamespacedCustomObject({
      group: 'image.openshift.io', version: 'v1', namespace: NS, plural: 'imagestreams', name: 'datascience',
      body: [
        { op: 'add', path: '/spec/tags/-', value: { name: '2026.1', annotations: { 'opendatahub.io/notebook-software': software([['Python', 'v3.12']]) }, from: { kind: 'DockerImage', name: `${REGISTRY}/datascience:2026.1` } } },
        { op: 'add', path: '/status/tags/-', value: { tag: '2026.1', items: [{ created: '2026-12-01T00:00:00Z', dockerImageReference: DS_2026_1, image: DS_2026_1.split('@')[1] }] } },
      ],
    }, patch);
    const image = await waitFor(async () => (await offered()).find((i) => i.name === 'datascience-2026.1'), { timeoutMs: 20_000, intervalMs: 200, message: 'the new tag on the spawn options' });
    console.log(`new tag offered after ${Date.now() - started} ms`);
    assert.deepEqual(image.contents, [{ name: 'Python', version: 'v3.12' }]);
  });

  test('starting a discovered image runs a pod with that tag\'s image reference', { timeout: 240_000 }, async () => {
    await startServerAndWait(hub, await hub.tokenFor('alice'), 'alice', '', { image: 'datascience-2025.2', size: 'small' });
    const [pod] = (await world.admin.listNamespacedPod({ namespace: NS, labelSelector: 'hub.jupyter.org/username=alice' })).items;
    assert.equal(pod?.spec?.containers[0]?.image, DS_2025_2);
  });
});
