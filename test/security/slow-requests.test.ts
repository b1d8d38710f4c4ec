// Slow and large requests before (and without) sign-in: headers that trickle in and bodies that
// trickle in are cut off, anonymous and unauthorized uploads are refused before their bodies are
// read, hub request bodies are small, and one address cannot hold the port's connections. Streams,
// server-sent events and WebSockets, which outlive every one of those deadlines, keep working.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { launchRefinery, startServerAndWait, type RefineryProcess } from '../helpers/refinery.js';
import { FAKE_SINGLEUSER } from '../helpers/fake-singleuser.js';

const HEADERS_TIMEOUT = 2;
const REQUEST_TIMEOUT = 4;
const MAX_CONNECTIONS = 6;
/** How long a test waits for the hub to do something it should do within about the deadlines above. */
const PATIENCE_MS = 20_000;

interface RawResult {
  /** Everything the hub sent before closing (or before we gave up). */
  text: string;
  /** Whether the hub closed the connection. */
  closed: boolean;
}

/**
 * Open a connection, send `first`, then `drip` every `everyMs` until the hub answers and closes or
 * PATIENCE_MS passes. Resolves with what came back.
 */
function rawRequest(port: number, first: string | Buffer, drip?: { data: string; everyMs: number }): Promise<RawResult> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let timer: NodeJS.Timeout | undefined;
    const done = (closed: boolean) => {
      clearInterval(timer);
      clearTimeout(giveUp);
      socket.destroy();
      resolve({ text, closed });
    };
    const giveUp = setTimeout(() => done(false), PATIENCE_MS);
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => done(true));
    socket.write(first);
    if (drip) timer = setInterval(() => socket.writable && socket.write(drip.data), drip.everyMs);
  });
}

/** An open keep-alive connection that has made one request (so the hub has accepted it), from `from`. */
async function openConnection(port: number, path: string, from = '127.0.0.1'): Promise<{ socket: Socket; status: number }> {
  const socket = connect({ port, host: '127.0.0.1', localAddress: from });
  socket.on('error', () => undefined);
  await new Promise<void>((r) => socket.once('connect', () => r()));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n`);
  const head = await new Promise<string>((resolve) => {
    let text = '';
    const onData = (d: Buffer) => {
      text += d.toString('latin1');
      if (text.includes('\r\n\r\n')) {
        socket.off('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
    socket.once('close', () => resolve(text));
  });
  return { socket, status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0) };
}

function statusOf(text: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
}

describe('slow and large requests', () => {
  let hub: RefineryProcess;
  let alice: string;
  let bob: string;
  const progressEvents: string[] = [];

  before(async () => {
    hub = await launchRefinery({
      config: {
        http: { headers_timeout: HEADERS_TIMEOUT, request_timeout: REQUEST_TIMEOUT, max_connections_per_address: MAX_CONNECTIONS },
        // the server takes longer to start than a request may take to arrive: its progress stream must outlive that
        spawner: { command: FAKE_SINGLEUSER, env: { FAKE_START_DELAY: String(REQUEST_TIMEOUT + 2) } },
        publish: { max_size: '100M' },
      },
    });
    assert.equal((await hub.api('/hub/api/users', { method: 'POST', body: JSON.stringify({ usernames: ['alice', 'bob'] }) })).status, 201);
    alice = await hub.tokenFor('alice');
    bob = await hub.tokenFor('bob');
    progressEvents.push(...(await startServerAndWait(hub, alice, 'alice')).map((e) => JSON.stringify(e)));
  });
  after(() => hub?.cleanup());

  test('headers that trickle in are cut off (slowloris)', async () => {
    const result = await rawRequest(hub.port, 'GET /hub/health HTTP/1.1\r\nHost: 127.0.0.1\r\n', { data: 'X-Slow: 1\r\n', everyMs: 300 });
    assert.ok(result.closed, `the hub closed the connection instead of waiting for the headers (got ${JSON.stringify(result.text.slice(0, 60))})`);
    assert.equal(statusOf(result.text), 408);
  });

  test('a body that trickles in is cut off, even from a signed-in client', async () => {
    const head = `PUT /hub/api/groups/slow/properties HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: token ${alice}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`;
    const result = await rawRequest(hub.port, head, { data: ' ', everyMs: 300 });
    assert.ok(result.closed, 'the hub closed the connection instead of waiting for the rest of the body');
    assert.equal(statusOf(result.text), 408);
  });

  test('an anonymous upload is answered before its body is read', async () => {
    const start = (path: string, extra = '') =>
      rawRequest(hub.port, `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}Content-Type: application/json\r\nContent-Length: 60000000\r\n\r\n${'x'.repeat(64 * 1024)}`);
    const api = await start('/hub/api/users/alice/publications');
    assert.equal(statusOf(api.text), 403, `API: refused with 60 MB announced and 64 kB sent (${JSON.stringify(api.text.slice(0, 80))})`);
    assert.match(api.text, /Missing or invalid credentials/);
    assert.ok(api.closed, 'and the connection closed: the rest is never read');
    const other = await start('/hub/api/users');
    assert.equal(statusOf(other.text), 403, 'any API route');
    const form = await start('/hub/spawn/alice');
    assert.equal(statusOf(form.text), 302, 'a form: to the sign-in page, as before');
    assert.match(form.text, /Location: \/hub\/login\?next=/i);
    const proxied = await start('/user/alice/api/contents/upload.txt');
    assert.equal(statusOf(proxied.text), 403, 'an upload to a user server');
    assert.ok(proxied.closed);
    // signing in itself takes a body without credentials, but only a small one
    const login = await start('/hub/login');
    assert.equal(statusOf(login.text), 413);
  });

  test('an upload by someone who may not publish there is refused before its body is read', async () => {
    const result = await rawRequest(hub.port, `POST /hub/api/users/alice/publications HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: token ${bob}\r\nContent-Type: application/json\r\nContent-Length: 60000000\r\n\r\n${'x'.repeat(64 * 1024)}`);
    assert.ok([403, 404].includes(statusOf(result.text)), `refused (${JSON.stringify(result.text.slice(0, 80))})`);
    assert.ok(result.closed);
    // the owner may send a large one
    const notebook = { nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [{ id: 'big', cell_type: 'markdown', metadata: {}, source: 'x'.repeat(3_000_000) }] };
    const ok = await hub.as(alice, '/hub/api/users/alice/publications', { method: 'POST', body: JSON.stringify({ title: 'Big', notebook }) });
    assert.equal(ok.status, 201, 'a 3 MB notebook from its owner is accepted');
  });

  test('hub request bodies are small', async () => {
    const huge = JSON.stringify({ blob: 'x'.repeat(2 * 1024 * 1024) });
    const res = await hub.api('/hub/api/groups/props/properties', { method: 'PUT', body: huge });
    assert.equal(res.status, 413, 'a 2 MB JSON body to the API');
    assert.match(((await res.json()) as { message: string }).message, /too large/i);
  });

  test('one address holds at most max_connections_per_address connections', async () => {
    // from an address of its own on the loopback network, so this test's other connections do not count
    const from = '127.0.0.2';
    const held: Socket[] = [];
    try {
      for (let i = 0; i < MAX_CONNECTIONS; i++) {
        const { socket, status } = await openConnection(hub.port, '/hub/health', from);
        assert.equal(status, 200);
        held.push(socket);
      }
      const refused = await openConnection(hub.port, '/hub/health', from);
      refused.socket.destroy();
      assert.equal(refused.status, 503, 'one more is refused');
      assert.equal((await fetch(`${hub.url}/hub/health`)).status, 200, 'other addresses are served meanwhile');
    } finally {
      for (const socket of held) socket.destroy();
    }
    await new Promise((r) => setTimeout(r, 200));
    const again = await openConnection(hub.port, '/hub/health', from);
    again.socket.destroy();
    assert.equal(again.status, 200, 'once they are closed, new ones are served');
  });

  test('progress streams, proxied streams, WebSockets and idle keep-alive connections outlive the deadlines', async () => {
    // the start took longer than request_timeout; its progress stream went on to the end
    assert.ok(progressEvents.at(-1)?.includes('"ready":true'), 'the spawn progress stream ended with ready');

    const stream = await hub.as(alice, `/user/alice/stream?seconds=${REQUEST_TIMEOUT + 2}`);
    assert.equal(stream.status, 200);
    const text = await stream.text();
    assert.match(text, new RegExp(`tick ${REQUEST_TIMEOUT + 2}/${REQUEST_TIMEOUT + 2}\\ndone\\n$`), 'a response streaming longer than request_timeout arrives whole');

    const socket = connect(hub.port, '127.0.0.1');
    socket.on('error', () => undefined);
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
    socket.write(`GET /user/alice/api/kernels/k/channels HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: token ${alice}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 1000));
    assert.match(received, /^HTTP\/1\.1 101/);
    await new Promise((r) => setTimeout(r, (REQUEST_TIMEOUT + 2) * 1000));
    received = '';
    socket.write('still there?');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(received, 'still there?', 'a WebSocket idle for longer than request_timeout still echoes');
    socket.destroy();

    const { socket: idle, status } = await openConnection(hub.port, '/hub/health');
    assert.equal(status, 200);
    await new Promise((r) => setTimeout(r, (HEADERS_TIMEOUT + 2) * 1000));
    let again = '';
    idle.on('data', (d: Buffer) => (again += d.toString('latin1')));
    idle.write('GET /hub/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(statusOf(again), 200, 'a keep-alive connection idle for longer than headers_timeout still serves the next request');
    idle.destroy();
  });
});
