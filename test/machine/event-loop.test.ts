import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventLoop, type RunnableHart } from '../../src/machine/event-loop.js';

/** A fake hart: spins `spinFor` instructions, then sleeps in WFI until woken. */
class FakeHart implements RunnableHart {
  executed = 0;
  waiting = false;
  stops = 0;
  onRun: ((h: FakeHart, budget: number) => number) | null = null;
  run(budget: number): number {
    if (this.onRun) return this.onRun(this, budget);
    if (this.waiting) return 0;
    this.executed += budget;
    return budget;
  }
  requestStop(): void {
    this.stops++;
  }
}

test('virtual clock: time advances with instructions, timers fire at their deadline', async () => {
  const loop = new EventLoop({ clock: { kind: 'virtual', nsPerInsn: 2 }, quantum: 1000 });
  const h = new FakeHart();
  loop.addHart(h);
  const fired: number[] = [];
  const t = loop.newTimer(() => {
    fired.push(loop.clock.now());
    if (fired.length === 3) loop.requestExit(7);
    else t.mod(loop.clock.now() + 5000);
  });
  t.mod(3001);
  assert.equal(await loop.run(), 7);
  // Budgets are clipped to the deadline, so each timer fires at the first instruction boundary at or after it.
  assert.deepEqual(fired, [3002, 8002, 13002]);
  assert.equal(h.executed * 2, loop.clock.now());
});

test('virtual clock warps to the next deadline when every hart waits in WFI', async () => {
  const loop = new EventLoop({ clock: { kind: 'virtual', nsPerInsn: 1 }, quantum: 100 });
  const h = new FakeHart();
  h.onRun = (self, budget) => {
    if (self.waiting) return 0;
    self.executed += 10;
    self.waiting = true; // executes 10 instructions, then WFI
    return 10;
  };
  loop.addHart(h);
  let at = -1;
  loop.newTimer(() => {
    at = loop.clock.now();
    loop.requestExit(0);
  }).mod(3_600_000_000_000);
  // An hour of guest time: had the loop waited in host time, the test would time out.
  assert.equal(await loop.run(), 0);
  assert.equal(at, 3_600_000_000_000);
});

test('deterministic: two runs with the same program give the same timeline', async () => {
  const trace = async (): Promise<number[]> => {
    const loop = new EventLoop({ clock: { kind: 'virtual', nsPerInsn: 1 }, quantum: 333 });
    const a = new FakeHart();
    const b = new FakeHart();
    loop.addHart(a);
    loop.addHart(b);
    const seen: number[] = [];
    const t = loop.newTimer(() => {
      seen.push(loop.clock.now(), a.executed, b.executed);
      if (seen.length >= 15) loop.requestExit(0);
      else t.mod(loop.clock.now() + 1234);
    });
    t.mod(1000);
    await loop.run();
    return seen;
  };
  assert.deepEqual(await trace(), await trace());
});

test('bottom halves run once between quanta and stop the running hart', async () => {
  const loop = new EventLoop({ clock: { kind: 'virtual', nsPerInsn: 1 }, quantum: 100 });
  let ran = 0;
  const bh = loop.newBottomHalf(() => {
    ran++;
    if (ran === 2) loop.requestExit(3);
  });
  const h = new FakeHart();
  let rounds = 0;
  h.onRun = (self) => {
    rounds++;
    if (rounds <= 2) {
      bh.schedule();
      bh.schedule(); // idempotent while pending
    }
    return 10;
  };
  loop.addHart(h);
  assert.equal(await loop.run(), 3);
  assert.equal(ran, 2);
  assert.equal(h.stops >= 2, true);
});

test('realtime mode: an idle machine sleeps until a timer, then a kick wakes it for input', async () => {
  const loop = new EventLoop({ clock: { kind: 'realtime' }, quantum: 100 });
  const h = new FakeHart();
  h.waiting = true;
  loop.addHart(h);
  const start = loop.clock.now();
  let firedAt = 0;
  loop.newTimer(() => {
    firedAt = loop.clock.now();
    // Input arrives later from Node's event loop: a kick must wake the idle loop.
    setTimeout(() => loop.requestExit(5), 20);
  }).mod(start + 30e6);
  assert.equal(await loop.run(), 5);
  assert.ok(firedAt - start >= 30e6, `fired after ${(firedAt - start) / 1e6} ms`);
});

test('the loop yields to Node while harts spin', async () => {
  const loop = new EventLoop({ clock: { kind: 'realtime' }, quantum: 1000, sliceMs: 2 });
  loop.addHart(new FakeHart());
  let ticks = 0;
  const iv = setInterval(() => {
    ticks++;
    if (ticks === 5) loop.requestExit(0);
  }, 1);
  await loop.run();
  clearInterval(iv);
  assert.equal(ticks, 5);
});

test('a device that wants host I/O shortens the turns to ioSliceMs, for IO_LINGER_MS after its last call', async () => {
  let host = 0;
  const loop = new EventLoop({ clock: { kind: 'realtime' }, quantum: 1000, sliceMs: 8, ioSliceMs: 1, hostNowNs: () => host });
  // Host turns, counted by an immediate that re-queues itself: each yield of the loop lets one run.
  let turn = 0;
  let counting = true;
  const tick = (): void => {
    turn++;
    if (counting) setImmediate(tick);
  };
  setImmediate(tick);
  const roundsPerTurn = new Map<number, number>();
  const h = new FakeHart();
  let rounds = 0;
  h.onRun = (_h, budget) => {
    roundsPerTurn.set(turn, (roundsPerTurn.get(turn) ?? 0) + 1);
    rounds++;
    host += 100_000; // each quantum takes 0.1 ms of host time
    // A guest polling its UART for the first 20 ms (200 rounds), then computing.
    if (rounds <= 200) loop.hostIoWanted();
    if (rounds === 2000) loop.requestExit(0);
    return budget;
  };
  loop.addHart(h);
  await loop.run();
  counting = false;
  const sizes = [...roundsPerTurn.values()];
  // The first turn runs 8 ms (the call comes during it, and ends it at 1 ms: 10 rounds), then
  // 1 ms turns while it calls and 30 ms after, then 8 ms turns again.
  assert.equal(sizes[0], 10);
  const short = sizes.slice(0, sizes.findIndex((n) => n > 10));
  assert.ok(short.every((n) => n === 10), String(sizes));
  // 20 ms of calls and 30 ms of lingering: 50 turns of 1 ms (give or take the turn that straddles).
  assert.ok(short.length >= 49 && short.length <= 52, `${short.length} short turns`);
  assert.ok(sizes.slice(short.length, -1).every((n) => n === 80), String(sizes));
});

test('errors from timers reach onError', async () => {
  const loop = new EventLoop({ clock: { kind: 'virtual', nsPerInsn: 1 } });
  loop.addHart(new FakeHart());
  const errs: unknown[] = [];
  loop.onError = (e) => {
    errs.push(e);
    loop.requestExit(1);
  };
  loop.newTimer(() => {
    throw new Error('boom');
  }).mod(10);
  assert.equal(await loop.run(), 1);
  assert.match(String(errs[0]), /boom/);
});

test('virtual clock moves inside a quantum and never goes backwards across harts', async () => {
  const loop = new EventLoop({ clock: { kind: 'virtual', nsPerInsn: 4 }, quantum: 100 });
  const seen: number[] = [];
  const mk = (): RunnableHart => {
    let done = 0;
    return {
      waiting: false,
      requestStop() {},
      progress: () => done,
      run(budget: number): number {
        // Read the clock after every 25 instructions, like a guest polling mtime.
        for (done = 0; done < budget; ) {
          done += Math.min(25, budget - done);
          seen.push(loop.clock.now());
        }
        return budget;
      },
    };
  };
  loop.addHart(mk());
  loop.addHart(mk());
  loop.newTimer(() => loop.requestExit(0)).mod(4000);
  await loop.run();
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!, `clock went from ${seen[i - 1]} to ${seen[i]}`);
  assert.equal(seen[0], 100);
  assert.equal(loop.clock.now(), loop.instructions * 4);
});
