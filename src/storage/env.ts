import type { EndpointConfig } from './config.js';
import type { AccessKey } from './credentials.js';

/**
 * The environment that makes every S3 client in the server and its cluster find the endpoint and
 * the person's keys with no arguments:
 *
 * - boto3 / botocore (and so pandas, s3fs, dask through aiobotocore): AWS_ACCESS_KEY_ID,
 *   AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL_S3 (and AWS_ENDPOINT_URL), AWS_DEFAULT_REGION /
 *   AWS_REGION, AWS_CA_BUNDLE; path-style addressing through the shared AWS config file
 *   (AWS_CONFIG_FILE) since botocore has no environment variable for it.
 * - fsspec / s3fs: FSSPEC_S3, fsspec's own configuration variable (a JSON object of s3fs
 *   arguments), with the endpoint and addressing style; keys come from the environment above.
 * - Spark's S3A connector: the cluster backend turns AWS_ENDPOINT_URL_S3 and REFINERY_S3_PATH_STYLE
 *   into `spark.hadoop.fs.s3a.*` settings; keys reach it through the environment only.
 * - People: S3_BUCKET (the primary bucket) and S3_BUCKETS (all, comma-separated).
 *
 * `awsConfigFile` is a file without secrets (the endpoint's addressing style), shared by everyone
 * using the endpoint.
 */
export function storageEnv(endpoint: EndpointConfig, key: AccessKey, buckets: readonly string[], awsConfigFile: string | null): Record<string, string> {
  const env: Record<string, string> = {
    AWS_ACCESS_KEY_ID: key.accessKeyId,
    AWS_SECRET_ACCESS_KEY: key.secretAccessKey,
    AWS_ENDPOINT_URL_S3: endpoint.url,
    AWS_ENDPOINT_URL: endpoint.url,
    AWS_DEFAULT_REGION: endpoint.region,
    AWS_REGION: endpoint.region,
    REFINERY_S3_PATH_STYLE: endpoint.path_style ? 'true' : 'false',
    FSSPEC_S3: JSON.stringify({
      endpoint_url: endpoint.url,
      client_kwargs: { region_name: endpoint.region },
      ...(endpoint.path_style ? { config_kwargs: { s3: { addressing_style: 'path' } } } : {}),
    }),
  };
  if (endpoint.ca_file) env.AWS_CA_BUNDLE = endpoint.ca_file;
  if (awsConfigFile) env.AWS_CONFIG_FILE = awsConfigFile;
  if (buckets.length) {
    env.S3_BUCKET = buckets[0]!;
    env.S3_BUCKETS = buckets.join(',');
  }
  return env;
}

/** The shared AWS config file's text for an endpoint (no secrets: region and addressing style). */
export function awsConfigText(endpoint: EndpointConfig): string {
  return [
    '# Written by Refinery for the object-storage endpoint ' + JSON.stringify(endpoint.name) + '. Keys come from the environment.',
    '[default]',
    `region = ${endpoint.region}`,
    's3 =',
    `    addressing_style = ${endpoint.path_style ? 'path' : 'virtual'}`,
    '',
  ].join('\n');
}

/** Names of the variables above that hold a secret (scrubbed from anything shown). */
export const SECRET_ENV = ['AWS_SECRET_ACCESS_KEY'] as const;
