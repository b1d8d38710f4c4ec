// Which PublicationStore a configuration asks for (apart from the interface, which the stores implement).
import { filesStoreDir } from './config.js';
import { FilesBlobStore } from './blobs.js';
import { S3PublicationStore } from './s3-store.js';
import type { PublicationStore } from './store.js';
import { ConfigError } from '../config/errors.js';
import { resolveSecret, type LoadedConfig } from '../config/load.js';

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
