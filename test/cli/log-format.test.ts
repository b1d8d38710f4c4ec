// What `refinery start` prints on a terminal: readable lines for a person watching it, JSON lines
// when `log_format: json` asks for them (as for a log collector). The terminal is a real
// pseudo-terminal, made by util-linux's `script`.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { stringify } from 'yaml';
import { freePort } from '../../src/util/ports.js';
import { tmpDir, waitFor } from '../helpers/tmp.js';

const CLI = join(resolve(import.meta.dirname, '..', '..', '..'), 'dist', 'src', 'cli.js');

/** Start the hub on a terminal until it says it runs; returns what the terminal showed. */
async function startOnTerminal(extraConfig: Record<string, unknown>): Promise<string> {
  const dir = await tmpDir('log-format');
  // as root, people's servers run as accounts of their own, which must be able to enter data_dir
  await chmod(dir.path, 0o711);
  try {
    const configPath = join(dir.path, 'refinery.yaml');
    // no embedded object store: the terminal is closed under the hub, and a store outlives a hub that did not stop
    await writeFile(configPath, stringify({ listen: `127.0.0.1:${await freePort()}`, data_dir: join(dir.path, 'data'), storage: { embedded: false }, ...extraConfig }));
    const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color' };
    delete env.REFINERY_LOG_FORMAT;
    const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} start --config ${JSON.stringify(configPath)}`;
    const child = spawn('script', ['-qefc', command, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    child.stdout.on('data', (d: Buffer) => (screen += d.toString()));
    child.stderr.on('data', (d: Buffer) => (screen += d.toString()));
    const exited = new Promise((done) => child.once('exit', done));
    try {
      await waitFor(() => /Refinery is running at/.test(screen), { timeoutMs: 30_000, message: 'the hub to say it runs' }).catch((error: unknown) => {
        throw new Error(`${String(error)}; the terminal showed:\n${screen}`);
      });
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    return screen;
  } finally {
    await dir.cleanup();
  }
}

// ANSI colour codes, which a terminal shows as colour
const plain = (text: string) => text.replace(/\u001b\[[0-9;]*m/g, '');

describe('refinery start on a terminal', () => {
  test('prints readable lines: time, level, message; no JSON', { timeout: 60_000 }, async () => {
    const screen = plain(await startOnTerminal({})).split(/\r?\n/);
    assert.ok(!screen.some((line) => line.trimStart().startsWith('{')), 'no JSON line');
    const lines = screen.filter((line) => line.includes('INFO: Refinery is running at'));
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^\[\d\d:\d\d:\d\d(\.\d+)?\] INFO: Refinery is running at http:\/\/127\.0\.0\.1:\d+/);
  });

  test('log_format: json prints JSON lines even there', { timeout: 60_000 }, async () => {
    const line = plain(await startOnTerminal({ log_format: 'json' })).split(/\r?\n/).find((l) => l.startsWith('{') && l.includes('Refinery is running at'));
    assert.ok(line, 'the log line is JSON (the plain reminder of the address goes to stderr)');
    const record = JSON.parse(line) as { msg: string; level: number };
    assert.match(record.msg, /Refinery is running at/);
    assert.equal(record.level, 30);
  });
});
