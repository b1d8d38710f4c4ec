/**
 * WebSocket load: N clients, each doing sequential round trips (send a small message, wait for the
 * echo) for a fixed time. Runs in its own process so it does not share an event loop with a proxy.
 * Usage: node ws-client.js <ws-url> <clients> <seconds> [cookie]
 * Prints one JSON line: { messages, seconds, p50Ms, p99Ms, errors }.
 */
import { WebSocket } from 'ws';
import { percentile } from './stats.js';

const [url, clientsArg, secondsArg, cookie] = process.argv.slice(2);
if (!url) throw new Error('usage: ws-client <url> <clients> <seconds> [cookie]');
const clients = Number(clientsArg ?? 16);
const seconds = Number(secondsArg ?? 5);

// Kernel messages are small JSON documents; this one (182 bytes) is the size of a typical status message.
const payload = JSON.stringify({ header: { msg_type: 'status', msg_id: 'x'.repeat(32) }, content: { execution_state: 'idle' }, pad: 'p'.repeat(60) });

async function client(deadline: number, samples: number[]): Promise<number> {
  const ws = new WebSocket(url!, { headers: cookie ? { Cookie: cookie } : {}, perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let errors = 0;
  ws.on('error', () => errors++);
  while (performance.now() < deadline) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      ws.once('message', () => resolve());
      ws.send(payload);
    });
    samples.push(performance.now() - t0);
  }
  // A clean close handshake, so neither proxy logs resets from the load generator leaving.
  const closed = new Promise((resolve) => ws.once('close', resolve));
  ws.close();
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 2000))]);
  return errors;
}

const samples: number[] = [];
const start = performance.now();
const deadline = start + seconds * 1000;
const errors = (await Promise.all(Array.from({ length: clients }, () => client(deadline, samples)))).reduce((a, b) => a + b, 0);
const elapsed = (performance.now() - start) / 1000;
samples.sort((a, b) => a - b);
process.stdout.write(
  JSON.stringify({ messages: samples.length, seconds: elapsed, p50Ms: percentile(samples, 0.5), p99Ms: percentile(samples, 0.99), errors }) + '\n',
);
process.exit(0);
