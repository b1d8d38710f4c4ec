import type { Config } from './config/schema.js';
import { resolveSecret, type LoadedConfig } from './config/load.js';
import { createLogger, type Logger } from './log.js';
import { IdentityResolver } from './auth/identity.js';
import { LocalAuthenticator } from './auth/authenticator.js';
import { OpenShiftOAuth } from './auth/openshift.js';
import { OidcSignIn } from './auth/oidc.js';
import { GitHubSignIn } from './auth/github.js';
import { GitLabSignIn } from './auth/gitlab.js';
import type { ExternalSignIn } from './auth/external.js';
import { AuthStateCrypt, parseCryptKeys } from './auth/auth-state.js';
import { AuthStates } from './auth/auth-states.js';
import { ConfigError } from './config/errors.js';
import type { Db } from './db/connect.js';
import type { UserRow } from './db/users.js';
import { SignInThrottle } from './auth/rate-limit.js';
import { TrustedProxies } from './http/trusted-proxies.js';
import { ConnectionCap, createPublicServer } from './http/server-limits.js';
import { createHubApp } from './http/hub-app.js';
import { RouteTable } from './proxy/index.js';
import { Revocations } from './auth/revocations.js';
import { startEmbeddedStore, anyServerRunning } from './startup/object-store.js';
import { SharingService } from './sharing/service.js';
import { LocalSpawner } from './spawners/local.js';
import { kubeApiFrom } from './spawners/kubernetes/from-config.js';
import { warnAboutUnreachablePrograms } from './spawners/local-preflight.js';
import { Metrics } from './metrics/index.js';
import { ServerManager } from './servers/manager.js';
import { userHostsFrom } from './servers/user-hosts.js';
import { Reconciler } from './reconcile/reconciler.js';
import { ensureFirstAdmins } from './users/bootstrap.js';
import { CatalogStore } from './profiles/catalog.js';
import { watchImageStreams } from './kubernetes/imagestreams.js';
import { ClusterManager } from './clusters/manager.js';
import { clusterBackends } from './clusters/backends.js';
import { deleteClientsWithoutServer } from './db/oauth.js';
import type { HubContext } from './context.js';
import { JUPYTERHUB_API_VERSION } from './version.js';
import { storageServiceFrom } from './storage/provisioning.js';
import { LocalPeople, runModeOf } from './host/people.js';
import { prepareDataDir } from './host/data-dir.js';
import { openHubDatabase, registerServiceTokens } from './startup/database.js';
import { createPublications, createSpawner } from './startup/backends.js';
import { closePublicPort, listenOn, routePublicPort } from './startup/public-port.js';
import { handleReloads, startPeriodicWork } from './startup/background.js';

export interface RunningRefinery {
  /** e.g. `http://127.0.0.1:8000` */
  url: string;
  port: number;
  context: HubContext;
  close(): Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  /** Called once when the first admin account is created with a generated password. */
  onAdminCreated?: (name: string, password: string | null) => void;
}

/** Everything a config needs before start-up: secrets read, service tokens known. */
function resolveServices(loaded: LoadedConfig): { name: string; token: string; scopes: string[] }[] {
  return loaded.config.services.map((service, i) => ({
    name: service.name,
    token: resolveSecret(service.api_token, `services[${i}].api_token`, loaded.source, loaded.baseDir),
    scopes: service.scopes,
  }));
}

function resolveEnv(loaded: LoadedConfig): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(loaded.config.spawner.env)) {
    out[key] = resolveSecret(value, `spawner.env.${key}`, loaded.source, loaded.baseDir);
  }
  return out;
}

/**
 * The provider people sign in with (`auth.type` openshift or oidc), if not local accounts. Secrets
 * are read when needed (OpenShift's service account token rotates).
 */
function externalSignInOf(loaded: LoadedConfig, urls: HubContext['urls']): ExternalSignIn | undefined {
  const { auth } = loaded.config;
  const callback = (configured: string | undefined) => () => configured ?? `${urls.publicOrigin || new URL(urls.apiUrl).origin}/hub/oauth_callback`;
  if (auth.type === 'openshift') {
    const settings = auth.openshift!;
    return new OpenShiftOAuth(settings, () => resolveSecret(settings.client_secret, 'auth.openshift.client_secret', loaded.source, loaded.baseDir), callback(settings.oauth_callback_url));
  }
  if (auth.type === 'oidc') {
    const settings = auth.oidc!;
    return new OidcSignIn(settings, () => resolveSecret(settings.client_secret, 'auth.oidc.client_secret', loaded.source, loaded.baseDir), callback(settings.oauth_callback_url));
  }
  if (auth.type === 'github') {
    const settings = auth.github!;
    return new GitHubSignIn(settings, () => resolveSecret(settings.client_secret, 'auth.github.client_secret', loaded.source, loaded.baseDir), callback(settings.oauth_callback_url));
  }
  if (auth.type === 'gitlab') {
    const settings = auth.gitlab!;
    return new GitLabSignIn(settings, () => resolveSecret(settings.client_secret, 'auth.gitlab.client_secret', loaded.source, loaded.baseDir), callback(settings.oauth_callback_url));
  }
  return undefined;
}

function hubUrls(config: Config, port: number): HubContext['urls'] {
  const host = ['0.0.0.0', '::', ''].includes(config.listen.host) ? '127.0.0.1' : config.listen.host;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const userHosts = config.subdomain_host ? userHostsFrom(config.subdomain_host, config.public_url) : undefined;
  return {
    apiUrl: `http://${hostPart}:${port}/hub/api`,
    publicOrigin: config.public_url ? new URL(config.public_url).origin : userHosts?.hubOrigin ?? '',
    userHosts,
  };
}

/** With auth.enable_auth_state: the encrypted store of sign-in tokens; a bad key stops start-up naming auth.crypt_key. */
function authStatesOf(loaded: LoadedConfig, db: Db, provider: ExternalSignIn | undefined, log: Logger): AuthStates | undefined {
  const { auth } = loaded.config;
  if (!auth.enable_auth_state) return undefined;
  let keys: Buffer[];
  try {
    keys = parseCryptKeys(resolveSecret(auth.crypt_key, 'auth.crypt_key', loaded.source, loaded.baseDir));
  } catch (error) {
    throw new ConfigError(loaded.source, [`auth.crypt_key: ${error instanceof Error ? error.message : String(error)} (needed by auth.enable_auth_state)`]);
  }
  return new AuthStates(db.kysely, new AuthStateCrypt(keys), provider?.refresh?.bind(provider), log);
}

/** Open the database, adopt running servers, and listen on the public port. */
export async function startRefinery(loaded: LoadedConfig, options: StartOptions = {}): Promise<RunningRefinery> {
  const started = Date.now();
  const { config } = loaded;
  const log = options.log ?? createLogger({ level: config.log_level, format: config.log_format });
  const services = resolveServices(loaded);
  const extraEnv = resolveEnv(loaded);
  const runMode = runModeOf(config.spawner.local.run_as, loaded.source);
  await prepareDataDir(config.data_dir, runMode);
  const catalog = new CatalogStore(loaded, log.child({ component: 'catalog' }));

  const { db, kind: databaseKind } = await openHubDatabase(config);
  const cleanups: (() => Promise<void> | void)[] = [() => db.close(), () => catalog.close()];
  try {
    await registerServiceTokens(db, services);
    const identities = new IdentityResolver(db.kysely, services.map((s) => ({ name: s.name, scopes: s.scopes })), { adminAccess: config.admin_access, sharing: config.sharing.enabled });
    await ensureFirstAdmins({ db: db.kysely, identities }, config, log, options.onAdminCreated);

    const metrics = new Metrics();
    const routes = new RouteTable();
    const people = new LocalPeople({ dataDir: config.data_dir, mode: runMode, systemUsers: config.spawner.local.system_users, log: log.child({ component: 'people' }) });
    const isolation = people.isolation();
    if (isolation.isolated) log.info(isolation.message);
    else log.warn(isolation.message);
    const { spawner, kubeSpawner } = createSpawner(loaded, people, log.child({ component: 'spawner' }));
    if (kubeSpawner) cleanups.push(() => kubeSpawner.close());
    cleanups.push(watchImageStreams(config.images_from, () => kubeSpawner?.api ?? kubeApiFrom(loaded), catalog, log.child({ component: 'imagestreams' })));

    const proxies = new TrustedProxies(config.trusted_proxies);
    // deadlines for receiving requests (never for streams or WebSockets), and a cap per client address
    const server = createPublicServer(config.http);
    const connectionCap = new ConnectionCap(config.http.max_connections_per_address, proxies);
    connectionCap.attach(server);
    // placeholder until the address is known; fixed right after listen
    const urls = hubUrls(config, config.listen.port);
    const clusters: ClusterManager = new ClusterManager({
      db: db.kysely,
      backends: clusterBackends(config, people, log.child({ component: 'clusters' }), kubeSpawner),
      log: log.child({ component: 'clusters' }),
      quotas: () => config.quotas,
      startTimeoutSeconds: config.clusters.start_timeout,
      // pods have no place on this machine: no local account or home for their clusters
      placeOf: (user) => (kubeSpawner ? Promise.resolve({ name: user, home: '', runDir: '', runAs: null }) : people.prepare(user)),
      // a cluster restarted on its own gets the object-storage keys its server's spawn gave it
      extraEnv: (user, server): Promise<Record<string, string>> => servers.storageEnvFor(user, server),
    });
    const objectStore = await startEmbeddedStore(config, log.child({ component: 'object-store' }));
    if (objectStore) {
      // stopped with the hub only when no server is left that was given its address and keys (before the database closes)
      cleanups.unshift(async () => objectStore.close(!(await anyServerRunning(db.kysely).catch(() => true))));
    }
    const storage = storageServiceFrom(loaded, log.child({ component: 'storage' }), objectStore?.endpoint());
    const externalSignIn = externalSignInOf(loaded, urls);
    const authStates = authStatesOf(loaded, db, externalSignIn, log.child({ component: 'auth-state' }));
    const servers: ServerManager = new ServerManager({
      db: db.kysely, spawner, routes, identities, metrics, log: log.child({ component: 'servers' }), urls,
      defaultUrl: config.spawner.default_url, extraEnv,
      startTimeoutSeconds: config.spawner.start_timeout, stopGraceSeconds: config.spawner.stop_grace,
      namedServers: { enabled: config.named_servers.enabled, limitPerUser: config.named_servers.limit_per_user },
      catalog: () => catalog.current(),
      clusters,
      storage,
      secretEnvNames: Object.keys(config.spawner.env),
      ...(authStates ? { authStateFor: (user: UserRow) => authStates.current(user.id, user.name) } : {}),
    });
    const publications = createPublications({ loaded, db, catalog, storage, metrics, log: log.child({ component: 'publish' }) });
    const revocations = new Revocations();
    const sharing = new SharingService({ db: db.kysely, identities, revocations, log: log.child({ component: 'sharing' }) });
    const ctx: HubContext = {
      config, db: db.kysely, log, identities, authenticator: new LocalAuthenticator(db.kysely),
      loginFailures: new SignInThrottle({
        perNameAndAddress: config.auth.login_attempts, perAddress: config.auth.login_attempts_per_address,
        total: config.auth.login_attempts_total, windowMs: config.auth.login_window * 1000,
      }),
      proxies,
      servers, clusters, routes, metrics, urls, catalog, version: JUPYTERHUB_API_VERSION,
      secureCookies: (config.public_url ?? '').startsWith('https:'),
      ...(externalSignIn ? { externalSignIn } : {}),
      ...(authStates ? { authStates } : {}),
      publications,
      storage,
      people,
      sharing,
      revocations,
    };

    const hub = await createHubApp(ctx, server);
    cleanups.unshift(() => hub.app.close());
    const proxy = routePublicPort(server, ctx, hub.handle, connectionCap);
    cleanups.unshift(() => proxy.close());

    const reconciler = new Reconciler({ db: db.kysely, spawner, routes, servers, clusters, clusterIdleSeconds: config.clusters.idle_timeout, metrics, log: log.child({ component: 'reconcile' }), stopGraceSeconds: config.spawner.stop_grace });
    const report = await reconciler.run();
    if (report.adopted || report.markedStopped || report.orphansStopped) log.info(report, 'reconciled servers with the database');
    // sign-ins end with their server: clients of servers that are not running are not kept
    const staleClients = await deleteClientsWithoutServer(db.kysely);
    if (staleClients) log.info({ clients: staleClients }, 'removed OAuth clients of servers that are not running');

    const port = await listenOn(server, config.listen, loaded.source);
    cleanups.unshift(() => closePublicPort(server));
    Object.assign(urls, hubUrls(config, port));

    cleanups.unshift(startPeriodicWork({ config, db, routes, reconciler, log }));
    cleanups.splice(1, 0, () => servers.settle());
    cleanups.unshift(handleReloads(config.data_dir, catalog));

    if (runMode === 'per-user' && spawner instanceof LocalSpawner) warnAboutUnreachablePrograms(spawner, catalog.current(), log);
    metrics.startupDuration.set((Date.now() - started) / 1000);
    const shownHost = ['0.0.0.0', '::'].includes(config.listen.host) ? '127.0.0.1' : config.listen.host;
    const url = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`;
    log.info({ url, database: databaseKind, data_dir: config.data_dir }, `Refinery is running at ${url}`);
    return {
      url, port, context: ctx,
      async close() {
        for (const cleanup of cleanups) await Promise.resolve(cleanup()).catch(() => undefined);
      },
    };
  } catch (error) {
    for (const cleanup of cleanups) await Promise.resolve(cleanup()).catch(() => undefined);
    throw error;
  }
}
