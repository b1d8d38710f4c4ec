// The stock jupyterhub-idle-culler, run against Refinery exactly as it is run against JupyterHub:
// a service token with the documented scopes, the hub API URL, and nothing Refinery-specific.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { json, launchRefinery, SERVICE_TOKEN, startServerAndWait, type RefineryProcess } from '../helpers/refinery.js';
import { waitFor } from '../helpers/tmp.js';

const PYTHON = join(resolve(import.meta.dirname, '..', '..', '..'), 'envs', 'base', 'bin', 'python');
const CULLER_TOKEN = 'culler-token-for-tests-abcdef0123456789';

let hub: RefineryProcess;
let culler: ChildProcess | undefined;
let cullerOutput = '';

before(async () => {
  hub = await launchRefinery({
    config: {
      services: [
        { name: 'test-admin', api_token: SERVICE_TOKEN, scopes: ['admin:users', 'admin:servers', 'tokens', 'access:servers'] },
        // the scopes jupyterhub-idle-culler's documentation asks for
        { name: 'idle-culler', api_token: CULLER_TOKEN, scopes: ['list:users', 'read:users:activity', 'read:servers', 'delete:servers'] },
      ],
    },
  });
  const created = await hub.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: ['alice', 'bob'] }) });
  assert.equal(created.status, 201);
});

after(async () => {
  culler?.kill('SIGTERM');
  await hub?.cleanup();
});

test('the idle culler stops servers idle longer than its timeout, through the JupyterHub API', async () => {
  const alice = await hub.tokenFor('alice');
  await startServerAndWait(hub, alice, 'alice');
  await startServerAndWait(hub, alice, 'alice', 'second');

  culler = spawn(PYTHON, ['-m', 'jupyterhub_idle_culler', `--url=${hub.url}/hub/api`, '--timeout=3', '--cull-every=2', '--concurrency=2'], {
    env: { ...process.env, JUPYTERHUB_API_TOKEN: CULLER_TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  culler.stdout!.on('data', (d: Buffer) => (cullerOutput += d.toString()));
  culler.stderr!.on('data', (d: Buffer) => (cullerOutput += d.toString()));

  await waitFor(async () => {
    const model = await json<{ servers: Record<string, unknown> }>(hub.api('/hub/api/users/alice'));
    return Object.keys(model.servers).length === 0;
  }, { timeoutMs: 60_000, message: "the culler to stop alice's servers" }).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}\n--- culler output ---\n${cullerOutput}`);
  });
  assert.match(cullerOutput, /Culling server alice/);
  assert.doesNotMatch(cullerOutput, /Traceback|HTTP 4\d\d|HTTP 5\d\d/, cullerOutput);
  // the servers are really gone, not just forgotten
  const res = await hub.as(alice, '/user/alice/api/status');
  assert.equal(res.status, 424);
  // bob never had a server and still exists: the culler did not touch users
  assert.equal((await hub.api('/hub/api/users/bob')).status, 200);
});
