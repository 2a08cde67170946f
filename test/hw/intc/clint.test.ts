import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Clint, MIP_MSIP_BIT, MIP_MTIP_BIT } from '../../../src/hw/intc/clint.js';
import { AddressSpace } from '../../../src/memory/address-space.js';
import { MemoryRegion } from '../../../src/memory/region.js';
import { MEMTX_OK, MEMTXATTRS_UNSPECIFIED as U } from '../../../src/memory/types.js';
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

/** The mtimer in an address space at 0, so accesses go through dispatch as a hart's do. */
function mapped(n = 1) {
  const m = make(n);
  const sys = MemoryRegion.container('sys', 0x10000);
  sys.addSubregion(0, m.mt);
  return { ...m, as: new AddressSpace(sys, 'clint', { log: () => {} }) };
}

test('clint: an 8-byte mtime read samples the clock once; two 4-byte reads sample it twice', () => {
  const { sched, as } = mapped();
  // mtime's low half at its last value; every look at the clock moves it one tick on.
  let ns = (2 ** 32 - 1) * 100;
  sched.clock.now = () => {
    const t = ns;
    ns += 100;
    return t;
  };
  assert.equal(as.ldq(0x7ff8), 0xffffffffn);
  ns = (2 ** 32 - 1) * 100;
  // The halves come from different instants: the carry between them tears the value.
  assert.equal(as.load(0x7ff8, 4, U), MEMTX_OK);
  const lo = as.valLo;
  assert.equal(as.load(0x7ffc, 4, U), MEMTX_OK);
  assert.equal(lo, 0xffffffff);
  assert.equal(as.valLo, 1);
  as.destroy();
});

test('clint: 8-byte mtimecmp and mtime writes set both halves at once', () => {
  const { sched, harts, clint, as } = mapped(2);
  const raised: boolean[] = [];
  const set = harts[1]!.setInterruptLevel.bind(harts[1]!);
  harts[1]!.setInterruptLevel = (bit, level) => {
    if (bit === MIP_MTIP_BIT) raised.push(level);
    set(bit, level);
  };
  // hart 1's mtimecmp = 2^32 + 5 in one write: MTIP (high since reset) drops once.
  assert.equal(as.store(8, 8, 5, 1, U), MEMTX_OK);
  assert.deepEqual(raised, [false]);
  assert.equal(as.ldq(8), 0x100000005n);
  assert.equal(clint.mtimecmp(1), 2 ** 32 + 5);
  // mtime = 2^32 + 4: due one tick later.
  assert.equal(as.store(0x7ff8, 8, 4, 1, U), MEMTX_OK);
  assert.equal(clint.mtime(), 2 ** 32 + 4);
  assert.ok(!harts[1]!.has(MIP_MTIP_BIT));
  sched.advance(100);
  assert.ok(harts[1]!.has(MIP_MTIP_BIT));
  assert.equal(as.ldq(0x7ff8), BigInt(2 ** 32 + 5));
  as.destroy();
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
