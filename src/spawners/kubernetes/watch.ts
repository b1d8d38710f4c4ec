/**
 * The spawner's view of the namespace: one informer for this hub's server pods and one for pod
 * events, each a single list + watch however many servers there are. start() waits on them, poll()
 * and list() read them; nothing asks the API server about one pod at a time.
 */
import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import type { KubeApi } from '../../kubernetes/api.js';
import type { Informer } from '../../kubernetes/informer.js';
import type { Logger } from '../../log.js';
import { COMPONENT, hubSelector } from './names.js';

export class ServerPodWatch {
  readonly pods: Informer<V1Pod>;
  readonly events: Informer<CoreV1Event>;
  private started: Promise<void> | undefined;

  constructor(api: KubeApi, hub: string, log: Logger) {
    const namespace = api.namespace;
    const labelSelector = hubSelector(hub, COMPONENT.server);
    const onError = (what: string) => (error: unknown) => log.warn({ err: error instanceof Error ? error.message : String(error) }, `watching ${what} failed; trying again`);
    this.pods = api.informer<V1Pod>({
      path: `/api/v1/namespaces/${namespace}/pods`,
      resource: 'pods',
      labelSelector,
      list: () => api.core.listNamespacedPod({ namespace, labelSelector }),
      onError: onError('pods'),
    });
    // events carry no labels: every pod event of the namespace, filtered by the pod's uid when read
    const fieldSelector = 'involvedObject.kind=Pod';
    this.events = api.informer<CoreV1Event>({
      path: `/api/v1/namespaces/${namespace}/events`,
      resource: 'events',
      fieldSelector,
      list: () => api.core.listNamespacedEvent({ namespace, fieldSelector }),
      onError: onError('events'),
    });
  }

  /** Both caches filled (the first call starts the watches). */
  synced(): Promise<void> {
    this.started ??= Promise.all([this.pods.start(), this.events.start()]).then(() => undefined);
    return this.started;
  }

  /** Events of one pod (by uid), oldest first. */
  eventsOf(uid: string): CoreV1Event[] {
    const time = (e: CoreV1Event) => Date.parse(String(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp ?? 0)) || 0;
    return this.events.list().filter((e) => e.involvedObject?.uid === uid).sort((a, b) => time(a) - time(b));
  }

  /** Calls `listener` on any change to pods or events until the returned function is called. */
  onChange(listener: () => void): () => void {
    const offPods = this.pods.subscribe(listener);
    const offEvents = this.events.subscribe(listener);
    return () => {
      offPods();
      offEvents();
    };
  }

  async stop(): Promise<void> {
    await Promise.all([this.pods.stop(), this.events.stop()]);
  }
}
