/**
 * Bench upstream: a stand-in for a Jupyter server that answers instantly, so the proxies are what
 * is measured. HTTP: a small JSON body (like /api/status). WebSocket: echo.
 * Prints `READY <port>` when listening.
 */
import http from 'node:http';
import { WebSocketServer } from 'ws';

const body = Buffer.from(JSON.stringify({ started: '2024-01-01T00:00:00.000000Z', last_activity: '2024-01-01T00:00:00.000000Z', connections: 1, kernels: 1 }));

const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  req.resume();
  // The head jupyter_server (tornado) sends for /api/status.
  res.writeHead(200, [
    'Server', 'TornadoServer/6.4.1',
    'Content-Type', 'application/json',
    'X-Content-Type-Options', 'nosniff',
    'Content-Security-Policy', "frame-ancestors 'self'; report-uri /user/alice/api/security/csp-report; default-src 'none'",
    'Etag', '"2f6b0c3e8d3f0e0d5c8a1b7c5d4e3f2a1b0c9d8e"',
    'Content-Length', String(body.length),
  ]);
  res.end(body);
});
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`READY ${typeof addr === 'object' && addr ? addr.port : 0}\n`);
});
process.on('SIGTERM', () => process.exit(0));
