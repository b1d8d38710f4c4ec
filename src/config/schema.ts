import { z } from 'zod';

import { secretRef } from './secret-ref.js';
import { catalogShape } from '../profiles/schema.js';
import { quotasSchema } from '../clusters/quota.js';
import { publishSchema, PUBLISH_DEFAULTS } from '../publish/config.js';
import { storageConfigSchema } from '../storage/config.js';
import { proxyEntry } from '../http/trusted-proxies.js';
import { ACCOUNT_NAME } from '../host/accounts.js';
import { kubernetesSpawnerSchema } from './kubernetes.js';
import { imagesFromSchema } from './images-from.js';
import { openshiftAuthSchema } from './openshift-auth.js';
import { oidcAuthSchema } from './oidc-auth.js';
import { githubAuthSchema, gitlabAuthSchema } from './git-auth.js';
export { secretRef, type SecretRef } from './secret-ref.js';

/** `host:port`, `:port` or a bare port number. */
const listenAddress = z
  .union([z.string(), z.number().int()])
  .transform((value, ctx) => {
    const text = String(value);
    const match = /^(?:\[?([^\]]*?)\]?:)?(\d{1,5})$/.exec(text);
    const port = match ? Number(match[2]) : NaN;
    if (!match || port > 65535 || /[/@]/.test(match[1] ?? '')) {
      ctx.addIssue({ code: 'custom', message: `expected "host:port" (e.g. "127.0.0.1:8000"), got ${JSON.stringify(text)}` });
      return z.NEVER;
    }
    return { host: match[1] || '0.0.0.0', port };
  });

/** Durations accept seconds as a number or a string like "90s", "5m", "2h", "14d". */
export const duration = z.union([z.number().nonnegative(), z.string()]).transform((value, ctx) => {
  if (typeof value === 'number') return value;
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(value.trim());
  if (!match) {
    ctx.addIssue({ code: 'custom', message: `expected a duration like 30, "90s", "5m", "2h" or "14d", got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
});

const username = z.string().min(1);

const authSchema = z.strictObject({
  /** local: Refinery's own accounts; otherwise a provider's (a local admin can still sign in). */
  type: z.enum(['local', 'openshift', 'oidc', 'github', 'gitlab']).default('local'),
  openshift: openshiftAuthSchema.optional(),
  oidc: oidcAuthSchema.optional(),
  github: githubAuthSchema.optional(),
  gitlab: gitlabAuthSchema.optional(),
  /** Users who get the admin role. Created on first start when no users exist yet. */
  admin_users: z.array(username).default(['admin']),
  /** Environment variable holding the first admin's password; a random one is printed when unset. */
  initial_password_env: z.string().default('REFINERY_ADMIN_PASSWORD'),
  /** How long a sign-in lasts. */
  session_max_age: duration.default(14 * 86400),
  /** Failed sign-ins allowed per user name and client address within `login_window`. */
  login_attempts: z.number().int().positive().default(5),
  /** Failed sign-ins allowed from one client address, whatever the names, within `login_window` (0 = no limit). */
  login_attempts_per_address: z.number().int().min(0).default(30),
  /** Failed sign-ins allowed hub-wide within `login_window` before everyone waits (0 = no limit): slows password spraying. */
  login_attempts_total: z.number().int().min(0).default(300),
  login_window: duration.default(300),
  /** Minimum length for passwords users set. */
  min_password_length: z.number().int().min(1).default(8),
  /** Keep what the sign-in provider gave (its tokens), encrypted, for admins' API and for profiles' `{auth_state: ...}` variables. */
  enable_auth_state: z.boolean().default(false),
  /** The key(s) auth state is encrypted with: 32 bytes as 64 hex digits or base64, several separated by ";" (the first encrypts). */
  crypt_key: secretRef.default({ env: 'REFINERY_CRYPT_KEY' }),
}).superRefine((auth, ctx) => {
  if (auth.type === 'openshift' && !auth.openshift) ctx.addIssue({ code: 'custom', path: ['openshift'], message: 'auth.type openshift needs an auth.openshift section with at least client_id' });
  if (auth.type === 'oidc' && !auth.oidc) ctx.addIssue({ code: 'custom', path: ['oidc'], message: 'auth.type oidc needs an auth.oidc section with issuer, client_id and client_secret' });
  for (const type of ['github', 'gitlab'] as const) {
    if (auth.type === type && !auth[type]) ctx.addIssue({ code: 'custom', path: [type], message: `auth.type ${type} needs an auth.${type} section with client_id and client_secret` });
  }
});

const serviceSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'service names use lowercase letters, digits, ".", "_" and "-"'),
  api_token: secretRef,
  scopes: z.array(z.string()).default([]),
  /** Services that have no URL are API clients only (e.g. jupyterhub-idle-culler). */
  url: z.string().url().optional(),
  display: z.boolean().default(false),
});

/**
 * Who people's servers and clusters run as on this machine (src/host/people.ts). `run_as`: `per-user`
 * (a system account each; needs root) or `hub` (the hub's own account; people are then not isolated
 * from each other on this machine); default per-user when Refinery runs as root, hub otherwise.
 * `system_users`: existing accounts (LDAP, sssd) for some people, by Refinery name; everyone else
 * gets an account `refinery-<name>` made on their first start.
 */
const localRunSchema = z.strictObject({
  run_as: z.enum(['hub', 'per-user']).optional(),
  /**
   * Servers that start at once on this machine; more wait their turn, oldest first, and see their
   * place in the queue; the start timeout counts from their turn. Default: twice the CPUs, at least
   * 2. 0: no limit.
   */
  concurrent_starts: z.number().int().min(0).optional(),
  system_users: z
    .record(
      z.string().min(1),
      z.string().regex(ACCOUNT_NAME, 'expected a system user name (letters, digits, "_", ".", "-", not starting with a digit or "-")').refine((name) => name !== 'root', 'people may not run as root'),
    )
    .default({})
    .superRefine((map, ctx) => {
      const seen = new Map<string, string>();
      for (const [person, account] of Object.entries(map)) {
        const other = seen.get(account);
        if (other !== undefined) ctx.addIssue({ code: 'custom', path: [person], message: `${account} is already the account of ${other}: each person needs an account of their own` });
        seen.set(account, person);
      }
    }),
});

const localSpawnerSchema = z.strictObject({
  /** local: processes on this machine; kubernetes: a pod per server (spawner.kubernetes). */
  type: z.enum(['local', 'kubernetes']).default('local'),
  /** Program and arguments that start a single-user server; default: the project virtualenv's jupyterhub-singleuser. */
  command: z.array(z.string()).nonempty().optional(),
  args: z.array(z.string()).default([]),
  /** Where a user lands after the server starts. */
  default_url: z.string().default('/lab'),
  /** Extra environment for every server (values or secret references). */
  env: z.record(z.string(), z.union([z.string(), secretRef])).default({}),
  start_timeout: duration.default(120),
  stop_grace: duration.default(5),
  /** How often the hub checks that running servers are still alive. */
  poll_interval: duration.default(30),
  local: localRunSchema.default({ system_users: {} }),
  kubernetes: kubernetesSpawnerSchema.optional(),
}).superRefine((spawner, ctx) => {
  if (spawner.kubernetes && spawner.type !== 'kubernetes') ctx.addIssue({ code: 'custom', path: ['kubernetes'], message: 'only used with spawner.type: kubernetes' });
});

/** Limits on the public port (src/http/server-limits.ts). */
const httpSchema = z.strictObject({
  /** The request line and headers must arrive within this long (slow clients hold connections otherwise). */
  headers_timeout: duration.default(20),
  /** A whole request, body included, must arrive within this long (0 = no limit); responses and WebSockets are not limited. */
  request_timeout: duration.default(300),
  /** Open connections one client address may hold at once (0 = no cap); `trusted_proxies` are exempt. */
  max_connections_per_address: z.number().int().min(0).default(256),
});

export const configSchema = z.strictObject({
  /** The public address: the proxy and the hub answer here. */
  listen: listenAddress.default({ host: '127.0.0.1', port: 8000 }),
  /** The URL people use to reach Refinery (behind a TLS terminator, say). Defaults to the listen address. */
  public_url: z.string().url().optional(),
  /**
   * Addresses or networks (`10.0.0.0/8`, `127.0.0.1`, `fd00::/8`) of proxies in front of Refinery
   * whose X-Forwarded-For is believed: the client address for sign-in limits and connection caps.
   */
  trusted_proxies: z.array(proxyEntry).default([]),
  http: httpSchema.default(httpSchema.parse({})),
  data_dir: z.string().default('./data'),
  /**
   * `sqlite:<path>` or a path for SQLite, or a `postgres://` URL. Default: `<data_dir>/refinery.sqlite`.
   * A URL with a password may come from `{env: NAME}` or `{file: path}` (a Kubernetes Secret, say);
   * load.ts reads it, so after loading this is always a string.
   */
  database: secretRef.optional(),
  log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  /** `auto`: readable lines on a terminal, JSON lines otherwise (for log collectors). */
  log_format: z.enum(['auto', 'pretty', 'json']).default('auto'),
  auth: authSchema.default(authSchema.parse({})),
  services: z.array(serviceSchema).default([]),
  spawner: localSpawnerSchema.default(localSpawnerSchema.parse({})),
  named_servers: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** Most named servers one user may have (0 = no limit). */
      limit_per_user: z.number().int().min(0).default(5),
    })
    .default({ enabled: true, limit_per_user: 5 }),
  /** How often the reconciler compares the database with what actually runs. */
  reconcile_interval: duration.default(60),
  /**
   * Whether admins may open other people's servers (JupyterHub's name). Off by default: a server runs
   * its owner's code, and opened in an admin's browser that code acts with the admin's sign-in.
   */
  admin_access: z.boolean().default(false),
  /**
   * People share their own servers with others, with groups, or through share codes (JupyterHub 5
   * sharing). Off: only admins (through the admin role's `shares`) can.
   */
  sharing: z
    .strictObject({
      enabled: z.boolean().default(true),
    })
    .default({ enabled: true }),
  /**
   * Per-user hosts (JupyterHub's name): `hub.example.org` (or `https://hub.example.org`) puts the hub
   * there and each person's servers at `<name>.hub.example.org`, an origin of their own. Needs a
   * wildcard DNS name (and certificate) for `*.hub.example.org`. Checked in load.ts.
   */
  subdomain_host: z.string().min(1).optional(),
  /**
   * A separate YAML file with `images`, `sizes`, `profiles` and `profile_list`, re-read when it changes
   * (and on SIGHUP / `refinery reload`) without restarting; the same keys may live here instead.
   */
  profiles_file: z.string().optional(),
  /** Images discovered on the cluster (OpenShift ImageStreams), offered after the configured ones and kept current. */
  images_from: imagesFromSchema,
  /** Limits on users' Spark and Dask clusters (see src/clusters/quota.ts). */
  quotas: quotasSchema,
  clusters: z
    .strictObject({
      /** Give up on a cluster that is not ready after this long. */
      start_timeout: duration.default(180),
      /** Stop a cluster (not the server) when its server has had no activity for this long; 0 = never. */
      idle_timeout: duration.default(0),
      /**
       * Run a first query on a new Spark Connect server before its cluster counts as ready (local
       * clusters), so a notebook's first action finds warm JVMs. Off: ready a few seconds sooner,
       * and the first action pays for the warm-up instead.
       */
      connect_warm_up: z.boolean().default(true),
    })
    .default({ start_timeout: 180, idle_timeout: 0, connect_warm_up: true }),
  /** Published notebooks: size limit, store, and an optional separate origin for their pages (src/publish/config.ts). */
  publish: publishSchema.default(PUBLISH_DEFAULTS),
  /** Object-storage endpoints profiles can give people keys for (src/storage/config.ts). */
  storage: storageConfigSchema,
  ...catalogShape,
});

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type ServiceConfig = z.output<typeof serviceSchema>;
export type LocalSpawnerConfig = z.output<typeof localSpawnerSchema>;
