// src/spawners/resources.ts on its own: parsing, detection, the start wrapper, and (where this machine
// lets root write cgroup v1, as here and in CI) real cgroups with a real process in them. The same
// module under a real jupyterhub-singleuser and kernel is tested in images.test.ts.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  checkResources,
  createServerCgroups,
  detectCgroups,
  isServerCgroupDir,
  listServerCgroups,
  parseCgroupMounts,
  parseProcCgroup,
  removeServerCgroups,
  resourceEnv,
  serverCgroupDir,
  sweepEmptyServerCgroups,
  wrapCommand,
  type CgroupLayout,
} from '../../src/host/cgroups.js';
import { tmpDir, waitFor, type TmpDir } from '../helpers/tmp.js';

let dir: TmpDir;
before(async () => {
  dir = await tmpDir('resources');
});
after(() => dir.cleanup());

describe('resource requests', () => {
  test('are checked: positive finite numbers, guarantees not above limits', () => {
    assert.equal(checkResources(undefined), null);
    assert.equal(checkResources({ cpuLimit: 0.5, memoryLimit: 2 ** 30, cpuGuarantee: 0.25, memoryGuarantee: 2 ** 29 }), null);
    assert.match(checkResources({ cpuLimit: -1 }) ?? '', /cpuLimit must be a positive number/);
    assert.match(checkResources({ memoryLimit: Number.NaN }) ?? '', /memoryLimit/);
    assert.match(checkResources({ memoryLimit: 'lots' as unknown as number }) ?? '', /memoryLimit/);
    assert.match(checkResources({ cpuLimit: 1, cpuGuarantee: 2 }) ?? '', /cpuGuarantee is above cpuLimit/);
  });

  test('become the environment variables JupyterHub sets (bytes and cores)', () => {
    assert.deepEqual(resourceEnv({ memoryLimit: 2147483648, memoryGuarantee: 1073741824.7, cpuLimit: 0.5, cpuGuarantee: 2 }), {
      MEM_LIMIT: '2147483648',
      MEM_GUARANTEE: '1073741824',
      CPU_LIMIT: '0.5',
      CPU_GUARANTEE: '2',
    });
    assert.deepEqual(resourceEnv({}), {});
  });
});

describe('finding cgroup hierarchies', () => {
  test('parses /proc/<pid>/cgroup for v1 (co-mounted controllers too) and v2', () => {
    const hybrid = parseProcCgroup('12:cpu,cpuacct:/system.slice/refinery.service\n4:memory:/system.slice/refinery.service\n1:name=systemd:/x\n0::/system.slice/refinery.service\n');
    assert.equal(hybrid.v1.get('cpu'), '/system.slice/refinery.service');
    assert.equal(hybrid.v1.get('cpuacct'), '/system.slice/refinery.service');
    assert.equal(hybrid.v1.get('memory'), '/system.slice/refinery.service');
    assert.equal(hybrid.v2, '/system.slice/refinery.service');
    const unified = parseProcCgroup('0::/user.slice/session-1.scope\n');
    assert.equal(unified.v1.size, 0);
    assert.equal(unified.v2, '/user.slice/session-1.scope');
  });

  test('reads cgroup mounts and their roots from mountinfo (a container mounts a subtree)', () => {
    const mounts = parseCgroupMounts(
      [
        '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
        '35 31 0:31 /docker/abc /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory',
        '40 31 0:36 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw',
        '41 31 0:37 / /mnt/with\\040space rw - cgroup cgroup rw,cpu',
      ].join('\n'),
    );
    assert.deepEqual([...mounts], [
      ['/sys/fs/cgroup/memory', '/docker/abc'],
      ['/sys/fs/cgroup/unified', '/'],
      ['/mnt/with space', '/'],
    ]);
  });

  test('a missing root, or plain directories that merely look like cgroups, give no hierarchy', async () => {
    const missing = await detectCgroups({ root: join(dir.path, 'no-such-dir'), procSelfCgroup: '4:memory:/\n1:cpu:/\n' });
    assert.equal(missing.memory, null);
    assert.equal(missing.cpu, null);
    assert.match(missing.problems.join('; '), /does not exist/);

    const fake = join(dir.path, 'fake-v1');
    for (const c of ['memory', 'cpu']) {
      await mkdir(join(fake, c), { recursive: true });
      await writeFile(join(fake, c, 'cgroup.procs'), '');
    }
    const layout = await detectCgroups({ root: fake, procSelfCgroup: '4:memory:/\n1:cpu:/\n', mountinfo: '' });
    assert.equal(layout.memory, null, 'a tmpfs directory is not a cgroup: "limits" written there would enforce nothing');
    assert.match(layout.problems.join('; '), /is not a cgroup filesystem/);
  });

  test('cgroup v2: controllers are enabled down to the server cgroup, and memory.max / cpu.max are written', async () => {
    // This machine runs the controllers on v1, so the v2 path is exercised on a plain directory tree
    // (isCgroupFs overridden). It shows WHERE the writes go, not that a kernel enforces them.
    const root = join(dir.path, 'fake-v2');
    await mkdir(join(root, 'hub.scope'), { recursive: true });
    await writeFile(join(root, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
    await writeFile(join(root, 'hub.scope', 'cgroup.controllers'), 'cpu memory pids\n');
    await writeFile(join(root, 'hub.scope', 'cgroup.subtree_control'), '');
    const layout = await detectCgroups({ root, procSelfCgroup: '0::/hub.scope\n', mountinfo: '', isCgroupFs: async (_d, v) => v === 2 });
    assert.deepEqual(layout.memory, { version: 2, controller: 'memory', mount: root, own: join(root, 'hub.scope') });
    assert.equal(layout.cpu?.version, 2);
    const id = randomUUID();
    const made = await createServerCgroups(layout, 'refinery', id, { memoryLimit: 209715200, cpuLimit: 1.5 });
    const server = join(root, 'hub.scope', 'refinery', id);
    assert.deepEqual(made.dirs, [server, server]);
    assert.deepEqual(made.enforced, { memoryLimit: 'cgroup-v2', cpuLimit: 'cgroup-v2' });
    assert.equal(await readFile(join(server, 'memory.max'), 'utf8'), '209715200');
    assert.equal(await readFile(join(server, 'cpu.max'), 'utf8'), '150000 100000');
    // cpu is set up first (the wrapper joins it first), memory last: the last write wins in a plain file
    assert.equal(await readFile(join(root, 'hub.scope', 'cgroup.subtree_control'), 'utf8'), '+memory', 'enabled in the hub cgroup');
    assert.equal(await readFile(join(root, 'hub.scope', 'refinery', 'cgroup.subtree_control'), 'utf8'), '+memory');
  });
});

describe('the start wrapper', () => {
  test('moves the process into each cgroup before exec, keeping its pid, and passes arguments through untouched', async () => {
    const procsA = join(dir.path, 'a.procs');
    const procsB = join(dir.path, 'b.procs');
    const argv = wrapCommand(['/bin/sh', '-c', 'echo "pid=$$ args=$1|$2"', 'sh', 'two words', '$HOME;`x`'], { procsFiles: [procsA, procsB] });
    assert.equal(argv[0], '/bin/sh');
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const pid = Number(/pid=(\d+)/.exec(r.stdout)![1]);
    assert.equal(r.stdout.trim(), `pid=${pid} args=two words|$HOME;\`x\``);
    assert.equal(readFileSync(procsA, 'utf8').trim(), String(pid), 'the pid written is the pid that runs the command (exec)');
    assert.equal(readFileSync(procsB, 'utf8').trim(), String(pid));
  });

  test('refuses to run the command when it cannot join (exit 125, reason on stderr)', () => {
    const argv = wrapCommand(['/bin/echo', 'SHOULD-NOT-RUN'], { procsFiles: [join(dir.path, 'missing', 'cgroup.procs')] });
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    assert.equal(r.status, 125);
    assert.match(r.stderr, /could not move the server into the control group/);
    assert.doesNotMatch(r.stdout, /SHOULD-NOT-RUN/);
  });

  test('sets RLIMIT_DATA for the opt-in fallback', () => {
    const argv = wrapCommand(['/bin/sh', '-c', 'ulimit -d; grep "Max data size" /proc/self/limits'], { rlimitDataBytes: 512 * 1024 * 1024 });
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^524288\n/);
    assert.match(r.stdout, /Max data size\s+536870912\s+536870912\s+bytes/);
    assert.deepEqual(wrapCommand(['/bin/true']), ['/bin/true'], 'nothing to do: no wrapper');
  });
});

describe('real cgroups on this machine', () => {
  let layout: CgroupLayout;
  const parent = `refinery-test-${process.pid}`;

  before(async () => {
    layout = await detectCgroups();
  });

  after(async () => {
    for (const dirs of (await listServerCgroups(layout, parent)).values()) await removeServerCgroups(dirs);
    for (const h of [layout.memory, layout.cpu]) if (h) await rmdir(join(h.own, parent)).catch(() => {});
  });

  test('limits are written and read back, a process started through the wrapper is inside, and the cgroup goes after it', async (t) => {
    if (!layout.memory || !layout.cpu || process.getuid?.() !== 0) {
      t.skip(`no writable memory+cpu cgroups here: ${layout.problems.join('; ')}`);
      return;
    }
    const id = randomUUID();
    const made = await createServerCgroups(layout, parent, id, { memoryLimit: 200 * 2 ** 20, memoryGuarantee: 100 * 2 ** 20, cpuLimit: 0.5, cpuGuarantee: 0.25 });
    const v = layout.memory.version;
    assert.deepEqual(made.problems, []);
    assert.deepEqual(made.enforced, { memoryLimit: `cgroup-v${v}`, memoryGuarantee: `cgroup-v${v}`, cpuLimit: `cgroup-v${v}`, cpuGuarantee: `cgroup-v${v}` });
    const mem = serverCgroupDir(layout.memory, parent, id);
    const cpu = serverCgroupDir(layout.cpu, parent, id);
    assert.ok(made.dirs.includes(mem) && made.dirs.includes(cpu));
    assert.ok(isServerCgroupDir(layout, parent, mem));
    assert.ok(!isServerCgroupDir(layout, parent, '/etc'));
    if (v === 1) {
      assert.equal(readFileSync(join(mem, 'memory.limit_in_bytes'), 'utf8').trim(), String(200 * 2 ** 20));
      assert.equal(readFileSync(join(mem, 'memory.soft_limit_in_bytes'), 'utf8').trim(), String(100 * 2 ** 20));
      assert.equal(readFileSync(join(cpu, 'cpu.cfs_quota_us'), 'utf8').trim(), '50000');
      assert.equal(readFileSync(join(cpu, 'cpu.cfs_period_us'), 'utf8').trim(), '100000');
      assert.equal(readFileSync(join(cpu, 'cpu.shares'), 'utf8').trim(), '256');
    } else {
      assert.equal(readFileSync(join(mem, 'memory.max'), 'utf8').trim(), String(200 * 2 ** 20));
      assert.equal(readFileSync(join(cpu, 'cpu.max'), 'utf8').trim(), '50000 100000');
    }

    const argv = wrapCommand(['/bin/sh', '-c', 'sleep 30 & wait'], { procsFiles: made.procsFiles });
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
    const exited = new Promise((r) => child.once('exit', r));
    const pid = child.pid!;
    const inside = await waitFor(async () => {
      const procs = (await readFile(join(mem, 'cgroup.procs'), 'utf8')).split('\n').map(Number);
      return procs.includes(pid) && procs.filter((x) => x > 0).length >= 2 ? procs : null; // the shell and its sleep
    }, { message: 'the process and its child in the memory cgroup' });
    assert.ok(inside.includes(pid));
    assert.ok((await readFile(join(cpu, 'cgroup.procs'), 'utf8')).split('\n').map(Number).includes(pid));
    assert.deepEqual(await removeServerCgroups([mem]), [mem], 'a cgroup with processes in it cannot be removed');

    // Empty leftovers are swept; a busy one and the kept ones stay.
    const idle = randomUUID();
    const idleMade = await createServerCgroups(layout, parent, idle, { memoryLimit: 2 ** 30 });
    assert.deepEqual(await sweepEmptyServerCgroups(layout, parent, { minAgeMs: 60_000 }), [], 'too young to sweep');
    assert.deepEqual(await sweepEmptyServerCgroups(layout, parent, { minAgeMs: 0, keep: new Set([idle]) }), [], 'kept');
    assert.deepEqual(await sweepEmptyServerCgroups(layout, parent, { minAgeMs: 0 }), idleMade.dirs);
    assert.ok(existsSync(mem), 'the busy cgroup is still there');

    // Everything in it is ours (the shell and its sleep): kill each by pid.
    for (const p of inside.filter((x) => x > 0)) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await exited;
    await waitFor(async () => (await readFile(join(mem, 'cgroup.procs'), 'utf8')).trim() === '' || null, { message: 'the cgroup to empty' });
    assert.deepEqual(await removeServerCgroups(made.dirs), []);
    assert.equal(existsSync(mem), false);
    assert.equal(existsSync(cpu), false);
    assert.equal(existsSync(join(layout.memory.own, parent)), false, 'the last server cgroup out takes the parent with it');
    assert.deepEqual(await removeServerCgroups(made.dirs), [], 'removing again is fine');
  });
});
