import { serverAccessScopes } from '../policy/scopes.js';
import { serverPrefix } from '../auth/names.js';
import type { PlanResources } from '../profiles/plan.js';
import { serverUrlOn, type UserHosts } from './user-hosts.js';

export interface HubUrls {
  /** How servers reach the hub API, e.g. `http://127.0.0.1:8000/hub/api`. */
  apiUrl: string;
  /** Public origin, e.g. `https://hub.example.org`, or '' when only the listen address is known. */
  publicOrigin: string;
  /** Per-user hosts (`subdomain_host`), when servers live on their owners' own hosts. */
  userHosts?: UserHosts | undefined;
}

/** Where a browser reaches a server: `/user/alice/`, or `https://alice.hub.example.org/user/alice/` with per-user hosts. */
export function serverUrl(urls: HubUrls, user: string, server: string): string {
  return serverUrlOn(urls.userHosts, user, serverPrefix(user, server));
}

/**
 * The OAuth client id of a server. The default server's is JupyterHub's exactly:
 * `jupyterhub-user-<name>` with the name percent-quoted as Python's `urllib.parse.quote` does (the
 * id becomes a cookie name in the server). A named server's id joins the owner and the server with
 * `!`, which that quoting never leaves unescaped, so no named server's id can equal another's or
 * a default server's (JupyterHub's `-<server>` makes `a-b`'s default server and `a`'s server `b`
 * the same client).
 */
export function oauthClientId(user: string, server: string): string {
  return `jupyterhub-user-${pythonQuote(user)}${server ? `!${pythonQuote(server)}` : ''}`;
}

/** Percent-encode all but ASCII letters, digits and `-._~`, as Python's `quote(s, safe='')`. */
function pythonQuote(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * The OAuth redirect a server's client is registered with: its path, or with per-user hosts the
 * absolute URL on its owner's host (the only place that server is reached).
 */
export function oauthCallbackUrl(urls: HubUrls, user: string, server: string): string {
  return `${serverUrl(urls, user, server)}oauth_callback`;
}

/**
 * The environment `jupyterhub-singleuser` reads, the same variables JupyterHub's Spawner.get_env sets,
 * minus JUPYTERHUB_SERVICE_URL, which the spawner adds once it knows the address.
 */
export function singleUserEnv(options: {
  user: string;
  server: string;
  apiToken: string;
  urls: HubUrls;
  defaultUrl: string;
  extra?: Record<string, string>;
  resources?: PlanResources | undefined;
}): Record<string, string> {
  const { user, server, apiToken, urls } = options;
  const prefix = serverPrefix(user, server);
  // with per-user hosts the server is public only on its owner's host, and the hub on its own
  const publicServerUrl = urls.userHosts ? serverUrl(urls, user, server) : urls.publicOrigin ? `${urls.publicOrigin}${prefix}` : '';
  const accessScopes = JSON.stringify(serverAccessScopes(user, server));
  const env: Record<string, string> = {
    ...options.extra,
    JUPYTERHUB_API_TOKEN: apiToken,
    JPY_API_TOKEN: apiToken,
    JUPYTERHUB_CLIENT_ID: oauthClientId(user, server),
    JUPYTERHUB_COOKIE_HOST_PREFIX_ENABLED: '0',
    JUPYTERHUB_HOST: urls.publicOrigin,
    JUPYTERHUB_OAUTH_CALLBACK_URL: oauthCallbackUrl(urls, user, server),
    JUPYTERHUB_OAUTH_SCOPES: accessScopes,
    JUPYTERHUB_OAUTH_ACCESS_SCOPES: accessScopes,
    JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES: JSON.stringify([]),
    JUPYTERHUB_USER: user,
    JUPYTERHUB_SERVER_NAME: server,
    JUPYTERHUB_API_URL: urls.apiUrl,
    JUPYTERHUB_ACTIVITY_URL: `${urls.apiUrl}/users/${encodeURIComponent(user)}/activity`,
    JUPYTERHUB_BASE_URL: '/',
    JUPYTERHUB_SERVICE_PREFIX: prefix,
    JUPYTERHUB_PUBLIC_URL: publicServerUrl,
    JUPYTERHUB_PUBLIC_HUB_URL: urls.publicOrigin ? `${urls.publicOrigin}/hub/` : '',
    JUPYTERHUB_DEFAULT_URL: options.defaultUrl,
  };
  // what JupyterHub tells servers about their resources (jupyter-resource-usage shows these)
  const r = options.resources;
  if (r?.memory.limit) env.MEM_LIMIT = String(r.memory.limit);
  if (r?.memory.guarantee) env.MEM_GUARANTEE = String(r.memory.guarantee);
  if (r?.cpu.limit) env.CPU_LIMIT = String(r.cpu.limit);
  if (r?.cpu.guarantee) env.CPU_GUARANTEE = String(r.cpu.guarantee);
  return env;
}
