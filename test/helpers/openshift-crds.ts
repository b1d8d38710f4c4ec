/**
 * OpenShift's image.openshift.io/v1 ImageStream as a CustomResourceDefinition, so a plain
 * kube-apiserver stores, validates and watches ImageStreams the way the hub reads them on OpenShift
 * (where they are served by OpenShift's own API server, not a CRD). A stand-in: the schema is written
 * here from the fields of the ImageStream type (spec.tags with annotations and `from`, status.tags
 * with imported items), since no published CRD of it can be fetched on this machine.
 */
import { ApiextensionsV1Api, type KubeConfig, type V1CustomResourceDefinition, type V1JSONSchemaProps } from '@kubernetes/client-node';
import { waitFor } from './tmp.js';

const str: V1JSONSchemaProps = { type: 'string' };
const stringMap: V1JSONSchemaProps = { type: 'object', additionalProperties: { type: 'string' }, nullable: true };
const objectReference: V1JSONSchemaProps = { type: 'object', properties: { kind: str, name: str, namespace: str } };

export const IMAGE_STREAM_CRD: V1CustomResourceDefinition = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'imagestreams.image.openshift.io' },
  spec: {
    group: 'image.openshift.io',
    scope: 'Namespaced',
    names: { plural: 'imagestreams', singular: 'imagestream', kind: 'ImageStream', listKind: 'ImageStreamList', shortNames: ['is'] },
    versions: [{
      name: 'v1', served: true, storage: true,
      schema: {
        openAPIV3Schema: {
          type: 'object',
          properties: {
            apiVersion: str, kind: str, metadata: { type: 'object' },
            spec: {
              type: 'object',
              properties: {
                lookupPolicy: { type: 'object', properties: { local: { type: 'boolean' } } },
                dockerImageRepository: str,
                tags: {
                  type: 'array',
                  items: {
                    type: 'object', required: ['name'],
                    properties: {
                      name: str, annotations: stringMap, from: objectReference, reference: { type: 'boolean' },
                      generation: { type: 'integer', format: 'int64', nullable: true },
                      importPolicy: { type: 'object', properties: { insecure: { type: 'boolean' }, scheduled: { type: 'boolean' }, importMode: str } },
                      referencePolicy: { type: 'object', properties: { type: { type: 'string', enum: ['Source', 'Local'] } } },
                    },
                  },
                },
              },
            },
            status: {
              type: 'object',
              properties: {
                dockerImageRepository: str, publicDockerImageRepository: str,
                tags: {
                  type: 'array',
                  items: {
                    type: 'object', required: ['tag'],
                    properties: {
                      tag: str,
                      items: {
                        type: 'array', nullable: true,
                        items: { type: 'object', properties: { created: { type: 'string', format: 'date-time' }, dockerImageReference: str, image: str, generation: { type: 'integer', format: 'int64' } } },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
    }],
  },
};

/** Register the ImageStream CRD and wait until it is served. */
export async function installImageStreamCrd(admin: KubeConfig): Promise<void> {
  const crds = admin.makeApiClient(ApiextensionsV1Api);
  await crds.createCustomResourceDefinition({ body: IMAGE_STREAM_CRD });
  await waitFor(async () => {
    const crd = await crds.readCustomResourceDefinition({ name: IMAGE_STREAM_CRD.metadata!.name! });
    return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
  }, { timeoutMs: 30_000, message: 'the ImageStream CRD to be established' });
}
