import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { countUsers, findUser, updateUser } from '../db/users.js';
import { generatePassword } from '../auth/passwords.js';
import { createOneUser, type UserServiceDeps } from './service.js';

/**
 * On the very first start (no users at all), create the configured admins. The first one gets a
 * password from the configured environment variable, or a random one that is reported once.
 * Later starts only make sure listed admins keep the admin flag.
 */
export async function ensureFirstAdmins(
  deps: UserServiceDeps,
  config: Config,
  log: Logger,
  onCreated?: (name: string, password: string | null) => void,
): Promise<void> {
  const empty = (await countUsers(deps.db)) === 0;
  for (const [i, raw] of config.auth.admin_users.entries()) {
    const existing = await findUser(deps.db, raw.toLowerCase());
    if (existing) {
      if (!existing.admin) await updateUser(deps.db, existing.id, { admin: 1 });
      continue;
    }
    if (!empty) {
      await createOneUser(deps, raw, { admin: true });
      log.info({ user: raw }, 'created admin user from configuration (no password yet: set one with `refinery users passwd`)');
      continue;
    }
    const fromEnv = i === 0 ? process.env[config.auth.initial_password_env] : undefined;
    const password = i === 0 ? (fromEnv || generatePassword(config.auth.min_password_length)) : undefined;
    const user = await createOneUser(deps, raw, { admin: true, ...(password ? { password } : {}) });
    if (i === 0) {
      onCreated?.(user.name, fromEnv ? null : password!);
      if (!onCreated) log.info({ user: user.name }, fromEnv ? `created admin ${user.name} with the password from ${config.auth.initial_password_env}` : `created admin ${user.name}`);
    }
  }
  deps.identities.invalidate();
}
