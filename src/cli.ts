#!/usr/bin/env node
import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, databaseTarget, redactDatabaseUrl, ConfigError, type LoadedConfig } from './config/load.js';
import { EMBEDDED_STORAGE_PROFILE, embeddedStorage } from './storage/embedded-config.js';
import { loadCatalog } from './profiles/catalog.js';
import { createPublicationStore } from './publish/store-factory.js';
import { forgetUserBlobs } from './publish/service.js';
import { startRefinery } from './app.js';
import { openDatabase } from './db/connect.js';
import { findUser, listUsers } from './db/users.js';
import { serversOfUsers } from './db/servers.js';
import { IdentityResolver } from './auth/identity.js';
import { issueToken, tokenLifetime } from './auth/tokens.js';
import { generatePassword } from './auth/passwords.js';
import { checkScopesExist, ScopeError } from './policy/scopes.js';
import { createOneUser, removeUser, setPassword, UserRequestError } from './users/service.js';
import { REFINERY_VERSION } from './version.js';
import { storageServiceFrom } from './storage/provisioning.js';
import { silentLogger } from './log.js';
import { LocalPeople, runModeOf } from './host/people.js';

function configFile(options: { config?: string }): string | undefined {
  return options.config ?? (process.env.REFINERY_CONFIG || undefined);
}

function load(options: { config?: string }): LoadedConfig {
  return loadConfig(configFile(options));
}

/** Open the database a config points at, run `fn`, close it. */
async function withDb<T>(options: { config?: string }, fn: (deps: { db: Awaited<ReturnType<typeof openDatabase>>; loaded: LoadedConfig }) => Promise<T>): Promise<T> {
  const loaded = load(options);
  const db = await openDatabase(databaseTarget(loaded.config));
  try {
    return await fn({ db, loaded });
  } finally {
    await db.close();
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

const configOption = () => new Option('-c, --config <file>', 'YAML configuration file (default: $REFINERY_CONFIG, else built-in defaults)');

const program = new Command('refinery')
  .description('Team notebook platform: a Jupyter server for everyone, JupyterHub-compatible')
  .version(REFINERY_VERSION);

program
  .command('start')
  .description('start the hub and proxy on the configured address')
  .addOption(configOption())
  .action(async (options: { config?: string }) => {
    const loaded = load(options);
    const running = await startRefinery(loaded, {
      onAdminCreated: (name, password) => {
        const lines = password
          ? [`Created the first admin account "${name}".`, `One-time password: ${password}`, 'Sign in and change it at /hub/password, or run `refinery users passwd`.']
          : [`Created the first admin account "${name}" with the password from $${loaded.config.auth.initial_password_env}.`];
        process.stderr.write(`\n${lines.map((l) => `  ${l}`).join('\n')}\n\n`);
      },
    });
    process.stderr.write(`Refinery is running at ${running.url}/ (configuration: ${loaded.source})\n`);
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) process.exit(1);
      stopping = true;
      process.stderr.write(`\n${signal}: stopping Refinery; users' servers keep running and are adopted at the next start\n`);
      void running.close().then(() => process.exit(0));
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });

program
  .command('check-config')
  .description('validate the configuration and print the effective values (secrets hidden)')
  .addOption(configOption())
  .action((options: { config?: string }) => {
    const loaded = load(options);
    const catalog = loadCatalog(loaded);
    // a secret given inline is hidden; a reference to where it lives ({env}, {file}) is not secret and is shown
    const SECRET_KEYS = new Set(['api_token', 'access_key', 'secret_key', 'secret', 'client_secret']);
    const shown = JSON.parse(JSON.stringify(loaded.config, (key, value: unknown) => {
      if (key === 'database' && typeof value === 'string') return redactDatabaseUrl(value);
      return SECRET_KEYS.has(key) && typeof value === 'string' ? '(hidden)' : value;
    })) as unknown;
    const endpoints = loaded.config.storage.endpoints.length;
    const embedded = embeddedStorage(loaded.config);
    const storage = embedded.on ? 'embedded object storage' : `${endpoints} storage endpoint${endpoints === 1 ? '' : 's'}`;
    // the embedded storage's own profile is part of "embedded object storage", not one of the configured profiles
    const profiles = catalog.profiles.filter((p) => p.name !== EMBEDDED_STORAGE_PROFILE.name).length;
    process.stdout.write(`${loaded.source}: configuration is valid (${catalog.images.length} images, ${catalog.sizes.length} sizes, ${profiles} profiles, ${catalog.profile_list.length} offered profiles, ${storage})\n${JSON.stringify(shown, null, 2)}\n`);
  });

program
  .command('reload')
  .description('check the configuration, then have the running hub re-read its images, sizes and profiles')
  .addOption(configOption())
  .action(async (options: { config?: string }) => {
    const loaded = load(options);
    loadCatalog(loaded); // refuse to signal the hub with a broken file: say what is wrong here instead
    const pidFile = join(loaded.config.data_dir, 'refinery.pid');
    let pid: number;
    try {
      pid = Number(readFileSync(pidFile, 'utf8').trim());
    } catch {
      throw new Error(`no running hub found for this configuration (no ${pidFile}); start it with \`refinery start\``);
    }
    try {
      process.kill(pid, 'SIGHUP');
    } catch {
      throw new Error(`the hub recorded in ${pidFile} (pid ${pid}) is not running`);
    }
    process.stdout.write(`${loaded.source}: valid; asked the hub (pid ${pid}) to reload images, sizes and profiles\n`);
  });

const users = program.command('users').description('manage user accounts');

users
  .command('add <name>')
  .description('create a user; prints a generated password unless --password-stdin is given')
  .option('--admin', 'make the user an admin')
  .option('--password-stdin', 'read the password from standard input')
  .option('--no-password', 'create the account without a password (sign-in impossible until one is set)')
  .addOption(configOption())
  .action(async (name: string, options: { admin?: boolean; passwordStdin?: boolean; password?: boolean; config?: string }) => {
    await withDb(options, async ({ db, loaded }) => {
      let password: string | undefined;
      if (options.passwordStdin) password = await readStdin();
      else if (options.password !== false) password = generatePassword(loaded.config.auth.min_password_length);
      if (password !== undefined && password.length < loaded.config.auth.min_password_length) {
        throw new UserRequestError(`the password must have at least ${loaded.config.auth.min_password_length} characters`, 'invalid');
      }
      const identities = new IdentityResolver(db.kysely, []);
      const user = await createOneUser({ db: db.kysely, identities }, name, { admin: !!options.admin, ...(password ? { password } : {}) });
      process.stdout.write(`created ${user.admin ? 'admin ' : ''}user ${user.name}\n`);
      if (password && !options.passwordStdin) process.stdout.write(`password: ${password}\n`);
    });
  });

users
  .command('list')
  .description('list users and their servers')
  .addOption(configOption())
  .action(async (options: { config?: string }) => {
    await withDb(options, async ({ db }) => {
      const { rows } = await listUsers(db.kysely, { offset: 0, limit: 100_000 });
      const servers = await serversOfUsers(db.kysely, rows.map((r) => r.id));
      const lines = rows.map((u) => {
        const list = (servers.get(u.id) ?? []).map((s) => `${s.name || '(default)'}:${s.phase}`).join(' ');
        return `${u.name.padEnd(24)} ${u.admin ? 'admin' : '     '}  ${list || '-'}`;
      });
      process.stdout.write(`${'NAME'.padEnd(24)} ROLE   SERVERS\n${lines.join('\n')}${lines.length ? '\n' : ''}`);
    });
  });

users
  .command('remove <name>')
  .description('delete a user (their servers must be stopped; stop them from the hub first)')
  .addOption(configOption())
  .action(async (name: string, options: { config?: string }) => {
    await withDb(options, async ({ db, loaded }) => {
      const user = await findUser(db.kysely, name);
      if (!user) throw new UserRequestError(`no such user: ${name}`, 'not-found');
      const store = createPublicationStore(loaded);
      await removeUser({
        db: db.kysely, identities: new IdentityResolver(db.kysely, []),
        publications: { forgetUser: (id) => forgetUserBlobs(db.kysely, store, id) },
        storage: storageServiceFrom(loaded, silentLogger()),
        people: new LocalPeople({
          dataDir: loaded.config.data_dir, mode: runModeOf(loaded.config.spawner.local.run_as, loaded.source),
          systemUsers: loaded.config.spawner.local.system_users, log: silentLogger(),
        }),
      }, user);
      process.stdout.write(`removed user ${user.name}\n`);
    });
  });

users
  .command('passwd <name>')
  .description('set a user\'s password (read from standard input, or generated and printed)')
  .option('--password-stdin', 'read the password from standard input')
  .addOption(configOption())
  .action(async (name: string, options: { passwordStdin?: boolean; config?: string }) => {
    await withDb(options, async ({ db, loaded }) => {
      const user = await findUser(db.kysely, name);
      if (!user) throw new UserRequestError(`no such user: ${name}`, 'not-found');
      const password = options.passwordStdin ? await readStdin() : generatePassword(loaded.config.auth.min_password_length);
      if (password.length < loaded.config.auth.min_password_length) throw new UserRequestError(`the password must have at least ${loaded.config.auth.min_password_length} characters`, 'invalid');
      await setPassword({ db: db.kysely, identities: new IdentityResolver(db.kysely, []) }, user, password);
      process.stdout.write(options.passwordStdin ? `password of ${user.name} changed\n` : `new password of ${user.name}: ${password}\n`);
    });
  });

program
  .command('token <user>')
  .description('print a new API token for a user (like `jupyterhub token`)')
  .option('--note <text>', 'what the token is for', 'Requested via refinery token command')
  .option('--expires-in <seconds>', 'lifetime in seconds (default: never expires)')
  .option('--scopes <list>', 'comma-separated scopes (default: everything the user may do)')
  .addOption(configOption())
  .action(async (name: string, options: { note: string; expiresIn?: string; scopes?: string; config?: string }) => {
    await withDb(options, async ({ db }) => {
      const user = await findUser(db.kysely, name);
      if (!user) throw new UserRequestError(`no such user: ${name}`, 'not-found');
      let expiresIn: number | null = null;
      try {
        expiresIn = options.expiresIn ? tokenLifetime(Number(options.expiresIn)) : null;
      } catch (error) {
        throw new UserRequestError(`--expires-in ${(error as Error).message}`, 'invalid');
      }
      if (options.expiresIn && expiresIn === null) throw new UserRequestError('--expires-in must be a positive number of seconds (leave it out for a token that does not expire)', 'invalid');
      const scopes = options.scopes ? options.scopes.split(',').map((s) => s.trim()).filter(Boolean) : ['inherit'];
      try {
        checkScopesExist(scopes);
      } catch (error) {
        if (error instanceof ScopeError) throw new UserRequestError(`--scopes: ${error.message}`, 'invalid');
        throw error;
      }
      const { token } = await issueToken(db.kysely, { userId: user.id, scopes, note: options.note, expiresIn });
      process.stdout.write(`${token}\n`);
    });
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof ConfigError) process.stderr.write(`refinery: ${error.message}\n`);
  else if (error instanceof UserRequestError) process.stderr.write(`refinery: ${error.message}\n`);
  else process.stderr.write(`refinery: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(error instanceof ConfigError ? 2 : 1);
});
