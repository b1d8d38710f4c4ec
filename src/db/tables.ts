import type { Generated } from 'kysely';

/**
 * Table shapes. Portable across SQLite and PostgreSQL on purpose: timestamps are ISO-8601 UTC text
 * (they sort correctly and are what the API returns), booleans are 0/1 integers, structured values
 * are JSON text.
 */
export interface UsersTable {
  id: Generated<number>;
  name: string;
  admin: number;
  password_hash: string | null;
  created: string;
  last_activity: string | null;
  /** JSON: what the last spawn chose, pre-selected next time. */
  preferences: string;
}

export interface GroupsTable {
  id: Generated<number>;
  name: string;
  /** JSON object, as JupyterHub's group properties. */
  properties: string;
}

export interface UserGroupsTable {
  user_id: number;
  group_id: number;
}

export type ServerPhase = 'stopped' | 'pending' | 'running' | 'stopping';

export interface ServersTable {
  id: Generated<number>;
  user_id: number;
  /** '' is the default server. */
  name: string;
  phase: ServerPhase;
  spawner_kind: string | null;
  /** JSON from the spawner: enough to find the server again after a restart. */
  spawner_state: string | null;
  /** Where the proxy sends this server's traffic. */
  target: string | null;
  started: string | null;
  last_activity: string | null;
  /** JSON: the options the user started it with. */
  user_options: string;
  /** Why the last start or run ended badly, for the user to read. */
  last_error: string | null;
  created: string;
}

export interface ApiTokensTable {
  id: Generated<number>;
  /** sha256 hex of the token; the token itself is never stored. */
  hash: string;
  /** First characters of the token, shown to help people tell tokens apart. */
  prefix: string;
  user_id: number | null;
  service_name: string | null;
  /** JSON list of raw scopes. */
  scopes: string;
  note: string;
  created: string;
  expires_at: string | null;
  last_activity: string | null;
  /** OAuth client that issued it: 'jupyterhub' for tokens made on the hub, a server's client id otherwise. */
  oauth_client_id: string;
  /** The sign-in session that made it (OAuth tokens), revoked with the session. */
  session_id: string | null;
  /** Set for a server's own JUPYTERHUB_API_TOKEN: `<user>/<server>`. */
  server_key: string | null;
}

export interface OAuthClientsTable {
  identifier: string;
  description: string;
  secret_hash: string;
  redirect_uri: string;
  /** JSON list of raw scopes tokens from this client may carry. */
  allowed_scopes: string;
  /** The server (`<user>/<name>`) this client belongs to, when it belongs to one. */
  server_key: string | null;
  created: string;
}

export interface OAuthCodesTable {
  hash: string;
  client_id: string;
  user_id: number;
  redirect_uri: string;
  scopes: string;
  code_challenge: string | null;
  code_challenge_method: string | null;
  session_id: string | null;
  expires_at: string;
  /** When it was exchanged; a used code stays until it expires, so a second use can be told from a wrong one. */
  used_at: string | null;
  /** The token its exchange gave (api_tokens.id). */
  token_id: number | null;
}

export interface SessionsTable {
  /** sha256 hex of the cookie value. */
  hash: string;
  /** Public id (JupyterHub's session_id), safe to show. */
  id: string;
  user_id: number;
  csrf_token: string;
  created: string;
  expires_at: string;
  last_seen: string;
}

export type ClusterPhase = 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

export interface ClustersTable {
  id: Generated<number>;
  user_id: number;
  server_name: string;
  /** Unique among the server's clusters (default: the kind). */
  name: string;
  kind: string;
  phase: ClusterPhase;
  /** JSON: the ClusterRequest it was started from. */
  request: string;
  /** JSON: reserved addresses (env for the server, UI ports). */
  addresses: string;
  /** JSON from the backend: enough to find the cluster again. */
  state: string | null;
  created: string;
  started: string | null;
  last_error: string | null;
}

/** One person's or one group's access to one server, granted by its owner (JupyterHub 5 sharing). */
export interface SharesTable {
  id: Generated<number>;
  server_id: number;
  /** Exactly one of user_id and group_id is set. */
  user_id: number | null;
  group_id: number | null;
  /** JSON array of scopes, each filtered on the server (`access:servers!server=alice/`). */
  scopes: string;
  created: string;
}

/** A code anyone signed in can exchange for a share of one server, until it expires. */
export interface ShareCodesTable {
  id: Generated<number>;
  server_id: number;
  /** sha256 hex of the code; the code itself is shown once and never stored. */
  hash: string;
  scopes: string;
  created: string;
  expires_at: string;
  last_exchanged_at: string | null;
  exchange_count: number;
}

export interface Database {
  users: UsersTable;
  groups: GroupsTable;
  user_groups: UserGroupsTable;
  servers: ServersTable;
  api_tokens: ApiTokensTable;
  oauth_clients: OAuthClientsTable;
  oauth_codes: OAuthCodesTable;
  sessions: SessionsTable;
  clusters: ClustersTable;
  publications: PublicationsTable;
  publication_versions: PublicationVersionsTable;
  auth_states: AuthStatesTable;
  shares: SharesTable;
  share_codes: ShareCodesTable;
}

/**
 * What a person's sign-in provider gave (access and refresh tokens), encrypted (auth/auth-state.ts);
 * apart from users so that reading a user never reads it.
 */
export interface AuthStatesTable {
  user_id: number;
  encrypted: string;
  updated: string;
}

/** `public` (anyone with the link), `users` (signed-in hub users) or `group:<name>` (that group's members). */
export type PublicationVisibility = 'public' | 'users' | `group:${string}`;

/** A published notebook: one stable link, any number of versions. */
export interface PublicationsTable {
  id: Generated<number>;
  /** Random, unguessable: the link is /p/<slug>. Also the publication's id in the API. */
  slug: string;
  user_id: number;
  title: string;
  visibility: string;
  created: string;
  /** When the latest version was published (or title/visibility changed). */
  updated: string;
  /** Unpublished: the link answers 410 Gone; the blobs are deleted, this row stays. */
  deleted_at: string | null;
}

/** One uploaded notebook of a publication, numbered 1, 2, ... */
export interface PublicationVersionsTable {
  id: Generated<number>;
  publication_id: number;
  version: number;
  /** Where the exact uploaded bytes are in the PublicationStore (never shown to anyone). */
  blob_key: string;
  size: number;
  /** sha256 hex of the uploaded bytes. */
  sha256: string;
  created: string;
  /** The notebook's path in its owner's server when it was published ('' when uploaded otherwise). */
  source_path: string;
}
