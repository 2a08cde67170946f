import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventLoop, type RunnableHart } from '../../src/machine/event-loop.js';

class SpinHart implements RunnableHart {
  executed = 0;
  waiting = false;
  run(budget: number): number {
    this.executed += budget;
    return budget;
  }
  requestStop(): void {}
}

test('pause: the realtime clock stands still while paused and goes on from there (no jump on resume)', () => {
  let host = 1_000_000;
  const loop = new EventLoop({ clock: { kind: 'realtime' }, hostNowNs: () => host });
  host += 500;
  assert.equal(loop.clock.now(), 500);
  loop.pause();
  assert.ok(loop.isPaused);
  host += 10_000_000; // 10 ms of host time while stopped
  assert.equal(loop.clock.now(), 500);
  loop.resume();
  assert.equal(loop.clock.now(), 500);
  host += 25;
  assert.equal(loop.clock.now(), 525);
  // A second pause accumulates.
  loop.pause();
  host += 7_000;
  loop.resume();
  host += 1;
  assert.equal(loop.clock.now(), 526);
});

test('pause: no hart runs and no timer fires while paused; bottom halves still run; the timer fires after resume', async () => {
  let host = 0;
  const loop = new EventLoop({ clock: { kind: 'realtime' }, hostNowNs: () => host, quantum: 10 });
  const h = new SpinHart();
  loop.addHart(h);
  let fired = 0;
  const t = loop.newTimer(() => fired++);
  t.mod(100);
  loop.pause();
  host = 1_000_000;
  assert.equal(loop.runRound(), false);
  assert.equal(loop.runTimers(), 0);
  assert.equal(h.executed, 0);
  let bh = 0;
  loop.newBottomHalf(() => bh++).schedule();
  const run = loop.run();
  for (let i = 0; i < 5 && bh === 0; i++) await new Promise((r) => setImmediate(r));
  assert.equal(bh, 1);
  assert.equal(h.executed, 0);
  assert.equal(fired, 0);
  loop.requestExit(0);
  assert.equal(await run, 0);
  loop.resume();
  assert.equal(fired, 0);
  host += 200; // the timer is due 100 ns of machine time after the pause point
  loop.runRound();
  assert.equal(fired, 1);
});

test('pause: the virtual (icount) clock does not warp while paused', () => {
  const loop = new EventLoop({ clock: { kind: 'virtual', nsPerInsn: 1 }, quantum: 100 });
  const h = new SpinHart();
  loop.addHart(h);
  loop.runRound();
  const before = loop.clock.now();
  loop.pause();
  loop.runRound();
  loop.runRound();
  assert.equal(loop.clock.now(), before);
  loop.resume();
  loop.runRound();
  assert.equal(loop.clock.now(), before + 100);
});
