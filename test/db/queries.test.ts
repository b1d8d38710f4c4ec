// The query layer (src/db) against both databases Refinery supports. One suite, run once on SQLite (a
// temp file) and once on a throwaway PostgreSQL: every assertion holds on both, because a hub must
// behave the same whichever database it is given.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { sql } from 'kysely';
import { openDatabase, type Db, type DbTarget } from '../../src/db/connect.js';
import { migrateToLatest } from '../../src/db/migrations.js';
import { countUsers, createUser, deleteUser, findUser, findUserById, groupsOfUsers, listUsers, updateUser } from '../../src/db/users.js';
import { addMembers, createGroup, deleteGroup, findGroup, groupMembers, listGroups, removeMembers, setGroupProperties, setUserGroups } from '../../src/db/groups.js';
import { countNamedServers, deleteServer, ensureServer, findServer, serversInPhase, serversOfUsers, transitionServer, updateServer } from '../../src/db/servers.js';
import { deleteToken, deleteTokensWhere, findTokenByHash, findTokenById, insertToken, tokensOfUser, touchToken, type NewToken } from '../../src/db/tokens.js';
import { deleteClientOfServer, deleteClientsWithoutServer, deleteExpiredCodes, findClient, insertCode, takeCode, upsertClient, usedCode, type OAuthCodeRow } from '../../src/db/oauth.js';
import { deleteExpiredSessions, deleteSessionsOfUser, findSessionByHash, insertSession } from '../../src/db/sessions.js';
import type { ServerPhase } from '../../src/db/tables.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { tmpDir, type TmpDir } from '../helpers/tmp.js';

interface Backend {
  name: string;
  /** A fresh, empty database: its target, and how to throw it away. */
  create(): Promise<{ target: DbTarget; dispose(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: 'SQLite',
    async create() {
      const dir: TmpDir = await tmpDir('db-sqlite');
      return { target: { kind: 'sqlite', path: join(dir.path, 'nested', 'refinery.sqlite') }, dispose: () => dir.cleanup() };
    },
  },
  {
    name: 'PostgreSQL',
    async create() {
      const server: TestPostgres = await startPostgres();
      return { target: { kind: 'postgres', url: server.url }, dispose: () => server.stop() };
    },
  },
];

const iso = (offsetSeconds = 0) => new Date(Date.now() + offsetSeconds * 1000).toISOString();

function token(overrides: Partial<NewToken> & { hash: string }): NewToken {
  return {
    prefix: overrides.hash.slice(0, 4), user_id: null, service_name: null, scopes: '["inherit"]', note: '', created: iso(),
    expires_at: null, last_activity: null, oauth_client_id: 'jupyterhub', session_id: null, server_key: null, ...overrides,
  };
}

function code(overrides: Partial<OAuthCodeRow> & { hash: string; user_id: number }): Omit<OAuthCodeRow, 'used_at' | 'token_id'> {
  return {
    client_id: 'jupyterhub-user-alice', redirect_uri: '/user/alice/oauth_callback', scopes: '[]', code_challenge: null,
    code_challenge_method: null, session_id: null, expires_at: iso(600), ...overrides,
  };
}

async function addClient(db: Db, identifier = 'jupyterhub-user-alice', serverKey = 'alice/') {
  await upsertClient(db.kysely, {
    identifier, description: `Server at /user/${serverKey}`, secret_hash: 'h1', redirect_uri: `/user/${serverKey.endsWith('/') ? serverKey : `${serverKey}/`}oauth_callback`,
    allowed_scopes: '[]', server_key: serverKey, created: iso(),
  });
}

for (const backend of backends) {
  describe(`database queries on ${backend.name}`, () => {
    let target: DbTarget;
    let dispose: () => Promise<void> = async () => {};
    let db: Db;
    const extra: Db[] = [];

    /** Another connection (pool) to the same database, closed at the end. */
    const openAnother = async () => {
      const other = await openDatabase(target);
      extra.push(other);
      return other;
    };

    before(async () => {
      ({ target, dispose } = await backend.create());
      db = await openDatabase(target);
    });
    after(async () => {
      for (const other of extra) await other.close().catch(() => undefined);
      await db?.close();
      await dispose();
    });
    beforeEach(async () => {
      for (const table of ['oauth_codes', 'oauth_clients', 'sessions', 'api_tokens', 'user_groups', 'servers', 'groups', 'users'] as const) {
        await db.kysely.deleteFrom(table).execute();
      }
    });

    describe('migrations', () => {
      test('opening an already migrated database again changes nothing and keeps the data', async () => {
        await createUser(db.kysely, 'keepme');
        const again = await openAnother();
        assert.deepEqual(await migrateToLatest(again.kysely, again.dialect), [], 'no migration runs twice');
        assert.equal((await findUser(again.kysely, 'keepme'))?.name, 'keepme');
        const applied = await sql<{ name: string }>`select name from refinery_migrations order by name`.execute(again.kysely);
        assert.deepEqual(applied.rows.map((r) => r.name), ['0001_initial', '0002_publications', '0003_clusters', '0004_auth_states', '0005_shares', '0006_oauth_code_use']);
      });
    });

    if (backend.name === 'PostgreSQL') {
      describe('connections', () => {
        test('a connection the server drops (restart, idle timeout) does not crash the process; the next query reconnects', async () => {
          const uncaught: Error[] = [];
          const record = (error: Error) => uncaught.push(error);
          process.on('uncaughtException', record);
          try {
            await sql`select 1`.execute(db.kysely); // an idle connection in the pool
            const admin = await openAnother();
            const { rows } = await sql<{ pid: number }>`select pg_terminate_backend(pid) as pid from pg_stat_activity
              where pid <> pg_backend_pid() and datname = current_database() and backend_type = 'client backend'`.execute(admin.kysely);
            assert.ok(rows.length >= 1, 'some connection was terminated');
            await new Promise((r) => setTimeout(r, 300));
            assert.equal((await findUser(db.kysely, 'nobody')), undefined, 'queries work again');
            assert.deepEqual(uncaught.map((e) => e.message), []);
          } finally {
            process.off('uncaughtException', record);
          }
        });
      });
    }

    describe('users', () => {
      test('create, find by name and id, update, count, delete', async () => {
        const alice = await createUser(db.kysely, 'alice', false, 'hash-a');
        const root = await createUser(db.kysely, 'root', true);
        assert.equal(typeof alice.id, 'number');
        assert.notEqual(alice.id, root.id);
        assert.equal(alice.admin, 0);
        assert.equal(root.admin, 1);
        assert.equal(alice.password_hash, 'hash-a');
        assert.equal(root.password_hash, null);
        assert.match(alice.created, /^\d{4}-\d\d-\d\dT/);
        assert.equal(alice.preferences, '{}');
        assert.deepEqual(await findUser(db.kysely, 'alice'), alice);
        assert.deepEqual(await findUserById(db.kysely, alice.id), alice);
        assert.equal(await findUser(db.kysely, 'nobody'), undefined);
        assert.equal(await countUsers(db.kysely), 2);

        await updateUser(db.kysely, alice.id, { name: 'alicia', admin: 1, last_activity: '2025-01-02T03:04:05.000Z' });
        const renamed = await findUserById(db.kysely, alice.id);
        assert.equal(renamed?.name, 'alicia');
        assert.equal(renamed?.admin, 1);
        assert.equal(renamed?.last_activity, '2025-01-02T03:04:05.000Z');
        assert.equal(await findUser(db.kysely, 'alice'), undefined);
        await updateUser(db.kysely, alice.id, {}); // no-op is fine

        await deleteUser(db.kysely, alice.id);
        assert.equal(await findUserById(db.kysely, alice.id), undefined);
        assert.equal(await countUsers(db.kysely), 1);
      });

      test('user names are unique', async () => {
        const first = await createUser(db.kysely, 'alice');
        await assert.rejects(createUser(db.kysely, 'alice'), /unique|UNIQUE/);
        const bob = await createUser(db.kysely, 'bob');
        await assert.rejects(updateUser(db.kysely, bob.id, { name: 'alice' }), /unique|UNIQUE/);
        assert.equal((await findUser(db.kysely, 'alice'))?.id, first.id);
        assert.equal(await countUsers(db.kysely), 2);
      });

      test('listUsers pages in id order with the total', async () => {
        const names = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7'];
        for (const name of names) await createUser(db.kysely, name);
        const page1 = await listUsers(db.kysely, { offset: 0, limit: 3 });
        const page3 = await listUsers(db.kysely, { offset: 6, limit: 3 });
        const beyond = await listUsers(db.kysely, { offset: 10, limit: 3 });
        assert.deepEqual(page1.rows.map((r) => r.name), ['u1', 'u2', 'u3']);
        assert.deepEqual(page3.rows.map((r) => r.name), ['u7']);
        assert.deepEqual(beyond.rows, []);
        for (const page of [page1, page3, beyond]) assert.equal(page.total, 7);
        const some = await listUsers(db.kysely, { offset: 0, limit: 10, names: ['u2', 'u5', 'nobody'] });
        assert.deepEqual(some.rows.map((r) => r.name), ['u2', 'u5']);
        assert.equal(some.total, 2);
        assert.deepEqual((await listUsers(db.kysely, { offset: 0, limit: 10, names: [] })).rows, []);
      });

      test('listUsers sorts by name and last_activity, never-active users first ascending and last descending (as JupyterHub)', async () => {
        const carol = await createUser(db.kysely, 'carol');
        const alice = await createUser(db.kysely, 'alice');
        await createUser(db.kysely, 'bob'); // never active
        const dave = await createUser(db.kysely, 'dave');
        await updateUser(db.kysely, carol.id, { last_activity: '2025-03-01T00:00:00.000Z' });
        await updateUser(db.kysely, alice.id, { last_activity: '2025-01-01T00:00:00.000Z' });
        await updateUser(db.kysely, dave.id, { last_activity: '2025-02-01T00:00:00.000Z' });
        const order = async (field: 'id' | 'name' | 'last_activity', descending: boolean) =>
          (await listUsers(db.kysely, { offset: 0, limit: 10, sort: { field, descending } })).rows.map((r) => r.name);
        assert.deepEqual(await order('name', false), ['alice', 'bob', 'carol', 'dave']);
        assert.deepEqual(await order('name', true), ['dave', 'carol', 'bob', 'alice']);
        assert.deepEqual(await order('id', true), ['dave', 'bob', 'alice', 'carol']);
        assert.deepEqual(await order('last_activity', false), ['bob', 'alice', 'dave', 'carol']);
        assert.deepEqual(await order('last_activity', true), ['carol', 'dave', 'alice', 'bob']);
        // paging over a sorted list is stable
        const page2 = await listUsers(db.kysely, { offset: 2, limit: 2, sort: { field: 'name', descending: false } });
        assert.deepEqual(page2.rows.map((r) => r.name), ['carol', 'dave']);
      });

      test('listUsers state filter: active (pending/running/stopping), ready (running), inactive (none active)', async () => {
        const phases: Record<string, ServerPhase[]> = {
          idle: [], stopped: ['stopped'], starting: ['pending'], running: ['running'], stopping: ['stopping'], mixed: ['stopped', 'running'],
        };
        for (const [name, list] of Object.entries(phases)) {
          const user = await createUser(db.kysely, name);
          for (const [i, phase] of list.entries()) {
            const server = await ensureServer(db.kysely, user.id, i === 0 ? '' : `s${i}`);
            await updateServer(db.kysely, server.id, { phase });
          }
        }
        const names = async (state: 'active' | 'ready' | 'inactive') => {
          const { rows, total } = await listUsers(db.kysely, { offset: 0, limit: 100, state });
          assert.equal(total, rows.length);
          return rows.map((r) => r.name).sort();
        };
        assert.deepEqual(await names('active'), ['mixed', 'running', 'starting', 'stopping']);
        assert.deepEqual(await names('ready'), ['mixed', 'running']);
        assert.deepEqual(await names('inactive'), ['idle', 'stopped']);
        // combined with paging, the total counts the filtered users
        const page = await listUsers(db.kysely, { offset: 0, limit: 1, state: 'active' });
        assert.equal(page.rows.length, 1);
        assert.equal(page.total, 4);
      });

      test('listUsers nameContains is a substring match where % and _ are plain characters', async () => {
        for (const name of ['alice', 'malice', 'bob', 'a%b', 'a_b', 'axb', 'ab', 'back\\slash']) await createUser(db.kysely, name);
        const contains = async (text: string) => (await listUsers(db.kysely, { offset: 0, limit: 100, nameContains: text, sort: { field: 'name', descending: false } })).rows.map((r) => r.name);
        assert.deepEqual(await contains('lic'), ['alice', 'malice']);
        assert.deepEqual(await contains('%'), ['a%b']);
        assert.deepEqual(await contains('_'), ['a_b']);
        assert.deepEqual(await contains('a_'), ['a_b']);
        assert.deepEqual(await contains('a%'), ['a%b']);
        assert.deepEqual(await contains('\\'), ['back\\slash']);
        assert.deepEqual(await contains('zzz'), []);
        const { total } = await listUsers(db.kysely, { offset: 0, limit: 1, nameContains: 'a' });
        assert.equal(total, 7);
      });

      test('listUsers nameContains ignores case, on every backend (JupyterHub uses ILIKE)', async () => {
        for (const name of ['alice', 'bob']) await createUser(db.kysely, name);
        const { rows } = await listUsers(db.kysely, { offset: 0, limit: 100, nameContains: 'ALI' });
        assert.deepEqual(rows.map((r) => r.name), ['alice']);
      });
    });

    describe('groups', () => {
      test('create, find, list, properties, unique names, delete', async () => {
        const physics = await createGroup(db.kysely, 'physics', { lab: 'B12' });
        await createGroup(db.kysely, 'chemistry');
        await createGroup(db.kysely, 'biology');
        assert.deepEqual(JSON.parse((await findGroup(db.kysely, 'physics'))!.properties), { lab: 'B12' });
        await setGroupProperties(db.kysely, physics.id, { lab: 'C3', quota: 5 });
        assert.deepEqual(JSON.parse((await findGroup(db.kysely, 'physics'))!.properties), { lab: 'C3', quota: 5 });
        await assert.rejects(createGroup(db.kysely, 'physics'), /unique|UNIQUE/);
        const page = await listGroups(db.kysely, { offset: 1, limit: 1 });
        assert.deepEqual(page.rows.map((g) => g.name), ['chemistry']);
        assert.equal(page.total, 3);
        await deleteGroup(db.kysely, physics.id);
        assert.equal(await findGroup(db.kysely, 'physics'), undefined);
      });

      test('membership: add (twice is fine), remove, per user and per group, replace a user\'s groups', async () => {
        const alice = await createUser(db.kysely, 'alice');
        const bob = await createUser(db.kysely, 'bob');
        const carol = await createUser(db.kysely, 'carol');
        const physics = await createGroup(db.kysely, 'physics');
        const chem = await createGroup(db.kysely, 'chem');
        await addMembers(db.kysely, physics.id, [bob.id, alice.id]);
        await addMembers(db.kysely, physics.id, [alice.id]); // already a member: no error, no duplicate
        await addMembers(db.kysely, chem.id, [alice.id]);
        await addMembers(db.kysely, chem.id, []);
        const members = await groupMembers(db.kysely, [physics.id, chem.id]);
        assert.deepEqual(members.get(physics.id), ['alice', 'bob']);
        assert.deepEqual(members.get(chem.id), ['alice']);
        const groups = await groupsOfUsers(db.kysely, [alice.id, bob.id, carol.id]);
        assert.deepEqual(groups.get(alice.id), ['chem', 'physics']);
        assert.deepEqual(groups.get(bob.id), ['physics']);
        assert.deepEqual(groups.get(carol.id), []);

        await removeMembers(db.kysely, physics.id, [alice.id, carol.id]);
        assert.deepEqual((await groupMembers(db.kysely, [physics.id])).get(physics.id), ['bob']);

        await setUserGroups(db.kysely, bob.id, [chem.id]);
        assert.deepEqual((await groupsOfUsers(db.kysely, [bob.id])).get(bob.id), ['chem']);
        await setUserGroups(db.kysely, bob.id, []);
        assert.deepEqual((await groupsOfUsers(db.kysely, [bob.id])).get(bob.id), []);
      });

      test('deleting a group removes its memberships, not its members', async () => {
        const alice = await createUser(db.kysely, 'alice');
        const physics = await createGroup(db.kysely, 'physics');
        await addMembers(db.kysely, physics.id, [alice.id]);
        await deleteGroup(db.kysely, physics.id);
        assert.deepEqual((await groupsOfUsers(db.kysely, [alice.id])).get(alice.id), []);
        assert.ok(await findUser(db.kysely, 'alice'));
        const rows = await db.kysely.selectFrom('user_groups').selectAll().execute();
        assert.deepEqual(rows, []);
      });
    });

    describe('servers', () => {
      test('ensureServer creates once; named servers are counted apart from the default one', async () => {
        const alice = await createUser(db.kysely, 'alice');
        const bob = await createUser(db.kysely, 'bob');
        const a = await ensureServer(db.kysely, alice.id, '');
        const again = await ensureServer(db.kysely, alice.id, '');
        assert.equal(again.id, a.id);
        assert.equal(a.phase, 'stopped');
        assert.deepEqual(JSON.parse(a.user_options), {});
        await ensureServer(db.kysely, alice.id, 'lab2');
        await ensureServer(db.kysely, alice.id, 'gpu');
        await ensureServer(db.kysely, bob.id, 'lab2'); // same name, other user: fine
        assert.equal(await countNamedServers(db.kysely, alice.id), 2);
        assert.equal(await countNamedServers(db.kysely, bob.id), 1);
        const all = await serversOfUsers(db.kysely, [alice.id, bob.id]);
        assert.deepEqual(all.get(alice.id)?.map((s) => s.name), ['', 'gpu', 'lab2']);
        assert.deepEqual(all.get(bob.id)?.map((s) => s.name), ['lab2']);
        await assert.rejects(
          db.kysely.insertInto('servers').values({ user_id: alice.id, name: 'lab2', phase: 'stopped', user_options: '{}', created: iso() }).execute(),
          /unique|UNIQUE/,
        );
        await deleteServer(db.kysely, a.id);
        assert.equal(await findServer(db.kysely, alice.id, ''), undefined);
      });

      test('concurrent ensureServer calls for the same server make one row', async () => {
        const alice = await createUser(db.kysely, 'alice');
        const other = await openAnother();
        const rows = await Promise.all([0, 1, 2, 3].map((i) => ensureServer((i % 2 ? other : db).kysely, alice.id, 'race')));
        assert.equal(new Set(rows.map((r) => r.id)).size, 1);
        assert.equal(await countNamedServers(db.kysely, alice.id), 1);
      });

      test('transitionServer moves only from the expected phases, with its changes', async () => {
        const alice = await createUser(db.kysely, 'alice');
        const row = await ensureServer(db.kysely, alice.id, '');
        assert.equal(await transitionServer(db.kysely, row.id, ['running'], 'stopping'), false);
        assert.equal((await findServer(db.kysely, alice.id, ''))?.phase, 'stopped');
        assert.equal(await transitionServer(db.kysely, row.id, ['stopped'], 'pending', { user_options: '{"image":"x"}', last_error: null }), true);
        assert.equal(await transitionServer(db.kysely, row.id, ['stopped'], 'pending'), false, 'already pending');
        assert.equal(await transitionServer(db.kysely, row.id, ['pending'], 'running', { target: 'http://127.0.0.1:1234', spawner_state: '{"pid":1}' }), true);
        const running = await findServer(db.kysely, alice.id, '');
        assert.equal(running?.phase, 'running');
        assert.equal(running?.target, 'http://127.0.0.1:1234');
        assert.equal(running?.user_options, '{"image":"x"}');
        const inPhase = await serversInPhase(db.kysely, ['running']);
        assert.deepEqual(inPhase.map((s) => [s.user_name, s.name]), [['alice', '']]);
        assert.deepEqual(await serversInPhase(db.kysely, ['pending', 'stopping']), []);
      });

      test('of many simultaneous starts from two connections, exactly one wins', async () => {
        const alice = await createUser(db.kysely, 'alice');
        const row = await ensureServer(db.kysely, alice.id, '');
        const other = await openAnother();
        for (let round = 0; round < 5; round++) {
          await updateServer(db.kysely, row.id, { phase: 'stopped' });
          const results = await Promise.all(
            Array.from({ length: 8 }, (_, i) => transitionServer((i % 2 ? other : db).kysely, row.id, ['stopped'], 'pending', { user_options: JSON.stringify({ winner: i }) })),
          );
          assert.equal(results.filter(Boolean).length, 1, `round ${round}: ${JSON.stringify(results)}`);
          const after = await findServer(db.kysely, alice.id, '');
          assert.equal(after?.phase, 'pending');
          assert.equal(JSON.parse(after!.user_options).winner, results.indexOf(true), 'the winner\'s changes are the ones stored');
        }
      });
    });

    describe('tokens', () => {
      test('insert, find by hash and id, list per user, touch, delete; hashes are unique', async () => {
        const alice = await createUser(db.kysely, 'alice');
        const t1 = await insertToken(db.kysely, token({ hash: 'a'.repeat(64), user_id: alice.id, scopes: '["read:users!user"]', note: 'one' }));
        const t2 = await insertToken(db.kysely, token({ hash: 'b'.repeat(64), user_id: alice.id }));
        await insertToken(db.kysely, token({ hash: 'c'.repeat(64), service_name: 'culler' }));
        assert.equal(typeof t1.id, 'number');
        assert.deepEqual(await findTokenByHash(db.kysely, 'a'.repeat(64)), t1);
        assert.deepEqual(await findTokenById(db.kysely, t2.id), t2);
        assert.equal(await findTokenByHash(db.kysely, 'd'.repeat(64)), undefined);
        assert.deepEqual((await tokensOfUser(db.kysely, alice.id)).map((t) => t.note), ['one', '']);
        await assert.rejects(insertToken(db.kysely, token({ hash: 'a'.repeat(64), user_id: alice.id })), /unique|UNIQUE/);
        await touchToken(db.kysely, t1.id, '2025-05-05T05:05:05.000Z');
        assert.equal((await findTokenById(db.kysely, t1.id))?.last_activity, '2025-05-05T05:05:05.000Z');
        await deleteToken(db.kysely, t1.id);
        assert.equal(await findTokenById(db.kysely, t1.id), undefined);
        assert.equal((await tokensOfUser(db.kysely, alice.id)).length, 1);
      });

      test('expiry clean-up removes expired tokens only; other bulk deletes by server, service, session', async () => {
        const alice = await createUser(db.kysely, 'alice');
        await insertToken(db.kysely, token({ hash: 'expired', user_id: alice.id, expires_at: iso(-60) }));
        await insertToken(db.kysely, token({ hash: 'future', user_id: alice.id, expires_at: iso(3600) }));
        await insertToken(db.kysely, token({ hash: 'forever', user_id: alice.id }));
        await insertToken(db.kysely, token({ hash: 'server', user_id: alice.id, server_key: 'alice/' }));
        await insertToken(db.kysely, token({ hash: 'server2', user_id: alice.id, server_key: 'alice/lab2' }));
        await insertToken(db.kysely, token({ hash: 'svc', service_name: 'culler' }));
        await insertToken(db.kysely, token({ hash: 'sess', user_id: alice.id, session_id: 'S1' }));
        const left = async () => (await db.kysely.selectFrom('api_tokens').select('hash').orderBy('hash').execute()).map((r) => r.hash);

        assert.equal(await deleteTokensWhere(db.kysely, { expiredBefore: iso() }), 1);
        assert.deepEqual(await left(), ['forever', 'future', 'server', 'server2', 'sess', 'svc']);
        assert.equal(await deleteTokensWhere(db.kysely, { serverKey: 'alice/' }), 1);
        assert.equal(await deleteTokensWhere(db.kysely, { serviceName: 'culler' }), 1);
        assert.equal(await deleteTokensWhere(db.kysely, { sessionId: 'S1' }), 1);
        assert.deepEqual(await left(), ['forever', 'future', 'server2']);
        assert.equal(await deleteTokensWhere(db.kysely, { serverKey: 'nobody/' }), 0);
      });
    });

    describe('oauth', () => {
      test('clients are replaced on upsert (a restarted server gets a new secret)', async () => {
        await addClient(db);
        await upsertClient(db.kysely, {
          identifier: 'jupyterhub-user-alice', description: 'again', secret_hash: 'h2', redirect_uri: '/user/alice/oauth_callback',
          allowed_scopes: '["x"]', server_key: 'alice/', created: iso(),
        });
        const client = await findClient(db.kysely, 'jupyterhub-user-alice');
        assert.equal(client?.secret_hash, 'h2');
        assert.equal(client?.description, 'again');
        assert.equal((await db.kysely.selectFrom('oauth_clients').selectAll().execute()).length, 1);
        await deleteClientOfServer(db.kysely, 'alice/');
        assert.equal(await findClient(db.kysely, 'jupyterhub-user-alice'), undefined);
      });

      test('a code can be taken once', async () => {
        const alice = await createUser(db.kysely, 'alice');
        await addClient(db);
        await insertCode(db.kysely, code({ hash: 'code1', user_id: alice.id, code_challenge: 'abc', code_challenge_method: 'S256' }));
        const first = await takeCode(db.kysely, 'code1', iso());
        assert.equal(first?.user_id, alice.id);
        assert.equal(first?.code_challenge, 'abc');
        assert.equal(await takeCode(db.kysely, 'code1', iso()), undefined);
        assert.equal(await takeCode(db.kysely, 'never-issued', iso()), undefined);
        // kept, used, so that a second use can be told apart and answered (usedCode)
        assert.equal((await usedCode(db.kysely, 'code1'))?.user_id, alice.id);
        assert.equal(await usedCode(db.kysely, 'never-issued'), undefined);
      });

      test('a code raced by simultaneous token requests is given to exactly one', async () => {
        const alice = await createUser(db.kysely, 'alice');
        await addClient(db);
        const other = await openAnother();
        for (let round = 0; round < 5; round++) {
          const hash = `race-${round}`;
          await insertCode(db.kysely, code({ hash, user_id: alice.id }));
          const taken = await Promise.all(Array.from({ length: 8 }, (_, i) => takeCode((i % 2 ? other : db).kysely, hash, iso())));
          assert.equal(taken.filter((t) => t !== undefined).length, 1, `round ${round}: the same code was redeemed ${taken.filter(Boolean).length} times`);
        }
      });

      test('expired codes are cleaned up; deleting a client removes its codes', async () => {
        const alice = await createUser(db.kysely, 'alice');
        await addClient(db);
        await insertCode(db.kysely, code({ hash: 'old', user_id: alice.id, expires_at: iso(-1) }));
        await insertCode(db.kysely, code({ hash: 'new', user_id: alice.id }));
        await deleteExpiredCodes(db.kysely, iso());
        assert.deepEqual((await db.kysely.selectFrom('oauth_codes').select('hash').execute()).map((r) => r.hash), ['new']);
        await deleteClientOfServer(db.kysely, 'alice/');
        assert.deepEqual(await db.kysely.selectFrom('oauth_codes').select('hash').execute(), []);
      });

      test('a server\'s client goes with its tokens; clients of servers not running are swept, with theirs', async () => {
        const alice = await createUser(db.kysely, 'alice');
        await addClient(db);
        await addClient(db, 'jupyterhub-user-alice!lab', 'alice/lab');
        await addClient(db, 'jupyterhub-user-alice!gone', 'alice/gone');
        await ensureServer(db.kysely, alice.id, '');
        const lab = await ensureServer(db.kysely, alice.id, 'lab');
        await updateServer(db.kysely, lab.id, { phase: 'running' });
        for (const [hash, client] of [['t-default', 'jupyterhub-user-alice'], ['t-lab', 'jupyterhub-user-alice!lab'], ['t-gone', 'jupyterhub-user-alice!gone'], ['t-api', 'jupyterhub']] as const) {
          await insertToken(db.kysely, token({ hash, user_id: alice.id, oauth_client_id: client }));
        }
        const clients = async () => (await db.kysely.selectFrom('oauth_clients').select('identifier').orderBy('identifier').execute()).map((r) => r.identifier);
        const tokens = async () => (await db.kysely.selectFrom('api_tokens').select('hash').orderBy('hash').execute()).map((r) => r.hash);

        await deleteClientOfServer(db.kysely, 'alice/lab');
        assert.deepEqual(await clients(), ['jupyterhub-user-alice', 'jupyterhub-user-alice!gone']);
        assert.deepEqual(await tokens(), ['t-api', 't-default', 't-gone']);

        await addClient(db, 'jupyterhub-user-alice!lab', 'alice/lab');
        // the default server is stopped and 'gone' has no row at all: only the running server keeps its client
        assert.equal(await deleteClientsWithoutServer(db.kysely), 2);
        assert.deepEqual(await clients(), ['jupyterhub-user-alice!lab']);
        assert.deepEqual(await tokens(), ['t-api']);
      });
    });

    describe('sessions', () => {
      test('insert, find, expire, delete per user', async () => {
        const alice = await createUser(db.kysely, 'alice');
        const base = { user_id: alice.id, csrf_token: 'x', created: iso(), last_seen: iso() };
        await insertSession(db.kysely, { ...base, hash: 'h-live', id: 'live', expires_at: iso(3600) });
        await insertSession(db.kysely, { ...base, hash: 'h-old', id: 'old', expires_at: iso(-1) });
        assert.equal((await findSessionByHash(db.kysely, 'h-live'))?.id, 'live');
        await deleteExpiredSessions(db.kysely, iso());
        assert.equal(await findSessionByHash(db.kysely, 'h-old'), undefined);
        assert.ok(await findSessionByHash(db.kysely, 'h-live'));
        await deleteSessionsOfUser(db.kysely, alice.id);
        assert.equal(await findSessionByHash(db.kysely, 'h-live'), undefined);
      });
    });

    describe('deleting a user', () => {
      test('removes their servers, tokens, sessions, codes and memberships, and nothing of anyone else', async () => {
        const alice = await createUser(db.kysely, 'alice');
        const bob = await createUser(db.kysely, 'bob');
        const physics = await createGroup(db.kysely, 'physics');
        await addMembers(db.kysely, physics.id, [alice.id, bob.id]);
        await addClient(db);
        for (const user of [alice, bob]) {
          await ensureServer(db.kysely, user.id, '');
          await ensureServer(db.kysely, user.id, 'lab2');
          await insertToken(db.kysely, token({ hash: `tok-${user.name}`, user_id: user.id }));
          await insertSession(db.kysely, { hash: `sess-${user.name}`, id: `id-${user.name}`, user_id: user.id, csrf_token: 'x', created: iso(), expires_at: iso(60), last_seen: iso() });
          await insertCode(db.kysely, code({ hash: `code-${user.name}`, user_id: user.id }));
        }
        await deleteUser(db.kysely, alice.id);

        const owners = async (table: 'servers' | 'api_tokens' | 'sessions' | 'oauth_codes' | 'user_groups') =>
          [...new Set((await db.kysely.selectFrom(table).select('user_id').execute()).map((r) => r.user_id))];
        for (const table of ['servers', 'api_tokens', 'sessions', 'oauth_codes', 'user_groups'] as const) {
          assert.deepEqual(await owners(table), [bob.id], `${table} after deleting alice`);
        }
        assert.equal((await serversOfUsers(db.kysely, [bob.id])).get(bob.id)?.length, 2);
        assert.deepEqual((await groupMembers(db.kysely, [physics.id])).get(physics.id), ['bob']);
      });
    });
  });
}
