// Running code in a kernel through the hub's proxy, over the Jupyter messaging protocol.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import type { RefineryProcess } from './refinery.js';

export interface KernelMessage {
  channel: string;
  header: { msg_id: string; msg_type: string };
  parent_header: { msg_id?: string };
  content: Record<string, unknown>;
}

/** Connect to a kernel's channels through the proxy; rejects with the HTTP status when the upgrade is refused. */
export function openKernelSocket(hub: RefineryProcess, token: string | null, prefix: string, kernelId: string): Promise<WebSocket> {
  const url = `${hub.url.replace(/^http/, 'ws')}${prefix}api/kernels/${kernelId}/channels?session_id=${randomUUID()}`;
  const ws = new WebSocket(url, { headers: token ? { Authorization: `token ${token}` } : {} });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      ws.terminate();
      reject(Object.assign(new Error(`WebSocket upgrade refused: ${res.statusCode}`), { status: res.statusCode }));
    });
    ws.once('error', reject);
  });
}

/** The HTTP status a WebSocket upgrade gets (101 when accepted). */
export async function upgradeStatus(hub: RefineryProcess, token: string | null, prefix: string, kernelId: string): Promise<number> {
  try {
    const ws = await openKernelSocket(hub, token, prefix, kernelId);
    ws.close();
    return 101;
  } catch (error) {
    const status = (error as { status?: number }).status;
    if (status === undefined) throw error;
    return status;
  }
}

/**
 * Run `code` in the kernel over the Jupyter messaging protocol; resolves with what it printed to stdout.
 * An exception fails; so does anything on stderr unless `allowStderr` (JVMs such as Spark's log there).
 */
export async function execute(hub: RefineryProcess, token: string, prefix: string, kernelId: string, code: string, timeoutMs = 60_000, options: { allowStderr?: boolean } = {}): Promise<string> {
  const ws = await openKernelSocket(hub, token, prefix, kernelId);
  try {
    const msgId = randomUUID();
    const session = randomUUID();
    let stdout = '';
    let stderr = '';
    let error = '';
    const done = new Promise<void>((resolve, reject) => {
      let idle = false;
      let replied = false;
      const timer = setTimeout(() => reject(new Error(`no reply to ${JSON.stringify(code)} within ${timeoutMs} ms (stdout so far: ${JSON.stringify(stdout)})`)), timeoutMs);
      ws.on('message', (data) => {
        const msg = JSON.parse(data.toString()) as KernelMessage;
        if (msg.parent_header?.msg_id !== msgId) return;
        if (msg.channel === 'iopub' && msg.header.msg_type === 'stream') {
          if (msg.content.name === 'stdout') stdout += String(msg.content.text);
          else stderr += String(msg.content.text);
        }
        if (msg.channel === 'iopub' && msg.header.msg_type === 'error') error += `${String(msg.content.ename)}: ${String(msg.content.evalue)}`;
        if (msg.channel === 'iopub' && msg.header.msg_type === 'status' && msg.content.execution_state === 'idle') idle = true;
        if (msg.channel === 'shell' && msg.header.msg_type === 'execute_reply') replied = true;
        if (idle && replied) {
          clearTimeout(timer);
          resolve();
        }
      });
      ws.once('close', () => reject(new Error('kernel WebSocket closed before the reply')));
    });
    ws.send(JSON.stringify({
      header: { msg_id: msgId, session, username: 'test', msg_type: 'execute_request', version: '5.3', date: new Date().toISOString() },
      parent_header: {},
      metadata: {},
      content: { code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true },
      channel: 'shell',
      buffers: [],
    }));
    await done;
    assert.equal(error, '', `the kernel raised an exception for ${JSON.stringify(code)} (stderr: ${stderr.slice(-2000)})`);
    if (!options.allowStderr) assert.equal(stderr, '', `the kernel wrote to stderr for ${JSON.stringify(code)}`);
    return stdout;
  } finally {
    ws.close();
  }
}

/** Start a python3 kernel on a server through the hub; returns its id. */
export async function openKernel(hub: RefineryProcess, token: string, prefix: string): Promise<string> {
  const res = await hub.as(token, `${prefix}api/kernels`, { method: 'POST', body: JSON.stringify({ name: 'python3' }), headers: { 'Content-Type': 'application/json' } });
  if (res.status !== 201) throw new Error(`starting a kernel at ${prefix}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}
