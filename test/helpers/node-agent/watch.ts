// List, then watch from the list's resourceVersion; when the watch ends, watch again from the last
// version seen (bookmarks included); when that version is too old (410 Gone, as an ERROR event or
// as the response), list again. The loop every Kubernetes controller runs.
import { request, type RequestOptions } from 'node:https';
import { Watch, type KubeConfig } from '@kubernetes/client-node';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface KubeObject {
  metadata?: { uid?: string; resourceVersion?: string; name?: string; namespace?: string };
}

export interface ListWatchHandlers<T extends KubeObject> {
  /** The complete current set, after every (re)list: objects missing from it were deleted meanwhile. */
  onList(items: T[]): void;
  onEvent(type: WatchEventType, object: T): void;
  onError?(message: string): void;
}

export interface ListWatch {
  stop(): void;
}

/**
 * `path` is the collection (e.g. /api/v1/pods), `query` its selectors. Objects arrive as the API
 * sends them: times are RFC 3339 strings although the generated types say Date.
 */
export function listAndWatch<T extends KubeObject>(kc: KubeConfig, path: string, query: Record<string, string>, handlers: ListWatchHandlers<T>): ListWatch {
  let stopped = false;
  let abort: AbortController | undefined;
  let retry: NodeJS.Timeout | undefined;
  let resourceVersion = '';
  const watch = new Watch(kc);

  const fail = (message: string, relist: boolean): void => {
    if (stopped) return;
    handlers.onError?.(message);
    if (relist) resourceVersion = '';
    retry = setTimeout(() => void loop(), 500);
  };

  const list = async (): Promise<void> => {
    const body = (await getJson(kc, `${path}?${new URLSearchParams(query).toString()}`)) as { metadata?: { resourceVersion?: string }; items?: T[] };
    resourceVersion = body.metadata?.resourceVersion ?? '';
    handlers.onList(body.items ?? []);
  };

  const loop = async (): Promise<void> => {
    if (stopped) return;
    try {
      if (!resourceVersion) await list();
    } catch (err) {
      return fail(`list ${path}: ${String(err)}`, true);
    }
    if (stopped) return;
    let gone = false;
    abort = await watch
      .watch(
      path,
      { ...query, resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 300 },
      (type: string, object: T & { code?: number; message?: string }) => {
        if (type === 'ERROR') {
          gone = object.code === 410;
          if (!gone) handlers.onError?.(`watch ${path}: ${object.message ?? JSON.stringify(object)}`);
          return;
        }
        const version = object.metadata?.resourceVersion;
        if (version) resourceVersion = version;
        if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') handlers.onEvent(type, object);
      },
      (err: unknown) => {
        if (stopped) return;
        const status = (err as { statusCode?: number } | null)?.statusCode;
        if (gone || status === 410) return fail(`watch ${path}: resourceVersion ${resourceVersion} is gone, listing again`, true);
        if (err) return fail(`watch ${path}: ${String(err)}`, false);
        void loop(); // the server ended the watch (timeoutSeconds): go on from where it stopped
      },
      )
      .catch((err: unknown) => {
        fail(`watch ${path}: ${String(err)}`, false);
        return undefined;
      });
  };

  void loop();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(retry);
      abort?.abort();
    },
  };
}

/** GET a path of the API server as JSON, authenticated as `kc` says. */
export async function getJson(kc: KubeConfig, path: string): Promise<unknown> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('no current cluster in the KubeConfig');
  const options: RequestOptions = { method: 'GET', headers: { accept: 'application/json' } };
  await kc.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, cluster.server), options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        if (res.statusCode === 200) {
          try {
            resolve(JSON.parse(body));
          } catch (err) {
            reject(err as Error);
          }
        } else {
          reject(Object.assign(new Error(`GET ${path}: ${res.statusCode} ${body.slice(0, 300)}`), { statusCode: res.statusCode }));
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}
