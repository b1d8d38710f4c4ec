import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from './config/schema.js';
import { databaseTarget, redactDatabaseUrl, resolveSecret, type LoadedConfig } from './config/load.js';
import { openDatabase, type Db } from './db/connect.js';
import { createLogger, type Logger } from './log.js';
import { IdentityResolver } from './auth/identity.js';
import { LocalAuthenticator } from './auth/authenticator.js';
import { OpenShiftOAuth } from './auth/openshift.js';
import { SignInThrottle } from './auth/rate-limit.js';
import { TrustedProxies } from './http/trusted-proxies.js';
import { ConnectionCap, createPublicServer } from './http/server-limits.js';
import { registerKnownToken } from './auth/tokens.js';
import { HOST_SESSION_COOKIE, isHubCookieName, SESSION_COOKIE } from './auth/sessions.js';
import { RouteTable, createProxy, type ProxyHandlers } from './proxy/index.js';
import { LocalSpawner } from './spawners/local.js';
import { kubeApiFrom, kubeSpawnerFrom } from './spawners/kubernetes/from-config.js';
import { Metrics } from './metrics/index.js';
import { ServerManager } from './servers/manager.js';
import { Reconciler } from './reconcile/reconciler.js';
import { createHubApp } from './http/hub-app.js';
import { proxyPolicy } from './http/proxy-policy.js';
import { ensureFirstAdmins } from './users/bootstrap.js';
import { CatalogStore } from './profiles/catalog.js';
import { watchImageStreams } from './kubernetes/imagestreams.js';
import { ClusterManager } from './clusters/manager.js';
import { clusterBackends } from './clusters/backends.js';
import { deleteExpiredSessions } from './db/sessions.js';
import { deleteClientsWithoutServer, deleteExpiredCodes } from './db/oauth.js';
import { deleteTokensWhere } from './db/tokens.js';
import { nowIso } from './db/time.js';
import { recordProxyActivity } from './servers/activity.js';
import type { HubContext } from './context.js';
import { JUPYTERHUB_API_VERSION } from './version.js';
import { PublicationService } from './publish/service.js';
import { createPublicationStore } from './publish/store-factory.js';
import { S3PublicationStore } from './publish/s3-store.js';
import { notebookEngine } from './publish/engine.js';
import { findUser } from './db/users.js';
import { storageServiceFrom } from './storage/provisioning.js';
import { secretsOfUser } from './storage/for-user.js';
import { publishFront } from './http/publish-front.js';
import { userHostsFrom } from './servers/user-hosts.js';
import { userHostFront } from './http/user-host-front.js';
import { LocalPeople, runModeOf } from './host/people.js';
import { prepareDataDir, restrictDatabase } from './host/data-dir.js';
import { warnAboutUnreachablePrograms } from './spawners/local-preflight.js';

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

/** The OpenShift OAuth client of `auth.openshift`; its secret (the service account's token) is re-read at each sign-in, as it rotates. */
function openshiftLoginOf(loaded: LoadedConfig, urls: HubContext['urls']): OpenShiftOAuth {
  const settings = loaded.config.auth.openshift!;
  return new OpenShiftOAuth(
    settings,
    () => resolveSecret(settings.client_secret, 'auth.openshift.client_secret', loaded.source, loaded.baseDir),
    () => settings.oauth_callback_url ?? `${urls.publicOrigin || new URL(urls.apiUrl).origin}/hub/oauth_callback`,
  );
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

/** Open the database, adopt running servers, and listen on the public port. */
export async function startRefinery(loaded: LoadedConfig, options: StartOptions = {}): Promise<RunningRefinery> {
  const started = Date.now();
  const { config } = loaded;
  const log = options.log ?? createLogger({ level: config.log_level });
  const services = resolveServices(loaded);
  const extraEnv = resolveEnv(loaded);
  const runMode = runModeOf(config.spawner.local.run_as, loaded.source);
  await prepareDataDir(config.data_dir, runMode);
  const catalog = new CatalogStore(loaded, log.child({ component: 'catalog' }));

  let db: Db;
  const target = databaseTarget(config);
  try {
    db = await openDatabase(target);
  } catch (error) {
    const where = target.kind === 'postgres' ? redactDatabaseUrl(target.url) : target.path;
    throw new Error(`cannot open the database at ${where}: ${(error as Error).message}`);
  }
  if (target.kind === 'sqlite' && target.path !== ':memory:') await restrictDatabase(target.path);

  const cleanups: (() => Promise<void> | void)[] = [() => db.close(), () => catalog.close()];
  try {
    for (const service of services) await registerKnownToken(db.kysely, service.token, service.name);
    await db.kysely.deleteFrom('api_tokens').where('service_name', 'is not', null).where('service_name', 'not in', services.length ? services.map((s) => s.name) : ['']).execute();

    const identities = new IdentityResolver(db.kysely, services.map((s) => ({ name: s.name, scopes: s.scopes })), { adminAccess: config.admin_access });
    await ensureFirstAdmins({ db: db.kysely, identities }, config, log, options.onAdminCreated);

    const metrics = new Metrics();
    const routes = new RouteTable();
    const people = new LocalPeople({ dataDir: config.data_dir, mode: runMode, systemUsers: config.spawner.local.system_users, log: log.child({ component: 'people' }) });
    const isolation = people.isolation();
    if (isolation.isolated) log.info(isolation.message);
    else log.warn(isolation.message);
    // spawner.type kubernetes: a pod per server (src/spawners/kubernetes); else local processes
    const kubeSpawner = config.spawner.type === 'kubernetes' ? kubeSpawnerFrom(loaded, log.child({ component: 'spawner' })) : undefined;
    if (kubeSpawner) cleanups.push(() => kubeSpawner.close());
    cleanups.push(watchImageStreams(config.images_from, () => kubeSpawner?.api ?? kubeApiFrom(loaded), catalog, log.child({ component: 'imagestreams' })));
    const spawner = kubeSpawner ?? new LocalSpawner({
      dataDir: config.data_dir,
      people,
      ...(config.spawner.command ? { command: [...config.spawner.command] } : {}),
      args: config.spawner.args,
      defaultUrl: config.spawner.default_url,
      stopGraceMs: config.spawner.stop_grace * 1000,
      log: log.child({ component: 'spawner' }),
    });

    const proxies = new TrustedProxies(config.trusted_proxies);
    // deadlines for receiving requests (never for streams or WebSockets), and a cap per client address
    const server = createPublicServer(config.http);
    const connectionCap = new ConnectionCap(config.http.max_connections_per_address, proxies);
    connectionCap.attach(server);
    // placeholder until the address is known; fixed right after listen
    const urls = hubUrls(config, config.listen.port);
    const ctx = {} as HubContext;
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
    const storage = storageServiceFrom(loaded, log.child({ component: 'storage' }));
    const servers: ServerManager = new ServerManager({
      db: db.kysely, spawner, routes, identities, metrics, log: log.child({ component: 'servers' }), urls,
      defaultUrl: config.spawner.default_url, extraEnv,
      startTimeoutSeconds: config.spawner.start_timeout, stopGraceSeconds: config.spawner.stop_grace,
      namedServers: { enabled: config.named_servers.enabled, limitPerUser: config.named_servers.limit_per_user },
      catalog: () => catalog.current(),
      clusters,
      storage,
      secretEnvNames: Object.keys(config.spawner.env),
    });
    const publicationStore = createPublicationStore(loaded);
    if (publicationStore instanceof S3PublicationStore) {
      // the store may come up later, so this is a loud warning rather than a refusal to start
      void publicationStore.check().catch((error: unknown) => log.error({ err: error instanceof Error ? error.message : String(error) }, `publish.store in ${loaded.source}: publishing will fail until this is fixed`));
    }
    const engine = notebookEngine({ workers: config.publish.render_workers, queue: config.publish.render_queue });
    metrics.notebookJobsLoad = engine.load;
    const publications = new PublicationService({
      db: db.kysely, store: publicationStore, engine,
      maxBytes: config.publish.max_size, log: log.child({ component: 'publish' }),
      onRender: (when) => metrics.notebookRenders.inc({ when }),
      onBusy: () => metrics.busyRefusals.inc({ queue: 'render' }),
      secretsOf: async (owner) => {
        const user = await findUser(db.kysely, owner);
        return user ? secretsOfUser(db.kysely, catalog.current(), storage, user) : [];
      },
    });
    Object.assign(ctx, {
      config, db: db.kysely, log, identities, authenticator: new LocalAuthenticator(db.kysely),
      loginFailures: new SignInThrottle({
        perNameAndAddress: config.auth.login_attempts, perAddress: config.auth.login_attempts_per_address,
        total: config.auth.login_attempts_total, windowMs: config.auth.login_window * 1000,
      }),
      proxies,
      servers, clusters, routes, metrics, urls, catalog, version: JUPYTERHUB_API_VERSION,
      secureCookies: (config.public_url ?? '').startsWith('https:'),
      ...(config.auth.type === 'openshift' ? { openshiftLogin: openshiftLoginOf(loaded, urls) } : {}),
      publications,
      storage,
      people,
    } satisfies HubContext);

    const hub = await createHubApp(ctx, server);
    cleanups.unshift(() => hub.app.close());
    const policy = proxyPolicy(ctx);
    const proxy: ProxyHandlers = createProxy({
      routes,
      authorize: policy.authorize,
      onMissingRoute: policy.onMissingRoute,
      onUpstreamError: policy.onUpstreamError,
      fallback: hub.handle,
      log: log.child({ component: 'proxy' }),
      onResponse: (_route, status) => metrics.proxiedRequests.inc({ code: String(status) }),
      // the hub's sign-in cookie is for the hub: a server runs its owner's code, and an admin visiting it must not hand it their session
      dropCookies: [SESSION_COOKIE, HOST_SESSION_COOKIE],
      // nor may a server set cookies the hub would read (or any outside its own prefix)
      isHubCookie: isHubCookieName,
    });
    cleanups.unshift(() => proxy.close());
    // a separate origin for published pages (publish.public_url) serves those pages and nothing else
    const front = publishFront(ctx);
    // with per-user hosts, each host serves only its own: the hub, or one person's servers
    const hosts = urls.userHosts ? userHostFront(urls.userHosts, routes) : undefined;
    server.on('request', connectionCap.request(front.request(hosts ? hosts.request(proxy.handleRequest) : proxy.handleRequest)));
    server.on('upgrade', connectionCap.upgrade(front.upgrade(hosts ? hosts.upgrade(proxy.handleUpgrade) : proxy.handleUpgrade)));

    const reconciler = new Reconciler({ db: db.kysely, spawner, routes, servers, clusters, clusterIdleSeconds: config.clusters.idle_timeout, metrics, log: log.child({ component: 'reconcile' }), stopGraceSeconds: config.spawner.stop_grace });
    const report = await reconciler.run();
    if (report.adopted || report.markedStopped || report.orphansStopped) log.info(report, 'reconciled servers with the database');
    // sign-ins end with their server: clients of servers that are not running are not kept
    const staleClients = await deleteClientsWithoutServer(db.kysely);
    if (staleClients) log.info({ clients: staleClients }, 'removed OAuth clients of servers that are not running');

    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        const where = `${config.listen.host}:${config.listen.port}`;
        if (error.code === 'EADDRINUSE') reject(new Error(`cannot listen on ${where}: the address is already in use (another Refinery?). Set \`listen\` in ${loaded.source} to another address.`));
        else if (error.code === 'EACCES') reject(new Error(`cannot listen on ${where}: permission denied (ports below 1024 need privileges). Set \`listen\` in ${loaded.source}.`));
        else reject(error);
      });
      server.listen(config.listen.port, config.listen.host, () => {
        server.removeAllListeners('error');
        resolve();
      });
    });
    cleanups.unshift(() => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : config.listen.port;
    Object.assign(urls, hubUrls(config, port));

    let activitySince = Date.now();
    const timers = [
      setInterval(() => {
        const now = Date.now();
        void recordProxyActivity(db.kysely, routes, activitySince).then(() => (activitySince = now), (e: unknown) => log.warn({ err: String(e) }, 'recording activity failed'));
      }, 60_000),
      setInterval(() => void reconciler.run().catch((e: unknown) => log.error({ err: String(e) }, 'reconcile pass failed')), config.reconcile_interval * 1000),
      setInterval(() => void housekeeping(db, log), 3600_000),
    ];
    // as in JupyterHub, a poll interval of 0 turns polling off (the reconcile pass still notices)
    if (config.spawner.poll_interval > 0) {
      timers.push(setInterval(() => void reconciler.pollRunning().catch((e: unknown) => log.error({ err: String(e) }, 'polling servers failed')), config.spawner.poll_interval * 1000));
    }
    for (const timer of timers) timer.unref();
    cleanups.unshift(() => timers.forEach(clearInterval));
    cleanups.splice(1, 0, () => servers.settle());

    catalog.watch();
    // `refinery reload` (or kill -HUP) re-reads images, sizes and profiles; the pid file tells it where we are
    const onHangup = () => void catalog.reload();
    process.on('SIGHUP', onHangup);
    const pidFile = join(config.data_dir, 'refinery.pid');
    writeFileSync(pidFile, `${process.pid}\n`);
    cleanups.unshift(() => {
      process.off('SIGHUP', onHangup);
      rmSync(pidFile, { force: true });
    });

    if (runMode === 'per-user' && spawner instanceof LocalSpawner) warnAboutUnreachablePrograms(spawner, catalog.current(), log);
    metrics.startupDuration.set((Date.now() - started) / 1000);
    const shownHost = ['0.0.0.0', '::'].includes(config.listen.host) ? '127.0.0.1' : config.listen.host;
    const url = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`;
    log.info({ url, database: target.kind, data_dir: config.data_dir }, `Refinery is running at ${url}`);
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

async function housekeeping(db: Db, log: Logger): Promise<void> {
  const now = nowIso();
  try {
    await deleteExpiredSessions(db.kysely, now);
    await deleteExpiredCodes(db.kysely, now);
    await deleteClientsWithoutServer(db.kysely);
    await deleteTokensWhere(db.kysely, { expiredBefore: now });
  } catch (error) {
    log.warn({ err: String(error) }, 'housekeeping failed');
  }
}
