/**
 * OpenShift's image.openshift.io/v1 ImageStream and route.openshift.io/v1 Route as
 * CustomResourceDefinitions, so a plain kube-apiserver stores, validates and watches them the way the
 * hub and its chart use them on OpenShift (where OpenShift's own API server serves them, not a CRD).
 * Stand-ins: the schemas are written here from the fields of the types (ImageStream: spec.tags with
 * annotations and `from`, status.tags with imported items; Route: host, to, port, tls), since no
 * published CRD of them can be fetched on this machine.
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

const backendRef: V1JSONSchemaProps = {
  type: 'object', required: ['kind', 'name'],
  properties: { kind: { type: 'string', _enum: ['Service', ''] }, name: { type: 'string', minLength: 1 }, weight: { type: 'integer', format: 'int32', minimum: 0, maximum: 256 } },
};

export const ROUTE_CRD: V1CustomResourceDefinition = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'routes.route.openshift.io' },
  spec: {
    group: 'route.openshift.io',
    scope: 'Namespaced',
    names: { plural: 'routes', singular: 'route', kind: 'Route', listKind: 'RouteList' },
    versions: [{
      name: 'v1', served: true, storage: true,
      schema: {
        openAPIV3Schema: {
          type: 'object',
          properties: {
            apiVersion: str, kind: str, metadata: { type: 'object' },
            spec: {
              type: 'object', required: ['to'],
              properties: {
                host: { type: 'string', maxLength: 253 },
                subdomain: str,
                path: { type: 'string', pattern: '^/' },
                to: backendRef,
                alternateBackends: { type: 'array', items: backendRef },
                port: { type: 'object', required: ['targetPort'], properties: { targetPort: { x_kubernetes_int_or_string: true } } },
                tls: {
                  type: 'object', required: ['termination'],
                  properties: {
                    termination: { type: 'string', _enum: ['edge', 'reencrypt', 'passthrough'] },
                    insecureEdgeTerminationPolicy: { type: 'string', _enum: ['Allow', 'None', 'Redirect', ''] },
                    certificate: str, key: str, caCertificate: str, destinationCACertificate: str,
                  },
                },
                wildcardPolicy: { type: 'string', _enum: ['None', 'Subdomain', ''] },
              },
            },
            status: { type: 'object', x_kubernetes_preserve_unknown_fields: true },
          },
        },
      },
    }],
  },
};

/** Register a CRD and wait until it is served. */
async function installCrd(admin: KubeConfig, crd: V1CustomResourceDefinition): Promise<void> {
  const crds = admin.makeApiClient(ApiextensionsV1Api);
  await crds.createCustomResourceDefinition({ body: crd });
  await waitFor(async () => {
    const read = await crds.readCustomResourceDefinition({ name: crd.metadata!.name! });
    return read.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
  }, { timeoutMs: 30_000, message: `the ${crd.spec.names.kind} CRD to be established` });
}

export function installImageStreamCrd(admin: KubeConfig): Promise<void> {
  return installCrd(admin, IMAGE_STREAM_CRD);
}

export function installRouteCrd(admin: KubeConfig): Promise<void> {
  return installCrd(admin, ROUTE_CRD);
}
