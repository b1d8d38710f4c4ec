import type { Access } from '../policy/access.js';
import { visibleFields } from '../policy/rules.js';
import type { ScopeName } from '../policy/scopes.js';

/** A configured service as the API shows it: never its token. */
export interface ServiceFacts {
  name: string;
  scopes: readonly string[];
  url?: string | undefined;
  display: boolean;
}

/** Which model keys each scope reveals, as in JupyterHub's service_model. */
const ACCESS_MAP: ReadonlyArray<readonly [ScopeName, readonly string[]]> = [
  ['read:services', ['kind', 'name', 'admin', 'roles', 'url', 'prefix', 'pid', 'command', 'info', 'display']],
  ['read:services:name', ['kind', 'name', 'admin']],
  ['read:roles:services', ['kind', 'name', 'roles', 'admin']],
];

/** JupyterHub's service model, showing only the fields the caller's scopes allow. Empty when none. */
export function presentService(service: ServiceFacts, access: Access): Record<string, unknown> {
  const allowed = visibleFields(access, ACCESS_MAP, { service: service.name });
  const full: Record<string, unknown> = {
    kind: 'service',
    name: service.name,
    // Refinery services have the scopes they are configured with, not roles: admin means the admin role's reach
    admin: false,
    roles: [],
    url: service.url ?? '',
    // services with a URL are not proxied by Refinery: no prefix
    prefix: '',
    pid: 0,
    command: [],
    info: { scopes: [...service.scopes] },
    display: service.display,
  };
  const model: Record<string, unknown> = {};
  for (const key of Object.keys(full)) if (allowed.has(key)) model[key] = full[key];
  return model;
}
