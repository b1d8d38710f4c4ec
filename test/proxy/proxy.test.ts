import assert from 'node:assert/strict';
import { once } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { silentLogger } from '../../src/log.js';
import { createProxy, RouteTable, type ProxyOptions } from '../../src/proxy/index.js';

// ---------------------------------------------------------------------------------------------
// Harness: a real proxy server in front of real upstream servers, all on 127.0.0.1.

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function listen(server: http.Server | net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

async function upstream(t: TestContext, handler: Handler): Promise<{ server: http.Server; target: string; port: number }> {
  const server = http.createServer(handler);
  const port = await listen(server);
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { server, target: `http://127.0.0.1:${port}`, port };
}

interface Harness {
  routes: RouteTable;
  port: number;
  proxy: ReturnType<typeof createProxy>;
  missing: string[];
  upstreamErrors: Array<{ prefix: string; code: string | undefined }>;
  responses: Array<{ prefix: string | undefined; status: number }>;
}

async function startProxy(t: TestContext, overrides: Partial<ProxyOptions> = {}): Promise<Harness> {
  const routes = new RouteTable();
  const h: Omit<Harness, 'port' | 'proxy'> = { routes, missing: [], upstreamErrors: [], responses: [] };
  const proxy = createProxy({
    routes,
    log: silentLogger(),
    authorize: () => ({ action: 'allow' }),
    onMissingRoute(req, res) {
      h.missing.push(req.url ?? '');
      res.writeHead(302, { Location: `/hub/spawn-pending${req.url}`, 'X-Hub': 'missing-route' });
      res.end();
    },
    onUpstreamError(_req, res, route, error) {
      h.upstreamErrors.push({ prefix: route.prefix, code: (error as NodeJS.ErrnoException).code });
      res.writeHead(503, { 'X-Hub': 'upstream-error' });
      res.end('server not responding');
    },
    fallback(req, res) {
      res.writeHead(200, { 'X-Hub': 'fallback' });
      res.end(`hub:${req.url}`);
    },
    onResponse(route, status) {
      h.responses.push({ prefix: route?.prefix, status });
    },
    ...overrides,
  });
  const server = http.createServer(proxy.handleRequest);
  server.on('upgrade', proxy.handleUpgrade);
  const port = await listen(server);
  t.after(() => {
    proxy.close();
    server.closeAllConnections();
    server.close();
  });
  return { ...h, port, proxy };
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

function request(
  port: number,
  path: string,
  opts: { method?: string; headers?: http.OutgoingHttpHeaders | string[]; body?: string | Buffer; agent?: http.Agent } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers, agent: opts.agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks).toString() }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const alice = { user: 'alice', server: '' };

function get(port: number, path: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => http.get({ port, host: '127.0.0.1', path }, resolve).on('error', reject));
}

/** Resolves when `fn` returns true, polling; fails the test instead of hanging. */
async function eventually(fn: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await sleep(5);
  }
}

function withTimeout<T>(p: Promise<T>, what: string, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
    }),
  ]);
}

// ---------------------------------------------------------------------------------------------

describe('HTTP routing', { timeout: 20_000 }, () => {
  it('sends each path to the longest matching server, with the path unchanged', async (t) => {
    const seen: string[] = [];
    const a = await upstream(t, (req, res) => res.end(`A ${req.url}`));
    const b = await upstream(t, (req, res) => res.end(`B ${req.url}`));
    const h = await startProxy(t);
    h.routes.set('/user/alice/', a.target, alice);
    h.routes.set('/user/alice/lab2/', b.target, { user: 'alice', server: 'lab2' });

    for (const path of ['/user/alice/lab2/api/contents?type=notebook', '/user/alice/lab/tree/x%20y.ipynb', '/user/alice']) {
      seen.push((await request(h.port, path)).body);
    }
    assert.deepEqual(seen, [
      'B /user/alice/lab2/api/contents?type=notebook',
      'A /user/alice/lab/tree/x%20y.ipynb',
      'A /user/alice',
    ]);
  });

  it('reuses upstream connections across requests (keep-alive)', async (t) => {
    const ports = new Set<number>();
    const a = await upstream(t, (req, res) => {
      ports.add(req.socket.remotePort!);
      res.end('ok');
    });
    const h = await startProxy(t);
    h.routes.set('/user/alice/', a.target, alice);
    for (let i = 0; i < 5; i++) assert.equal((await request(h.port, `/user/alice/api/${i}`)).body, 'ok');
    assert.equal(ports.size, 1, 'one upstream connection for five sequential requests');
  });

  it("sends '/user/alicex/' to the hub as a missing route, not to alice", async (t) => {
    const a = await upstream(t, (_req, res) => res.end('alice'));
    const h = await startProxy(t);
    h.routes.set('/user/alice/', a.target, alice);
    const r = await request(h.port, '/user/alicex/lab');
    assert.equal(r.status, 302);
    assert.equal(r.headers['x-hub'], 'missing-route');
    assert.deepEqual(h.missing, ['/user/alicex/lab']);
    assert.deepEqual(h.responses, [{ prefix: undefined, status: 302 }]);
  });

  it('hands everything outside /user/ to the hub app', async (t) => {
    const h = await startProxy(t);
    h.routes.set('/user/alice/', 'http://127.0.0.1:1', alice);
    for (const path of ['/hub/home', '/', '/user', '/users/alice/']) {
      const r = await request(h.port, path);
      assert.equal(r.body, `hub:${path}`);
    }
    assert.deepEqual(h.missing, []);
  });

  it('route removal and replacement take effect on the next request of a kept-alive connection', async (t) => {
    const a = await upstream(t, (_req, res) => res.end('A'));
    const b = await upstream(t, (_req, res) => res.end('B'));
    const h = await startProxy(t);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    h.routes.set('/user/alice/', a.target, alice);
    assert.equal((await request(h.port, '/user/alice/api', { agent })).body, 'A');
    h.routes.set('/user/alice/', b.target, alice);
    assert.equal((await request(h.port, '/user/alice/api', { agent })).body, 'B');
    h.routes.delete('/user/alice/');
    const r = await request(h.port, '/user/alice/api', { agent });
    assert.equal(r.headers['x-hub'], 'missing-route');
    assert.equal(Object.keys(agent.sockets).length + Object.keys(agent.freeSockets).length, 1, 'one connection used throughout');
  });
});

describe('HTTP headers', { timeout: 20_000 }, () => {
  it('keeps Host, adds X-Forwarded-*, drops hop-by-hop headers', async (t) => {
    let got: IncomingMessage | undefined;
    const a = await upstream(t, (req, res) => {
      got = req;
      res.end();
    });
    const h = await startProxy(t);
    h.routes.set('/user/alice/', a.target, alice);
    await request(h.port, '/user/alice/api/status', {
      headers: [
        'Host', 'notebooks.example.org:8443',
        'X-Forwarded-For', '203.0.113.7',
        'Connection', 'keep-alive, X-Hop',
        'X-Hop', 'must not pass',
        'Keep-Alive', 'timeout=5',
        'Proxy-Authorization', 'Basic c2VjcmV0',
        'Proxy', 'http://attacker.example:3128',
        'TE', 'trailers',
        'Cookie', 'a=1',
        'Cookie', 'b=2',
        'X-End-To-End', 'kept',
      ],
    });
    assert.ok(got);
    const hd = got.headers;
    assert.equal(hd.host, 'notebooks.example.org:8443');
    assert.equal(hd['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
    assert.equal(hd['x-forwarded-proto'], 'http');
    assert.equal(hd['x-forwarded-host'], 'notebooks.example.org:8443');
    assert.equal(hd['x-forwarded-port'], '8443');
    assert.equal(hd['x-end-to-end'], 'kept');
    assert.equal(hd.cookie, 'a=1; b=2');
    for (const gone of ['x-hop', 'proxy-authorization', 'proxy', 'te', 'keep-alive']) assert.equal(hd[gone], undefined, gone);
  });

  it("never shows the hub's session cookie to the user's server", async (t) => {
    const got: Array<string | undefined> = [];
    const a = await upstream(t, (req, res) => {
      got.push(req.headers.cookie);
      res.end();
    });
    const up = await wsUpstream(t);
    const h = await startProxy(t, { dropCookies: ['refinery-session'] });
    h.routes.set('/user/alice/', a.target, alice);
    h.routes.set('/user/alice/ws/', up.target, alice);
    await request(h.port, '/user/alice/', { headers: { Cookie: '_xsrf=1; refinery-session=SECRET; jupyterhub-user-alice=ok' } });
    await request(h.port, '/user/alice/', { headers: { Cookie: 'refinery-session=SECRET' } });
    await request(h.port, '/user/alice/', { headers: { Cookie: 'refinery-session-other=fine' } });
    assert.deepEqual(got, ['_xsrf=1; jupyterhub-user-alice=ok', undefined, 'refinery-session-other=fine']);
    const ws = await openWs(h.port, '/user/alice/ws/x', undefined, { Cookie: 'refinery-session=SECRET; a=b' });
    ws.terminate();
    assert.equal(up.requests[0]?.headers.cookie, 'a=b');
  });

  it('keeps X-Forwarded-Proto/Host set by a TLS terminator in front', async (t) => {
    let got: http.IncomingHttpHeaders = {};
    const a = await upstream(t, (req, res) => {
      got = req.headers;
      res.end();
    });
    const h = await startProxy(t);
    h.routes.set('/user/alice/', a.target, alice);
    await request(h.port, '/user/alice/', {
      headers: { Host: 'internal:8000', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'hub.example.org', 'X-Forwarded-Port': '443' },
    });
    assert.equal(got['x-forwarded-proto'], 'https');
    assert.equal(got['x-forwarded-host'], 'hub.example.org');
    assert.equal(got['x-forwarded-port'], '443');
    assert.equal(got.host, 'internal:8000');
  });

  it('passes several Set-Cookie headers and status text intact, drops upstream hop-by-hop headers', async (t) => {
    const a = await upstream(t, (_req, res) => {
      res.writeHead(201, 'Made It', [
        'Set-Cookie', 'jupyterhub-user-alice=abc; Path=/user/alice/; HttpOnly',
        'Set-Cookie', '_xsrf=def; Path=/user/alice/',
        'Connection', 'X-Upstream-Hop',
        'X-Upstream-Hop', 'secret',
        'Content-Type', 'application/json',
      ]);
      res.end('{}');
    });
    const h = await startProxy(t);
    h.routes.set('/user/alice/', a.target, alice);
    const r = await request(h.port, '/user/alice/');
    assert.equal(r.status, 201);
    assert.deepEqual(r.headers['set-cookie'], ['jupyterhub-user-alice=abc; Path=/user/alice/; HttpOnly', '_xsrf=def; Path=/user/alice/']);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.headers['x-upstream-hop'], undefined);
    assert.equal(r.body, '{}');
  });
});

describe('HTTP streaming', { timeout: 20_000 }, () => {
  it('delivers a chunked response incrementally', async (t) => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const a = await upstream(t, async (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.write('first;');
      await released; // the second chunk is only written once the client has seen the first
      res.end('second');
    });
    const h = await startProxy(t);
    h.routes.set('/user/alice/', a.target, alice);
    const res = await withTimeout(get(h.port, '/user/alice/x'), 'response head');
    res.setEncoding('utf8');
    const [first] = (await withTimeout(once(res, 'data'), 'first chunk before the response ends')) as [string];
    assert.equal(first, 'first;');
    release();
    let rest = '';
    res.on('data', (c: string) => (rest += c));
    await once(res, 'end');
    assert.equal(rest, 'second');
  });

  it('streams server-sent events one by one and counts them as activity', async (t) => {
    let send!: (data: string) => void;
    const a = await upstream(t, (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      res.flushHeaders(); // the head goes out alone; the first event may be minutes away
      send = (data) => res.write(`data: ${data}\n\n`);
    });
    const h = await startProxy(t);
    const route = h.routes.set('/user/alice/', a.target, alice);
    const res = await withTimeout(get(h.port, '/user/alice/api/events/subscribe'), 'response head before any event');
    assert.equal(res.headers['content-type'], 'text/event-stream');
    res.setEncoding('utf8');
    for (const n of ['1', '2', '3']) {
      route.lastActivity = 0;
      send(n);
      const [chunk] = (await withTimeout(once(res, 'data'), `event ${n}`)) as [string];
      assert.equal(chunk, `data: ${n}\n\n`);
      assert.ok(route.lastActivity > 0, 'activity recorded during the stream');
    }
    res.destroy();
  });

  it('streams a request body to the upstream as it is sent', async (t) => {
    let gotFirst!: () => void;
    const firstArrived = new Promise<void>((r) => (gotFirst = r));
    const a = await upstream(t, (req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => {
        body += c;
        if (body === 'part1;') gotFirst();
      });
      req.on('end', () => res.end(`${req.headers['transfer-encoding']} ${body}`));
    });
    const h = await startProxy(t);
    h.routes.set('/user/alice/', a.target, alice);
    const req = http.request({ port: h.port, host: '127.0.0.1', method: 'POST', path: '/user/alice/api/contents' });
    const resP = once(req, 'response') as Promise<[IncomingMessage]>;
    req.write('part1;');
    await withTimeout(firstArrived, 'first part at the upstream before the client finished');
    req.end('part2');
    const [res] = await resP;
    let text = '';
    for await (const c of res) text += String(c);
    assert.equal(text, 'chunked part1;part2');

    // Node only chunks POST-like methods by default; a chunked DELETE body must not be lost.
    const del = await request(h.port, '/user/alice/api/x', {
      method: 'DELETE',
      headers: { 'Transfer-Encoding': 'chunked' },
      body: 'part1;',
    });
    assert.equal(del.body, 'chunked part1;');
  });

  it('carries a large body with Content-Length both ways unchanged', async (t) => {
    const a = await upstream(t, (req, res) => {
      res.writeHead(200, { 'Content-Length': req.headers['content-length'] });
      req.pipe(res);
    });
    const h = await startProxy(t);
    h.routes.set('/user/alice/', a.target, alice);
    const body = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff;
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = http.request({ port: h.port, host: '127.0.0.1', method: 'PUT', path: '/user/alice/files/big' }, resolve);
      req.on('error', reject);
      req.end(body);
    });
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    assert.equal(res.headers['content-length'], String(body.length));
    assert.ok(Buffer.concat(chunks).equals(body));
  });
});

describe('authorization (HTTP)', { timeout: 20_000 }, () => {
  async function guarded(t: TestContext, authorize: ProxyOptions['authorize']): Promise<{ h: Harness; hits: () => number }> {
    let hits = 0;
    const a = await upstream(t, (_req, res) => {
      hits++;
      res.end('secret notebook');
    });
    const h = await startProxy(t, { authorize });
    h.routes.set('/user/alice/', a.target, alice);
    return { h, hits: () => hits };
  }

  it('deny answers with the given status and message and never reaches the server', async (t) => {
    const { h, hits } = await guarded(t, () => ({ action: 'deny', status: 403, message: 'not your server' }));
    const r = await request(h.port, '/user/alice/api/contents');
    assert.equal(r.status, 403);
    assert.equal(r.body, 'not your server');
    assert.equal(hits(), 0);
  });

  it('redirect sends the browser elsewhere', async (t) => {
    const { h, hits } = await guarded(t, () => ({ action: 'redirect', location: '/hub/login?next=%2Fuser%2Falice%2F' }));
    const r = await request(h.port, '/user/alice/');
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, '/hub/login?next=%2Fuser%2Falice%2F');
    assert.equal(hits(), 0);
  });

  it('a redirect whose location carries CR/LF is a 500, not an injected header', async (t) => {
    const location = '/hub/login\r\nSet-Cookie: evil=1';
    const { h } = await guarded(t, () => ({ action: 'redirect', location }));
    const r = await request(h.port, '/user/alice/');
    assert.equal(r.status, 500);
    assert.equal(r.headers['set-cookie'], undefined);
    const ws = await failedWs(h.port, '/user/alice/ws');
    assert.equal(ws.status, 500);
    assert.equal(ws.headers['set-cookie'], undefined);
  });

  it('is asked with the matched route and may answer with a Promise', async (t) => {
    const asked: string[] = [];
    const { h, hits } = await guarded(t, async (req, route) => {
      await sleep(5);
      asked.push(`${route.prefix} ${req.url}`);
      return req.headers.cookie === 'session=ok' ? { action: 'allow' } : { action: 'deny', status: 403, message: 'no' };
    });
    assert.equal((await request(h.port, '/user/alice/tree', { headers: { Cookie: 'session=ok' } })).body, 'secret notebook');
    assert.equal((await request(h.port, '/user/alice/tree', { headers: { Cookie: 'session=bad' } })).status, 403);
    assert.deepEqual(asked, ['/user/alice/ /user/alice/tree', '/user/alice/ /user/alice/tree']);
    assert.equal(hits(), 1);
  });

  it('a rejected Promise or a throw is a 500 that does not leak the error', async (t) => {
    for (const authorize of [
      async (): Promise<never> => {
        throw new Error('db password is hunter2');
      },
      (): never => {
        throw new Error('db password is hunter2');
      },
    ]) {
      const { h, hits } = await guarded(t, authorize);
      const r = await request(h.port, '/user/alice/');
      assert.equal(r.status, 500);
      assert.doesNotMatch(r.body, /hunter2/);
      assert.equal(hits(), 0);
    }
  });
});

describe('failures and aborts', { timeout: 20_000 }, () => {
  it('an upstream that is down goes to onUpstreamError', async (t) => {
    const dead = await upstream(t, () => {});
    dead.server.close();
    await once(dead.server, 'close');
    const h = await startProxy(t);
    h.routes.set('/user/alice/', dead.target, alice);
    const r = await request(h.port, '/user/alice/lab');
    assert.equal(r.status, 503);
    assert.equal(r.headers['x-hub'], 'upstream-error');
    assert.deepEqual(h.upstreamErrors, [{ prefix: '/user/alice/', code: 'ECONNREFUSED' }]);
  });

  it('a client that leaves closes the upstream request, before and after the response started', async (t) => {
    const closed: string[] = [];
    const arrived: string[] = [];
    const a = await upstream(t, (req, res) => {
      arrived.push(req.url!);
      req.socket.once('close', () => closed.push(req.url!));
      if (req.url!.endsWith('/started')) {
        res.writeHead(200);
        res.write('tick');
      } // else: never answers
    });
    const h = await startProxy(t);
    h.routes.set('/user/alice/', a.target, alice);

    const r1 = http.get({ port: h.port, host: '127.0.0.1', path: '/user/alice/started' });
    r1.on('error', () => {});
    const [res] = (await once(r1, 'response')) as [IncomingMessage];
    await once(res, 'data');
    r1.destroy();

    const r2 = http.get({ port: h.port, host: '127.0.0.1', path: '/user/alice/waiting' });
    r2.on('error', () => {});
    await eventually(() => arrived.includes('/user/alice/waiting'), 'request reached the server');
    r2.destroy();

    await eventually(() => closed.length === 2, 'both upstream connections closed');
    assert.deepEqual(closed.sort(), ['/user/alice/started', '/user/alice/waiting']);
  });

  it('a client that leaves while authorize is still thinking is never forwarded', async (t) => {
    const arrived: string[] = [];
    const a = await upstream(t, (req) => arrived.push(req.url!)); // would hold the request open forever
    let asked!: () => void;
    const wasAsked = new Promise<void>((r) => (asked = r));
    const h = await startProxy(t, {
      authorize: async () => {
        asked();
        await sleep(100);
        return { action: 'allow' };
      },
    });
    h.routes.set('/user/alice/', a.target, alice);
    const r = http.get({ port: h.port, host: '127.0.0.1', path: '/user/alice/api/long-poll' });
    r.on('error', () => {});
    await wasAsked;
    r.destroy();
    await sleep(250);
    assert.deepEqual(arrived, []);
  });

  it('an upstream that fails during an upload is answered by the hub and the connection stays usable', async (t) => {
    const a = await upstream(t, (req, res) => {
      if (req.method === 'POST') return void req.socket.destroy(); // dies without reading the body
      res.end('still here');
    });
    const h = await startProxy(t);
    h.routes.set('/user/alice/', a.target, alice);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    const r = await withTimeout(request(h.port, '/user/alice/upload', { method: 'POST', body: Buffer.alloc(2 * 1024 * 1024), agent }), 'answer to the upload');
    assert.equal(r.status, 503);
    assert.equal(r.headers['x-hub'], 'upstream-error');
    assert.equal((await withTimeout(request(h.port, '/user/alice/next', { agent }), 'next request')).body, 'still here');
  });

  it('an upstream that dies mid-response truncates the client response instead of ending it cleanly', async (t) => {
    const a = await upstream(t, (_req, res) => {
      res.writeHead(200, { 'Content-Length': '100' });
      res.write('only part');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const h = await startProxy(t);
    h.routes.set('/user/alice/', a.target, alice);
    const outcome = await withTimeout(
      new Promise<string>((resolve) => {
        http.get({ port: h.port, host: '127.0.0.1', path: '/user/alice/x' }, (res) => {
          res.on('data', () => {});
          res.on('end', () => resolve('clean end'));
          res.on('error', () => resolve('error'));
          res.on('aborted', () => resolve('error'));
        }).on('error', () => resolve('error'));
      }),
      'client notices the broken response',
    );
    assert.equal(outcome, 'error');
  });

  it('retries a GET once when a pooled upstream connection turns out closed, but not a POST', async (t) => {
    // A server that closes kept-alive connections without answering the second request on them,
    // like one whose idle timeout fired just as the proxy reused the socket.
    let served = 0;
    const raw = net.createServer((sock) => {
      let n = 0;
      let buf = '';
      sock.on('data', (d) => {
        buf += d.toString('latin1');
        while (buf.includes('\r\n\r\n')) {
          buf = buf.slice(buf.indexOf('\r\n\r\n') + 4);
          if (++n === 2) return void sock.destroy();
          served++;
          sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok');
        }
      });
      sock.on('error', () => {});
    });
    const port = await listen(raw);
    t.after(() => raw.close());
    const h = await startProxy(t);
    h.routes.set('/user/alice/', `http://127.0.0.1:${port}`, alice);
    assert.equal((await request(h.port, '/user/alice/a')).body, 'ok');
    assert.equal((await request(h.port, '/user/alice/b')).body, 'ok', 'second GET retried on a fresh connection');
    assert.equal(served, 2);
    const post = await request(h.port, '/user/alice/c', { method: 'POST', body: 'x' });
    assert.equal(post.status, 503, 'a POST may have had effects: not retried');
    assert.equal(h.upstreamErrors.length, 1);
  });
});

// ---------------------------------------------------------------------------------------------

async function wsUpstream(
  t: TestContext,
  opts: Partial<ConstructorParameters<typeof WebSocketServer>[0]> = {},
): Promise<{ wss: WebSocketServer; target: string; requests: IncomingMessage[] }> {
  const server = http.createServer((_req, res) => res.end('plain http'));
  const requests: IncomingMessage[] = [];
  const wss = new WebSocketServer({ server, ...opts });
  wss.on('connection', (ws, req) => {
    requests.push(req);
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? '' : String(data);
      if (text.startsWith('close-with:')) return ws.close(Number(text.slice(11)), 'server says bye');
      ws.send(data, { binary: isBinary });
    });
  });
  const port = await listen(server);
  t.after(() => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    server.closeAllConnections();
    server.close();
  });
  return { wss, target: `http://127.0.0.1:${port}`, requests };
}

function openWs(port: number, path: string, protocols?: string[], headers?: Record<string, string>): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, protocols, { headers });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function nextMessage(ws: WebSocket): Promise<{ data: RawData; isBinary: boolean }> {
  return withTimeout(
    new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data, isBinary }))),
    'websocket message',
  );
}

/** Opens a WebSocket expecting the handshake to fail; returns the HTTP answer seen instead. */
function failedWs(port: number, path: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c));
        res.on('end', () => {
          resolve({ status: res.statusCode!, headers: res.headers, body });
          ws.terminate();
        });
      });
      ws.on('open', () => reject(new Error('handshake unexpectedly succeeded')));
      ws.on('error', () => {});
    }),
    'failed handshake',
  );
}

describe('WebSocket', { timeout: 20_000 }, () => {
  it('echoes text and binary messages, large ones too, with the subprotocol negotiated', async (t) => {
    const up = await wsUpstream(t, { handleProtocols: (p) => (p.has('v1.kernel.websocket.jupyter.org') ? 'v1.kernel.websocket.jupyter.org' : false) });
    const h = await startProxy(t);
    const route = h.routes.set('/user/alice/', up.target, alice);
    const ws = await openWs(h.port, '/user/alice/api/kernels/k1/channels?session_id=s', ['v1.kernel.websocket.jupyter.org'], { Host: 'hub.example.org' });
    t.after(() => ws.terminate());
    assert.equal(ws.protocol, 'v1.kernel.websocket.jupyter.org');

    const upReq = up.requests[0]!;
    assert.equal(upReq.url, '/user/alice/api/kernels/k1/channels?session_id=s');
    assert.equal(upReq.headers.host, 'hub.example.org');
    assert.equal(upReq.headers['x-forwarded-for'], '127.0.0.1');

    ws.send('{"msg_type":"execute_request"}');
    const text = await nextMessage(ws);
    assert.equal(text.isBinary, false);
    assert.equal(String(text.data), '{"msg_type":"execute_request"}');

    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    route.lastActivity = 0;
    ws.send(bytes);
    const bin = await nextMessage(ws);
    assert.equal(bin.isBinary, true);
    assert.ok((bin.data as Buffer).equals(bytes));
    assert.ok(route.lastActivity > 0, 'messages count as activity');

    const big = Buffer.alloc(3 * 1024 * 1024, 0x61);
    ws.send(big);
    assert.ok(((await nextMessage(ws)).data as Buffer).equals(big));
  });

  it('carries close codes and reasons in both directions', async (t) => {
    const up = await wsUpstream(t);
    const h = await startProxy(t);
    h.routes.set('/user/alice/', up.target, alice);

    const serverSide = new Promise<[number, string]>((resolve) =>
      up.wss.once('connection', (s) => s.once('close', (code, reason) => resolve([code, String(reason)]))),
    );
    const ws1 = await openWs(h.port, '/user/alice/ws');
    ws1.close(4001, 'client says bye');
    assert.deepEqual(await withTimeout(serverSide, 'server sees close'), [4001, 'client says bye']);
    const [code1] = (await withTimeout(once(ws1, 'close'), 'client closed')) as [number];
    assert.equal(code1, 4001);

    const ws2 = await openWs(h.port, '/user/alice/ws');
    ws2.send('close-with:4002');
    const [code2, reason2] = (await withTimeout(once(ws2, 'close'), 'client sees server close')) as [number, Buffer];
    assert.deepEqual([code2, String(reason2)], [4002, 'server says bye']);
  });

  it('forwards frames the client sent together with the handshake (head)', async (t) => {
    const up = await wsUpstream(t);
    const h = await startProxy(t);
    h.routes.set('/user/alice/', up.target, alice);
    const sock = net.connect(h.port, '127.0.0.1');
    t.after(() => sock.destroy());
    await once(sock, 'connect');
    // One write: handshake plus a masked text frame "hi", so the proxy gets the frame as `head`.
    const mask = Buffer.from([1, 2, 3, 4]);
    const payload = Buffer.from('hi').map((b, i) => b ^ mask[i % 4]!);
    const frame = Buffer.concat([Buffer.from([0x81, 0x80 | 2]), mask, payload]);
    sock.write(
      Buffer.concat([
        Buffer.from(
          'GET /user/alice/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
            'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
        ),
        frame,
      ]),
    );
    let got = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
    await eventually(() => got.includes(Buffer.from([0x81, 0x02, 0x68, 0x69])), 'echo of the early frame');
    assert.match(got.toString('latin1'), /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.match(got.toString('latin1'), /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/i);
  });

  it('deny and redirect are answered on the socket and never reach the server', async (t) => {
    const up = await wsUpstream(t);
    let decision: Awaited<ReturnType<ProxyOptions['authorize']>> = { action: 'deny', status: 403, message: 'not yours' };
    const h = await startProxy(t, { authorize: async () => decision });
    h.routes.set('/user/alice/', up.target, alice);

    const denied = await failedWs(h.port, '/user/alice/api/kernels/k/channels');
    assert.equal(denied.status, 403);
    assert.equal(denied.body, 'not yours');

    decision = { action: 'redirect', location: '/hub/login' };
    const redirected = await failedWs(h.port, '/user/alice/api/kernels/k/channels');
    assert.equal(redirected.status, 302);
    assert.equal(redirected.headers.location, '/hub/login');
    assert.equal(up.requests.length, 0);
  });

  it('a rejected authorize is a 500 on the socket', async (t) => {
    const up = await wsUpstream(t);
    const h = await startProxy(t, { authorize: () => Promise.reject(new Error('token=abc')) });
    h.routes.set('/user/alice/', up.target, alice);
    const r = await failedWs(h.port, '/user/alice/ws');
    assert.equal(r.status, 500);
    assert.doesNotMatch(r.body, /abc/);
  });

  it("relays the server's refusal of an upgrade", async (t) => {
    const up = await wsUpstream(t, { verifyClient: (_info, cb) => cb(false, 404, 'Kernel does not exist', { 'X-Jupyter': 'gone' }) });
    const h = await startProxy(t);
    h.routes.set('/user/alice/', up.target, alice);
    const r = await failedWs(h.port, '/user/alice/api/kernels/nope/channels');
    assert.equal(r.status, 404);
    assert.equal(r.headers['x-jupyter'], 'gone');
    assert.equal(r.body, 'Kernel does not exist');
  });

  it('answers 404 without a route and 503 when the server is down', async (t) => {
    const h = await startProxy(t);
    assert.equal((await failedWs(h.port, '/user/bob/ws')).status, 404);
    assert.equal((await failedWs(h.port, '/hub/ws')).status, 404);
    const dead = http.createServer();
    const port = await listen(dead);
    dead.close();
    h.routes.set('/user/alice/', `http://127.0.0.1:${port}`, alice);
    assert.equal((await failedWs(h.port, '/user/alice/ws')).status, 503);
  });

  it('closing one side closes the other, and close() ends open tunnels', async (t) => {
    const up = await wsUpstream(t);
    const h = await startProxy(t);
    h.routes.set('/user/alice/', up.target, alice);

    const ws = await openWs(h.port, '/user/alice/ws');
    await eventually(() => up.wss.clients.size === 1, 'server has the connection');
    [...up.wss.clients][0]!.terminate(); // upstream vanishes without a close frame
    const [code] = (await withTimeout(once(ws, 'close'), 'client notices')) as [number];
    assert.equal(code, 1006);

    const ws2 = await openWs(h.port, '/user/alice/ws');
    await eventually(() => up.wss.clients.size === 1, 'server has the new connection');
    ws2.terminate(); // client vanishes
    await eventually(() => up.wss.clients.size === 0, 'server side closed too');

    const ws3 = await openWs(h.port, '/user/alice/ws');
    h.proxy.close();
    await withTimeout(once(ws3, 'close'), 'close() ends the tunnel');
  });
});

describe('metrics hook', { timeout: 20_000 }, () => {
  it('reports each proxied request with its route and status, not hub requests', async (t) => {
    const a = await upstream(t, (_req, res) => {
      res.statusCode = 204;
      res.end();
    });
    const h = await startProxy(t);
    h.routes.set('/user/alice/', a.target, alice);
    await request(h.port, '/user/alice/api');
    await request(h.port, '/hub/home');
    await eventually(() => h.responses.length === 1, 'hook called');
    assert.deepEqual(h.responses, [{ prefix: '/user/alice/', status: 204 }]);
  });
});
