/**
 * Names and labels of a server's Kubernetes objects.
 *
 * ESCAPING, as KubeSpawner's (escapism with safe characters [a-z0-9] and escape character "-"):
 * every other byte of the UTF-8 name becomes "-" and two lowercase hex digits ("a.b" → "a-2eb",
 * "ünal" → "-c3-bcnal"). An escaped name never contains "--" (an escape's "-" is always followed by
 * two hex digits) and never ends in "-", so in `jupyter-{user}--{server}` the first "--" splits
 * user from server: two different (user, server) pairs cannot give the same pod name. Names longer
 * than a DNS label (63) are cut and end in a hash of the exact (user, server); the annotations carry
 * the names unescaped, and the spawner checks them before it takes a pod as a server's own.
 */
import { createHash } from 'node:crypto';

const SAFE = /[a-z0-9]/;
const MAX_NAME = 63;

/** KubeSpawner's escaping of a user or server name into [a-z0-9-]. */
export function escapeName(name: string): string {
  let out = '';
  for (const char of name) {
    if (SAFE.test(char)) {
      out += char;
      continue;
    }
    for (const byte of Buffer.from(char, 'utf8')) out += `-${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

function hash8(user: string, server: string): string {
  return createHash('sha256').update(`${user}\0${server}`).digest('hex').slice(0, 8);
}

/** `{user}` or `{user}--{server}`, escaped: the part of a name that says whose server it is. */
export function userServer(user: string, server: string): string {
  return server ? `${escapeName(user)}--${escapeName(server)}` : escapeName(user);
}

/** Fill a name template: {username}, {servername} (escaped) and {user_server}; cut with a hash when too long. */
export function expandName(template: string, user: string, server: string, max = MAX_NAME): string {
  const full = template
    .replaceAll('{user_server}', userServer(user, server))
    .replaceAll('{username}', escapeName(user))
    .replaceAll('{servername}', escapeName(server));
  if (full.length <= max) return full;
  const tail = `-${hash8(user, server)}`;
  return `${full.slice(0, max - tail.length).replace(/-+$/, '')}${tail}`;
}

/** The placeholders a name template may use. */
export const NAME_FIELDS = ['{username}', '{servername}', '{user_server}'] as const;

export const LABEL = {
  name: 'app.kubernetes.io/name',
  instance: 'app.kubernetes.io/instance',
  component: 'app.kubernetes.io/component',
  managedBy: 'app.kubernetes.io/managed-by',
  username: 'hub.jupyter.org/username',
  servername: 'hub.jupyter.org/servername',
} as const;

export const ANNOTATION = {
  username: 'hub.jupyter.org/username',
  servername: 'hub.jupyter.org/servername',
} as const;

export const COMPONENT = { server: 'singleuser-server', home: 'singleuser-storage', env: 'singleuser-env' } as const;

const LABEL_VALUE = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$/;

/**
 * A label value: at most 63 of [A-Za-z0-9-_.], starting and ending alphanumeric (or empty). An
 * escaped name that is not one (it starts with an escape, "-c3-bcnal", or is too long) becomes its
 * readable part and a hash of the exact names, so label values stay distinct between servers
 * (network policies select pods by them).
 */
export function labelValue(escaped: string, user: string, server: string): string {
  if (escaped.length <= MAX_NAME && LABEL_VALUE.test(escaped)) return escaped;
  const tail = hash8(user, server);
  const body = escaped.replace(/^-+/, '').slice(0, MAX_NAME - tail.length - 1).replace(/-+$/, '');
  return body ? `${body}-${tail}` : tail;
}

/** The labels every object of one hub carries: how it finds its own among other hubs' in a namespace. */
export function hubSelector(hub: string, component: string): string {
  return `${LABEL.managedBy}=refinery,${LABEL.instance}=${hub},${LABEL.component}=${component}`;
}

export function serverLabels(hub: string, component: string, user: string, server: string): Record<string, string> {
  return {
    [LABEL.name]: 'refinery',
    [LABEL.instance]: hub,
    [LABEL.component]: component,
    [LABEL.managedBy]: 'refinery',
    [LABEL.username]: labelValue(escapeName(user), user, ''),
    [LABEL.servername]: labelValue(escapeName(server), user, server),
  };
}

export function serverAnnotations(user: string, server: string): Record<string, string> {
  return { [ANNOTATION.username]: user, [ANNOTATION.servername]: server };
}

/** The exact user and server an object belongs to, from its annotations. */
export function ownerOf(meta: { annotations?: Record<string, string> } | undefined): { user: string; server: string } | undefined {
  const user = meta?.annotations?.[ANNOTATION.username];
  if (!user) return undefined;
  return { user, server: meta?.annotations?.[ANNOTATION.servername] ?? '' };
}
