/**
 * The one Kubernetes client of the hub: typed API groups made from one KubeConfig, each request
 * counted by verb and resource, and informers (list + watch) sharing the same connection settings.
 * The spawner, the cluster backends and the Secret key source all take a KubeApi.
 */
import {
  CoreV1Api,
  CustomObjectsApi,
  NetworkingV1Api,
  ServerConfiguration,
  createConfiguration,
  type KubeConfig,
  type KubernetesObject,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';
import { kubeConnection, type KubeConnectionOptions } from './config.js';
import { Informer, type InformerOptions } from './informer.js';
import { describeRequest, RequestCounter } from './request-counter.js';

export class KubeApi {
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  readonly networking: NetworkingV1Api;
  readonly counter = new RequestCounter();

  constructor(
    readonly kubeConfig: KubeConfig,
    /** The namespace this hub works in. */
    readonly namespace: string,
  ) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('the Kubernetes configuration has no current cluster');
    const counter = this.counter;
    const configuration = createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: kubeConfig },
      promiseMiddleware: [{
        pre: (context: RequestContext) => {
          const { verb, resource } = describeRequest(context.getHttpMethod(), context.getUrl());
          counter.add(verb, resource);
          return Promise.resolve(context);
        },
        post: (context: ResponseContext) => Promise.resolve(context),
      }],
    });
    this.core = new CoreV1Api(configuration);
    this.custom = new CustomObjectsApi(configuration);
    this.networking = new NetworkingV1Api(configuration);
  }

  static connect(options: KubeConnectionOptions = {}): KubeApi {
    const { kubeConfig, namespace } = kubeConnection(options);
    return new KubeApi(kubeConfig, namespace);
  }

  /** A list + watch of one kind; call start() and await it for the first list. */
  informer<T extends KubernetesObject>(options: Omit<InformerOptions<T>, 'kubeConfig' | 'counter'>): Informer<T> {
    return new Informer<T>({ ...options, kubeConfig: this.kubeConfig, counter: this.counter });
  }
}
