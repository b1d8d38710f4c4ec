// Tokens a server's OAuth client was given before requested scopes were checked against the client's
// (a `scope=inherit` sign-in): after an upgrade they identify their owner and reach that server,
// nothing more, while an API token made on the hub with `inherit` keeps what its owner has.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openDatabase, type Db } from '../../src/db/connect.js';
import { createUser } from '../../src/db/users.js';
import { insertToken } from '../../src/db/tokens.js';
import { hashSecret } from '../../src/auth/secrets.js';
import { IdentityResolver } from '../../src/auth/identity.js';
import { tmpDir, type TmpDir } from '../helpers/tmp.js';

describe('OAuth tokens issued with inherit', () => {
  let dir: TmpDir;
  let db: Db;

  before(async () => {
    dir = await tmpDir('oauth-tokens');
    db = await openDatabase({ kind: 'sqlite', path: join(dir.path, 'refinery.sqlite') });
  });
  after(async () => {
    await db?.close();
    await dir?.cleanup();
  });

  test('carry no more than identifying the owner and reaching the server', async () => {
    const admin = await createUser(db.kysely, 'admin', true);
    const row = (secret: string, client: string, serverKey: string | null) => ({
      hash: hashSecret(secret), prefix: secret.slice(0, 4), user_id: admin.id, service_name: null, scopes: '["inherit"]', note: '',
      created: new Date().toISOString(), expires_at: null, last_activity: null, oauth_client_id: client, session_id: null, server_key: serverKey,
    });
    await insertToken(db.kysely, row('oauth-inherit-token', 'jupyterhub-user-admin', 'admin/'));
    await insertToken(db.kysely, row('api-inherit-token', 'jupyterhub', null));
    const identities = new IdentityResolver(db.kysely, []);

    const oauth = await identities.fromToken('oauth-inherit-token');
    assert.ok(oauth);
    assert.deepEqual([...oauth.scopes].sort(), ['access:servers!server=admin/', 'read:users:groups!user=admin', 'read:users:name!user=admin']);

    const api = await identities.fromToken('api-inherit-token');
    assert.ok(api?.scopes.has('admin:users'), 'an API token with inherit still has everything its owner has');
  });
});
