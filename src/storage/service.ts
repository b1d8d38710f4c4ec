import { chmod, writeFile, rename } from 'node:fs/promises';
import { ensureDir } from '../host/files.js';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { SecretRef } from '../config/secret-ref.js';
import { storageRequestSchema, type EndpointConfig, type StorageConfig, type StorageRequest } from './config.js';
import { CredentialError, type AccessKey, type CredentialSource, type Person } from './credentials.js';
import { BucketNameError, expandBuckets } from './buckets.js';
import { EMBEDDED_ENDPOINT } from './embedded-config.js';
import { awsConfigText, storageEnv } from './env.js';
import { ProvisioningError, type Provisioner } from './provisioner.js';
import { StaticSource } from './sources/static.js';
import { DirectorySource } from './sources/directory.js';
import { ProvisionedSource } from './sources/provisioned.js';
import { KubernetesSecretSource, type KubernetesSecretReader } from './sources/kubernetes-secret.js';

/** Storage could not be set up for a spawn: the message says what and where, and holds no secret. */
export class StorageError extends Error {
  override readonly name = 'StorageError';
}

/** What a spawn gets: the environment for the server and its cluster, and what may be shown. */
export interface PreparedStorage {
  env: Record<string, string>;
  /** Values to scrub from anything shown (server logs in failure details). */
  secrets: string[];
  summary: StorageSummary;
}

/** What the storage page and the API show: never a secret. */
export interface StorageSummary {
  endpoint: string;
  url: string;
  region: string;
  path_style: boolean;
  buckets: string[];
  /** e.g. "keys provisioned through the versitygw admin API of endpoint \"lake\"" */
  credentials: string;
  provisioned: boolean;
}

export interface StorageServiceOptions {
  config: StorageConfig;
  /** Where the shared, secret-free AWS config files go (`<data_dir>/storage`). */
  dataDir: string;
  log: Logger;
  /** The store's admin API for an endpoint with `provisioning` (built once per endpoint). */
  provisionerFor: (endpoint: EndpointConfig) => Provisioner;
  /** Reads Kubernetes Secrets, where the hub runs on Kubernetes. */
  kubernetesSecrets?: KubernetesSecretReader;
  /** The configuration file, for messages. */
  configSource: string;
}

/**
 * Object storage for spawns: turns a plan's `storage` into the person's endpoint, buckets and keys
 * (from the configured source of truth), provisions per-person keys and buckets, and revokes them
 * when a person is deleted.
 */
export class StorageService {
  private readonly provisioners = new Map<string, Provisioner>();

  constructor(private readonly o: StorageServiceOptions) {}

  get endpoints(): readonly EndpointConfig[] {
    return this.o.config.endpoints;
  }

  private endpoint(name: string): EndpointConfig {
    const endpoint = this.o.config.endpoints.find((e) => e.name === name);
    if (!endpoint) {
      const known = this.o.config.endpoints.map((e) => JSON.stringify(e.name)).join(', ') || 'none';
      throw new StorageError(`storage.endpoint: there is no endpoint named ${JSON.stringify(name)} in storage.endpoints of ${this.o.configSource} (known: ${known})`);
    }
    return endpoint;
  }

  private provisioner(endpoint: EndpointConfig): Provisioner {
    let provisioner = this.provisioners.get(endpoint.name);
    if (!provisioner) {
      if (!endpoint.provisioning) throw new StorageError(`storage.credentials: source "provisioned" needs storage.endpoints[name=${endpoint.name}].provisioning in ${this.o.configSource}`);
      provisioner = this.o.provisionerFor(endpoint);
      this.provisioners.set(endpoint.name, provisioner);
    }
    return provisioner;
  }

  private accountOf(endpoint: EndpointConfig, person: Pick<Person, 'name'>): string {
    return `${endpoint.provisioning?.account_prefix ?? ''}${person.name}`;
  }

  private source(request: StorageRequest, endpoint: EndpointConfig, where: string): CredentialSource {
    const c = request.credentials;
    switch (c.source) {
      case 'static': return new StaticSource(c.access_key as SecretRef, c.secret_key as SecretRef, `${where}.credentials`, '/');
      case 'directory': return new DirectorySource(c.path, { access: c.access_key_file, secret: c.secret_key_file });
      case 'kubernetes-secret': {
        if (!this.o.kubernetesSecrets) throw new StorageError(`${where}.credentials: source "kubernetes-secret" needs the hub to run on Kubernetes`);
        return new KubernetesSecretSource(this.o.kubernetesSecrets, c);
      }
      case 'provisioned': return new ProvisionedSource(this.provisioner(endpoint), endpoint.name, (p) => this.accountOf(endpoint, p));
    }
  }

  /** Parse a plan's `storage` (already checked when the catalog loaded; checked again here, cheaply). */
  private request(raw: Record<string, unknown>, where: string): StorageRequest {
    const { source: _source, ...rest } = raw;
    const parsed = storageRequestSchema.safeParse(rest);
    if (!parsed.success) throw new StorageError(`${where}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    return parsed.data;
  }

  /** What a plan's storage gives this person, without keys: for pages. Throws StorageError. */
  describe(raw: Record<string, unknown>, person: Person, where = 'storage'): StorageSummary {
    const request = this.request(raw, where);
    const endpoint = this.endpoint(request.endpoint);
    return this.summary(request, endpoint, person, where);
  }

  private summary(request: StorageRequest, endpoint: EndpointConfig, person: Person, where: string): StorageSummary {
    let buckets: string[];
    try {
      buckets = expandBuckets(request.buckets, person, fitting(endpoint)).map((b) => b.name);
    } catch (error) {
      if (error instanceof BucketNameError) throw new StorageError(error.message);
      throw error;
    }
    return {
      endpoint: endpoint.name, url: endpoint.url, region: endpoint.region, path_style: endpoint.path_style, buckets,
      credentials: this.source(request, endpoint, where).describe(), provisioned: request.credentials.source === 'provisioned',
    };
  }

  /**
   * Keys, buckets and environment for a spawn. Provisions the person's account and their `{user}`
   * buckets on first use. Throws StorageError naming the source and what is wrong (never a secret).
   */
  async prepare(raw: Record<string, unknown>, person: Person, where = 'storage'): Promise<PreparedStorage> {
    const request = this.request(raw, where);
    const endpoint = this.endpoint(request.endpoint);
    const summary = this.summary(request, endpoint, person, where);
    const key = await this.keyOf(request, endpoint, person, where);
    if (request.credentials.source === 'provisioned') {
      const provisioner = this.provisioner(endpoint);
      const account = this.accountOf(endpoint, person);
      for (const bucket of expandBuckets(request.buckets, person, fitting(endpoint)).filter((b) => b.perUser)) {
        await wrap(() => provisioner.ensureBucket(bucket.name, account), `creating bucket ${bucket.name} for ${person.name}`);
      }
    }
    const configFile = await this.awsConfigFile(endpoint);
    return { env: storageEnv(endpoint, key, summary.buckets, configFile), secrets: [key.secretAccessKey], summary };
  }

  /** The person's keys alone (for "show my keys"). */
  async keys(raw: Record<string, unknown>, person: Person, where = 'storage'): Promise<AccessKey> {
    const request = this.request(raw, where);
    return this.keyOf(request, this.endpoint(request.endpoint), person, where);
  }

  private async keyOf(request: StorageRequest, endpoint: EndpointConfig, person: Person, where: string): Promise<AccessKey> {
    const source = this.source(request, endpoint, where);
    return wrap(() => source.keyFor(person), `getting ${person.name}'s keys from ${source.describe()}`);
  }

  /** Replace a person's provisioned key at an endpoint; running servers keep the old one until restarted (and it stops working). */
  async rotate(endpointName: string, person: Pick<Person, 'name'>): Promise<void> {
    const endpoint = this.endpoint(endpointName);
    const account = this.accountOf(endpoint, person);
    await wrap(() => this.provisioner(endpoint).rotateKey(account), `rotating ${person.name}'s key at endpoint "${endpoint.name}"`);
    this.o.log.info({ user: person.name, endpoint: endpoint.name }, 'rotated a provisioned storage key');
  }

  /**
   * Delete a person's provisioned store accounts at every endpoint that provisions: their keys stop
   * working and the buckets those accounts own are deleted with their data, so that a person added
   * later under the same name starts empty (group buckets belong to group accounts and stay).
   */
  async forgetUser(person: Pick<Person, 'name'>): Promise<void> {
    for (const endpoint of this.o.config.endpoints) {
      if (!endpoint.provisioning) continue;
      const account = this.accountOf(endpoint, person);
      await wrap(() => this.provisioner(endpoint).deleteAccount(account), `deleting ${person.name}'s store account at endpoint "${endpoint.name}"`);
      this.o.log.info({ user: person.name, endpoint: endpoint.name }, 'deleted the provisioned storage account and its buckets');
    }
  }

  private async awsConfigFile(endpoint: EndpointConfig): Promise<string> {
    const dir = join(this.o.dataDir, 'storage');
    const file = join(dir, `${endpoint.name}.aws-config`);
    // readable by every person's account (it holds no secret), whatever the hub's umask
    await ensureDir(dir, 0o755);
    // written whole then renamed, so a server starting meanwhile never reads half a file; a name of
    // its own per write, since many spawns at once each write it
    const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(tmp, awsConfigText(endpoint), { mode: 0o644 });
    await chmod(tmp, 0o644);
    await rename(tmp, file);
    return file;
  }
}

/** Run a storage step; its failure becomes a StorageError saying what was being done. */
async function wrap<T>(fn: () => Promise<T>, doing: string): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof CredentialError || error instanceof StorageError) throw new StorageError(error.message);
    if (error instanceof ProvisioningError) throw new StorageError(`${doing} failed: ${error.message}`);
    throw new StorageError(`${doing} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The embedded store's buckets are named by Refinery, not by a template someone wrote: any name gets one. */
function fitting(endpoint: EndpointConfig): { fitNames: boolean } {
  return { fitNames: endpoint.name === EMBEDDED_ENDPOINT };
}
