// Events about pods, written as the kubelet writes them: core/v1 Events with source "kubelet" and
// this node as host, the container as fieldPath, and repeats of the same (reason, message) folded
// into one Event whose count goes up (which is what `kubectl describe` shows as "x5 over 2m").
import { randomBytes } from 'node:crypto';
import { PatchStrategy, setHeaderOptions, type CoreV1Api, type V1Pod } from '@kubernetes/client-node';

export type EventType = 'Normal' | 'Warning';

interface Recorded {
  name: string;
  namespace: string;
  count: number;
  /** The create (or last count patch) in flight; the next patch of the same Event waits for it. */
  write: Promise<void>;
}

export class EventRecorder {
  private readonly recorded = new Map<string, Recorded>();

  constructor(
    private readonly core: CoreV1Api,
    private readonly nodeName: string,
    private readonly onError: (message: string) => void,
  ) {}

  /** Record an event about `pod` (and, with `container`, about that container in it). Never throws. */
  record(pod: V1Pod, container: string | undefined, type: EventType, reason: string, message: string): void {
    const meta = pod.metadata ?? {};
    const namespace = meta.namespace ?? 'default';
    const fieldPath = container === undefined ? undefined : containerFieldPath(pod, container);
    const key = `${meta.uid}|${fieldPath ?? ''}|${type}|${reason}|${message}`;
    const now = new Date();
    const seen = this.recorded.get(key);
    if (seen) {
      seen.count += 1;
      const count = seen.count;
      seen.write = seen.write
        .then(() =>
          this.core.patchNamespacedEvent(
            { name: seen.name, namespace, body: { count, lastTimestamp: now.toISOString() } },
            setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
          ),
        )
        .then(
          () => undefined,
          (err: unknown) => this.onError(`event ${reason} (count ${count}) on ${namespace}/${meta.name}: ${String(err)}`),
        );
      return;
    }
    // kubelet names events <object name>.<timestamp in hex>; random hex is as unique.
    const name = `${meta.name}.${randomBytes(8).toString('hex')}`;
    const write = this.core
      .createNamespacedEvent({
        namespace,
        body: {
          metadata: { name, namespace },
          involvedObject: {
            apiVersion: 'v1',
            kind: 'Pod',
            name: meta.name ?? '',
            namespace,
            uid: meta.uid ?? '',
            ...(meta.resourceVersion ? { resourceVersion: meta.resourceVersion } : {}),
            ...(fieldPath ? { fieldPath } : {}),
          },
          reason,
          message,
          type,
          count: 1,
          firstTimestamp: now,
          lastTimestamp: now,
          source: { component: 'kubelet', host: this.nodeName },
          reportingComponent: 'kubelet',
          reportingInstance: this.nodeName,
        },
      })
      .then(
        () => undefined,
        (err: unknown) => this.onError(`event ${reason} on ${namespace}/${meta.name}: ${String(err)}`),
      );
    this.recorded.set(key, { name, namespace, count: 1, write });
  }

  /** Forget a pod's events (it is gone). */
  forget(podUID: string): void {
    for (const key of this.recorded.keys()) if (key.startsWith(`${podUID}|`)) this.recorded.delete(key);
  }

  /** Until every event recorded so far is written. */
  async flush(): Promise<void> {
    await Promise.all([...this.recorded.values()].map((r) => r.write));
  }
}

function containerFieldPath(pod: V1Pod, container: string): string {
  const isInit = (pod.spec?.initContainers ?? []).some((c) => c.name === container);
  return `spec.${isInit ? 'initContainers' : 'containers'}{${container}}`;
}
