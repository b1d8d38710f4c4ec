import type { StorageService } from './storage/service.js';
import type { Kysely } from 'kysely';
import type { Config } from './config/schema.js';
import type { Database } from './db/tables.js';
import type { Logger } from './log.js';
import type { IdentityResolver } from './auth/identity.js';
import type { Authenticator } from './auth/authenticator.js';
import type { SignInThrottle } from './auth/rate-limit.js';
import type { TrustedProxies } from './http/trusted-proxies.js';
import type { ServerManager } from './servers/manager.js';
import type { RouteTable } from './proxy/routes.js';
import type { Metrics } from './metrics/index.js';
import type { HubUrls } from './servers/env.js';
import type { CatalogStore } from './profiles/catalog.js';
import type { ClusterManager } from './clusters/manager.js';
import type { PublicationService } from './publish/service.js';
import type { LocalPeople } from './host/people.js';
import type { ExternalSignIn } from './auth/external.js';
import type { AuthStates } from './auth/auth-states.js';
import type { Revocations } from './auth/revocations.js';
import type { SharingService } from './sharing/service.js';

/** Everything request handlers may use. Built once in app.ts. */
export interface HubContext {
  config: Config;
  db: Kysely<Database>;
  log: Logger;
  identities: IdentityResolver;
  authenticator: Authenticator;
  loginFailures: SignInThrottle;
  /** Who the client is behind `trusted_proxies`. */
  proxies: TrustedProxies;
  servers: ServerManager;
  clusters: ClusterManager;
  routes: RouteTable;
  metrics: Metrics;
  urls: HubUrls;
  /** Images, sizes and profiles in force (reloadable). */
  catalog: CatalogStore;
  version: string;
  /** Whether cookies need the Secure flag (public URL is https). */
  secureCookies: boolean;
  /** Published notebooks: store, versions, visibility, rendered pages. */
  publications: PublicationService;
  /** Object-storage endpoints, people's keys (from their source of truth) and provisioning. */
  storage: StorageService;
  /** People's homes and system accounts on this machine, and whether they are isolated from each other. */
  people: LocalPeople;
  /** With auth.type openshift: sign-in through OpenShift's OAuth server. */
  externalSignIn?: ExternalSignIn;
  /** Servers shared with people and groups, and share codes. */
  sharing: SharingService;
  /** Announces access taken away, so connections opened with it are closed. */
  revocations: Revocations;
  /** People's sign-in tokens, with auth.enable_auth_state. */
  authStates?: AuthStates;
}
