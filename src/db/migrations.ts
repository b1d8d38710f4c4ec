import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { Database } from './tables.js';

export type Dialect = 'sqlite' | 'postgres';

/**
 * Migrations are code, in order, never edited once released: add a new one instead. Each receives
 * the dialect because auto-increment keys are spelled differently.
 */
function migrations(dialect: Dialect): Record<string, Migration> {
  const idColumn = (db: Kysely<unknown>, table: string) =>
    dialect === 'postgres'
      ? db.schema.createTable(table).addColumn('id', 'serial', (c) => c.primaryKey())
      : db.schema.createTable(table).addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());

  return {
    '0001_initial': {
      async up(db: Kysely<unknown>) {
        await idColumn(db, 'users')
          .addColumn('name', 'text', (c) => c.notNull().unique())
          .addColumn('admin', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('password_hash', 'text')
          .addColumn('created', 'text', (c) => c.notNull())
          .addColumn('last_activity', 'text')
          .addColumn('preferences', 'text', (c) => c.notNull().defaultTo('{}'))
          .execute();
        await idColumn(db, 'groups')
          .addColumn('name', 'text', (c) => c.notNull().unique())
          .addColumn('properties', 'text', (c) => c.notNull().defaultTo('{}'))
          .execute();
        await db.schema
          .createTable('user_groups')
          .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
          .addColumn('group_id', 'integer', (c) => c.notNull().references('groups.id').onDelete('cascade'))
          .addPrimaryKeyConstraint('user_groups_pk', ['user_id', 'group_id'])
          .execute();
        await idColumn(db, 'servers')
          .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('phase', 'text', (c) => c.notNull())
          .addColumn('spawner_kind', 'text')
          .addColumn('spawner_state', 'text')
          .addColumn('target', 'text')
          .addColumn('started', 'text')
          .addColumn('last_activity', 'text')
          .addColumn('user_options', 'text', (c) => c.notNull().defaultTo('{}'))
          .addColumn('last_error', 'text')
          .addColumn('created', 'text', (c) => c.notNull())
          .addUniqueConstraint('servers_user_name', ['user_id', 'name'])
          .execute();
        await idColumn(db, 'api_tokens')
          .addColumn('hash', 'text', (c) => c.notNull().unique())
          .addColumn('prefix', 'text', (c) => c.notNull())
          .addColumn('user_id', 'integer', (c) => c.references('users.id').onDelete('cascade'))
          .addColumn('service_name', 'text')
          .addColumn('scopes', 'text', (c) => c.notNull())
          .addColumn('note', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('created', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text')
          .addColumn('last_activity', 'text')
          .addColumn('oauth_client_id', 'text', (c) => c.notNull().defaultTo('jupyterhub'))
          .addColumn('session_id', 'text')
          .addColumn('server_key', 'text')
          .execute();
        await db.schema.createIndex('api_tokens_user').on('api_tokens').column('user_id').execute();
        await db.schema
          .createTable('oauth_clients')
          .addColumn('identifier', 'text', (c) => c.primaryKey())
          .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('secret_hash', 'text', (c) => c.notNull())
          .addColumn('redirect_uri', 'text', (c) => c.notNull())
          .addColumn('allowed_scopes', 'text', (c) => c.notNull().defaultTo('[]'))
          .addColumn('server_key', 'text')
          .addColumn('created', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('oauth_codes')
          .addColumn('hash', 'text', (c) => c.primaryKey())
          .addColumn('client_id', 'text', (c) => c.notNull().references('oauth_clients.identifier').onDelete('cascade'))
          .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
          .addColumn('redirect_uri', 'text', (c) => c.notNull())
          .addColumn('scopes', 'text', (c) => c.notNull())
          .addColumn('code_challenge', 'text')
          .addColumn('code_challenge_method', 'text')
          .addColumn('session_id', 'text')
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('sessions')
          .addColumn('hash', 'text', (c) => c.primaryKey())
          .addColumn('id', 'text', (c) => c.notNull().unique())
          .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
          .addColumn('csrf_token', 'text', (c) => c.notNull())
          .addColumn('created', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .addColumn('last_seen', 'text', (c) => c.notNull())
          .execute();
      },
      async down(db: Kysely<unknown>) {
        for (const table of ['sessions', 'oauth_codes', 'oauth_clients', 'api_tokens', 'servers', 'user_groups', 'groups', 'users']) {
          await db.schema.dropTable(table).ifExists().execute();
        }
      },
    },
    '0006_oauth_code_use': {
      // A code is kept, marked used, until it expires, with the token it gave: a second use of it
      // (RFC 6749 §4.1.2: someone else has it) revokes that token.
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('oauth_codes').addColumn('used_at', 'text').execute();
        await db.schema.alterTable('oauth_codes').addColumn('token_id', 'integer').execute();
      },
      async down(db: Kysely<unknown>) {
        await db.schema.alterTable('oauth_codes').dropColumn('token_id').execute();
        await db.schema.alterTable('oauth_codes').dropColumn('used_at').execute();
      },
    },
    '0005_shares': {
      async up(db: Kysely<unknown>) {
        await idColumn(db, 'shares')
          .addColumn('server_id', 'integer', (c) => c.notNull().references('servers.id').onDelete('cascade'))
          .addColumn('user_id', 'integer', (c) => c.references('users.id').onDelete('cascade'))
          .addColumn('group_id', 'integer', (c) => c.references('groups.id').onDelete('cascade'))
          .addColumn('scopes', 'text', (c) => c.notNull())
          .addColumn('created', 'text', (c) => c.notNull())
          .addUniqueConstraint('shares_server_user', ['server_id', 'user_id'])
          .addUniqueConstraint('shares_server_group', ['server_id', 'group_id'])
          .execute();
        await db.schema.createIndex('shares_user').on('shares').column('user_id').execute();
        await db.schema.createIndex('shares_group').on('shares').column('group_id').execute();
        await idColumn(db, 'share_codes')
          .addColumn('server_id', 'integer', (c) => c.notNull().references('servers.id').onDelete('cascade'))
          .addColumn('hash', 'text', (c) => c.notNull().unique())
          .addColumn('scopes', 'text', (c) => c.notNull())
          .addColumn('created', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .addColumn('last_exchanged_at', 'text')
          .addColumn('exchange_count', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
      },
      async down(db: Kysely<unknown>) {
        await db.schema.dropTable('share_codes').ifExists().execute();
        await db.schema.dropTable('shares').ifExists().execute();
      },
    },
    '0004_auth_states': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('auth_states')
          .addColumn('user_id', 'integer', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
          .addColumn('encrypted', 'text', (c) => c.notNull())
          .addColumn('updated', 'text', (c) => c.notNull())
          .execute();
      },
      async down(db: Kysely<unknown>) {
        await db.schema.dropTable('auth_states').ifExists().execute();
      },
    },
    '0003_clusters': {
      async up(db: Kysely<unknown>) {
        await idColumn(db, 'clusters')
          .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
          .addColumn('server_name', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('phase', 'text', (c) => c.notNull())
          .addColumn('request', 'text', (c) => c.notNull())
          .addColumn('addresses', 'text', (c) => c.notNull().defaultTo('{}'))
          .addColumn('state', 'text')
          .addColumn('created', 'text', (c) => c.notNull())
          .addColumn('started', 'text')
          .addColumn('last_error', 'text')
          .addUniqueConstraint('clusters_owner_name', ['user_id', 'server_name', 'name'])
          .execute();
      },
      async down(db: Kysely<unknown>) {
        await db.schema.dropTable('clusters').ifExists().execute();
      },
    },
    '0002_publications': {
      async up(db: Kysely<unknown>) {
        await idColumn(db, 'publications')
          .addColumn('slug', 'text', (c) => c.notNull().unique())
          .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
          .addColumn('title', 'text', (c) => c.notNull())
          .addColumn('visibility', 'text', (c) => c.notNull())
          .addColumn('created', 'text', (c) => c.notNull())
          .addColumn('updated', 'text', (c) => c.notNull())
          .addColumn('deleted_at', 'text')
          .execute();
        await db.schema.createIndex('publications_user').on('publications').column('user_id').execute();
        await idColumn(db, 'publication_versions')
          .addColumn('publication_id', 'integer', (c) => c.notNull().references('publications.id').onDelete('cascade'))
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('blob_key', 'text', (c) => c.notNull())
          .addColumn('size', 'integer', (c) => c.notNull())
          .addColumn('sha256', 'text', (c) => c.notNull())
          .addColumn('created', 'text', (c) => c.notNull())
          .addColumn('source_path', 'text', (c) => c.notNull().defaultTo(''))
          .addUniqueConstraint('publication_versions_number', ['publication_id', 'version'])
          .execute();
      },
      async down(db: Kysely<unknown>) {
        await db.schema.dropTable('publication_versions').ifExists().execute();
        await db.schema.dropTable('publications').ifExists().execute();
      },
    },
  };
}

class CodeMigrationProvider implements MigrationProvider {
  constructor(private readonly dialect: Dialect) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations(this.dialect);
  }
}

/** Bring the schema up to date. Throws with the failing migration's name and cause. */
export async function migrateToLatest(db: Kysely<Database>, dialect: Dialect): Promise<string[]> {
  if (dialect === 'sqlite') await sql`PRAGMA foreign_keys = ON`.execute(db);
  // allowUnorderedMigrations: 0002_publications landed after 0003_clusters; databases migrated in
  // between must still take it (Kysely refuses a pending migration named before an executed one otherwise)
  const migrator = new Migrator({ db, provider: new CodeMigrationProvider(dialect), migrationTableName: 'refinery_migrations', migrationLockTableName: 'refinery_migrations_lock', allowUnorderedMigrations: true });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error) {
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
