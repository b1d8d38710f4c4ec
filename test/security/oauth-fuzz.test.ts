// Many variants of what an attacker controls in an OAuth sign-in (redirect_uri, scope, PKCE, client
// credentials, repeated parameters), sent to the hub's authorization and token endpoints of
// `refinery start` with two real jupyterhub-singleuser servers (alice's and bob's). No variant may
// yield a code or a token it should not; the legitimate flows keep working.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SERVICE_TOKEN, launchRefinery, startServerAndWait, type RefineryProcess } from '../helpers/refinery.js';
import { addUser, signIn, type Session } from '../helpers/session.js';
import { authorize, basicAuth, locationParams, pkcePair, requestToken, serverEnv, type OAuthAnswer } from '../helpers/oauth.js';
import { killLeftovers } from '../helpers/processes.js';

const PASSWORD = 'a-password-for-oauth-fuzzing';
const CLIENT = 'jupyterhub-user-alice';
const CALLBACK = '/user/alice/oauth_callback';

describe('OAuth endpoints under fuzzing', () => {
  let hub: RefineryProcess;
  let alice: Session;
  let aliceSecret = '';
  let bobSecret = '';

  before(async () => {
    hub = await launchRefinery();
    await addUser(hub, 'alice', PASSWORD);
    await addUser(hub, 'bob', PASSWORD);
    alice = await signIn(hub, 'alice', PASSWORD);
    await startServerAndWait(hub, SERVICE_TOKEN, 'alice');
    await startServerAndWait(hub, SERVICE_TOKEN, 'bob');
    aliceSecret = (await serverEnv(hub, 'alice')).JUPYTERHUB_API_TOKEN!;
    bobSecret = (await serverEnv(hub, 'bob')).JUPYTERHUB_API_TOKEN!;
  });
  after(async () => {
    try {
      await hub?.cleanup();
    } finally {
      if (hub) killLeftovers(hub.dataDir);
    }
  });

  /** No code anywhere in the answer; a redirect, if any, goes to alice's registered callback on the hub. */
  const assertNoCode = (answer: OAuthAnswer, what: string): void => {
    assert.doesNotMatch(answer.body, /[?&]code=/, `${what}: no code in the page`);
    if (!answer.location) return;
    const target = new URL(answer.location, hub.url);
    assert.equal(target.searchParams.get('code'), null, `${what}: no code in ${answer.location}`);
    assert.equal(target.origin, new URL(hub.url).origin, `${what}: the browser stays on the hub`);
    assert.equal(target.pathname, CALLBACK, `${what}: only the registered callback hears about it`);
  };

  /** A fresh code for alice's server, asked for by alice (its owner). */
  const freshCode = async (extra: Record<string, string> = {}): Promise<string> => {
    const answer = await authorize(hub, alice, { client_id: CLIENT, response_type: 'code', redirect_uri: CALLBACK, ...extra });
    const code = locationParams(hub, answer.location).get('code');
    assert.ok(code, `a code: ${answer.status} ${answer.location ?? answer.body.slice(0, 200)}`);
    return code;
  };

  test('redirect_uri: only the registered callback on this hub gets a code', async () => {
    const port = hub.port;
    const here = `http://127.0.0.1:${port}`;
    const variants = [
      'https://evil.example/user/alice/oauth_callback',
      `http://evil.example:${port}/user/alice/oauth_callback`,
      `http://localhost:${port}/user/alice/oauth_callback`,
      `http://127.0.0.1:${port + 1}/user/alice/oauth_callback`,
      `https://127.0.0.1:${port}/user/alice/oauth_callback`,
      `http://127.0.0.1:${port}.evil.example/user/alice/oauth_callback`,
      `http://127.0.0.1.:${port}/user/alice/oauth_callback`,
      `http://2130706433:${port}/user/alice/oauth_callback`,
      `http://[::1]:${port}/user/alice/oauth_callback`,
      `http://127.0.0.1:${port}@evil.example/user/alice/oauth_callback`,
      `http://hub@127.0.0.1:${port}/user/alice/oauth_callback`,
      `http://hub:pw@127.0.0.1:${port}/user/alice/oauth_callback`,
      `http://@127.0.0.1:${port}/user/alice/oauth_callback`,
      `http://evil.example\\@127.0.0.1:${port}/user/alice/oauth_callback`,
      `https://hub@evil.example/user/alice/oauth_callback`,
      '//evil.example/user/alice/oauth_callback',
      '///evil.example/user/alice/oauth_callback',
      '/\\evil.example/user/alice/oauth_callback',
      '\\\\evil.example/user/alice/oauth_callback',
      'javascript:alert(document.cookie)//user/alice/oauth_callback',
      'data:text/html,<script>alert(1)</script>',
      `ftp://127.0.0.1:${port}/user/alice/oauth_callback`,
      `ws://127.0.0.1:${port}/user/alice/oauth_callback`,
      `HTTP://127.0.0.1:${port}/user/alice/oauth_callback`,
      `http://127.0.0.1:${port}/user/alice/oauth_callback/`,
      `${here}/user/alice/./oauth_callback`,
      `${here}/user/bob/../alice/oauth_callback`,
      `${here}/user/alice/%2e%2e/alice/oauth_callback`,
      `${here}/user%2Falice%2Foauth_callback`,
      `${here}/user/alice/oauth_callback?next=https://evil.example`,
      `${here}/user/alice/oauth_callback#frag`,
      `${here}/user/alice/oauth_callback?`,
      `${here}/user/alice/oauth_callback#`,
      '/user/alice%2Foauth_callback',
      '/user%2Falice%2Foauth_callback',
      '/user/alice/oauth%5Fcallback',
      '/user/alice/%2e%2e/alice/oauth_callback',
      '/user/alice/%2E/oauth_callback',
      '/user/alice/./oauth_callback',
      '/user/alice/x/../oauth_callback',
      '/user/bob/../alice/oauth_callback',
      '/user/alice/oauth_callback/..',
      '/user/alice/oauth_callback/',
      '/user/alice\\oauth_callback',
      '\\user\\alice\\oauth_callback',
      '/user/alice/oauth_callback?',
      '/user/alice/oauth_callback?next=https://evil.example',
      '/user/alice/oauth_callback#',
      '/user/alice/oauth_callback#x',
      '/user/alice/oauth_callback ',
      ' /user/alice/oauth_callback',
      '\t/user/alice/oauth_callback',
      '/user/alice/oauth_callback\n',
      '/user/alice/oauth_callback\r\nLocation: https://evil.example/',
      '/user/alice/oauth_callback\u0000',
      '/user/alice/oauth_callback\u00a0',
      '/user/alice/oauth_callback\u200b',
      '/User/alice/oauth_callback',
      '/user/ALICE/oauth_callback',
      '/user/alice/OAUTH_CALLBACK',
      '/user/alicе/oauth_callback', // Cyrillic е
      '／user／alice／oauth_callback',
      'http://ⓔvil.example/user/alice/oauth_callback',
      `http://127.0.0.1:${port}/user/alicе/oauth_callback`,
      'https://xn--vil-wla.example/user/alice/oauth_callback',
      '/user/bob/oauth_callback',
      '/user/alice/lab/oauth_callback',
      '/user/alice/',
      'user/alice/oauth_callback',
      '',
    ];
    for (const redirect of variants) {
      const what = `redirect_uri ${JSON.stringify(redirect)}`;
      const answer = await authorize(hub, alice, { client_id: CLIENT, response_type: 'code', redirect_uri: redirect, state: 'x' });
      assertNoCode(answer, what);
      assert.equal(answer.status, 400, `${what}: refused on the hub's own page`);
      assert.equal(answer.location, undefined, `${what}: the browser is not sent anywhere`);
      assert.match(answer.body, /redirect_uri/, `${what}: the page says what was wrong`);
    }

    // the registered path, and the same path as an absolute URL on the hub's own origin, work
    for (const redirect of [CALLBACK, `${here}${CALLBACK}`]) {
      const answer = await authorize(hub, alice, { client_id: CLIENT, response_type: 'code', redirect_uri: redirect, state: 'ok' });
      assert.equal(answer.status, 302, redirect);
      assert.equal(answer.location!.slice(0, answer.location!.indexOf('?')), redirect);
      assert.ok(locationParams(hub, answer.location).get('code'), redirect);
      assert.equal(locationParams(hub, answer.location).get('state'), 'ok');
    }
    // no redirect_uri at all: the registered one
    const implicit = await authorize(hub, alice, { client_id: CLIENT, response_type: 'code' });
    assert.ok(implicit.location?.startsWith(`${CALLBACK}?code=`), implicit.location);
  });

  test('repeated parameters and unknown clients are refused on the hub\'s page', async () => {
    const twice = new URLSearchParams([['client_id', CLIENT], ['response_type', 'code'], ['redirect_uri', CALLBACK], ['redirect_uri', 'https://evil.example/user/alice/oauth_callback']]);
    const repeated = await authorize(hub, alice, twice);
    assert.equal(repeated.status, 400);
    assert.equal(repeated.location, undefined);
    assert.match(repeated.body, /redirect_uri was given 2 times/);
    const twoClients = new URLSearchParams([['client_id', 'jupyterhub-user-bob'], ['client_id', CLIENT], ['response_type', 'code'], ['redirect_uri', CALLBACK]]);
    assert.equal((await authorize(hub, alice, twoClients)).status, 400);
    for (const client of ['', 'jupyterhub-user-nobody', 'jupyterhub-user-alice ', 'JUPYTERHUB-USER-ALICE', 'jupyterhub']) {
      const answer = await authorize(hub, alice, { client_id: client, response_type: 'code', redirect_uri: CALLBACK });
      assertNoCode(answer, `client_id ${JSON.stringify(client)}`);
      assert.equal(answer.status, 400, `client_id ${JSON.stringify(client)}`);
      assert.equal(answer.location, undefined);
    }
    // bob's client with alice's callback: not bob's callback, so refused; alice may not use bob's server anyway
    const bobsClient = await authorize(hub, alice, { client_id: 'jupyterhub-user-bob', response_type: 'code', redirect_uri: CALLBACK });
    assert.equal(bobsClient.status, 400);
    const bobsServer = await authorize(hub, alice, { client_id: 'jupyterhub-user-bob', response_type: 'code', redirect_uri: '/user/bob/oauth_callback' });
    assert.equal(bobsServer.status, 403);
    assertNoCode(bobsServer, 'alice at bob\'s server');
    // response types other than code: an error for the client, no code and no token
    for (const type of ['token', 'code token', 'id_token', '', 'CODE']) {
      const answer = await authorize(hub, alice, { client_id: CLIENT, response_type: type, redirect_uri: CALLBACK });
      assertNoCode(answer, `response_type ${JSON.stringify(type)}`);
      assert.equal(locationParams(hub, answer.location).get('error'), 'unsupported_response_type');
      assert.doesNotMatch(answer.location ?? '', /access_token/);
    }
  });

  test('scope: nothing beyond identifying the person and reaching this one server', async () => {
    const refused = [
      'inherit', 'self', 'admin:users', 'admin:servers', 'admin-ui', 'users', 'servers', 'tokens', 'read:users', 'list:users',
      'access:servers', 'access:servers!user=alice', 'access:servers!server=bob/', 'access:servers!user=bob', 'access:servers!server=alice/other',
      'read:users:name!user=bob', 'read:users:name', 'users:activity!user', 'admin:users!user=alice', 'shutdown', 'proxy', 'read:metrics',
      'access:servers!group=everyone', 'identify inherit', 'read:users:name!user inherit', 'no-such-scope', 'access:servers!server=alice/ admin:users',
      'access:servers!nonsense=1', 'INHERIT', 'access:servers!server=alice/\tinherit', 'inherit%20', '(no_scope)',
    ];
    for (const scope of refused) {
      const answer = await authorize(hub, alice, { client_id: CLIENT, response_type: 'code', redirect_uri: CALLBACK, scope, state: 's' });
      assertNoCode(answer, `scope ${JSON.stringify(scope)}`);
      assert.equal(answer.status, 302, `scope ${JSON.stringify(scope)}: ${answer.body.slice(0, 200)}`);
      assert.equal(locationParams(hub, answer.location).get('error'), 'invalid_scope', `scope ${JSON.stringify(scope)}`);
      assert.equal(locationParams(hub, answer.location).get('state'), 's');
    }

    const identify = 'read:users:groups!user read:users:name!user';
    const granted: Array<[string, string]> = [
      ['', `access:servers!server=alice/ ${identify}`],
      ['identify', `access:servers!server=alice/ ${identify}`],
      ['access:servers!server=alice/', `access:servers!server=alice/ ${identify}`],
      ['read:users:name!user', `access:servers!server=alice/ ${identify}`],
      ['read:users:name!user=alice', `access:servers!server=alice/ read:users:groups!user read:users:name!user read:users:name!user=alice`],
      ['access:servers!server', `access:servers!server access:servers!server=alice/ ${identify}`],
    ];
    for (const [scope, expected] of granted) {
      const code = await freshCode(scope ? { scope } : {});
      const issued = await requestToken(hub, { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, client_id: CLIENT, client_secret: aliceSecret });
      assert.equal(issued.status, 200, `scope ${JSON.stringify(scope)}: ${JSON.stringify(issued.body)}`);
      assert.equal(issued.body.scope, expected, `scope ${JSON.stringify(scope)}`);
      const token = String(issued.body.access_token);
      assert.equal((await hub.as(token, '/user/alice/api/status')).status, 200, 'the token reaches alice\'s server');
      assert.equal((await hub.as(token, '/user/bob/api/status')).status, 403, 'but not bob\'s');
      assert.equal((await hub.as(token, '/hub/api/users/alice/tokens')).status, 403, 'nor her tokens');
    }
  });

  test('PKCE: only S256, and then the right verifier is required', async () => {
    const pkce = pkcePair();
    const challenge = { code_challenge: pkce.challenge, code_challenge_method: 'S256' };
    // the right verifier is no substitute for the client's secret
    for (const credentials of [{}, { client_secret: '' }, { client_secret: bobSecret }] as Array<Record<string, string>>) {
      const noSecret = await requestToken(hub, { grant_type: 'authorization_code', code: await freshCode(challenge), redirect_uri: CALLBACK, client_id: CLIENT, code_verifier: pkce.verifier, ...credentials });
      assert.equal(noSecret.status, 401, `PKCE with ${JSON.stringify(credentials)}: ${JSON.stringify(noSecret.body)}`);
      assert.equal(noSecret.body.error, 'invalid_client');
      assert.equal(noSecret.body.access_token, undefined);
    }

    const badRequests: Array<Record<string, string>> = [
      { code_challenge: pkce.verifier, code_challenge_method: 'plain' },
      { code_challenge: pkce.challenge, code_challenge_method: 'plain' },
      { code_challenge: pkce.challenge },
      { code_challenge: pkce.challenge, code_challenge_method: 's256' },
      { code_challenge: pkce.challenge, code_challenge_method: 'SHA256' },
      { code_challenge: pkce.challenge, code_challenge_method: '' },
      { code_challenge_method: 'S256' },
      { code_challenge: '', code_challenge_method: 'S256' },
      { code_challenge: 'v', code_challenge_method: 'S256' },
      { code_challenge: `${pkce.challenge}=`, code_challenge_method: 'S256' },
      { code_challenge: pkce.challenge.replace(/.$/, '+'), code_challenge_method: 'S256' },
    ];
    for (const extra of badRequests) {
      const answer = await authorize(hub, alice, { client_id: CLIENT, response_type: 'code', redirect_uri: CALLBACK, ...extra });
      assertNoCode(answer, `PKCE ${JSON.stringify(extra)}`);
      assert.equal(locationParams(hub, answer.location).get('error'), 'invalid_request', JSON.stringify(extra));
    }

    const exchange = (code: string, verifier?: string) => requestToken(hub, {
      grant_type: 'authorization_code', code, redirect_uri: CALLBACK, client_id: CLIENT, client_secret: aliceSecret, ...(verifier !== undefined ? { code_verifier: verifier } : {}),
    });
    for (const verifier of [undefined, '', 'v', pkcePair().verifier, pkce.challenge, `${pkce.verifier} `, pkce.verifier.toUpperCase(), 'x'.repeat(129)]) {
      const refused = await exchange(await freshCode(challenge), verifier);
      assert.equal(refused.status, 400, `verifier ${JSON.stringify(verifier)}`);
      assert.equal(refused.body.error, 'invalid_grant');
      assert.equal(refused.body.access_token, undefined);
    }
    // a verifier for a code that had no challenge: refused (no PKCE downgrade)
    const unexpected = await exchange(await freshCode(), pkce.verifier);
    assert.equal(unexpected.body.error, 'invalid_grant');
    const ok = await exchange(await freshCode(challenge), pkce.verifier);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.ok(ok.body.access_token);
  });

  test('client credentials: the client\'s own secret, in the body or as HTTP Basic, is always required', async () => {
    const base = (code: string) => ({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK });
    const refusals: Array<{ what: string; fields: Record<string, string>; headers?: Record<string, string>; error: string; status: number }> = [
      { what: 'no credentials', fields: {}, error: 'invalid_client', status: 401 },
      { what: 'client_id only', fields: { client_id: CLIENT }, error: 'invalid_client', status: 401 },
      { what: 'empty secret', fields: { client_id: CLIENT, client_secret: '' }, error: 'invalid_client', status: 401 },
      { what: 'wrong secret', fields: { client_id: CLIENT, client_secret: 'wrong' }, error: 'invalid_client', status: 401 },
      { what: 'bob\'s secret for alice\'s client', fields: { client_id: CLIENT, client_secret: bobSecret }, error: 'invalid_client', status: 401 },
      { what: 'secret with a space', fields: { client_id: CLIENT, client_secret: `${aliceSecret} ` }, error: 'invalid_client', status: 401 },
      { what: 'secret only', fields: { client_secret: aliceSecret }, error: 'invalid_client', status: 401 },
      { what: 'bob\'s client and secret with alice\'s code', fields: { client_id: 'jupyterhub-user-bob', client_secret: bobSecret }, error: 'invalid_grant', status: 400 },
      { what: 'Basic with a wrong secret', fields: {}, headers: { Authorization: basicAuth(CLIENT, 'wrong') }, error: 'invalid_client', status: 401 },
      { what: 'Basic with bob\'s secret', fields: {}, headers: { Authorization: basicAuth(CLIENT, bobSecret) }, error: 'invalid_client', status: 401 },
      { what: 'Basic with no secret', fields: {}, headers: { Authorization: basicAuth(CLIENT, '') }, error: 'invalid_client', status: 401 },
      { what: 'Basic that is not base64', fields: {}, headers: { Authorization: 'Basic !!!' }, error: 'invalid_client', status: 401 },
      { what: 'Basic without a colon', fields: {}, headers: { Authorization: `Basic ${Buffer.from(CLIENT).toString('base64')}` }, error: 'invalid_client', status: 401 },
      { what: 'Basic with broken percent-encoding', fields: {}, headers: { Authorization: `Basic ${Buffer.from(`${CLIENT}:%E0%A4%A`).toString('base64')}` }, error: 'invalid_client', status: 401 },
      { what: 'Basic and a body secret', fields: { client_secret: aliceSecret }, headers: { Authorization: basicAuth(CLIENT, aliceSecret) }, error: 'invalid_request', status: 400 },
      { what: 'Basic for alice, body client_id bob', fields: { client_id: 'jupyterhub-user-bob' }, headers: { Authorization: basicAuth(CLIENT, aliceSecret) }, error: 'invalid_client', status: 401 },
      { what: 'a bearer token instead of client credentials', fields: { client_id: CLIENT }, headers: { Authorization: `token ${aliceSecret}` }, error: 'invalid_client', status: 401 },
    ];
    // a refused client authentication does not use the code up; one refused for another reason does
    let code = await freshCode();
    for (const r of refusals) {
      const res = await requestToken(hub, { ...base(code), ...r.fields }, r.headers);
      assert.equal(res.status, r.status, `${r.what}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error, r.error, r.what);
      assert.equal(res.body.access_token, undefined, r.what);
      if (r.status === 401) assert.match(res.headers.get('www-authenticate') ?? '', /^Basic /, `${r.what}: says how to authenticate`);
      if (r.error !== 'invalid_client') code = await freshCode();
    }
    // the secret in the query string is not a credential
    const inQuery = await fetch(`${hub.url}/hub/api/oauth2/token?client_id=${CLIENT}&client_secret=${aliceSecret}`, {
      method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(base(code)),
    });
    assert.equal(inQuery.status, 401);

    // and the legitimate ways in: form body, HTTP Basic, JSON body
    const body = await requestToken(hub, { ...base(code), client_id: CLIENT, client_secret: aliceSecret });
    assert.equal(body.status, 200, JSON.stringify(body.body));
    assert.equal(body.body.token_type, 'Bearer');
    assert.equal(body.headers.get('cache-control'), 'no-store');
    const basic = await requestToken(hub, base(await freshCode()), { Authorization: basicAuth(CLIENT, aliceSecret) });
    assert.equal(basic.status, 200, JSON.stringify(basic.body));
    const basicWithId = await requestToken(hub, { ...base(await freshCode()), client_id: CLIENT }, { Authorization: basicAuth(CLIENT, aliceSecret) });
    assert.equal(basicWithId.status, 200, JSON.stringify(basicWithId.body));
    const json = await fetch(`${hub.url}/hub/api/oauth2/token`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ ...base(await freshCode()), client_id: CLIENT, client_secret: aliceSecret }),
    });
    assert.equal(json.status, 200);
    const who = await hub.as(String(body.body.access_token), '/hub/api/user');
    assert.equal(((await who.json()) as { name: string }).name, 'alice');
  });

  test('codes: used once, for their client and redirect_uri only', async () => {
    const exchange = (fields: Record<string, string>) => requestToken(hub, { grant_type: 'authorization_code', client_id: CLIENT, client_secret: aliceSecret, ...fields });
    const code = await freshCode();
    const first = await exchange({ code, redirect_uri: CALLBACK });
    assert.equal(first.status, 200);
    const token = String(first.body.access_token);
    assert.equal((await hub.as(token, '/hub/api/user')).status, 200, 'the token works');
    const again = await exchange({ code, redirect_uri: CALLBACK });
    assert.equal(again.status, 400);
    assert.equal(again.body.error, 'invalid_grant');
    assert.equal(again.body.access_token, undefined);
    // RFC 6749 §4.1.2: a code used twice is known to someone else; the token it gave is revoked
    assert.equal((await hub.as(token, '/hub/api/user')).status, 403, 'the token of a reused code no longer works');
    const third = await exchange({ code, redirect_uri: CALLBACK });
    assert.equal(third.body.error, 'invalid_grant', 'and the code stays refused');

    for (const redirect of ['/user/alice/oauth_callback/', 'https://evil.example/user/alice/oauth_callback', `http://127.0.0.1:${hub.port}${CALLBACK}`, '/user/bob/oauth_callback', '']) {
      const res = await exchange({ code: await freshCode(), redirect_uri: redirect });
      assert.equal(res.body.error, 'invalid_grant', `redirect_uri ${JSON.stringify(redirect)}`);
      assert.equal(res.body.access_token, undefined);
    }
    // a code asked for with the absolute callback must be redeemed with exactly that
    const absolute = `http://127.0.0.1:${hub.port}${CALLBACK}`;
    const absoluteCode = await freshCode({ redirect_uri: absolute });
    assert.equal((await exchange({ code: absoluteCode })).body.error, 'invalid_grant', 'redirect_uri left out although the request named one');
    assert.equal((await exchange({ code: await freshCode({ redirect_uri: absolute }), redirect_uri: absolute })).status, 200);
    // a code for the registered callback may be redeemed without repeating it
    assert.equal((await exchange({ code: await freshCode() })).status, 200);

    for (const bogus of ['', 'x', `${code}x`, code.toUpperCase()]) {
      const res = await exchange({ code: bogus, redirect_uri: CALLBACK });
      assert.equal(res.status, 400, `code ${JSON.stringify(bogus)}`);
      assert.equal(res.body.access_token, undefined);
    }
    for (const grant of ['', 'client_credentials', 'password', 'refresh_token', 'implicit', 'AUTHORIZATION_CODE']) {
      const res = await exchange({ code: await freshCode(), redirect_uri: CALLBACK, grant_type: grant });
      assert.equal(res.body.error, 'unsupported_grant_type', `grant_type ${JSON.stringify(grant)}`);
    }
    const twice = new URLSearchParams([['grant_type', 'authorization_code'], ['code', await freshCode()], ['code', 'other'], ['client_id', CLIENT], ['client_secret', aliceSecret]]);
    const repeated = await requestToken(hub, twice);
    assert.equal(repeated.body.error, 'invalid_request');
    assert.equal(repeated.body.access_token, undefined);
  });
});
