import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { migrateToLatest, type Dialect } from './migrations.js';
import type { Database } from './tables.js';

export interface Db {
  kysely: Kysely<Database>;
  dialect: Dialect;
  close(): Promise<void>;
}

export type DbTarget = { kind: 'postgres'; url: string } | { kind: 'sqlite'; path: string };

/** Open the database and migrate it to the latest schema. */
export async function openDatabase(target: DbTarget): Promise<Db> {
  let kysely: Kysely<Database>;
  if (target.kind === 'postgres') {
    const pool = new pg.Pool({ connectionString: target.url, max: 10 });
    // An idle pooled connection can be closed by the server at any time (PostgreSQL restarted or failed
    // over, an idle timeout, pg_terminate_backend). pg then emits 'error' on the pool, which without a
    // listener is an uncaught exception that ends the hub. The pool drops that connection by itself and
    // the next query opens a new one, so there is nothing else to do.
    pool.on('error', () => undefined);
    kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  } else {
    if (target.path !== ':memory:') mkdirSync(dirname(target.path), { recursive: true });
    const sqlite = new SQLite(target.path);
    // WAL lets the CLI read while the hub writes; busy_timeout waits out the other writer instead of failing.
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('foreign_keys = ON');
    kysely = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  }
  const db: Db = { kysely, dialect: target.kind, close: () => kysely.destroy() };
  try {
    await migrateToLatest(kysely, target.kind);
  } catch (error) {
    await kysely.destroy();
    throw error;
  }
  return db;
}
