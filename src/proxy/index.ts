/**
 * The public-port reverse proxy: `/user/<name>/[<server>/]...` goes to that user's Jupyter server
 * (HTTP and WebSocket), everything else to the hub app.
 *
 * Plain `node:http` with keep-alive agents to upstreams. It runs in the hub's process, so it is
 * written for the hot path: raw header arrays in and out (no header objects, duplicates and case
 * kept), no URL parsing per request, no stream.pipe/pipeline machinery for the common small exchange.
 */
import http, { type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log.js';
import type { Route, RouteTable } from './routes.js';
import { GUARDED_RESPONSE_HEADERS, serverHeaderAllowed } from './server-headers.js';

export { RouteTable } from './routes.js';
export type { Route, RouteData } from './routes.js';

export type ProxyDecision =
  | { action: 'allow' }
  | { action: 'deny'; status: number; message: string }
  | { action: 'redirect'; location: string };

export interface ProxyOptions {
  routes: RouteTable;
  /** Called for every HTTP request and WebSocket upgrade that matches a route, before forwarding. Usually sync (cached), sometimes a Promise. */
  authorize(req: IncomingMessage, route: Route): ProxyDecision | Promise<ProxyDecision>;
  /** A request under `/user/` that matches no route (server not running): the hub answers (redirect to spawn page). */
  onMissingRoute(req: IncomingMessage, res: ServerResponse): void;
  /** Upstream refused/reset/timed out before a response started; the hub decides (e.g. check server, 503 page). */
  onUpstreamError(req: IncomingMessage, res: ServerResponse, route: Route, error: Error): void;
  /** Everything not under `/user/` (the hub app). */
  fallback(req: IncomingMessage, res: ServerResponse): void;
  /** Optional: upgrades that match no route. Default: 404 written on the socket, then closed. */
  fallbackUpgrade?(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  log: Logger;
  /**
   * Optional per-request metric hook: (route|undefined, statusCode, durationSeconds). Called for every
   * HTTP request the proxy answers or forwards itself (route undefined: no route matched under /user/),
   * not for requests handed to `fallback`, which the hub app measures on its own.
   */
  onResponse?(route: Route | undefined, status: number, seconds: number): void;
  /** Give up connecting to an upstream after this long (ms). Default 10 000. Responses never time out. */
  connectTimeoutMs?: number;
  /**
   * Cookie names removed from requests before they reach a user's server, e.g. the hub's session
   * cookie. The server runs the user's code: a visiting admin's hub session must not be readable there.
   */
  dropCookies?: readonly string[];
  /**
   * Whether a cookie name is the hub's: a server's Set-Cookie with such a name never reaches the
   * browser (see server-headers.ts for the other rules on what servers may send).
   */
  isHubCookie?(name: string): boolean;
}

export interface ProxyHandlers {
  /**
   * For the public server's 'request' event. A path under a route is authorized and forwarded; any
   * other path under /user/ goes to onMissingRoute; everything else to fallback. (Routes may also be
   * set outside /user/, e.g. for a service; those are proxied the same way.)
   */
  handleRequest(req: IncomingMessage, res: ServerResponse): void;
  /** For the public server's 'upgrade' event (WebSockets), with the same routing and authorization. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Open WebSockets with the upgrade request that opened them, e.g. to check them again when access is revoked. */
  openTunnels(): OpenTunnel[];
  /** Destroys agent sockets and open WebSockets. */
  close(): void;
}

export interface OpenTunnel {
  /** The upgrade request as the client sent it (its headers carry the credentials it was let in with). */
  req: IncomingMessage;
  route: Route;
  /** Close both ends now. */
  close(): void;
}

/** How to reach one upstream origin; cached per route so nothing is parsed per request. */
interface Upstream {
  target: string;
  request: typeof http.request;
  host: string;
  port: number;
  agent: http.Agent;
  upgradeAgent: http.Agent;
}

const USER_PREFIX = '/user/';
const INTERNAL_ERROR = 'Internal Server Error';

export function createProxy(options: ProxyOptions): ProxyHandlers {
  const { routes, log } = options;
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const dropCookies = options.dropCookies?.length ? options.dropCookies : undefined;
  const isHubCookie = options.isHubCookie ?? ((): boolean => false);
  /** Decides on the few response headers a server may not send as it likes (cookies and the like). */
  const headerGuard = (req: IncomingMessage, route: Route): HeaderGuard => {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const context = { prefix: route.prefix, requestPath: query === -1 ? url : url.slice(0, query), isHubCookie };
    return (lowerName, value) => {
      if (serverHeaderAllowed(lowerName, value, context)) return true;
      log.debug({ prefix: route.prefix, header: lowerName }, 'proxy dropped a response header the server may not send');
      return false;
    };
  };

  // Keep-alive agents: reusing upstream connections is most of the speed. Upgrades get agents that
  // never reuse, so a WebSocket never lands on a pooled socket the server has just closed.
  const agents = {
    http: tuneAgent(new http.Agent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' }), connectTimeoutMs),
    https: tuneAgent(new https.Agent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' }), connectTimeoutMs),
    httpUpgrade: tuneAgent(new http.Agent({ keepAlive: false }), connectTimeoutMs),
    httpsUpgrade: tuneAgent(new https.Agent({ keepAlive: false }), connectTimeoutMs),
  };
  const upstreams = new WeakMap<Route, Upstream>();
  /** Client sockets of upgrades in progress and both ends of open tunnels, for close(). */
  const sockets = new Set<Duplex>();
  /** Open tunnels by their client socket. */
  const tunnels = new Map<Duplex, OpenTunnel>();

  function upstreamFor(route: Route): Upstream {
    const cached = upstreams.get(route);
    if (cached !== undefined && cached.target === route.target) return cached;
    const url = new URL(route.target);
    const secure = url.protocol === 'https:';
    const upstream: Upstream = {
      target: route.target,
      request: secure ? https.request : http.request,
      host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: Number(url.port) || (secure ? 443 : 80),
      agent: secure ? agents.https : agents.http,
      upgradeAgent: secure ? agents.httpsUpgrade : agents.httpUpgrade,
    };
    upstreams.set(route, upstream);
    return upstream;
  }

  function handleRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const route = routes.match(url);
    if (route === undefined) {
      if (!url.startsWith(USER_PREFIX)) return options.fallback(req, res);
      if (options.onResponse) measure(res, undefined);
      return options.onMissingRoute(req, res);
    }
    if (options.onResponse) measure(res, route);
    let decision: ProxyDecision | Promise<ProxyDecision>;
    try {
      decision = options.authorize(req, route);
      // The common case: a cached, synchronous answer.
      if (!isPromise(decision)) return decide(req, res, route, decision);
    } catch (err) {
      return failed(req, res, route, err);
    }
    decision.then(
      (d) => {
        // The client may have left while we waited.
        if (res.destroyed) return;
        try {
          decide(req, res, route, d);
        } catch (err) {
          failed(req, res, route, err);
        }
      },
      (err: unknown) => failed(req, res, route, err),
    );
  }

  function measure(res: ServerResponse, route: Route | undefined): void {
    const start = performance.now();
    res.once('close', () => options.onResponse?.(route, res.statusCode, (performance.now() - start) / 1000));
  }

  /** authorize threw or rejected, or its decision could not be carried out: 500 without details. */
  function failed(req: IncomingMessage, res: ServerResponse, route: Route, err: unknown): void {
    log.error({ err, prefix: route.prefix, method: req.method }, 'proxy request failed');
    if (res.headersSent) return void res.destroy();
    if (!res.destroyed) sendText(res, 500, INTERNAL_ERROR);
  }

  function decide(req: IncomingMessage, res: ServerResponse, route: Route, d: ProxyDecision): void {
    switch (d.action) {
      case 'allow':
        return forward(req, res, route);
      case 'deny':
        // a refused upload is not read: the connection closes with the answer
        if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined) res.shouldKeepAlive = false;
        return sendText(res, d.status, d.message);
      case 'redirect':
        res.writeHead(302, { Location: d.location, 'Content-Length': 0 });
        return void res.end();
    }
  }

  function forward(req: IncomingMessage, res: ServerResponse, route: Route): void {
    const upstream = upstreamFor(route);
    const headers: string[] = [];
    const hasBody = copyRequestHeaders(req, headers, upstream, undefined, dropCookies);
    let upReq: ClientRequest;
    let clientGone = false;
    let retried = false;

    const send = (): void => {
      upReq = upstream.request({
        agent: upstream.agent,
        host: upstream.host,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers,
      });
      upReq.on('response', onResponse);
      upReq.on('error', onError);
      if (hasBody) req.pipe(upReq);
      else upReq.end();
    };

    const onError = (err: Error): void => {
      if (clientGone) return;
      if (res.headersSent) return void res.destroy(); // the client must see a truncated response, not a clean end
      // A pooled socket can be closed by the server just as we reuse it. For a body-less idempotent
      // request one retry is safe (RFC 9110 §9.2.2) and saves the user a spurious 503.
      if (!retried && !hasBody && upReq.reusedSocket && isConnReset(err) && isIdempotent(req.method)) {
        retried = true;
        return send();
      }
      log.debug({ err, prefix: route.prefix, target: route.target }, 'proxy upstream error');
      if (hasBody) {
        // Let the rest of the upload drain so the client's connection stays usable for the answer.
        req.unpipe(upReq);
        req.resume();
      }
      options.onUpstreamError(req, res, route, err);
    };

    const onResponse = (upRes: IncomingMessage): void => {
      route.lastActivity = Date.now();
      const resHeaders: string[] = [];
      const sized = copyResponseHeaders(upRes.rawHeaders, resHeaders, headerGuard(req, route));
      try {
        const status = upRes.statusCode ?? 502;
        res.writeHead(status, upRes.statusMessage, resHeaders);
        // Node holds the head back until the first body write. Without a length this is a stream
        // (SSE, kernel output) whose first bytes may be far off: let the browser see it now.
        if (!sized && status !== 204 && status !== 304 && req.method !== 'HEAD') res.flushHeaders();
      } catch (err) {
        // Node refuses to send some things llhttp accepts (e.g. odd status text); say so instead of hanging.
        upRes.destroy();
        log.warn({ err, prefix: route.prefix }, 'proxy could not relay upstream response head');
        return sendText(res, 502, 'Bad Gateway');
      }
      upRes.on('data', (chunk: Buffer) => {
        // Refreshing on every chunk keeps long streams (kernel output, SSE) counted as activity.
        route.lastActivity = Date.now();
        if (!res.write(chunk)) upRes.pause();
      });
      res.on('drain', () => upRes.resume());
      upRes.on('end', () => res.end());
      upRes.on('error', () => res.destroy());
      upRes.on('close', () => {
        if (!upRes.complete) res.destroy();
      });
    };

    // 'close' before 'finish' means the client went away: stop the upstream work too.
    res.on('close', () => {
      if (!res.writableFinished) {
        clientGone = true;
        upReq.destroy();
      }
    });
    send();
  }

  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Without a listener an EPIPE/ECONNRESET on this socket would crash the hub.
    socket.on('error', ignore);
    const url = req.url ?? '/';
    const route = routes.match(url);
    if (route === undefined) {
      if (!url.startsWith(USER_PREFIX) && options.fallbackUpgrade) return options.fallbackUpgrade(req, socket, head);
      return rejectSocket(socket, 404, 'Not Found');
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    let decision: ProxyDecision | Promise<ProxyDecision>;
    try {
      decision = options.authorize(req, route);
      if (!isPromise(decision)) return decideUpgrade(req, socket, head, route, decision);
    } catch (err) {
      return upgradeFailed(req, socket, route, err);
    }
    decision.then(
      (d) => {
        if (socket.destroyed) return;
        try {
          decideUpgrade(req, socket, head, route, d);
        } catch (err) {
          upgradeFailed(req, socket, route, err);
        }
      },
      (err: unknown) => upgradeFailed(req, socket, route, err),
    );
  }

  function upgradeFailed(req: IncomingMessage, socket: Duplex, route: Route, err: unknown): void {
    log.error({ err, prefix: route.prefix, method: req.method }, 'proxy websocket request failed');
    rejectSocket(socket, 500, INTERNAL_ERROR);
  }

  function decideUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, route: Route, d: ProxyDecision): void {
    switch (d.action) {
      case 'allow':
        return forwardUpgrade(req, socket, head, route);
      case 'deny':
        return rejectSocket(socket, d.status, d.message);
      case 'redirect':
        // A CR/LF would let the value write its own headers; that is a hub bug, not a redirect.
        if (/[\r\n]/.test(d.location)) throw new Error('redirect location contains CR or LF');
        return rejectSocket(socket, 302, '', d.location);
    }
  }

  function forwardUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, route: Route): void {
    const upstream = upstreamFor(route);
    const headers: string[] = [];
    copyRequestHeaders(req, headers, upstream, req.headers.upgrade ?? 'websocket', dropCookies);
    const upReq = upstream.request({
      agent: upstream.upgradeAgent,
      host: upstream.host,
      port: upstream.port,
      method: req.method,
      path: req.url,
      headers,
    });
    let answered = false;
    // Until the tunnel owns both sockets, a client that leaves must take the upstream attempt with it.
    const abort = (): void => void upReq.destroy();
    socket.once('close', abort);

    upReq.on('upgrade', (upRes: IncomingMessage, upSocket: Socket, upHead: Buffer) => {
      answered = true;
      socket.removeListener('close', abort);
      if (socket.destroyed) return void upSocket.destroy();
      route.lastActivity = Date.now();
      socket.write(statusLine(upRes) + rawHeaderLines(upRes.rawHeaders, false, headerGuard(req, route)) + '\r\n');
      if (upHead.length > 0) socket.write(upHead);
      if (head.length > 0) upSocket.write(head);
      tunnel(req, socket, upSocket, route);
    });

    // The server declined the upgrade (auth redirect, 404 for a gone kernel, ...): relay its answer.
    upReq.on('response', (upRes: IncomingMessage) => {
      answered = true;
      socket.write(statusLine(upRes) + rawHeaderLines(upRes.rawHeaders, true, headerGuard(req, route)) + 'Connection: close\r\n\r\n');
      // Without Content-Length the body is delimited by the close, which is valid for a response.
      pump(upRes, socket, route);
      upRes.on('end', () => closeSoon(socket));
      upRes.on('error', () => socket.destroy());
      upRes.on('close', () => {
        if (!upRes.complete) socket.destroy();
      });
    });

    upReq.on('error', (err: Error) => {
      if (answered) return void socket.destroy();
      log.debug({ err, prefix: route.prefix, target: route.target }, 'proxy websocket upstream error');
      rejectSocket(socket, 503, 'Service Unavailable');
    });
    upReq.end();
  }

  /** Pipes a WebSocket connection both ways until either side goes away. */
  function tunnel(req: IncomingMessage, client: Duplex, server: Socket, route: Route): void {
    sockets.add(server);
    tunnels.set(client, { req, route, close: () => { client.destroy(); server.destroy(); } });
    client.once('close', () => tunnels.delete(client));
    for (const s of [client, server]) {
      // Idle WebSockets are normal (a notebook left open); TCP keep-alive notices dead peers instead.
      if (isSocket(s)) {
        s.setTimeout(0);
        s.setNoDelay(true);
        s.setKeepAlive(true, 30_000);
      }
    }
    pump(client, server, route);
    pump(server, client, route);
    // An error means the stream is broken: nothing left worth flushing.
    const destroyBoth = (): void => {
      client.destroy();
      server.destroy();
    };
    client.on('error', destroyBoth);
    server.on('error', destroyBoth);
    // A clean close on one side: flush what we still owe the other, then close it too.
    client.once('close', () => closeSoon(server));
    server.once('close', () => {
      sockets.delete(server);
      closeSoon(client);
    });
  }

  function close(): void {
    for (const agent of Object.values(agents)) agent.destroy();
    for (const s of sockets) s.destroy();
    sockets.clear();
    tunnels.clear();
  }

  return { handleRequest, handleUpgrade, openTunnels: () => [...tunnels.values()], close };
}

/**
 * Copies the client's headers for the upstream: hop-by-hop ones dropped (RFC 9110 §7.6.1), Host kept,
 * X-Forwarded-* added. Returns whether the request has a body.
 * `upgrade` set: this is a WebSocket handshake, so Connection/Upgrade are put back.
 */
function copyRequestHeaders(
  req: IncomingMessage,
  out: string[],
  upstream: Upstream,
  upgrade: string | undefined,
  dropCookies: readonly string[] | undefined,
): boolean {
  const raw = req.rawHeaders;
  let host: string | undefined;
  let forwardedFor: string | undefined;
  let connection: string | undefined;
  let hasProto = false;
  let hasHost = false;
  let hasPort = false;
  let hasBody = false;
  let chunked = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    let value = raw[i + 1]!;
    const lower = name.toLowerCase();
    switch (lower) {
      case 'cookie':
        if (dropCookies !== undefined) {
          value = withoutCookies(value, dropCookies);
          if (value === '') continue;
        }
        break;
      case 'host':
        host = value;
        break;
      case 'connection':
        connection = connection === undefined ? value : `${connection},${value}`;
        continue;
      case 'transfer-encoding':
        // Node has already decoded the framing; re-chunk towards the upstream below.
        hasBody = chunked = true;
        continue;
      case 'content-length':
        if (value !== '0') hasBody = true;
        break;
      case 'x-forwarded-for':
        forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
        continue;
      case 'x-forwarded-proto':
        hasProto = true;
        break;
      case 'x-forwarded-host':
        hasHost = true;
        break;
      case 'x-forwarded-port':
        hasPort = true;
        break;
      default:
        if (isHopByHop(lower)) continue;
    }
    out.push(name, value);
  }
  if (connection !== undefined) dropConnectionTokens(out, connection);
  if (host === undefined) {
    // HTTP/1.0 clients may omit Host; Jupyter (tornado) wants one.
    host = upstream.port === 80 || upstream.port === 443 ? upstream.host : `${upstream.host}:${upstream.port}`;
    out.push('Host', host);
  }
  // (llhttp rejects a request carrying both Transfer-Encoding and Content-Length.)
  if (chunked) out.push('Transfer-Encoding', 'chunked');
  if (upgrade !== undefined) out.push('Connection', 'Upgrade', 'Upgrade', upgrade);

  // For is appended (every hop adds itself); Proto/Host/Port describe what the browser used, so a
  // value set by a TLS-terminating proxy in front of us is kept rather than overwritten.
  const socket = req.socket;
  const remote = socket.remoteAddress;
  if (remote !== undefined) out.push('X-Forwarded-For', forwardedFor === undefined ? remote : `${forwardedFor}, ${remote}`);
  else if (forwardedFor !== undefined) out.push('X-Forwarded-For', forwardedFor);
  const proto = (socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  if (!hasProto) out.push('X-Forwarded-Proto', proto);
  if (!hasHost) out.push('X-Forwarded-Host', host);
  if (!hasPort) out.push('X-Forwarded-Port', portOf(host, proto));
  return hasBody;
}

/** `a=1; session=x; b=2` without the named cookies. */
function withoutCookies(header: string, names: readonly string[]): string {
  if (!names.some((n) => header.includes(n))) return header; // the usual case: nothing to do
  return header
    .split(';')
    .filter((pair) => {
      const eq = pair.indexOf('=');
      return !names.includes((eq === -1 ? pair : pair.slice(0, eq)).trim());
    })
    .map((pair) => pair.trim())
    .join('; ');
}

/** Headers named in Connection are hop-by-hop too (except Host, which we never let a client strip). */
function dropConnectionTokens(out: string[], connection: string): void {
  let extra: string[] | undefined;
  for (const token of connection.split(',')) {
    const t = token.trim().toLowerCase();
    if (t !== '' && t !== 'keep-alive' && t !== 'close' && t !== 'upgrade' && t !== 'host') (extra ??= []).push(t);
  }
  if (extra === undefined) return;
  for (let i = out.length - 2; i >= 0; i -= 2) {
    if (extra.includes(out[i]!.toLowerCase())) out.splice(i, 2);
  }
}

/** Whether a guarded response header (lowercase name) may go on to the browser. */
type HeaderGuard = (lowerName: string, value: string) => boolean;

/**
 * Upstream response headers minus hop-by-hop ones and those `allowed` refuses; Set-Cookie and other
 * repeats stay separate. Returns whether the response declares its length.
 */
function copyResponseHeaders(raw: string[], out: string[], allowed: HeaderGuard): boolean {
  let connection: string | undefined;
  let sized = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (lower === 'connection') {
      connection = raw[i + 1];
      continue;
    }
    if (isHopByHop(lower)) continue; // includes Transfer-Encoding: Node re-frames the body
    if (GUARDED_RESPONSE_HEADERS.has(lower) && !allowed(lower, raw[i + 1]!)) continue;
    if (lower === 'content-length') sized = true;
    out.push(name, raw[i + 1]!);
  }
  if (connection !== undefined) dropConnectionTokens(out, connection);
  return sized;
}

/** Response header lines for a raw socket; `strip` drops hop-by-hop ones (for non-101 answers). */
function rawHeaderLines(raw: string[], strip: boolean, allowed: HeaderGuard): string {
  let s = '';
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (strip && (lower === 'connection' || isHopByHop(lower))) continue;
    if (GUARDED_RESPONSE_HEADERS.has(lower) && !allowed(lower, raw[i + 1]!)) continue;
    s += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  return s;
}

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) and Proxy-*, plus `Proxy` itself (httpoxy). Connection is
 * handled by the callers, which also drop the headers it names.
 */
const HOP_BY_HOP = new Set(['keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy']);

function isHopByHop(lowerName: string): boolean {
  return HOP_BY_HOP.has(lowerName) || lowerName.startsWith('proxy-');
}

function statusLine(res: IncomingMessage): string {
  const status = res.statusCode ?? 502;
  return `HTTP/1.1 ${status} ${res.statusMessage || http.STATUS_CODES[status] || ''}\r\n`;
}

/** Copies src to dst with backpressure, ending dst when src ends, and counts the traffic as activity. */
function pump(src: Duplex | IncomingMessage, dst: Duplex, route: Route): void {
  src.on('data', (chunk: Buffer) => {
    route.lastActivity = Date.now();
    if (!dst.write(chunk)) src.pause();
  });
  dst.on('drain', () => src.resume());
  src.on('end', () => dst.end());
}

/** Ends a socket after its pending writes, and makes sure it is gone even if the peer never reads. */
function closeSoon(s: Duplex): void {
  if (s.destroyed) return;
  s.end(() => s.destroy());
  setTimeout(() => s.destroy(), 5_000).unref();
}

function sendText(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) return void res.destroy();
  const body = Buffer.from(message);
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length });
  res.end(body);
}

/** Answers a not-yet-upgraded socket with a plain HTTP response and closes it. */
function rejectSocket(socket: Duplex, status: number, message: string, location?: string): void {
  if (!socket.writable) return void socket.destroy();
  const body = Buffer.from(message);
  let head = `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n`;
  if (location !== undefined) head += `Location: ${location}\r\n`;
  head += `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  socket.write(head);
  socket.end(body, () => socket.destroy());
}

/** Adds a connect timeout to an agent and takes a per-request cost out of socket reuse. */
function tuneAgent<A extends http.Agent>(agent: A, connectTimeoutMs: number): A {
  // Node's own version reads `res.headers['keep-alive']`, which makes Node build a header object for
  // every upstream response (~9 % of the proxy's CPU under load). Without an agent timeout Node uses
  // that hint only to refuse reuse when the server idles out within 1 s (Jupyter's tornado sends no
  // hint and idles for an hour); for such a server the retry in forward() covers GET/HEAD/OPTIONS.
  agent.keepSocketAlive = (socket: Duplex): boolean => {
    if (isSocket(socket)) socket.setKeepAlive(true, 1000).unref();
    return true;
  };
  // Only new connections pay for the timer; once connected, streams may idle as long as they like.
  const create = agent.createConnection.bind(agent);
  agent.createConnection = (opts, cb) => {
    const socket = create(opts, cb);
    if (socket) {
      const timer = setTimeout(() => {
        socket.destroy(Object.assign(new Error(`connect timeout after ${connectTimeoutMs} ms`), { code: 'ETIMEDOUT' }));
      }, connectTimeoutMs);
      socket.once('connect', () => clearTimeout(timer));
      socket.once('close', () => clearTimeout(timer));
    }
    return socket;
  };
  return agent;
}

function portOf(host: string, proto: string): string {
  const colon = host.lastIndexOf(':');
  if (colon !== -1 && colon > host.lastIndexOf(']')) return host.slice(colon + 1);
  return proto === 'https' ? '443' : '80';
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown }).then === 'function';
}

function isConnReset(err: Error): boolean {
  return (err as NodeJS.ErrnoException).code === 'ECONNRESET';
}

function isIdempotent(method: string | undefined): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS';
}

function isSocket(s: Duplex): s is Socket {
  return typeof (s as Socket).setNoDelay === 'function';
}

function ignore(): void {}
