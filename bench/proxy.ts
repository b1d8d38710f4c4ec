/**
 * Side-by-side proxy benchmark: configurable-http-proxy (what JupyterHub uses) vs Refinery's proxy,
 * in front of the same upstream, in the same run, in alternating rounds.
 *
 *   node dist/bench/proxy.js [--rounds 5] [--http-seconds 8] [--ws-seconds 6] [--connections 32]
 *                            [--ws-clients 16] [--warmup-seconds 3] [--path /user/alice/api/status]
 *                            [--skip-direct]
 *
 * Every piece runs in its own process: the upstream, each proxy, and the load generator (wrk for
 * HTTP, a node `ws` client for WebSocket). See bench/README.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './lib/stats.js';
import { runWrk, wrkVersion, type WrkResult } from './lib/wrk.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const repo = path.resolve(here, '..', '..');

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    'http-seconds': { type: 'string', default: '8' },
    'ws-seconds': { type: 'string', default: '6' },
    'skip-direct': { type: 'boolean', default: false },
    connections: { type: 'string', default: '32' },
    'ws-clients': { type: 'string', default: '16' },
    'warmup-seconds': { type: 'string', default: '3' },
    path: { type: 'string', default: '/user/alice/api/status' },
  },
});
const cfg = {
  rounds: Math.max(3, Number(args.rounds)),
  httpSeconds: Number(args['http-seconds']),
  wsSeconds: Number(args['ws-seconds']),
  connections: Number(args.connections),
  wsClients: Number(args['ws-clients']),
  warmupSeconds: Number(args['warmup-seconds']),
  path: args.path!,
  wrkThreads: 1,
  direct: !args['skip-direct'],
};

/** What a browser running JupyterLab sends with an API call: proxies pay per header, so send them all. */
const BROWSER_HEADERS = [
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  'Accept: */*',
  'Accept-Language: en-US,en;q=0.9',
  'Accept-Encoding: gzip, deflate, br, zstd',
  'Referer: http://127.0.0.1/user/alice/lab/tree/analysis.ipynb',
  'X-XSRFToken: 2|1f2e3d4c|5b6a79880a1b2c3d4e5f60718293a4b5|1700000000',
  'Sec-Fetch-Dest: empty',
  'Sec-Fetch-Mode: cors',
  'Sec-Fetch-Site: same-origin',
];

interface Run {
  /** 1-minute load average after the run: a busy machine explains an odd round. */
  loadAverage: number;
  http: WrkResult & { cpuUsPerReq: number };
  ws: { msgsPerSec: number; p50Ms: number; p99Ms: number; errors: number; cpuUsPerMsg: number };
}
interface Contender {
  name: string;
  port: number;
  /** The proxy process whose CPU time is charged to it; undefined for the no-proxy baseline. */
  pid: number | undefined;
  runs: Run[];
}

const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of children) c.kill('SIGTERM');
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

async function main(): Promise<void> {
  const wrk = wrkVersion();
  if (!wrk) {
    console.error('wrk is not installed. Install it with:\n  apt-get update && apt-get install -y wrk\n(or run `bash scripts/setup.sh --bench`).');
    process.exit(2);
  }
  const chpPkg = JSON.parse(readFileSync(path.join(repo, 'node_modules/configurable-http-proxy/package.json'), 'utf8')) as { version: string };
  const session = randomBytes(24).toString('base64url');
  const cookie = `_xsrf=2|1f2e3d4c|5b6a79880a1b2c3d4e5f60718293a4b5|1700000000; refinery-session=${session}; jupyterhub-user-alice=2|1:0|10:1700000000|21:jupyterhub-user-alice|44:ZmFrZWZha2VmYWtlZmFrZWZha2VmYWtlZmFrZWZha2U=|0123456789abcdef`;

  const upstream = await startChild('node', [path.join(here, 'lib/upstream.js')]);
  const target = `http://127.0.0.1:${upstream.port}`;
  const refinery = await startChild('node', [path.join(here, 'lib/refinery-proxy-server.js'), target, session]);
  const chp = await startChp(target);

  const contenders: Contender[] = [
    { name: `CHP ${chpPkg.version}`, port: chp.port, pid: chp.pid, runs: [] },
    { name: 'Refinery', port: refinery.port, pid: refinery.pid, runs: [] },
  ];
  // The upstream without any proxy: what the load generator and upstream alone can do on this machine.
  if (cfg.direct) contenders.push({ name: 'direct', port: upstream.port, pid: undefined, runs: [] });
  for (const c of contenders) await sanityCheck(c, cookie);

  console.log(
    `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, node ${process.version}, ${wrk}\n` +
      `load: wrk -t${cfg.wrkThreads} -c${cfg.connections} ${cfg.httpSeconds}s; ws ${cfg.wsClients} clients × sequential round trips ${cfg.wsSeconds}s; ` +
      `${cfg.rounds} alternating rounds after ${cfg.warmupSeconds}s warm-up each\n`,
  );

  for (const c of contenders) {
    process.stdout.write(`warm-up ${c.name} ... `);
    await httpRun(c, cookie, cfg.warmupSeconds);
    await wsRun(c, cookie, Math.max(1, cfg.warmupSeconds / 2));
    console.log('done');
  }

  for (let round = 1; round <= cfg.rounds; round++) {
    for (const c of contenders) {
      const h = await httpRun(c, cookie, cfg.httpSeconds);
      const w = await wsRun(c, cookie, cfg.wsSeconds);
      c.runs.push({ http: h, ws: w, loadAverage: os.loadavg()[0]! });
      const cpu = (x: number, unit: string): string => (Number.isNaN(x) ? '' : ` ${x.toFixed(0)} µs cpu/${unit}`);
      console.log(
        `round ${round} ${c.name.padEnd(10)} http ${h.requestsPerSec.toFixed(0).padStart(6)} req/s p50 ${h.p50Ms.toFixed(2)} p99 ${h.p99Ms.toFixed(2)} ms` +
          `${cpu(h.cpuUsPerReq, 'req')}${h.errors ? ` ERRORS ${h.errors}` : ''} | ` +
          `ws ${w.msgsPerSec.toFixed(0).padStart(6)} msg/s p50 ${w.p50Ms.toFixed(2)} p99 ${w.p99Ms.toFixed(2)} ms${cpu(w.cpuUsPerMsg, 'msg')}` +
          `${w.errors ? ` ERRORS ${w.errors}` : ''} | load ${os.loadavg()[0]!.toFixed(1)}`,
      );
    }
  }

  const summary = summarize(contenders);
  printTable(contenders, summary);

  const resultsDir = path.join(repo, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().slice(0, 16).replace(':', '');
  const file = path.join(resultsDir, `proxy-${stamp}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, wrk },
        config: cfg,
        contenders: contenders.map((c) => ({ name: c.name, runs: c.runs })),
        summary,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------

async function httpRun(c: Contender, cookie: string, seconds: number): Promise<Run['http']> {
  const cpu0 = cpuMicros(c.pid);
  const r = await runWrk(`http://127.0.0.1:${c.port}${cfg.path}`, {
    threads: cfg.wrkThreads,
    connections: cfg.connections,
    seconds,
    headers: [...BROWSER_HEADERS, `Cookie: ${cookie}`],
  });
  const cpu = cpuMicros(c.pid) - cpu0;
  return { ...r, cpuUsPerReq: r.requests ? cpu / r.requests : NaN };
}

async function wsRun(c: Contender, cookie: string, seconds: number): Promise<Run['ws']> {
  const cpu0 = cpuMicros(c.pid);
  const out = await captureJson(
    'node',
    [path.join(here, 'lib/ws-client.js'), `ws://127.0.0.1:${c.port}/user/alice/api/kernels/k/channels`, String(cfg.wsClients), String(seconds), cookie],
  );
  const cpu = cpuMicros(c.pid) - cpu0;
  const r = out as { messages: number; seconds: number; p50Ms: number; p99Ms: number; errors: number };
  return { msgsPerSec: r.messages / r.seconds, p50Ms: r.p50Ms, p99Ms: r.p99Ms, errors: r.errors, cpuUsPerMsg: r.messages ? cpu / r.messages : NaN };
}

/** user+system CPU time of a process in µs, from /proc (Linux); NaN elsewhere. */
function cpuMicros(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
    return (ticks / 100) * 1e6; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

interface Row {
  metric: string;
  chp: number;
  refinery: number;
  /** Refinery / CHP. */
  ratio: number;
  /** The same ratio per round (each round runs both back to back), for judging the spread. */
  roundRatios: number[];
  /** No proxy at all, when measured. */
  direct?: number;
}

function summarize([chp, ref, direct]: Contender[]): Row[] {
  const pick: Array<[string, (r: Run) => number]> = [
    ['http req/s', (r) => r.http.requestsPerSec],
    ['http p50 ms', (r) => r.http.p50Ms],
    ['http p99 ms', (r) => r.http.p99Ms],
    ['http proxy cpu µs/req', (r) => r.http.cpuUsPerReq],
    ['ws msg/s', (r) => r.ws.msgsPerSec],
    ['ws p50 ms', (r) => r.ws.p50Ms],
    ['ws p99 ms', (r) => r.ws.p99Ms],
    ['ws proxy cpu µs/msg', (r) => r.ws.cpuUsPerMsg],
  ];
  return pick.map(([metric, f]) => {
    const a = median(chp!.runs.map(f));
    const b = median(ref!.runs.map(f));
    // Rounds pair the two proxies in time, so a ratio per round cancels slow drifts in machine load.
    const roundRatios = ref!.runs.map((r, i) => f(r) / f(chp!.runs[i]!));
    return { metric, chp: a, refinery: b, ratio: median(roundRatios), roundRatios, ...(direct ? { direct: median(direct.runs.map(f)) } : {}) };
  });
}

function printTable(contenders: Contender[], rows: Row[]): void {
  const [chp, ref, direct] = contenders;
  console.log(
    `\nmedians of ${cfg.rounds} rounds; ratio = median over rounds of Refinery / CHP in the same round (range in brackets)\n` +
      `for req/s and msg/s higher is better, for latency and cpu lower is better\n`,
  );
  const widths = [24, 12, 12, 24, 12];
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('');
  console.log(line(['metric', chp!.name, ref!.name, 'Refinery/CHP', ...(direct ? ['no proxy'] : [])]));
  for (const r of rows) {
    const fmt = (x: number | undefined): string =>
      x === undefined || Number.isNaN(x) ? '-' : r.metric.includes('/s') || r.metric.includes('cpu') ? x.toFixed(0) : x.toFixed(2);
    const range = `(${Math.min(...r.roundRatios).toFixed(2)}–${Math.max(...r.roundRatios).toFixed(2)})`;
    console.log(line([r.metric, fmt(r.chp), fmt(r.refinery), `${r.ratio.toFixed(2)}× ${range}`, ...(direct ? [fmt(r.direct)] : [])]));
  }
  const errors = contenders.map((c) => c.runs.reduce((n, r) => n + r.http.errors + r.ws.errors, 0));
  if (errors.some((e) => e > 0)) {
    console.log(`\nERRORS (non-2xx/3xx or socket errors): ${contenders.map((c, i) => `${c.name} ${errors[i]}`).join(', ')}`);
  }
}

// ---------------------------------------------------------------------------------------------

/** Starts a child that prints `READY <port>`; resolves with its port and pid. */
function startChild(cmd: string, argv: string[]): Promise<{ port: number; pid: number }> {
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (c: string) => {
      out += c;
      const m = /READY (\d+)/.exec(out);
      if (m) resolve({ port: Number(m[1]), pid: child.pid! });
    });
    child.on('exit', (code) => reject(new Error(`${argv[0]} exited early with ${code}`)));
    child.on('error', reject);
  });
}

async function startChp(target: string): Promise<{ port: number; pid: number }> {
  const [port, apiPort] = [await freePort(), await freePort()];
  const token = randomBytes(16).toString('hex');
  const bin = path.join(repo, 'node_modules/configurable-http-proxy/bin/configurable-http-proxy');
  const child = spawn('node', [bin, '--ip', '127.0.0.1', '--port', String(port), '--api-ip', '127.0.0.1', '--api-port', String(apiPort), '--log-level', 'warn'], {
    env: { ...process.env, CONFIGPROXY_AUTH_TOKEN: token },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.push(child);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const status = await post(apiPort, '/api/routes/user/alice', token, JSON.stringify({ target })).catch(() => 0);
    if (status === 201) break;
    if (Date.now() > deadline) throw new Error('configurable-http-proxy did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { port, pid: child.pid! };
}

function post(port: number, p: string, token: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method: 'POST', headers: { Authorization: `token ${token}`, 'Content-Type': 'application/json' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Both proxies must really forward (and Refinery really authorize) before their speed means anything. */
async function sanityCheck(c: Contender, cookie: string): Promise<void> {
  const get = (headers: Record<string, string>): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: c.port, path: cfg.path, headers, agent: false }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on('error', reject);
    });
  const ok = await get({ Cookie: cookie });
  if (ok.status !== 200 || !ok.body.includes('kernels')) throw new Error(`${c.name}: unexpected answer ${ok.status} ${ok.body}`);
  if (c.name === 'direct') return;
  if (c.name === 'Refinery') {
    const anon = await get({});
    if (anon.status !== 302) throw new Error(`Refinery let a request without a session through (${anon.status})`);
  }
  const ws = await captureJson('node', [path.join(here, 'lib/ws-client.js'), `ws://127.0.0.1:${c.port}/user/alice/ws`, '1', '0.2', cookie]);
  if (!((ws as { messages: number }).messages > 0)) throw new Error(`${c.name}: websocket echo failed`);
}

function captureJson(cmd: string, argv: string[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (c: string) => (out += c));
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        if (code !== 0) throw new Error(`${argv[0]} exited with ${code}`);
        resolve(JSON.parse(out.trim().split('\n').pop()!));
      } catch (err) {
        reject(err);
      }
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

await main();
