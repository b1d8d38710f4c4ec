// src/profiles/imagestreams.ts: Open Data Hub's notebook-image annotations into catalog images.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { imagesFromStreams, type ImageStream } from '../../src/profiles/imagestreams.js';
import { imageSchema } from '../../src/profiles/schema.js';

const stream = (tags: NonNullable<ImageStream['spec']>['tags'], status: NonNullable<ImageStream['status']>['tags'] = []): ImageStream => ({
  metadata: { name: 'science', namespace: 'lab', annotations: { 'opendatahub.io/notebook-image-name': 'Science', 'opendatahub.io/notebook-image-url': 'https://example.org/science' } },
  spec: { tags }, status: { tags: status },
});

test('a tag not imported yet is left out until its import finishes; a DockerImage tag runs as written', () => {
  const { images, problems } = imagesFromStreams([stream(
    [{ name: 'pending', from: { kind: 'ImageStreamTag', name: 'other:1' } }, { name: 'direct', from: { kind: 'DockerImage', name: 'quay.io/x/science:direct' } }],
  )]);
  assert.deepEqual(images.map((i) => [i.name, i.kubernetes?.image]), [['science-direct', 'quay.io/x/science:direct']]);
  assert.deepEqual(problems, []);
  assert.equal(images[0]!.description, 'More: https://example.org/science');
});

test('a broken software annotation is a problem naming stream, tag and annotation; the image is still offered', () => {
  const { images, problems } = imagesFromStreams([stream(
    [{ name: '1', annotations: { 'opendatahub.io/notebook-software': '[{"name": "Python", "version": "3.11"' } }],
    [{ tag: '1', items: [{ dockerImageReference: 'registry/science@sha256:aa' }] }],
  )]);
  assert.equal(images.length, 1);
  assert.deepEqual(images[0]!.contents, []);
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /^imagestream lab\/science tag 1 opendatahub\.io\/notebook-software: expected a JSON list/);
});

test('every discovered image is a valid catalog image, and a tag that makes no valid name is reported', () => {
  const { images, problems } = imagesFromStreams([stream(
    [{ name: 'Latest_GPU' }, { name: '_'.repeat(70) }],
    [{ tag: 'Latest_GPU', items: [{ dockerImageReference: 'r/s@sha256:bb' }] }, { tag: '_'.repeat(70), items: [{ dockerImageReference: 'r/s@sha256:cc' }] }],
  )]);
  assert.deepEqual(images.map((i) => i.name), ['science-latest_gpu']);
  for (const image of images) assert.ok(imageSchema.safeParse(image).success, JSON.stringify(image));
  assert.match(problems[0]!, /makes no valid image name/);
});
