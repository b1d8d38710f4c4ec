// The queue of local server starts (src/spawners/start-slots.ts): at most `limit` at once, oldest first.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StartSlots, defaultConcurrentStarts, type QueuePosition } from '../../src/spawners/start-slots.js';

const cancelled = () => new Error('cancelled');
const tick = () => new Promise((r) => setImmediate(r));

describe('StartSlots', () => {
  test('at most `limit` hold a slot; the others get theirs in the order they asked', async () => {
    const slots = new StartSlots(2);
    const order: string[] = [];
    const releases = new Map<string, () => void>();
    const ask = (name: string) => slots.acquire(new AbortController().signal, () => {}, cancelled).then((release) => {
      order.push(name);
      releases.set(name, release);
    });
    for (const name of ['a', 'b', 'c', 'd', 'e']) void ask(name);
    await tick();
    assert.deepEqual(order, ['a', 'b']);
    assert.deepEqual(slots.counts(), { running: 2, waiting: 3 });
    releases.get('b')!();
    releases.get('b')!(); // a second release frees nothing more
    await tick();
    assert.deepEqual(order, ['a', 'b', 'c']);
    releases.get('a')!();
    releases.get('c')!();
    await tick();
    assert.deepEqual(order, ['a', 'b', 'c', 'd', 'e']);
    assert.deepEqual(slots.counts(), { running: 2, waiting: 0 });
  });

  test('a waiting start hears its place, and moves up when one ahead of it leaves the queue', async () => {
    const slots = new StartSlots(1);
    const release = await slots.acquire(new AbortController().signal, () => assert.fail('a free slot means no waiting'), cancelled);
    const heard: QueuePosition[] = [];
    const first = new AbortController();
    const firstWait = slots.acquire(first.signal, () => {}, cancelled);
    const secondWait = slots.acquire(new AbortController().signal, (p) => heard.push(p), cancelled);
    assert.deepEqual(heard, [{ ahead: 1, running: 1, limit: 1 }]);
    first.abort();
    await assert.rejects(firstWait, /cancelled/);
    assert.deepEqual(heard.at(-1), { ahead: 0, running: 1, limit: 1 });
    release();
    const secondRelease = await secondWait;
    assert.deepEqual(slots.counts(), { running: 1, waiting: 0 });
    secondRelease();
    assert.deepEqual(slots.counts(), { running: 0, waiting: 0 });
  });

  test('an aborted signal is refused at once; a signal aborted after the slot was given changes nothing', async () => {
    const slots = new StartSlots(1);
    const gone = new AbortController();
    gone.abort();
    await assert.rejects(slots.acquire(gone.signal, () => {}, cancelled), /cancelled/);
    const later = new AbortController();
    const release = await slots.acquire(later.signal, () => {}, cancelled);
    later.abort();
    assert.deepEqual(slots.counts(), { running: 1, waiting: 0 });
    release();
  });

  test('limit 0 never queues; the default is twice the CPUs, at least 2; a bad limit is refused', async () => {
    const slots = new StartSlots(0);
    const releases = await Promise.all(Array.from({ length: 50 }, () => slots.acquire(new AbortController().signal, () => assert.fail('no queue'), cancelled)));
    assert.deepEqual(slots.counts(), { running: 50, waiting: 0 });
    for (const r of releases) r();
    assert.equal(defaultConcurrentStarts(1), 2);
    assert.equal(defaultConcurrentStarts(2), 4);
    assert.equal(defaultConcurrentStarts(16), 32);
    assert.throws(() => new StartSlots(-1), /whole number/);
    assert.throws(() => new StartSlots(1.5), /whole number/);
  });
});
