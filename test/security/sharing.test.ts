// Sharing a server (JupyterHub 5): who may share what, and that a share's grant and its revocation
// take effect at once at the proxy, for API tokens, and for an open WebSocket.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { launchRefinery, SERVICE_TOKEN, startServerAndWait, type RefineryProcess } from '../helpers/refinery.js';
import { openKernelSocket } from '../helpers/kernel.js';
import { addUser, signIn } from '../helpers/session.js';

let hub: RefineryProcess;
const tokens: Record<string, string> = {};

const post = (token: string, path: string, body: unknown) => hub.as(token, path, { method: 'POST', body: JSON.stringify(body) });
const patch = (token: string, path: string, body: unknown) => hub.as(token, path, { method: 'PATCH', body: JSON.stringify(body) });
/** What a person gets at alice's server with their API token. */
const reachAlice = async (who: string) => (await hub.as(tokens[who]!, '/user/alice/api/status')).status;

before(async () => {
  hub = await launchRefinery();
  assert.equal((await hub.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: ['alice', 'bob', 'carol', 'dave'] }) })).status, 201);
  for (const name of ['alice', 'bob', 'carol', 'dave']) tokens[name] = await hub.tokenFor(name);
  assert.equal((await hub.api('/hub/api/groups/team', { method: 'POST', body: JSON.stringify({ users: ['carol'] }) })).status, 201);
  await startServerAndWait(hub, SERVICE_TOKEN, 'alice');
});

after(() => hub?.cleanup());

describe('sharing a server', () => {
  test('nobody but alice reaches her server before she shares it', async () => {
    assert.equal(await reachAlice('alice'), 200);
    for (const other of ['bob', 'carol', 'dave']) assert.equal(await reachAlice(other), 403, `${other} before any share`);
  });

  test('alice shares with bob: bob reaches her server at once, and the share is listed for both', async () => {
    const res = await post(tokens.alice!, '/hub/api/shares/alice/', { user: 'bob' });
    assert.equal(res.status, 200, await res.clone().text());
    const share = (await res.json()) as { scopes: string[]; user: { name: string }; group: null; server: { name: string; user: { name: string }; ready: boolean; url: string } };
    assert.deepEqual(share.scopes, ['access:servers!server=alice/']);
    assert.deepEqual(share.user, { name: 'bob' });
    assert.equal(share.group, null);
    assert.deepEqual([share.server.user.name, share.server.name, share.server.ready, share.server.url], ['alice', '', true, '/user/alice/']);
    assert.equal(await reachAlice('bob'), 200);
    assert.equal(await reachAlice('dave'), 403, 'dave was not shared with');

    const mine = (await (await hub.as(tokens.alice!, '/hub/api/shares/alice')).json()) as { user: { name: string } }[];
    assert.deepEqual(mine.map((s) => s.user.name), ['bob']);
    const theirs = (await (await hub.as(tokens.bob!, '/hub/api/users/bob/shared')).json()) as { server: { user: { name: string } } }[];
    assert.deepEqual(theirs.map((s) => s.server.user.name), ['alice']);
    assert.equal((await hub.as(tokens.dave!, '/hub/api/users/bob/shared')).status, 404, "dave may not see bob's shares");
    assert.equal((await hub.as(tokens.dave!, '/hub/api/shares/alice')).status, 404, "dave may not see alice's shares");
  });

  test('a share does not let bob share further, nor grant more than alice holds, nor reach another server', async () => {
    assert.equal((await post(tokens.bob!, '/hub/api/shares/alice/', { user: 'dave' })).status, 404, 'bob may not re-share');
    assert.equal(await reachAlice('dave'), 403);
    const notShareable = await post(tokens.alice!, '/hub/api/shares/alice/', { user: 'bob', scopes: ['admin:users'] });
    assert.equal(notShareable.status, 400);
    assert.match(((await notShareable.json()) as { message: string }).message, /body\.scopes: .*admin:users.*cannot be shared/);
    const otherServer = await post(tokens.alice!, '/hub/api/shares/alice/', { user: 'bob', scopes: ['access:servers!server=bob/'] });
    assert.equal(otherServer.status, 400);
    assert.match(((await otherServer.json()) as { message: string }).message, /!server=bob\/ not allowed/);
    assert.equal((await post(tokens.alice!, '/hub/api/shares/alice/', { user: 'bob', group: 'team' })).status, 400, 'exactly one of user and group');
    assert.equal((await post(tokens.alice!, '/hub/api/shares/alice/', { user: 'nobody' })).status, 400);
    assert.equal((await post(tokens.alice!, '/hub/api/shares/alice/nosuch', { user: 'bob' })).status, 404, 'a named server that does not exist');
    assert.equal((await hub.as(tokens.bob!, '/hub/api/users/alice/server', { method: 'DELETE' })).status, 404, 'access is not leave to stop it');
  });

  test('revoking closes bob\'s open WebSocket and refuses his next request', { timeout: 60_000 }, async () => {
    const kernel = (await (await hub.as(tokens.bob!, '/user/alice/api/kernels', { method: 'POST', body: '{}' })).json()) as { id: string };
    assert.ok(kernel.id, 'bob starts a kernel on the shared server');
    const socket = await openKernelSocket(hub, tokens.bob!, '/user/alice/', kernel.id);
    const ownerSocket = await openKernelSocket(hub, tokens.alice!, '/user/alice/', kernel.id);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    let ownerClosed = false;
    ownerSocket.once('close', () => { ownerClosed = true; });

    const res = await patch(tokens.alice!, '/hub/api/shares/alice/', { user: 'bob' });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {}, 'nothing remains of the share');
    await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error("bob's WebSocket stayed open after the revocation")), 10_000))]);
    assert.equal(await reachAlice('bob'), 403);
    assert.equal(ownerClosed, false, "alice's own WebSocket stays open");
    ownerSocket.close();
  });

  test('a group share reaches its members; leaving the group ends it, as does deleting all shares', async () => {
    assert.equal((await post(tokens.alice!, '/hub/api/shares/alice/', { group: 'team' })).status, 200);
    assert.equal(await reachAlice('carol'), 200, 'carol is in team');
    assert.equal(await reachAlice('dave'), 403);
    const viaGroup = (await (await hub.as(tokens.carol!, '/hub/api/users/carol/shared')).json()) as { group: { name: string } }[];
    assert.deepEqual(viaGroup.map((s) => s.group.name), ['team']);
    assert.equal((await hub.api('/hub/api/groups/team/users', { method: 'DELETE', body: JSON.stringify({ users: ['carol'] }) })).status, 200);
    assert.equal(await reachAlice('carol'), 403, 'carol left team');

    assert.equal((await post(tokens.alice!, '/hub/api/shares/alice/', { user: 'dave' })).status, 200);
    assert.equal(await reachAlice('dave'), 200);
    assert.equal((await hub.as(tokens.alice!, '/hub/api/shares/alice/', { method: 'DELETE' })).status, 204);
    assert.equal(await reachAlice('dave'), 403);
  });

  test('bob can leave a share himself', async () => {
    assert.equal((await post(tokens.alice!, '/hub/api/shares/alice/', { user: 'bob' })).status, 200);
    assert.equal((await hub.as(tokens.bob!, '/hub/api/users/bob/shared/alice/')).status, 200);
    assert.equal((await hub.as(tokens.dave!, '/hub/api/users/bob/shared/alice/', { method: 'DELETE' })).status, 404, 'nobody else may end it for him');
    assert.equal((await hub.as(tokens.bob!, '/hub/api/users/bob/shared/alice/', { method: 'DELETE' })).status, 204);
    assert.equal(await reachAlice('bob'), 403);
    assert.equal((await hub.as(tokens.bob!, '/hub/api/users/bob/shared/alice/')).status, 404);
  });

  test('share codes: shown once, listed without the code, revocable; an expired one is no longer listed', async () => {
    const issued = await post(tokens.alice!, '/hub/api/share-codes/alice/', { expires_in: 3600 });
    assert.equal(issued.status, 200);
    const code = (await issued.json()) as { id: string; code: string; accept_url: string; expires_at: string };
    assert.match(code.code, /^sc_[0-9a-f]{48}$/);
    assert.equal(code.accept_url, `/hub/accept-share?code=${code.code}`);
    const expiresIn = (Date.parse(code.expires_at) - Date.now()) / 1000;
    assert.ok(expiresIn > 3500 && expiresIn <= 3600, `expires in an hour (${expiresIn} s)`);
    const listed = (await (await hub.as(tokens.alice!, '/hub/api/share-codes/alice/')).json()) as Record<string, unknown>[];
    assert.deepEqual(listed.map((c) => c.id), [code.id]);
    assert.ok(!JSON.stringify(listed).includes(code.code), 'the code is never shown again');
    assert.equal((await post(tokens.alice!, '/hub/api/share-codes/alice/', { expires_in: 10 })).status, 400, 'under a minute');

    // expire it in the database: the code no longer shows, nor is it accepted
    const db = new Database(join(hub.dataDir, 'refinery.sqlite'));
    try {
      db.prepare('UPDATE share_codes SET expires_at = ?').run(new Date(Date.now() - 1000).toISOString());
    } finally {
      db.close();
    }
    assert.deepEqual(await (await hub.as(tokens.alice!, '/hub/api/share-codes/alice/')).json(), []);

    const second = (await (await post(tokens.alice!, '/hub/api/share-codes/alice/', {})).json()) as { id: string };
    assert.equal((await hub.as(tokens.bob!, `/hub/api/share-codes/alice/?id=${second.id}`, { method: 'DELETE' })).status, 404, 'only alice revokes her codes');
    assert.equal((await hub.as(tokens.alice!, `/hub/api/share-codes/alice/?id=${second.id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await hub.as(tokens.alice!, `/hub/api/share-codes/alice/?id=${second.id}`, { method: 'DELETE' })).status, 404);
  });

  test('with sharing.enabled false, people cannot share their servers', async () => {
    const closed = await launchRefinery({ config: { sharing: { enabled: false } } });
    try {
      assert.equal((await closed.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: ['erin', 'frank'] }) })).status, 201);
      const erin = await closed.tokenFor('erin');
      assert.equal((await closed.as(erin, '/hub/api/shares/erin/', { method: 'POST', body: JSON.stringify({ user: 'frank' }) })).status, 403);
      assert.equal((await closed.as(erin, '/hub/api/share-codes/erin/', { method: 'POST', body: '{}' })).status, 403);
      assert.equal((await closed.as(erin, '/hub/api/users/frank')).status, 404, 'nor look up other people by name');
    } finally {
      await closed.cleanup();
    }
  });

  test('name suggestions: only with the page\'s CSRF token, a name prefix taken literally, never oneself', async () => {
    await addUser(hub, 'a_b', 'password-a_b-0123');
    assert.equal((await hub.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: ['axb'] }) })).status, 201);
    const session = await signIn(hub, 'a_b', 'password-a_b-0123');
    const suggest = (q: string, kind = 'user', csrf = true) => fetch(`${hub.url}/hub/share-suggestions?${new URLSearchParams({ q, kind })}`, {
      headers: { Cookie: session.cookie, ...(csrf ? { 'X-XSRFToken': session.xsrf } : {}), 'Sec-Fetch-Site': csrf ? 'same-origin' : 'cross-site', 'Sec-Fetch-Mode': 'cors', 'Sec-Fetch-Dest': 'empty' },
    });
    assert.deepEqual(await (await suggest('a')).json(), ['admin', 'alice', 'axb'], 'others whose names start so; not a_b herself');
    assert.deepEqual(await (await suggest('a_')).json(), [], '"_" is not a wildcard: only a_b starts with it, and she is the one asking');
    assert.deepEqual(await (await suggest('ax')).json(), ['axb']);
    assert.deepEqual(await (await suggest('te', 'group')).json(), ['team']);
    assert.equal((await suggest('a', 'user', false)).status, 403, 'a script on another site cannot list names with the cookie alone');
  });

  test('a share link grants nothing when opened, nor when posted without the page\'s CSRF token or with an API token', async () => {
    await addUser(hub, 'gina', 'password-gina-0123');
    const issued = (await (await post(tokens.alice!, '/hub/api/share-codes/alice/', {})).json()) as { code: string; accept_url: string };
    const gina = await signIn(hub, 'gina', 'password-gina-0123');
    const ginaToken = await hub.tokenFor('gina');
    const ginaReach = async () => (await hub.as(ginaToken, '/user/alice/api/status')).status;
    assert.equal((await gina.get(issued.accept_url)).status, 200, 'the confirmation page');
    assert.equal(await ginaReach(), 403, 'opening the link grants nothing');
    assert.equal((await gina.post('/hub/accept-share', { code: issued.code }, { withXsrf: false })).status, 403, 'no CSRF token: refused');
    assert.equal((await hub.as(ginaToken, '/hub/accept-share', { method: 'POST', body: new URLSearchParams({ code: issued.code }), redirect: 'manual' })).status, 302, 'a token does not sign in to pages: sent to sign in');
    assert.equal(await ginaReach(), 403);
    assert.equal((await gina.post('/hub/accept-share', { code: issued.code })).status, 303, 'accepted with the page\'s token');
    assert.equal(await ginaReach(), 200);
  });

  test('POST to an owner\'s list answers 405, as JupyterHub does', async () => {
    assert.equal((await post(tokens.alice!, '/hub/api/shares/alice', { user: 'bob' })).status, 405);
  });
});

