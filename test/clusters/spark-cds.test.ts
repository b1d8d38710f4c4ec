// Class-data-sharing training runs are throw-away JVMs under a `timeout` guard; a hub that exits in
// the middle of one must take the JVMs with it (not just the guard, which would orphan them).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { processesWithEnv } from '../helpers/processes.js';
import { tmpDir, waitFor } from '../helpers/tmp.js';

const REPO = resolve(import.meta.dirname, '..', '..', '..');
const dir = await tmpDir('spark-cds');
after(() => dir.cleanup());

test('a process that exits while training leaves no training JVM behind', { timeout: 120_000 }, async () => {
  const archives = join(dir.path, 'archives');
  const script = `
import { SparkClassArchives } from ${JSON.stringify(join(REPO, 'dist/src/clusters/spark/cds.js'))};
import { findJava, sparkJvm } from ${JSON.stringify(join(REPO, 'dist/src/clusters/spark/jvm.js'))};
import { silentLogger } from ${JSON.stringify(join(REPO, 'dist/src/log.js'))};
const jvm = await sparkJvm(findJava(undefined, process.env.PATH), ${JSON.stringify(join(REPO, 'envs/spark/lib/python3.11/site-packages/pyspark'))});
const archives = new SparkClassArchives({ dir: ${JSON.stringify(archives)}, host: '127.0.0.1', log: silentLogger() });
void archives.prepare(jvm);
// exit as soon as a training JVM runs (the hub stopping, or a test ending, at the wrong moment)
const started = Date.now();
const timer = setInterval(async () => {
  const { readdirSync, readFileSync } = await import('node:fs');
  const running = readdirSync('/proc').filter((p) => /^\\d+$/.test(p)).some((p) => {
    try { return readFileSync('/proc/' + p + '/environ', 'latin1').includes('REFINERY_SPARK_CDS_TRAINING=' + ${JSON.stringify(archives)}); } catch { return false; }
  });
  if (running || Date.now() - started > 30000) { clearInterval(timer); process.stdout.write(running ? 'training\\n' : 'never\\n'); process.exit(0); }
}, 100);
`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((r) => child.once('exit', r));
  assert.equal(out.trim(), 'training', 'a training JVM was running when the process exited');
  await waitFor(() => processesWithEnv('REFINERY_SPARK_CDS_TRAINING', archives).length === 0, { timeoutMs: 15_000, message: 'the training JVMs to be gone' });
});
