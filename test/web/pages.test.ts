// The hub's pages over plain HTTP (no browser): what forms refuse, what pages never show or cache,
// and what never reaches the log. Runs `refinery start` as its own process.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_PASSWORD, launchRefinery, type RefineryProcess } from '../helpers/refinery.js';
import { signIn, type Session } from '../helpers/session.js';


describe('hub pages over HTTP', () => {
  let hub: RefineryProcess;
  let admin: Session;
  /** Secrets the pages showed once; none of them may appear in the hub's log. */
  const secrets: string[] = [];

  before(async () => {
    hub = await launchRefinery();
    admin = await signIn(hub, 'admin', ADMIN_PASSWORD);
  });
  after(async () => {
    await hub?.cleanup();
  });

  test('forms without the session’s CSRF token are refused and change nothing', async () => {
    const attempts: Array<[string, Record<string, string>]> = [
      ['/hub/token', { note: 'forged' }],
      ['/hub/admin/users', { name: 'forged-user' }],
      ['/hub/password', { current: ADMIN_PASSWORD, password: 'forged-password', confirm: 'forged-password' }],
      ['/hub/spawn-named', { name: 'forged' }],
      ['/hub/spawn/admin', { 'spawn-form': '1', image: 'python' }],
      ['/hub/admin/users/admin/admin', { admin: '0' }],
    ];
    for (const [path, fields] of attempts) {
      const res = await admin.post(path, fields, { withXsrf: false });
      assert.equal(res.status, 403, `${path} without _xsrf`);
      const wrong = await admin.post(path, { ...fields, _xsrf: 'not-the-token' });
      assert.equal(wrong.status, 403, `${path} with a wrong _xsrf`);
    }
    const users = (await (await hub.api('/hub/api/users?include_stopped_servers=1')).json()) as Array<{ name: string; admin: boolean; servers: Record<string, unknown> }>;
    assert.deepEqual(users.map((u) => u.name), ['admin']);
    assert.equal(users[0]!.admin, true);
    assert.deepEqual(Object.keys(users[0]!.servers), []);
    const tokens = (await (await hub.api('/hub/api/users/admin/tokens')).json()) as { api_tokens: Array<{ note: string }> };
    assert.ok(!tokens.api_tokens.some((t) => t.note === 'forged'));
    // the password did not change
    await signIn(hub, 'admin', ADMIN_PASSWORD);
  });

  test('a new token is shown once, never cached, and what people type is escaped', async () => {
    const note = '<script>alert("x")</script> & <b>bold</b>';
    const res = await admin.post('/hub/token', { note, expires: '1d' });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    const page = await res.text();
    const token = /id="new-token" type="text" readonly value="([0-9a-f]{32})"/.exec(page)?.[1];
    assert.ok(token, 'the token is on the page');
    secrets.push(token);
    assert.ok(!page.includes('<script>alert'), 'the note is not markup');
    assert.ok(page.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;'));
    const again = await (await admin.get('/hub/token')).text();
    assert.ok(!again.includes(token), 'not shown a second time');
    assert.ok(again.includes('&lt;script&gt;'));
    // the token works, and expires in a day
    const me = await hub.as(token, '/hub/api/users/admin/tokens');
    assert.equal(me.status, 200);
    const listed = ((await me.json()) as { api_tokens: Array<{ note: string; expires_at: string | null }> }).api_tokens.find((t) => t.note === note);
    assert.ok(listed?.expires_at);
    const hours = (Date.parse(listed.expires_at) - Date.now()) / 3_600_000;
    assert.ok(hours > 23 && hours <= 24, `expires in about a day, got ${hours} h`);
  });

  test('token form mistakes are reported at the field', async () => {
    const badDays = await admin.post('/hub/token', { note: 'x', expires: 'custom', days: '-3' });
    assert.equal(badDays.status, 400);
    assert.match(await badDays.text(), /id="token-days-error">Enter a whole number of days from 1 to 3650/);
    const badScope = await admin.post('/hub/token', { note: 'x', expires: 'never', scopes: 'read:users no-such-scope' });
    assert.equal(badScope.status, 400);
    assert.match(await badScope.text(), /id="token-scopes-error">Not a scope you can give a token: unknown scope &quot;no-such-scope&quot;/);
  });

  test('a non-admin cannot see or use the admin page, nor raise a token above themselves', async () => {
    const created = await admin.post('/hub/admin/users', { name: 'Zoe' });
    assert.equal(created.status, 201);
    assert.equal(created.headers.get('cache-control'), 'no-store');
    const password = /id="new-password" type="text" readonly value="([^"]+)"/.exec(await created.text())?.[1];
    assert.ok(password);
    secrets.push(password);
    const zoe = await signIn(hub, 'zoe', password);
    assert.equal((await zoe.get('/hub/admin')).status, 403);
    assert.equal((await zoe.post('/hub/admin/users', { name: 'mallory' })).status, 403);
    assert.equal((await zoe.post('/hub/admin/users/zoe/admin', { admin: '1' })).status, 403);
    assert.equal((await zoe.post('/hub/admin/users/admin/password', {})).status, 403);
    assert.equal((await zoe.post('/hub/admin/users/admin/delete', {})).status, 403);
    const home = await (await zoe.get('/hub/home')).text();
    assert.ok(!home.includes('href="/hub/admin"'), 'no Admin link for non-admins');
    const raise = await zoe.post('/hub/token', { note: 'raise', expires: 'never', scopes: 'admin:users' });
    assert.equal(raise.status, 400);
    assert.match(await raise.text(), /does not hold &quot;admin:users&quot;/);
    const model = (await (await hub.api('/hub/api/users/zoe')).json()) as { admin: boolean };
    assert.equal(model.admin, false);
  });

  test('an admin cannot demote or delete themselves', async () => {
    const demote = await admin.post('/hub/admin/users/admin/admin', { admin: '0' });
    assert.equal(demote.status, 400);
    assert.match(await demote.text(), /cannot remove your own admin rights/);
    const remove = await admin.post('/hub/admin/users/admin/delete', {});
    assert.equal(remove.status, 400);
    assert.equal(((await (await hub.api('/hub/api/users/admin')).json()) as { admin: boolean }).admin, true);
  });

  test('a password reset signs the user out everywhere', async () => {
    const created = await admin.post('/hub/admin/users', { name: 'yann' });
    const password = /id="new-password" type="text" readonly value="([^"]+)"/.exec(await created.text())?.[1]!;
    secrets.push(password);
    const yann = await signIn(hub, 'yann', password);
    assert.equal((await yann.get('/hub/home')).status, 200);
    const reset = await admin.post('/hub/admin/users/yann/password', {});
    assert.equal(reset.status, 200);
    const fresh = /id="new-password" type="text" readonly value="([^"]+)"/.exec(await reset.text())?.[1];
    assert.ok(fresh && fresh !== password);
    secrets.push(fresh);
    const after = await yann.get('/hub/home');
    assert.equal(after.status, 302, 'the old session no longer works');
    assert.match(after.headers.get('location') ?? '', /^\/hub\/login/);
  });

  test('named servers: a bad name is reported at the field', async () => {
    const res = await admin.post('/hub/spawn-named', { name: '../etc' });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /id="server-name-error">Server name &quot;..\/etc&quot; is not allowed/);
  });

  test('the spawn form: a refused variable is reported at its row, and what was typed comes back escaped', async () => {
    const res = await admin.post('/hub/spawn/admin', {
      'spawn-form': '1', image: 'python', size: 'small',
      'env-name-0': 'OK_NAME', 'env-value-0': 'fine',
      'env-name-3': 'BAD<script>', 'env-value-3': '<img src=x onerror=alert(1)>',
    });
    assert.equal(res.status, 400);
    const page = await res.text();
    // rows are numbered again in order: the bad one is the second
    assert.match(page, /id="env-error-1" data-error-for="env-row.1">&quot;BAD&lt;script&gt;&quot; is not a valid environment variable name/);
    assert.match(page, /id="env-name-1" name="env-name-1" value="BAD&lt;script&gt;"/);
    assert.match(page, /value="&lt;img src=x onerror=alert\(1\)&gt;"/);
    assert.ok(!page.includes('<img src=x'), 'typed text is never markup');
    assert.ok(!page.includes('<script>'), 'typed text is never markup');
    const model = (await (await hub.api('/hub/api/users/admin?include_stopped_servers=1')).json()) as { servers: Record<string, unknown> };
    assert.deepEqual(Object.keys(model.servers), [], 'nothing was started');
  });

  test('secrets shown on pages never reach the log', () => {
    assert.ok(secrets.length >= 4);
    const log = hub.output();
    for (const secret of secrets) assert.ok(!log.includes(secret), 'a secret shown on a page is in the hub log');
    assert.ok(!log.includes(ADMIN_PASSWORD));
  });
});
