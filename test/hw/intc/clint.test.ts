import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Clint, MIP_MSIP_BIT, MIP_MTIP_BIT } from '../../../src/hw/intc/clint.js';
import { FakeScheduler, RecordingHart, rd, wr, fuzzRegion } from '../misc/helpers.js';

function make(n = 2) {
  const sched = new FakeScheduler();
  const harts = Array.from({ length: n }, () => new RecordingHart());
  const clint = new Clint(harts, sched);
  return { sched, harts, clint, swi: clint.swi, mt: clint.mtimer };
}

test('clint: two regions with QEMU names and sizes', () => {
  const { swi, mt } = make();
  assert.equal(swi.name, 'riscv.aclint.swi');
  assert.equal(swi.size, 0x4000);
  assert.equal(mt.name, 'riscv.aclint.mtimer');
  assert.equal(mt.size, 0x8000);
});

test('clint: mtimecmp resets to 0 so MTIP is asserted (QEMU shows mip = 0x80 at reset)', () => {
  const { harts } = make();
  assert.ok(harts[0]!.has(MIP_MTIP_BIT));
  assert.ok(harts[1]!.has(MIP_MTIP_BIT));
});

test('clint: msip per hart drives MSIP; only bit 0 is kept', () => {
  const { harts, swi } = make();
  wr(swi, 4, 0xffffffff);
  assert.equal(rd(swi, 4), 1);
  assert.ok(harts[1]!.has(MIP_MSIP_BIT));
  assert.ok(!harts[0]!.has(MIP_MSIP_BIT));
  wr(swi, 4, 2);
  assert.ok(!harts[1]!.has(MIP_MSIP_BIT));
  wr(swi, 8, 1); // no hart 2
  assert.equal(rd(swi, 8), 0);
});

test('clint: mtime runs at 10 MHz from the virtual clock', () => {
  const { sched, clint, mt } = make();
  sched.advanceTo(12_345_678_900);
  assert.equal(clint.mtime(), 123_456_789);
  assert.equal(rd(mt, 0x7ff8), 123_456_789);
  assert.equal(rd(mt, 0x7ffc), 0);
  sched.advanceTo(2 ** 32 * 100 + 550);
  assert.equal(rd(mt, 0x7ff8), 5);
  assert.equal(rd(mt, 0x7ffc), 1);
});

test('clint: MTIP rises exactly at the deadline via a timer and drops on a later mtimecmp', () => {
  const { sched, harts, mt } = make();
  wr(mt, 0, 1000); // lo first, hi = 0
  wr(mt, 4, 0);
  assert.ok(!harts[0]!.has(MIP_MTIP_BIT));
  sched.advanceTo(99_999);
  assert.ok(!harts[0]!.has(MIP_MTIP_BIT));
  sched.advanceTo(100_000);
  assert.ok(harts[0]!.has(MIP_MTIP_BIT));
  // Writing the classic "hi = ~0 first" sequence lowers it and it stays low.
  wr(mt, 4, 0xffffffff);
  assert.ok(!harts[0]!.has(MIP_MTIP_BIT));
  wr(mt, 0, 0xffffffff);
  sched.advanceTo(10 ** 15);
  assert.ok(!harts[0]!.has(MIP_MTIP_BIT));
  assert.equal(rd(mt, 0), 0xffffffff);
  assert.equal(rd(mt, 4), 0xffffffff);
  assert.ok(harts[1]!.has(MIP_MTIP_BIT), 'hart 1 untouched');
});

test('clint: per-hart mtimecmp at 8-byte stride', () => {
  const { sched, harts, mt } = make();
  wr(mt, 8, 50);
  wr(mt, 12, 0);
  wr(mt, 0, 0xffffffff);
  wr(mt, 4, 0xffffffff);
  sched.advanceTo(5000);
  assert.ok(harts[1]!.has(MIP_MTIP_BIT));
  assert.ok(!harts[0]!.has(MIP_MTIP_BIT));
});

test('clint: writing mtime moves the timebase and re-evaluates deadlines', () => {
  const { sched, harts, clint, mt } = make(1);
  wr(mt, 4, 0);
  wr(mt, 0, 1_000_000);
  assert.ok(!harts[0]!.has(MIP_MTIP_BIT));
  wr(mt, 0x7ffc, 0);
  wr(mt, 0x7ff8, 999_990);
  assert.equal(clint.mtime(), 999_990);
  sched.advance(999);
  assert.ok(!harts[0]!.has(MIP_MTIP_BIT));
  sched.advance(1);
  assert.ok(harts[0]!.has(MIP_MTIP_BIT));
  wr(mt, 0x7ff8, 0);
  assert.ok(!harts[0]!.has(MIP_MTIP_BIT));
});

test('clint: reset clears msip and mtimecmp', () => {
  const { harts, clint, swi, mt } = make(1);
  wr(swi, 0, 1);
  wr(mt, 4, 1);
  clint.reset();
  assert.equal(rd(swi, 0), 0);
  assert.equal(rd(mt, 4), 0);
  assert.ok(!harts[0]!.has(MIP_MSIP_BIT));
  assert.ok(harts[0]!.has(MIP_MTIP_BIT));
});

test('clint: hostile accesses never throw', () => {
  const { sched, swi, mt } = make(4);
  fuzzRegion(swi, 0x4000, 20000, 3);
  fuzzRegion(mt, 0x8000, 20000, 4);
  for (const v of [0, 0xffffffff, 0x80000000]) {
    wr(mt, 0x7ff8, v);
    wr(mt, 0x7ffc, v);
    sched.advance(1000);
  }
});
