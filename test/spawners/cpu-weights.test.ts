// The CPU weights LocalSpawner writes for a server of the DEFAULT size (small: CPU guarantee 0.5,
// limit 1; memory guarantee 1G, limit 2G), on this machine's real cgroups (root, as in CI; skipped
// where cgroups cannot be written). What an operator sees in /sys/fs/cgroup:
//   - while a server starts, its cgroup weighs at least two ordinary processes (2048 shares / weight 200);
//     once it answers, its guarantee's weight (512 / 50);
//   - the parent (`refinery/` under the hub's cgroup) weighs the sum of its servers, so N servers
//     compete with the rest of the machine as N servers, not as one process;
//   - the CPU limit and the memory limits are the size's from the first instruction on.
// The server is a small stand-in that records, before it answers, what its own cgroup and the
// parent weigh at that moment; then it answers HTTP like a Jupyter server does.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../../src/log.js';
import { DEFAULT_CATALOG } from '../../src/profiles/defaults.js';
import { catalogSchema } from '../../src/profiles/schema.js';
import { detectCgroups, type CgroupLayout, type ResourceSpec } from '../../src/host/cgroups.js';
import { LocalSpawner, parseLocalState } from '../../src/spawners/local.js';
import type { SpawnerState, SpawnRequest } from '../../src/spawners/spawner.js';
import { tmpDir, type TmpDir } from '../helpers/tmp.js';

/** Writes its cgroup's and the parent's weight to $WEIGHTS_OUT, then answers every request with 200. */
const STAND_IN = `
const fs = require('node:fs');
const http = require('node:http');
const parent = process.env.WEIGHTS_PARENT, file = process.env.WEIGHTS_FILE;
const read = (p) => fs.readFileSync(p, 'utf8').trim();
fs.writeFileSync(process.env.WEIGHTS_OUT, JSON.stringify({
  own: read(parent + '/' + process.env.REFINERY_SPAWN_ID + '/' + file),
  parent: read(parent + '/' + file),
}));
const url = new URL(process.env.JUPYTERHUB_SERVICE_URL);
http.createServer((req, res) => res.end('{}')).listen(Number(url.port), url.hostname);
`;

function defaultSize(): ResourceSpec {
  const catalog = catalogSchema.parse(DEFAULT_CATALOG);
  const size = (catalog.sizes ?? []).find((s) => s.default)!;
  return { cpuGuarantee: size.cpu!.guarantee!, cpuLimit: size.cpu!.limit!, memoryGuarantee: size.memory!.guarantee!, memoryLimit: size.memory!.limit! };
}

describe('CPU weights of a default-size server and of the parent cgroup', { timeout: 60_000 }, () => {
  const parentName = `refinery-weights-${process.pid}`;
  let dir: TmpDir;
  let layout: CgroupLayout;
  let spawner: LocalSpawner;
  const running: SpawnerState[] = [];

  before(async () => {
    dir = await tmpDir('cpu-weights');
    spawner = new LocalSpawner({
      dataDir: dir.path,
      log: silentLogger(),
      command: [process.execPath, '-e', STAND_IN],
      allowRoot: false,
      cgroups: { parent: parentName },
    });
    layout = await spawner.cgroupLayout();
  });

  after(async () => {
    for (const state of running.splice(0)) await spawner.stop(state, { graceMs: 1000 });
    await dir.cleanup();
  });

  test('starting weighs two ordinary processes, a running server its guarantee, the parent the sum of its servers', async (t) => {
    const cpu = layout.cpu;
    if (!cpu || !layout.memory || process.getuid?.() !== 0) {
      t.skip(`no writable cpu+memory cgroups here: ${layout.problems.join('; ') || 'not root'}`);
      return;
    }
    assert.deepEqual(await detectCgroups(), layout);
    const v1 = cpu.version === 1;
    const file = v1 ? 'cpu.shares' : 'cpu.weight';
    const [starting, half] = v1 ? [2 * 1024, 512] : [2 * 100, 50];
    const parent = join(cpu.own, parentName);
    const resources = defaultSize();
    assert.deepEqual(resources, { cpuGuarantee: 0.5, cpuLimit: 1, memoryGuarantee: 1e9, memoryLimit: 2e9 }, '"1G" and "2G" are 10^9 bytes');
    const weight = (path: string) => Number(readFileSync(join(path, file), 'utf8').trim());

    const start = async (user: string) => {
      const out = join(dir.path, `${user}.json`);
      const request: SpawnRequest = {
        user,
        serverName: '',
        env: { WEIGHTS_PARENT: parent, WEIGHTS_FILE: file, WEIGHTS_OUT: out },
        servicePrefix: `/user/${user}/`,
        startTimeoutMs: 30_000,
        onProgress: () => {},
        signal: new AbortController().signal,
        resources,
      };
      const { state } = await spawner.start(request);
      running.push(state);
      const s = parseLocalState(state)!;
      const seen = JSON.parse(readFileSync(out, 'utf8')) as { own: string; parent: string };
      return { state, own: join(parent, s.spawnId), whileStarting: { own: Number(seen.own), parent: Number(seen.parent) } };
    };

    const a = await start('alice');
    assert.deepEqual(a.whileStarting, { own: starting, parent: starting }, 'starting: two ordinary processes\' weight, and the parent holds just this one');
    assert.equal(weight(a.own), half, 'up: the guarantee (0.5 core)');
    assert.equal(weight(parent), half, 'the parent weighs what its one server weighs');

    const b = await start('bob');
    assert.deepEqual(b.whileStarting, { own: starting, parent: half + starting }, 'the parent counts the running server and the starting one');
    assert.equal(weight(b.own), half);
    assert.equal(weight(parent), 2 * half, 'two half-core guarantees weigh one core against the rest of the machine');

    // the limits are the size's all along
    if (v1) {
      assert.equal(readFileSync(join(b.own, 'cpu.cfs_quota_us'), 'utf8').trim(), '100000');
      assert.equal(readFileSync(join(b.own, 'cpu.cfs_period_us'), 'utf8').trim(), '100000');
      const mem = join(layout.memory.own, parentName, parseLocalState(b.state)!.spawnId);
      // the kernel rounds down to whole pages
      const bytes = (name: string) => Number(readFileSync(join(mem, name), 'utf8').trim());
      assert.ok(Math.abs(bytes('memory.limit_in_bytes') - 2e9) < 4096, `memory limit ${bytes('memory.limit_in_bytes')}`);
      assert.ok(Math.abs(bytes('memory.soft_limit_in_bytes') - 1e9) < 4096, `memory guarantee ${bytes('memory.soft_limit_in_bytes')}`);
    } else {
      assert.equal(readFileSync(join(b.own, 'cpu.max'), 'utf8').trim(), '100000 100000');
    }

    await spawner.stop(a.state, { graceMs: 1000 });
    running.splice(running.indexOf(a.state), 1);
    assert.equal(weight(parent), half, 'a stopped server\'s weight leaves the parent');
  });
});
