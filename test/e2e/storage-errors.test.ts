// A spawn whose storage keys cannot be had fails at once with a message naming the source and what
// is wrong, never the secret, and starts nothing; fixing the file is enough for the next spawn.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { json, launchRefinery, type RefineryProcess } from '../helpers/refinery.js';
import { killLeftovers } from '../helpers/processes.js';

const SECRET = 'Zq8vN3kR5tW1yB7dF2hJ6mP9sU4xA0cE3gL8nQ1';

describe('storage keys that cannot be had', () => {
  let hub: RefineryProcess;
  let token: string;
  let keys: string;

  before(async () => {
    hub = await launchRefinery({
      config: {
        storage: { endpoints: [{ name: 'lake', url: 'http://127.0.0.1:9' }] },
        profiles: [{ name: 'lake', storage: { endpoint: 'lake', buckets: ['{user}-data'], credentials: { source: 'directory', path: 'keys' } } }],
      },
    });
    keys = join(hub.dir.path, 'keys');
    assert.equal((await hub.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: ['alice'] }) })).status, 201);
    token = await hub.tokenFor('alice');
  });
  after(async () => {
    await hub?.cleanup();
    if (hub) assert.deepEqual(killLeftovers(hub.dataDir), []);
  });

  /** Start alice's server; return the spawn's last message and whether a server runs. */
  const spawn = async (): Promise<{ status: number; message: string; running: boolean }> => {
    const res = await hub.as(token, '/hub/api/users/alice/server', { method: 'POST', body: JSON.stringify({ image: 'python' }) });
    const body = res.status === 201 || res.status === 202 ? '' : ((await res.json()) as { message: string }).message;
    const user = await json<{ servers: Record<string, { ready: boolean }> }>(hub.api('/hub/api/users/alice'));
    return { status: res.status, message: body, running: Object.keys(user.servers).length > 0 };
  };

  test('no key file for alice: the spawn fails naming the directory and where it looked', async () => {
    const result = await spawn();
    assert.equal(result.status, 400, result.message);
    assert.match(result.message, new RegExp(`the secret directory ${keys.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} has no key pair for alice \\(looked for users/alice\\)`));
    assert.equal(result.running, false);
  });

  test('a malformed secret: named by file, never shown, not in the log', async () => {
    await mkdir(join(keys, 'users', 'alice'), { recursive: true });
    await writeFile(join(keys, 'users', 'alice', 'AWS_ACCESS_KEY_ID'), 'ALICEKEY\n');
    await writeFile(join(keys, 'users', 'alice', 'AWS_SECRET_ACCESS_KEY'), `${SECRET.slice(0, 20)} ${SECRET.slice(20)}\n`);
    const result = await spawn();
    assert.equal(result.status, 400);
    assert.match(result.message, /users\/alice\/AWS_SECRET_ACCESS_KEY contains spaces/);
    assert.ok(!result.message.includes(SECRET.slice(0, 20)) && !result.message.includes(SECRET.slice(20)));
    assert.ok(!hub.output().includes(SECRET.slice(0, 20)), 'the log does not show it either');
    const server = await json<{ last_error?: string; servers: Record<string, unknown> }>(hub.api('/hub/api/users/alice'));
    assert.deepEqual(server.servers, {});
  });

  test('once the file is right, the plan and the page show the storage (without the key)', async () => {
    await writeFile(join(keys, 'users', 'alice', 'AWS_SECRET_ACCESS_KEY'), `${SECRET}\n`);
    const storage = await json<{ endpoint: string; buckets: string[]; credentials: string; error: string | null }[]>(hub.as(token, '/hub/api/users/alice/storage'));
    assert.deepEqual(storage.map((s) => [s.endpoint, s.buckets, s.error]), [['lake', ['alice-data'], null]]);
    assert.match(storage[0]!.credentials, /secret directory/);
    const plan = await (await hub.as(token, '/hub/api/users/alice/spawn-plan')).text();
    assert.ok(!plan.includes(SECRET));
  });
});
