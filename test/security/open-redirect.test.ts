// `next` and other redirect targets: wherever the hub sends a browser on, it must stay on the hub's
// site, read as the browser reads it. Browsers drop tabs and newlines from URLs and treat `\` as `/`,
// so `/\t/evil.example` is `//evil.example`: another host.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_PASSWORD, launchRefinery, type RefineryProcess } from '../helpers/refinery.js';
import { setCookies, signIn, type Session } from '../helpers/session.js';

/** Targets that name another host once a browser has parsed them. */
const FOREIGN = [
  '/\t/evil.example',
  '/\t\\evil.example',
  '/\n/evil.example',
  '//evil.example',
  '/\\evil.example',
  '\\\\evil.example',
  '/.//evil.example',
  ' //evil.example',
  'https://evil.example/hub/home',
  'http:evil.example',
  'javascript:alert(document.domain)',
  '///evil.example',
];

describe('redirect targets stay on the hub', () => {
  let hub: RefineryProcess;
  let admin: Session;

  before(async () => {
    hub = await launchRefinery();
    admin = await signIn(hub, 'admin', ADMIN_PASSWORD);
  });
  after(() => hub?.cleanup());

  /** Where a browser would go: the Location resolved against the page it came from, as browsers do. */
  const landing = (res: Response, from: string): URL => {
    const location = res.headers.get('location');
    assert.ok(location !== null, `a redirect from ${from} (status ${res.status})`);
    return new URL(location, `${hub.url}${from}`);
  };

  test('after sign-in', async () => {
    for (const next of FOREIGN) {
      const form = await fetch(`${hub.url}/hub/login`);
      const loginXsrf = /name="_xsrf" value="([^"]+)"/.exec(await form.text())![1]!;
      const from = `/hub/login?next=${encodeURIComponent(next)}`;
      const res = await fetch(`${hub.url}${from}`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: setCookies(form).join('; ') },
        body: new URLSearchParams({ _xsrf: loginXsrf, username: 'admin', password: ADMIN_PASSWORD }),
      });
      assert.equal(res.status, 302);
      assert.equal(landing(res, from).origin, hub.url, `next=${JSON.stringify(next)} sent the browser to ${res.headers.get('location')}`);
    }
  });

  test('from the sign-in page when already signed in', async () => {
    for (const next of FOREIGN) {
      const from = `/hub/login?next=${encodeURIComponent(next)}`;
      const res = await admin.get(from);
      assert.equal(res.status, 302);
      assert.equal(landing(res, from).origin, hub.url, `next=${JSON.stringify(next)} sent the browser to ${res.headers.get('location')}`);
    }
  });

  test('after stopping a server', async () => {
    for (const next of FOREIGN) {
      const from = `/hub/stop/admin?next=${encodeURIComponent(next)}`;
      const res = await admin.post(from, {});
      assert.equal(res.status, 303, await res.clone().text());
      assert.equal(landing(res, from).origin, hub.url, `next=${JSON.stringify(next)} sent the browser to ${res.headers.get('location')}`);
    }
  });

  test('the spawn form carries a foreign target no further', async () => {
    for (const next of FOREIGN) {
      const res = await admin.get(`/hub/spawn/admin?next=${encodeURIComponent(next)}`);
      const html = await res.text();
      const action = /<form[^>]*action="(\/hub\/spawn\/[^"]+)"/.exec(html)?.[1]?.replace(/&amp;/g, '&');
      assert.ok(action, 'the spawn form');
      const carried = new URL(action, hub.url).searchParams.get('next') ?? '';
      assert.equal(new URL(carried, `${hub.url}/hub/spawn/admin`).origin, hub.url, `next=${JSON.stringify(next)} became ${JSON.stringify(carried)}`);
    }
  });

  test('same-site targets still work, query included', async () => {
    const from = `/hub/login?next=${encodeURIComponent('/hub/token?revoked=1')}`;
    const res = await admin.get(from);
    assert.equal(res.headers.get('location'), '/hub/token?revoked=1');
  });
});
