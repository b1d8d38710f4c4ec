// JupyterHub's /hub/spawn (no user in the path) leads a signed-in person to their own spawn form,
// keeping its query; without a sign-in it leads to the sign-in page first.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ADMIN_PASSWORD, launchRefinery, type RefineryProcess } from '../helpers/refinery.js';
import { signIn } from '../helpers/session.js';

let hub: RefineryProcess;

before(async () => {
  hub = await launchRefinery();
});
after(() => hub?.cleanup());

test('/hub/spawn opens the signed-in person\'s own spawn form, keeping next', async () => {
  const session = await signIn(hub, 'admin', ADMIN_PASSWORD);
  const res = await session.get('/hub/spawn?next=%2Fuser%2Fadmin%2Flab%2Ftree%2Fnotes.ipynb');
  assert.equal(res.status, 302);
  assert.equal(res.headers.get('location'), '/hub/spawn/admin?next=%2Fuser%2Fadmin%2Flab%2Ftree%2Fnotes.ipynb');
  const form = await session.get(res.headers.get('location')!);
  assert.equal(form.status, 200);
  assert.match(await form.text(), /<form[^>]+action="\/hub\/spawn\/admin/);
});

test('without a sign-in, /hub/spawn leads to the sign-in page and back', async () => {
  const res = await fetch(`${hub.url}/hub/spawn`, { redirect: 'manual' });
  assert.equal(res.status, 302);
  assert.equal(res.headers.get('location'), '/hub/login?next=%2Fhub%2Fspawn');
});
