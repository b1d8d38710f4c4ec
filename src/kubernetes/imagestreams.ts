/**
 * Keeps the catalog's discovered images current from one namespace's ImageStreams: a list and a
 * watch (src/kubernetes/informer.ts), so a new tag is offered within seconds of its import and the
 * API server sees one request per change, not one per page view.
 */
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { ImagesFromConfig } from '../config/images-from.js';
import type { Logger } from '../log.js';
import { imagesFromStreams, type ImageStream } from '../profiles/imagestreams.js';
import type { ImageConfig } from '../profiles/schema.js';
import { KubeApi } from './api.js';
import type { Informer } from './informer.js';

type StreamObject = ImageStream & KubernetesObject;

export class ImageStreamImages {
  private readonly informer: Informer<StreamObject>;
  private reported = new Set<string>();

  constructor(
    api: KubeApi,
    private readonly o: { namespace: string; selector: string; log: Logger; onImages: (images: ImageConfig[]) => void },
  ) {
    this.informer = api.informer<StreamObject>({
      path: `/apis/image.openshift.io/v1/namespaces/${o.namespace}/imagestreams`,
      resource: 'imagestreams',
      labelSelector: o.selector,
      list: async () => (await api.custom.listNamespacedCustomObject({
        group: 'image.openshift.io', version: 'v1', namespace: o.namespace, plural: 'imagestreams', labelSelector: o.selector,
      })) as KubernetesListObject<StreamObject>,
      onError: (error) => o.log.warn({ namespace: o.namespace, err: String(error) }, 'cannot list or watch ImageStreams; retrying (does the hub\'s Role allow imagestreams in image.openshift.io?)'),
    });
    this.informer.subscribe(() => this.publish());
  }

  /** Starts watching; resolves after the first list (never rejects: errors are retried and logged). */
  async start(): Promise<void> {
    await this.informer.start();
    this.publish();
  }

  private publish(): void {
    const { images, problems } = imagesFromStreams(this.informer.list(this.o.namespace));
    const fresh = problems.filter((p) => !this.reported.has(p));
    for (const problem of fresh) this.o.log.warn({ problem }, 'an ImageStream annotation could not be used');
    this.reported = new Set(problems);
    this.o.onImages(images);
  }

  stop(): Promise<void> {
    return this.informer.stop();
  }
}

/**
 * Start one ImageStream watch per `images_from` entry, feeding `catalog`. Uses the Kubernetes
 * spawner's connection when there is one, else `spawner.kubernetes.kubeconfig` or the pod's service
 * account. Returns the function that stops them all.
 */
export function watchImageStreams(
  entries: ImagesFromConfig,
  connect: () => KubeApi,
  catalog: { setDiscovered(source: string, images: ImageConfig[]): void },
  log: Logger,
): () => Promise<void> {
  if (!entries.length) return () => Promise.resolve();
  const api = connect();
  const sources = entries.map(({ imagestreams }, i) => {
    const namespace = imagestreams.namespace ?? api.namespace;
    const key = `images_from[${i}] imagestreams ${namespace}`;
    const source = new ImageStreamImages(api, { namespace, selector: imagestreams.selector, log: log.child({ images_from: i, namespace }), onImages: (images) => catalog.setDiscovered(key, images) });
    // the hub serves while the first list is pending; discovered images appear when it arrives
    void source.start();
    return source;
  });
  return async () => {
    await Promise.all(sources.map((s) => s.stop()));
  };
}
