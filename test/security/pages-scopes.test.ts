// The hub's pages answer to the browser session, with the scopes the REST API asks for the same data,
// not to any token that happens to be valid. When alice signs in to bob's server, bob's server gets
// a token that says who she is and nothing more; with it, bob must not see her storage keys, replace
// them, list her publications or open her restricted published notebooks as if he were her.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { launchRefinery, type RefineryProcess } from '../helpers/refinery.js';
import { addUser, signIn, type Session } from '../helpers/session.js';
import { reportNotebook } from '../publish/notebooks.js';

const SECRET = 'aL1cEsEcReTkEy0000000000000000000000000000';
/** What a server's sign-in hands its server about the person signing in: who they are, nothing more. */
const IDENTIFY_SCOPES = ['read:users:name!user=alice', 'read:users:groups!user=alice'];

describe('pages ask for the scopes the API asks, from the session only', () => {
  let hub: RefineryProcess;
  let alice: Session;
  let identifyToken: string;
  let privateTitle: string;
  let restricted: { id: string };

  before(async () => {
    hub = await launchRefinery({
      config: {
        storage: { endpoints: [{ name: 'lake', url: 'https://s3.lake.example.org', region: 'eu-central-1' }] },
        profiles: [{ name: 'lake', storage: { endpoint: 'lake', buckets: ['{user}-data'], credentials: { source: 'directory', path: 'keys' } } }],
      },
    });
    const keys = join(hub.dir.path, 'keys', 'users', 'alice');
    await mkdir(keys, { recursive: true });
    await writeFile(join(keys, 'AWS_ACCESS_KEY_ID'), 'ALICEACCESSKEY0001\n');
    await writeFile(join(keys, 'AWS_SECRET_ACCESS_KEY'), `${SECRET}\n`);
    await addUser(hub, 'alice', 'alice-password');
    assert.equal((await hub.api('/hub/api/groups/physics', { method: 'POST' })).status, 201);
    alice = await signIn(hub, 'alice', 'alice-password');
    identifyToken = await hub.tokenFor('alice', { scopes: IDENTIFY_SCOPES, note: 'like a server sign-in' });

    // a notebook only the physics group (and alice, its owner) may open
    privateTitle = 'Unreleased results';
    const full = await hub.tokenFor('alice');
    const res = await hub.as(full, '/hub/api/users/alice/publications', { method: 'POST', body: JSON.stringify({ title: privateTitle, visibility: 'group:physics', notebook: reportNotebook({ marker: 'restricted-marker' }) }) });
    assert.equal(res.status, 201, await res.clone().text());
    restricted = (await res.json()) as { id: string };
  });
  after(() => hub?.cleanup());

  /** A page request made with alice's identify-only token instead of her session. */
  const withIdentifyToken = (path: string, init: RequestInit = {}) => hub.as(identifyToken, path, init);
  const form = (fields: Record<string, string>): RequestInit => ({
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields),
  });

  test('her session still sees her keys and her publications', async () => {
    const keys = await alice.post('/hub/storage/keys', { endpoint: 'lake' });
    assert.equal(keys.status, 200);
    assert.ok((await keys.text()).includes(SECRET), 'the keys are on the page she asked for');
    const list = await alice.get('/hub/publications');
    assert.equal(list.status, 200);
    assert.ok((await list.text()).includes(privateTitle));
  });

  test('an identify-only token cannot show her storage keys', async () => {
    const res = await withIdentifyToken('/hub/storage/keys', form({ endpoint: 'lake' }));
    const body = await res.text();
    assert.ok(!body.includes(SECRET), `the secret key was shown to a token that only identifies alice (status ${res.status})`);
    assert.ok(!body.includes('ALICEACCESSKEY0001'), 'nor the access key');
    assert.equal(res.status, 302, 'sent to sign in instead');
    assert.match(res.headers.get('location') ?? '', /^\/hub\/login\?/);
  });

  test('an identify-only token cannot ask for her key to be replaced, nor see her storage page', async () => {
    const rotate = await withIdentifyToken('/hub/storage/rotate', form({ endpoint: 'lake' }));
    const body = await rotate.text();
    assert.doesNotMatch(body, /Signed in as <strong>alice<\/strong>/, 'the rotate form acted as alice');
    assert.equal(rotate.status, 302);
    const page = await withIdentifyToken('/hub/storage');
    assert.equal(page.status, 302);
    assert.ok(!(await page.text()).includes('alice-data'));
  });

  test('an identify-only token cannot list her publications', async () => {
    const res = await withIdentifyToken('/hub/publications');
    const body = await res.text();
    assert.ok(!body.includes(privateTitle), `her private publication was listed (status ${res.status})`);
    assert.ok(!body.includes(restricted.id), 'nor its link');
    assert.equal(res.status, 302);
  });

  test('an identify-only token cannot open her restricted notebook as its owner', async () => {
    for (const path of [`/p/${restricted.id}`, `/p/${restricted.id}.ipynb`, `/p/${restricted.id}/v/1`]) {
      const res = await withIdentifyToken(path);
      const body = await res.text();
      assert.ok(!body.includes('restricted-marker'), `${path} showed the notebook (status ${res.status})`);
      assert.equal(res.status, 403, path);
    }
    // as the API would: a token that may read her publications may open it
    const reader = await hub.tokenFor('alice', { scopes: ['read:users!user=alice'] });
    const page = await hub.as(reader, `/p/${restricted.id}`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /restricted-marker/);
  });

  test('no page at all signs a token in', async () => {
    const full = await hub.tokenFor('alice');
    for (const path of ['/hub/home', '/hub/token', '/hub/password', '/hub/storage', '/hub/publications', '/hub/spawn/alice']) {
      const res = await hub.as(full, path, { headers: { Accept: 'text/html' } });
      assert.equal(res.status, 302, `${path} with a token`);
      assert.match(res.headers.get('location') ?? '', /^\/hub\/login\?/, path);
    }
    const created = await hub.as(full, '/hub/token', form({ note: 'made by a token', expires: '1d' }));
    assert.equal(created.status, 302, 'the token page does not mint tokens for a token');
    const tokens = (await (await hub.api('/hub/api/users/alice/tokens')).json()) as { api_tokens: Array<{ note: string }> };
    assert.ok(!tokens.api_tokens.some((t) => t.note === 'made by a token'));
  });
});
