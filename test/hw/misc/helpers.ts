/**
 * Shared test fixtures for device tests: a manual virtual clock with timers and
 * bottom halves, a hart stand-in recording mip bits, and MMIO helpers that call
 * a region's ops as dispatch would.
 */
import type { BottomHalf, Scheduler, Timer } from '../../../src/sync/work.js';
import type { MemoryRegion } from '../../../src/memory/region.js';
import { MEMTXATTRS_UNSPECIFIED } from '../../../src/memory/types.js';

class FakeTimer implements Timer {
  deadline = Infinity;
  armed = false;
  constructor(readonly cb: () => void) {}
  get pending(): boolean {
    return this.armed;
  }
  mod(deadlineNs: number): void {
    this.deadline = deadlineNs;
    this.armed = true;
  }
  del(): void {
    this.armed = false;
  }
}

export class FakeScheduler implements Scheduler {
  now = 0;
  readonly timers: FakeTimer[] = [];
  readonly bhs: Array<{ cb: () => void; scheduled: boolean }> = [];
  readonly clock = { now: (): number => this.now };

  newTimer(cb: () => void): Timer {
    const t = new FakeTimer(cb);
    this.timers.push(t);
    return t;
  }

  newBottomHalf(cb: () => void): BottomHalf {
    const e = { cb, scheduled: false };
    this.bhs.push(e);
    return {
      schedule: () => {
        e.scheduled = true;
      },
      cancel: () => {
        e.scheduled = false;
      },
    };
  }

  /** Advance the clock to `ns`, firing due timers in deadline order. */
  advanceTo(ns: number): void {
    for (;;) {
      let next: FakeTimer | null = null;
      for (const t of this.timers) if (t.armed && t.deadline <= ns && (!next || t.deadline < next.deadline)) next = t;
      if (!next) break;
      this.now = Math.max(this.now, next.deadline);
      next.armed = false;
      next.cb();
    }
    this.now = Math.max(this.now, ns);
    this.runBottomHalves();
  }

  advance(ns: number): void {
    this.advanceTo(this.now + ns);
  }

  runBottomHalves(): void {
    for (const e of this.bhs) {
      if (e.scheduled) {
        e.scheduled = false;
        e.cb();
      }
    }
  }
}

/** Records mip bit levels the way a Hart's setInterruptLevel would. */
export class RecordingHart {
  mip = 0;
  calls = 0;
  setInterruptLevel(bit: number, level: boolean): void {
    this.calls++;
    if (level) this.mip |= 1 << bit;
    else this.mip &= ~(1 << bit);
  }
  has(bit: number): boolean {
    return (this.mip & (1 << bit)) !== 0;
  }
}

const OUT = new Uint32Array(2);

/** A callback read of `size` bytes as dispatch makes it (the *WithAttrs callback where there is one); an 8-byte one's low half. */
export function rd(mr: MemoryRegion, off: number, size = 4): number {
  const ops = mr.ops!;
  if (ops.readWithAttrs) {
    OUT.fill(0);
    ops.readWithAttrs(off, size, MEMTXATTRS_UNSPECIFIED, OUT);
    return OUT[0]!;
  }
  return ops.read!(off, size, MEMTXATTRS_UNSPECIFIED) >>> 0;
}

/** A callback write as dispatch makes it; `hi`: an 8-byte value's high half. */
export function wr(mr: MemoryRegion, off: number, value: number, size = 4, hi = 0): void {
  const ops = mr.ops!;
  if (ops.writeWithAttrs) ops.writeWithAttrs(off, value >>> 0, size, MEMTXATTRS_UNSPECIFIED, hi >>> 0);
  else ops.write!(off, value >>> 0, size, MEMTXATTRS_UNSPECIFIED);
}

/** Deterministic pseudo-random numbers for hostile-input sweeps. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}

/** Hammer every register of a region with random values and sizes it declares valid; nothing may throw. */
export function fuzzRegion(mr: MemoryRegion, span: number, iterations: number, seed = 1): void {
  const rnd = lcg(seed);
  const sizes = [1, 2, 4, 8].filter((s) => s >= mr.implMin && s <= mr.implMax);
  for (let i = 0; i < iterations; i++) {
    const size = sizes[rnd() % sizes.length]!;
    const off = (rnd() % Math.max(1, span)) & ~(size - 1);
    if (off + size > mr.size) continue;
    if (rnd() & 1) wr(mr, off, rnd(), size, size === 8 ? rnd() : 0);
    else rd(mr, off, size);
  }
}
