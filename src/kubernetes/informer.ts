/**
 * One kind of object, kept current: a list, then a watch from the list's resourceVersion, again and
 * again (client-node's ListWatch re-lists on 410 Gone and re-watches when the server ends a watch).
 * What ListWatch does not do is come back after an error (the API server restarting, a network
 * cut): it reports the error and stops. This wrapper starts it again after a back-off, so one
 * Informer is a watch that lasts as long as the hub. Readers ask the cache, never the server: the
 * hub's load on the API server does not grow with the number of objects it looks at.
 */
import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { RequestCounter } from './request-counter.js';

export interface InformerOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  /** The collection's path, e.g. `/api/v1/namespaces/team/pods`. */
  path: string;
  /** For the request counter: `pods`, `events`. */
  resource: string;
  /** The list call, with the same selectors as the watch. */
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  fieldSelector?: string;
  counter?: RequestCounter;
  /** First wait after an error; doubles up to 30 s. Default 1 s. */
  retryMs?: number;
  onError?: (error: unknown) => void;
}

type Listener<T> = (type: 'add' | 'update' | 'delete', object: T) => void;

export class Informer<T extends KubernetesObject> {
  private readonly listWatch: ListWatch<T>;
  private readonly listeners = new Set<Listener<T>>();
  private started: Promise<void> | undefined;
  private stopped = false;
  private retryMs: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly firstList: Promise<void>;
  private resolveFirstList: () => void = () => undefined;

  constructor(private readonly o: InformerOptions<T>) {
    this.retryMs = o.retryMs ?? 1000;
    this.firstList = new Promise((resolve) => (this.resolveFirstList = resolve));
    const list = async (): Promise<KubernetesListObject<T>> => {
      const result = await o.list();
      // ListWatch fills its cache synchronously right after this returns; readers wake up after that
      setImmediate(() => this.resolveFirstList());
      return result;
    };
    this.listWatch = new ListWatch<T>(o.path, new Watch(o.kubeConfig), list, false, o.labelSelector, o.fieldSelector);
    // each connect is one watch request (a list, when one is needed, is counted by the API client)
    this.listWatch.on('connect', () => o.counter?.add('watch', o.resource));
    for (const type of ['add', 'update', 'delete'] as const) {
      this.listWatch.on(type, (object: T) => {
        this.retryMs = o.retryMs ?? 1000;
        for (const listener of this.listeners) listener(type, object);
      });
    }
    this.listWatch.on('error', (error: unknown) => this.retry(error));
  }

  /** Start listing and watching; resolves once the first list is in the cache. */
  start(): Promise<void> {
    this.started ??= (async () => {
      await this.listWatch.start().catch((error: unknown) => this.retry(error));
      await this.firstList;
    })();
    return this.started;
  }

  /** Resolves once the cache holds a complete list (start() must have been called). */
  synced(): Promise<void> {
    return this.started ? this.firstList : this.start();
  }

  private retry(error: unknown): void {
    if (this.stopped) return;
    this.o.onError?.(error);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (this.stopped) return;
      void this.listWatch.start().catch((e: unknown) => this.retry(e));
    }, this.retryMs);
    this.retryTimer.unref();
    this.retryMs = Math.min(this.retryMs * 2, 30_000);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.listWatch.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.listWatch.list(namespace);
  }

  /** Called for every change after it is in the cache; returns the function that unsubscribes. */
  subscribe(listener: Listener<T>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    await this.listWatch.stop();
  }
}
