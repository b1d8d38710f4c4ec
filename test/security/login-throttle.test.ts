// The sign-in throttle: behind a trusted proxy one attacker does not lock everyone out, an address
// of one's own choosing cannot be claimed without one, one address trying many names and many
// addresses spraying passwords each run into a budget, the memory it takes is bounded, and password
// hashing cannot occupy the whole libuv thread pool.
import assert from 'node:assert/strict';
import { pbkdf2 } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { launchRefinery, type RefineryProcess } from '../helpers/refinery.js';
import { addUser, setCookies } from '../helpers/session.js';
import { SignInThrottle } from '../../src/auth/rate-limit.js';
import { hashPassword, verifyPassword } from '../../src/auth/passwords.js';

const ALICE_PASSWORD = 'alice-password-for-tests';

/** Post the sign-in form as a browser would, optionally through a proxy that sets X-Forwarded-For. */
async function signInAttempt(hub: RefineryProcess, username: string, password: string, forwardedFor?: string): Promise<{ status: number; retryAfter: string | null; body: string }> {
  const headers: Record<string, string> = forwardedFor ? { 'X-Forwarded-For': forwardedFor } : {};
  const form = await fetch(`${hub.url}/hub/login`, { headers });
  const cookie = setCookies(form).join('; ');
  const xsrf = /name="_xsrf" value="([^"]+)"/.exec(await form.text())![1]!;
  const res = await fetch(`${hub.url}/hub/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { ...headers, 'Content-Type': 'application/x-www-form-urlencoded', Cookie: cookie },
    body: new URLSearchParams({ _xsrf: xsrf, username, password }),
  });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.text() };
}

describe('sign-in throttle', () => {
  let behindProxy: RefineryProcess;
  let direct: RefineryProcess;
  let spraying: RefineryProcess;

  before(async () => {
    const auth = { login_attempts: 3, login_attempts_per_address: 6, login_attempts_total: 1000, login_window: '10m' };
    behindProxy = await launchRefinery({ config: { trusted_proxies: ['127.0.0.1'], auth } });
    direct = await launchRefinery({ config: { auth } });
    spraying = await launchRefinery({ config: { trusted_proxies: ['127.0.0.0/8'], auth: { ...auth, login_attempts_per_address: 100, login_attempts_total: 4 } } });
    for (const hub of [behindProxy, direct, spraying]) await addUser(hub, 'alice', ALICE_PASSWORD);
  });
  after(() => Promise.all([behindProxy, direct, spraying].map((hub) => hub?.cleanup())));

  test('behind a trusted proxy, an attacker failing on a name does not lock out its owner elsewhere', async () => {
    const attacker = '203.0.113.9';
    for (let i = 0; i < 3; i++) assert.equal((await signInAttempt(behindProxy, 'alice', 'wrong', attacker)).status, 403);
    const locked = await signInAttempt(behindProxy, 'alice', ALICE_PASSWORD, attacker);
    assert.equal(locked.status, 429, 'the attacker is throttled, even with the right password');
    assert.ok(Number(locked.retryAfter) > 0);
    assert.equal((await signInAttempt(behindProxy, 'alice', ALICE_PASSWORD, '198.51.100.7')).status, 302, 'alice, behind the same proxy, signs in');
    // a client cannot step around its limit by adding addresses of its own to the left
    assert.equal((await signInAttempt(behindProxy, 'alice', ALICE_PASSWORD, `198.51.100.77, ${attacker}`)).status, 429);
  });

  test('without a trusted proxy, X-Forwarded-For is not believed', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await signInAttempt(direct, 'alice', 'wrong', `192.0.2.${i + 1}`)).status, 403);
    assert.equal((await signInAttempt(direct, 'alice', ALICE_PASSWORD, '192.0.2.99')).status, 429, 'a new X-Forwarded-For does not make a new client');
  });

  test('one address trying many names runs out of its own budget', async () => {
    const prober = '203.0.113.20';
    for (let i = 0; i < 6; i++) assert.equal((await signInAttempt(behindProxy, `someone-${i}`, 'guess', prober)).status, 403);
    const locked = await signInAttempt(behindProxy, 'alice', ALICE_PASSWORD, prober);
    assert.equal(locked.status, 429, 'any further name from that address waits');
    assert.equal((await signInAttempt(behindProxy, 'alice', ALICE_PASSWORD, '198.51.100.8')).status, 302, 'other addresses are not affected');
  });

  test('password spraying from many addresses runs into the hub-wide budget', async () => {
    for (let i = 0; i < 4; i++) assert.equal((await signInAttempt(spraying, `user-${i}`, 'Summer2026!', `203.0.113.${100 + i}`)).status, 403);
    const next = await signInAttempt(spraying, 'alice', 'Summer2026!', '203.0.113.200');
    assert.equal(next.status, 429, 'a fresh address is held back too');
    assert.match(next.body, /too many failed sign-in attempts on this hub/i);
    assert.ok(Number(next.retryAfter) > 0);
  });

  test('the throttle remembers a bounded number of names and addresses, and not at an attacker’s choosing', () => {
    const throttle = new SignInThrottle({ perNameAndAddress: 5, perAddress: 10, total: 0, windowMs: 600_000, maxTracked: 1000 });
    const now = Date.now();
    for (let i = 0; i < 10; i++) throttle.fail(`name-${i}`, '203.0.113.1', now);
    assert.ok(throttle.check('alice', '203.0.113.1', now).retryAfter > 0);
    for (let i = 0; i < 50_000; i++) {
      throttle.fail(`flood-${i}`, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, now);
      if (i % 100 === 0) throttle.fail(`flood-extra-${i}`, '203.0.113.1', now); // the flooder keeps its own address busy
    }
    assert.ok(throttle.tracked <= 2000, `at most maxTracked names and addresses each (${throttle.tracked})`);
    assert.ok(throttle.check('alice', '203.0.113.1', now).retryAfter > 0, 'the busy address is still held back after the flood');
  });

  test('password checks leave most of the libuv thread pool to everything else', async () => {
    const hash = await hashPassword('correct horse');
    const order: string[] = [];
    const checks = Array.from({ length: 6 }, (_, i) => verifyPassword(hash, `wrong ${i}`).then(() => order.push('password')));
    // any other work for the pool (file access, DNS and process spawning use it too)
    const other = new Promise<void>((resolve, reject) => pbkdf2('x', 'y', 1, 32, 'sha256', (error) => (error ? reject(error) : resolve()))).then(() => order.push('other'));
    await Promise.all([...checks, other]);
    assert.equal(order[0], 'other', `other pool work finished first, not after the password checks: ${order.join(', ')}`);
  });
});
