// Signing in to single-user servers through the hub's OAuth provider, against `refinery start` with
// real jupyterhub-singleuser servers: the one-click account takeover (a code sent to another host,
// a token without the client's secret, a token with everything its owner has) is refused at every
// step, people who do not own a server are asked before it learns who they are, a server's client
// and its sign-ins end with the server, and no two servers share a client.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_PASSWORD, SERVICE_TOKEN, launchRefinery, startServerAndWait, type RefineryProcess } from '../helpers/refinery.js';
import { addUser, signIn, type Session } from '../helpers/session.js';
import { authorize, locationParams, openServerInBrowser, pkcePair, requestToken, serverEnv } from '../helpers/oauth.js';
import { killLeftovers } from '../helpers/processes.js';
import { waitFor } from '../helpers/tmp.js';

const PASSWORD = 'a-password-for-oauth-tests';

describe('OAuth sign-in to servers', () => {
  let hub: RefineryProcess;
  let admin: Session;
  let bob: Session;
  let carol: Session;
  /** A token the admin allowed bob's server to have (the consent test), checked again when bob is deleted. */
  let adminTokenForBobsServer = '';

  const asToken = (token: string, path: string, init: RequestInit = {}) => hub.as(token, path, init);
  const deleteNamedServer = async (user: string, server: string) => {
    const res = await hub.api(`/hub/api/users/${user}/servers/${server}`, { method: 'DELETE', body: JSON.stringify({ remove: true }) });
    assert.ok([202, 204].includes(res.status), `DELETE answered ${res.status}`);
    await waitFor(async () => {
      const model = (await (await hub.api(`/hub/api/users/${user}?include_stopped_servers=1`)).json()) as { servers?: Record<string, unknown> };
      return !(server in (model.servers ?? {}));
    }, { timeoutMs: 60_000, message: `${user}'s server ${server} to be deleted` });
  };

  before(async () => {
    // admin_access: admins may open other people's servers, the case the consent step is for
    hub = await launchRefinery({ config: { named_servers: { enabled: true, limit_per_user: 0 }, admin_access: true } });
    for (const name of ['bob', 'carol', 'bob-lab']) await addUser(hub, name, PASSWORD);
    admin = await signIn(hub, 'admin', ADMIN_PASSWORD);
    bob = await signIn(hub, 'bob', PASSWORD);
    carol = await signIn(hub, 'carol', PASSWORD);
  });
  after(async () => {
    try {
      await hub?.cleanup();
    } finally {
      if (hub) killLeftovers(hub.dataDir);
    }
  });

  test('the one-click takeover is refused at every step', { timeout: 180_000 }, async () => {
    await startServerAndWait(hub, SERVICE_TOKEN, 'admin');

    // 1. an admin follows a link that would send their code to another host
    const evil = await authorize(hub, admin, {
      client_id: 'jupyterhub-user-admin', response_type: 'code', redirect_uri: 'https://evil.example/user/admin/oauth_callback',
      scope: 'inherit', code_challenge: 'v', code_challenge_method: 'plain',
    });
    assert.equal(evil.location, undefined, 'the browser is not sent anywhere');
    assert.equal(evil.status, 400);
    assert.match(evil.body, /redirect_uri/);
    assert.match(evil.body, /invalid_request/);
    assert.doesNotMatch(evil.body, /evil\.example\/user\/admin\/oauth_callback\?code=/);

    // the same request with the registered callback still gets no code: inherit is not the client's to ask for ...
    const registered = { client_id: 'jupyterhub-user-admin', response_type: 'code', redirect_uri: '/user/admin/oauth_callback', state: 's1' };
    const inherit = await authorize(hub, admin, { ...registered, scope: 'inherit' });
    assert.equal(inherit.status, 302);
    const inheritAnswer = locationParams(hub, inherit.location);
    assert.equal(new URL(inherit.location!, hub.url).pathname, '/user/admin/oauth_callback');
    assert.equal(inheritAnswer.get('error'), 'invalid_scope');
    assert.equal(inheritAnswer.get('state'), 's1');
    assert.equal(inheritAnswer.get('code'), null);
    // ... and a plain PKCE challenge is not accepted
    const plain = await authorize(hub, admin, { ...registered, code_challenge: 'v', code_challenge_method: 'plain' });
    assert.equal(locationParams(hub, plain.location).get('error'), 'invalid_request');
    assert.equal(locationParams(hub, plain.location).get('code'), null);

    // 2. a code (here: a legitimate one, with S256) is worth nothing without the client's secret, PKCE or not
    const pkce = pkcePair();
    const granted = await authorize(hub, admin, { ...registered, code_challenge: pkce.challenge, code_challenge_method: 'S256' });
    const code = locationParams(hub, granted.location).get('code');
    assert.ok(code, `a code for the registered callback: ${granted.location}`);
    for (const credentials of [{}, { client_secret: '' }, { client_secret: 'not-the-secret' }] as Array<Record<string, string>>) {
      const refused = await requestToken(hub, { grant_type: 'authorization_code', code, code_verifier: pkce.verifier, redirect_uri: '/user/admin/oauth_callback', client_id: 'jupyterhub-user-admin', ...credentials });
      assert.equal(refused.status, 401, JSON.stringify(credentials));
      assert.equal(refused.body.error, 'invalid_client');
      assert.equal(refused.body.access_token, undefined);
    }

    // 3. the server itself (with its secret) gets a token that identifies the admin and reaches the server, nothing more
    const secret = (await serverEnv(hub, 'admin')).JUPYTERHUB_API_TOKEN!;
    const issued = await requestToken(hub, { grant_type: 'authorization_code', code, code_verifier: pkce.verifier, redirect_uri: '/user/admin/oauth_callback', client_id: 'jupyterhub-user-admin', client_secret: secret });
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    const token = String(issued.body.access_token);
    assert.doesNotMatch(String(issued.body.scope), /inherit|admin:/);
    assert.equal(((await (await asToken(token, '/hub/api/user')).json()) as { name: string }).name, 'admin');
    assert.equal((await asToken(token, '/user/admin/api/status')).status, 200);
    const create = await asToken(token, '/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: ['mallory'] }) });
    assert.equal(create.status, 403);
    const promote = await asToken(token, '/hub/api/users/carol', { method: 'PATCH', body: JSON.stringify({ admin: true }) });
    assert.ok([403, 404].includes(promote.status), `PATCH answered ${promote.status}`);
    const users = (await (await hub.api('/hub/api/users')).json()) as Array<{ name: string; admin: boolean }>;
    assert.equal(users.find((u) => u.name === 'mallory'), undefined, 'no user was created');
    assert.equal(users.find((u) => u.name === 'carol')?.admin, false, 'carol is not an admin');
  });

  test('jupyterhub-singleuser still signs its owner in through the hub, without a question', { timeout: 60_000 }, async () => {
    const { hops, status, body, authorizeUrl } = await openServerInBrowser(hub, admin, '/user/admin/lab');
    assert.equal(status, 200, `ended at ${hops.at(-1)} with ${status}: ${hops.join(' -> ')}`);
    assert.equal(hops.at(-1), '/user/admin/lab');
    assert.match(body, /JupyterLab/);
    assert.ok(authorizeUrl, 'the server sent the browser to the hub');
    assert.equal(authorizeUrl.searchParams.get('client_id'), 'jupyterhub-user-admin');
    assert.equal(authorizeUrl.searchParams.get('redirect_uri'), '/user/admin/oauth_callback', 'jupyterhub-singleuser sends the registered path');
    assert.ok(hops.some((h) => h.startsWith('/user/admin/oauth_callback?code=')), hops.join(' -> '));
    await hub.api('/hub/api/users/admin/server', { method: 'DELETE' });
  });

  test('someone who does not own a server is asked first, on a form only the hub\'s pages can submit', { timeout: 180_000 }, async () => {
    await startServerAndWait(hub, SERVICE_TOKEN, 'bob');
    const params = { client_id: 'jupyterhub-user-bob', response_type: 'code', redirect_uri: '/user/bob/oauth_callback', state: 'from-bob' };

    const page = await authorize(hub, admin, params);
    assert.equal(page.status, 200, `answered ${page.status} ${page.location ?? ''}`);
    assert.equal(page.location, undefined, 'no code before the admin decides');
    assert.match(page.body, /Sign in to bob’s default server\?/);
    assert.match(page.body, /<code>\/user\/bob\/<\/code>/);
    assert.match(page.body, /Know who you are: your username \(admin\)/);
    assert.match(page.body, /Access user servers via API or browser: only bob’s default server/);
    const form = page.body.split('<form').find((part) => part.includes('value="allow"')) ?? '';
    assert.match(form, /<button[^>]*value="allow"[^>]*>Allow<\/button>/);
    assert.match(form, /<button[^>]*value="deny"[^>]*>Deny<\/button>/);
    assert.ok(form.includes(`name="_xsrf" value="${admin.xsrf}"`), 'the consent form carries the session\'s CSRF token');
    const action = /^ method="post" action="([^"]+)"/.exec(form)?.[1];
    assert.ok(action, 'the consent form posts somewhere');

    // a form that did not come from the hub's page is refused
    for (const xsrf of [undefined, 'not-the-token']) {
      const forged = await admin.post(action, { ...params, decision: 'allow', ...(xsrf ? { _xsrf: xsrf } : {}) }, { withXsrf: false });
      assert.equal(forged.status, 403, `xsrf ${xsrf ?? 'missing'}`);
      assert.doesNotMatch(forged.headers.get('location') ?? '', /code=/);
    }
    // the request is checked again: a tampered redirect_uri is refused even with the right token
    const tampered = await admin.post(action, { ...params, redirect_uri: 'https://evil.example/user/bob/oauth_callback', decision: 'allow' });
    assert.equal(tampered.status, 400);
    assert.equal(tampered.headers.get('location'), null);

    const denied = await admin.post(action, { ...params, decision: 'deny' });
    assert.equal(denied.status, 303);
    const deniedAnswer = locationParams(hub, denied.headers.get('location') ?? undefined);
    assert.equal(new URL(denied.headers.get('location')!, hub.url).pathname, '/user/bob/oauth_callback');
    assert.equal(deniedAnswer.get('error'), 'access_denied');
    assert.equal(deniedAnswer.get('state'), 'from-bob');
    assert.equal(deniedAnswer.get('code'), null);

    const allowed = await admin.post(action, { ...params, decision: 'allow' });
    assert.equal(allowed.status, 303);
    const code = locationParams(hub, allowed.headers.get('location') ?? undefined).get('code');
    assert.ok(code);
    const secret = (await serverEnv(hub, 'bob')).JUPYTERHUB_API_TOKEN!;
    const issued = await requestToken(hub, { grant_type: 'authorization_code', code, redirect_uri: params.redirect_uri, client_id: params.client_id, client_secret: secret });
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    adminTokenForBobsServer = String(issued.body.access_token);
    assert.equal(((await (await asToken(adminTokenForBobsServer, '/hub/api/user')).json()) as { name: string }).name, 'admin');
    assert.equal((await asToken(adminTokenForBobsServer, '/user/bob/api/status')).status, 200);
    assert.equal((await asToken(adminTokenForBobsServer, '/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: ['mallory'] }) })).status, 403);

    // bob, the owner, is not asked
    const own = await authorize(hub, bob, params);
    assert.equal(own.status, 302);
    assert.ok(locationParams(hub, own.location).get('code'));
    // carol may not use bob's server at all
    const other = await authorize(hub, carol, params);
    assert.equal(other.status, 403);
    assert.equal(other.location, undefined);
    assert.match(other.body, /carol, who may not use/);
    // signed out: sign in first
    const anonymous = await authorize(hub, null, params);
    assert.equal(anonymous.status, 302);
    assert.match(anonymous.location ?? '', /^\/hub\/login\?next=%2Fhub%2Fapi%2Foauth2%2Fauthorize/);
  });

  test('deleting a named server removes its client and ends its sign-ins', { timeout: 120_000 }, async () => {
    await startServerAndWait(hub, SERVICE_TOKEN, 'bob', 'lab');
    const env = await serverEnv(hub, 'bob', 'lab');
    const clientId = env.JUPYTERHUB_CLIENT_ID!;
    const params = { client_id: clientId, response_type: 'code', redirect_uri: '/user/bob/lab/oauth_callback' };
    const code = locationParams(hub, (await authorize(hub, bob, params)).location).get('code');
    assert.ok(code);
    const issued = await requestToken(hub, { grant_type: 'authorization_code', code, redirect_uri: params.redirect_uri, client_id: clientId, client_secret: env.JUPYTERHUB_API_TOKEN! });
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    const token = String(issued.body.access_token);
    assert.equal((await asToken(token, '/user/bob/lab/api/status')).status, 200);

    await deleteNamedServer('bob', 'lab');
    const after = await authorize(hub, bob, params);
    assert.equal(after.status, 400, `answered ${after.status} ${after.location ?? ''}`);
    assert.equal(after.location, undefined);
    assert.match(after.body, /invalid_client/);
    assert.equal((await asToken(token, '/hub/api/user')).status, 403, 'the sign-in token is revoked');
  });

  test('a named server and a user whose name ends like it have their own clients and both sign in', { timeout: 240_000 }, async () => {
    await startServerAndWait(hub, SERVICE_TOKEN, 'bob-lab');
    await startServerAndWait(hub, SERVICE_TOKEN, 'bob', 'lab');
    const bobsLab = (await serverEnv(hub, 'bob', 'lab')).JUPYTERHUB_CLIENT_ID;
    const bobLabs = (await serverEnv(hub, 'bob-lab')).JUPYTERHUB_CLIENT_ID;
    assert.equal(bobLabs, 'jupyterhub-user-bob-lab', 'a default server keeps JupyterHub\'s client id');
    assert.notEqual(bobsLab, bobLabs);

    const bobLab = await signIn(hub, 'bob-lab', PASSWORD);
    const signsIn = async (session: Session, path: string) => {
      const { hops, status } = await openServerInBrowser(hub, session, path);
      assert.equal(status, 200, `${path} ended at ${hops.at(-1)} with ${status}: ${hops.join(' -> ')}`);
      assert.equal(hops.at(-1), path);
    };
    await signsIn(bob, '/user/bob/lab/lab');
    await signsIn(bobLab, '/user/bob-lab/lab');
    // removing one leaves the other's client alone
    await deleteNamedServer('bob', 'lab');
    await signsIn(bobLab, '/user/bob-lab/lab');
  });

  test('deleting a user removes their servers\' clients and every sign-in to them', { timeout: 120_000 }, async () => {
    const params = { client_id: 'jupyterhub-user-bob', response_type: 'code', redirect_uri: '/user/bob/oauth_callback' };
    const code = locationParams(hub, (await authorize(hub, bob, params)).location).get('code');
    assert.ok(code);
    const issued = await requestToken(hub, { grant_type: 'authorization_code', code, redirect_uri: params.redirect_uri, client_id: params.client_id, client_secret: (await serverEnv(hub, 'bob')).JUPYTERHUB_API_TOKEN! });
    const bobsToken = String(issued.body.access_token);
    assert.equal((await asToken(bobsToken, '/user/bob/api/status')).status, 200);

    const res = await hub.api('/hub/api/users/bob', { method: 'DELETE' });
    assert.equal(res.status, 204);
    assert.equal((await asToken(bobsToken, '/hub/api/user')).status, 403);
    if (adminTokenForBobsServer) assert.equal((await asToken(adminTokenForBobsServer, '/hub/api/user')).status, 403, 'the admin\'s sign-in to bob\'s server ends too');
    const after = await authorize(hub, admin, params);
    assert.equal(after.status, 400);
    assert.equal(after.location, undefined);
    assert.match(after.body, /invalid_client/);
  });
});
