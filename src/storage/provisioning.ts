import type { SecretRef } from '../config/secret-ref.js';
import { resolveSecret, type LoadedConfig } from '../config/load.js';
import type { Logger } from '../log.js';
import { StorageService } from './service.js';
import { VersitygwProvisioner } from './provisioners/versitygw.js';
import { CephRgwProvisioner } from './provisioners/ceph-rgw.js';
import { kubeSecretReader } from './sources/kubernetes-secret.js';
import { KubeApi } from '../kubernetes/api.js';
import type { EndpointConfig } from './config.js';
import { ProvisioningError, type Provisioner } from './provisioner.js';

/** The admin API client for an endpoint's `provisioning`; admin keys are read here, when first needed. */
export function createProvisioner(endpoint: EndpointConfig, readSecret: (ref: SecretRef, where: string) => string): Provisioner {
  const p = endpoint.provisioning;
  if (!p) throw new ProvisioningError(`endpoint "${endpoint.name}" has no provisioning settings`);
  const where = `storage.endpoints[name=${endpoint.name}].provisioning`;
  const keys = { accessKeyId: readSecret(p.access_key, `${where}.access_key`), secretAccessKey: readSecret(p.secret_key, `${where}.secret_key`) };
  switch (p.type) {
    case 'versitygw':
      return new VersitygwProvisioner({ adminUrl: p.admin_url ?? endpoint.url, s3Url: endpoint.url, region: endpoint.region, ...keys });
    case 'ceph-rgw':
      // the account prefix is applied by the storage service, so the uid is exactly the account name
      return new CephRgwProvisioner({ url: p.admin_url ?? endpoint.url, region: endpoint.region, uidPrefix: '', ...keys });
  }
}

/** The storage service a loaded configuration describes (the hub's, and the CLI's for `users remove`). */
export function storageServiceFrom(loaded: LoadedConfig, log: Logger, embedded?: EndpointConfig): StorageService {
  const config = embedded ? { ...loaded.config.storage, endpoints: [...loaded.config.storage.endpoints, embedded] } : loaded.config.storage;
  return new StorageService({
    config, dataDir: loaded.config.data_dir, log, configSource: loaded.source,
    provisionerFor: (endpoint) => createProvisioner(endpoint, (ref, where) => resolveSecret(ref, where, loaded.source, loaded.baseDir)),
    // in a pod, the kubernetes-secret source reads Secrets with the pod's service account
    ...(process.env.KUBERNETES_SERVICE_HOST ? { kubernetesSecrets: kubeSecretReader(KubeApi.connect()) } : {}),
  });
}
