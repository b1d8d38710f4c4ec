import { AwsClient } from 'aws4fetch';
import { checkKey, type PublicationStore } from './store.js';

export interface S3StoreOptions {
  /** The S3 API's base URL, e.g. https://s3.example.org. */
  url: string;
  region: string;
  pathStyle: boolean;
  bucket: string;
  /** Prepended to every key, e.g. "publications/". */
  prefix: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Per-request limit (default 60 s). */
  timeoutMs?: number;
}

/** A request to the store failed: says which operation and what the store answered, never a key. */
export class S3StoreError extends Error {
  override readonly name = 'S3StoreError';
}

/**
 * Published notebooks in an S3 bucket (one object per key). A PUT of one object is atomic in S3:
 * a reader sees the old object or the whole new one. The bucket must exist; the key pair needs
 * Get/Put/DeleteObject on it.
 */
export class S3PublicationStore implements PublicationStore {
  private readonly client: AwsClient;
  private readonly base: string;

  constructor(private readonly o: S3StoreOptions) {
    this.client = new AwsClient({ accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey, service: 's3', region: o.region, retries: 2 });
    const url = new URL(o.url);
    this.base = o.pathStyle ? `${url.origin}${url.pathname.replace(/\/+$/, '')}/${encodeURIComponent(o.bucket)}` : `${url.protocol}//${o.bucket}.${url.host}${url.pathname.replace(/\/+$/, '')}`;
  }

  describe(): string {
    return `bucket ${this.o.bucket} at ${this.o.url}${this.o.prefix ? ` (keys under ${this.o.prefix})` : ''}`;
  }

  private urlOf(key: string): string {
    return `${this.base}/${`${this.o.prefix}${checkKey(key)}`.split('/').map(encodeURIComponent).join('/')}`;
  }

  private async send(method: 'GET' | 'PUT' | 'DELETE' | 'HEAD', url: string, body?: Uint8Array): Promise<Response> {
    try {
      return await this.client.fetch(url, {
        method,
        // a copy as a plain ArrayBuffer: what fetch's BodyInit types accept
        ...(body ? { body: new Uint8Array(body).buffer, headers: { 'content-type': 'application/x-ipynb+json' } } : {}),
        signal: AbortSignal.timeout(this.o.timeoutMs ?? 60_000),
      });
    } catch (error) {
      throw new S3StoreError(`${method} ${this.describe()}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private async failure(res: Response, doing: string): Promise<S3StoreError> {
    const text = await res.text().catch(() => '');
    const code = /<Code>([^<]{1,80})<\/Code>/.exec(text)?.[1];
    return new S3StoreError(`${doing} in ${this.describe()} failed: HTTP ${res.status}${code ? ` ${code}` : ''}`);
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    const res = await this.send('PUT', this.urlOf(key), bytes);
    if (!res.ok) throw await this.failure(res, `storing ${key}`);
    await res.body?.cancel();
  }

  async get(key: string): Promise<Buffer | undefined> {
    const res = await this.send('GET', this.urlOf(key));
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    if (!res.ok) throw await this.failure(res, `reading ${key}`);
    return Buffer.from(await res.arrayBuffer());
  }

  async delete(key: string): Promise<void> {
    const res = await this.send('DELETE', this.urlOf(key));
    if (!res.ok && res.status !== 404) throw await this.failure(res, `deleting ${key}`);
    await res.body?.cancel();
  }

  /** Can the store be used? Throws S3StoreError saying why not (no bucket, a refused key). */
  async check(): Promise<void> {
    const res = await this.send('HEAD', this.o.pathStyle ? this.base : `${this.base}/`);
    await res.body?.cancel();
    if (res.status === 404) throw new S3StoreError(`${this.describe()}: the bucket does not exist`);
    if (res.status === 403) throw new S3StoreError(`${this.describe()}: the key may not use the bucket (HTTP 403)`);
    if (!res.ok) throw new S3StoreError(`${this.describe()}: HTTP ${res.status}`);
  }
}
