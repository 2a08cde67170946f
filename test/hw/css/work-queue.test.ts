import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BottomHalf, Scheduler } from '../../../src/sync/work.js';
import { BottomHalfWorkQueue, ManualWorkQueue } from '../../../src/hw/css/work-queue.js';
import { CpArena } from '../../../src/hw/css/host-subchannel.js';

/** A scheduler whose bottom halves run only when the test says. */
function fakeScheduler() {
  const pending = new Set<() => void>();
  const sched: Scheduler = {
    clock: { now: () => 0 },
    newTimer: () => ({ mod() {}, del() {}, pending: false }),
    newBottomHalf(cb): BottomHalf {
      return { schedule: () => void pending.add(cb), cancel: () => void pending.delete(cb) };
    },
  };
  const poll = () => {
    const cbs = [...pending];
    pending.clear();
    for (const cb of cbs) cb();
    return cbs.length;
  };
  return { sched, poll };
}

test('ManualWorkQueue runs nothing until told, in the order asked', () => {
  const q = new ManualWorkQueue('q');
  const log: string[] = [];
  q.post('a', () => log.push('a'));
  q.post('b1', () => log.push('b1'));
  q.post('c', () => log.push('c'));
  assert.deepEqual(log, []);
  assert.deepEqual(q.labels(), ['a', 'b1', 'c']);
  assert.ok(q.runFirst('b'));
  assert.ok(q.runAt(1));
  assert.equal(q.runAt(5), false);
  assert.ok(q.runNext());
  assert.equal(q.runNext(), false);
  assert.deepEqual(log, ['b1', 'c', 'a']);
  assert.deepEqual(q.ran, ['b1', 'c', 'a']);
});

test('BottomHalfWorkQueue runs posted work FIFO from a bottom half, in bounded batches', () => {
  const { sched, poll } = fakeScheduler();
  const q = new BottomHalfWorkQueue(sched, undefined, 2);
  const log: number[] = [];
  for (let i = 0; i < 5; i++) q.post(`w${i}`, () => log.push(i));
  assert.deepEqual(log, []);
  poll();
  assert.deepEqual(log, [0, 1]);
  poll();
  poll();
  assert.deepEqual(log, [0, 1, 2, 3, 4]);
  assert.equal(poll(), 0);
  assert.equal(q.size, 0);
});

test('CpArena: reads of freed allocations are recorded, addresses never reused, double free noticed', () => {
  const a = new CpArena();
  const x = a.alloc(16, 'x');
  const y = a.alloc(8, 'y');
  assert.ok(y > x + 16);
  assert.ok(a.write(x + 8, new Uint8Array([1, 2])));
  const buf = new Uint8Array(2);
  assert.ok(a.read(x + 8, buf));
  assert.deepEqual([...buf], [1, 2]);
  assert.equal(a.read(x + 12, new Uint8Array(8)), false, 'runs past the allocation');
  a.free(x + 8);
  assert.ok(a.isLive(x), 'freeing an interior address frees nothing');
  a.free(x);
  assert.equal(a.isLive(x), false);
  assert.equal(a.read(x, buf), false);
  assert.equal(a.useAfterFree.length, 1);
  a.free(x);
  assert.deepEqual(a.doubleFree, ['x']);
  assert.ok(a.read(y, new Uint8Array(8)));
});
