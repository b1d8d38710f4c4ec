import { filesStoreDir } from './config.js';
import { FilesBlobStore } from './blobs.js';
import { S3PublicationStore } from './s3-store.js';
import { ConfigError } from '../config/errors.js';
import { resolveSecret, type LoadedConfig } from '../config/load.js';

/**
 * Where published notebooks' bytes live, by key. Keys are made by Refinery (`<slug>/<uuid>.ipynb`),
 * never by users, and never shown to anyone. Every operation is idempotent: putting a key again
 * replaces it, deleting a missing key succeeds.
 */
export interface PublicationStore {
  /** Store `bytes` under `key`, completely or not at all (readers never see half a file). */
  put(key: string, bytes: Uint8Array): Promise<void>;
  /** The bytes under `key`, or undefined when there are none. */
  get(key: string): Promise<Buffer | undefined>;
  delete(key: string): Promise<void>;
  /** For logs: where this store keeps things. */
  describe(): string;
}

/** The store the configuration asks for. Throws ConfigError naming the key when it cannot be made. */
export function createPublicationStore(loaded: LoadedConfig): PublicationStore {
  const { config } = loaded;
  const store = config.publish.store;
  switch (store.type) {
    case 'files':
      return new FilesBlobStore(filesStoreDir(config.publish, config.data_dir));
    case 's3': {
      const endpoint = config.storage.endpoints.find((e) => e.name === store.endpoint);
      if (!endpoint) {
        const known = config.storage.endpoints.map((e) => JSON.stringify(e.name)).join(', ') || 'none';
        throw new ConfigError(loaded.source, [`publish.store.endpoint: no endpoint named ${JSON.stringify(store.endpoint)} in storage.endpoints (known: ${known})`]);
      }
      return new S3PublicationStore({
        url: endpoint.url, region: endpoint.region, pathStyle: endpoint.path_style, bucket: store.bucket, prefix: store.prefix,
        accessKeyId: resolveSecret(store.access_key, 'publish.store.access_key', loaded.source, loaded.baseDir),
        secretAccessKey: resolveSecret(store.secret_key, 'publish.store.secret_key', loaded.source, loaded.baseDir),
      });
    }
  }
}

const KEY = /^[A-Za-z0-9_-]+(?:\/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$/;

/** Keys are relative, slash-separated, without `.`/`..` segments or anything a path could abuse. */
export function checkKey(key: string): string {
  if (!KEY.test(key) || key.length > 512) throw new Error(`invalid publication store key ${JSON.stringify(key)}`);
  return key;
}
