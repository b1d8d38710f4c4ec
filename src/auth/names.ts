/**
 * User and server names end up in URLs, file paths and process environments, so they are checked
 * once, here. Usernames are normalized the way JupyterHub's Authenticator does (lowercase), plus
 * Unicode NFKC so look-alike forms collapse to one account.
 */

export class NameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NameError';
  }
}

export function normalizeUsername(name: string): string {
  return name.normalize('NFKC').toLowerCase();
}

// Characters that would change a URL path's meaning or escape a directory.
const FORBIDDEN_USER_CHARS = /[/\\?#%"'<>`\s\p{Cc}\p{Cf}]/u;

/** Returns a reason the (already normalized) username is not acceptable, or undefined when it is fine. */
export function usernameProblem(name: string): string | undefined {
  if (!name) return 'a username cannot be empty';
  if (name.length > 255) return 'a username can be at most 255 characters long';
  if (name === '.' || name === '..') return `"${name}" cannot be a username`;
  if (FORBIDDEN_USER_CHARS.test(name)) return `username ${JSON.stringify(name)} contains a character that is not allowed (no "/", "\\", "?", "#", "%", quotes, "<", ">" or whitespace)`;
  if (name.startsWith('-')) return 'a username cannot start with "-"';
  return undefined;
}

/** Normalize and validate; throws NameError with the reason. */
export function checkUsername(raw: string): string {
  const name = normalizeUsername(raw);
  const problem = usernameProblem(name);
  if (problem) throw new NameError(problem);
  return name;
}

/**
 * Group names become path segments too (`groups/<group>/` in a directory of keys, `{group}` in
 * bucket and Secret names), so they follow the username rules, without the case folding: no "/",
 * "\\", "?", "#", "%", quotes, "<", ">", whitespace or control characters, not "." or "..", not
 * starting with "-", at most 255 characters.
 */
export function groupNameProblem(name: string): string | undefined {
  if (!name) return 'a group name cannot be empty';
  if (name.length > 255) return 'a group name can be at most 255 characters long';
  if (name === '.' || name === '..') return `"${name}" cannot be a group name`;
  if (FORBIDDEN_USER_CHARS.test(name)) return `group name ${JSON.stringify(name)} contains a character that is not allowed (no "/", "\\", "?", "#", "%", quotes, "<", ">" or whitespace)`;
  if (name.startsWith('-')) return 'a group name cannot start with "-"';
  return undefined;
}

const SERVER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Named-server names: letters, digits, '.', '_' and '-', starting with a letter or digit. '' is the default server. */
export function serverNameProblem(name: string): string | undefined {
  if (name === '') return undefined;
  if (!SERVER_NAME.test(name)) {
    return `server name ${JSON.stringify(name)} is not allowed: use 1–63 letters, digits, ".", "_" or "-", starting with a letter or digit`;
  }
  return undefined;
}

/** The URL prefix of a server, e.g. `/user/alice/` or `/user/alice/lab2/`. */
export function serverPrefix(user: string, server: string): string {
  return `/user/${encodeURIComponent(user)}/${server ? `${encodeURIComponent(server)}/` : ''}`;
}
