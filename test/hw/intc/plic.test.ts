import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Plic, MIP_MEIP_BIT, MIP_SEIP_BIT } from '../../../src/hw/intc/plic.js';
import { RecordingHart, rd, wr, fuzzRegion } from '../misc/helpers.js';

const prio = (s: number) => 4 * s;
const enable = (ctx: number, w = 0) => 0x2000 + 0x80 * ctx + 4 * w;
const thresh = (ctx: number) => 0x200000 + 0x1000 * ctx;
const claim = (ctx: number) => thresh(ctx) + 4;

function make(n = 2) {
  const harts = Array.from({ length: n }, () => new RecordingHart());
  const plic = new Plic(harts);
  return { harts, plic, mr: plic.mr };
}

test('plic: region name and size; 96 sources, 2 contexts per hart', () => {
  const { plic, mr } = make();
  assert.equal(mr.name, 'riscv.sifive.plic');
  assert.equal(mr.size, 0x600000);
  assert.equal(plic.numSources, 96);
  assert.equal(plic.numContexts, 4);
  assert.throws(() => plic.input(96), RangeError);
});

test('plic: priorities are 3-bit WARL; source 0 is hardwired to 0', () => {
  const { mr } = make();
  wr(mr, prio(10), 0xffffffff);
  assert.equal(rd(mr, prio(10)), 7);
  wr(mr, prio(0), 5);
  assert.equal(rd(mr, prio(0)), 0);
  wr(mr, prio(95), 3);
  assert.equal(rd(mr, prio(95)), 3);
  wr(mr, thresh(0), 0xff);
  assert.equal(rd(mr, thresh(0)), 7);
});

test('plic: enable bits beyond source 95 do not stick; bit 0 does (QEMU), but source 0 never pends', () => {
  const { mr, plic } = make();
  wr(mr, enable(0, 0), 0xffffffff);
  assert.equal(rd(mr, enable(0, 0)), 0xffffffff);
  plic.input(0).set(true);
  assert.equal(rd(mr, 0x1000), 0);
  wr(mr, enable(0, 2), 0xffffffff);
  assert.equal(rd(mr, enable(0, 2)), 0xffffffff);
  wr(mr, enable(0, 3), 0xffffffff);
  assert.equal(rd(mr, enable(0, 3)), 0);
});

test('plic: M context drives MEIP, S context drives SEIP; claim/complete gateway', () => {
  const { harts, plic, mr } = make();
  wr(mr, prio(10), 1);
  wr(mr, enable(0), 1 << 10); // hart 0 M
  wr(mr, enable(3), 1 << 10); // hart 1 S
  plic.input(10).set(true);
  assert.ok(harts[0]!.has(MIP_MEIP_BIT));
  assert.ok(harts[1]!.has(MIP_SEIP_BIT));
  assert.ok(!harts[0]!.has(MIP_SEIP_BIT));
  assert.equal(rd(mr, 0x1000), 1 << 10);
  assert.equal(rd(mr, claim(0)), 10);
  assert.equal(rd(mr, 0x1000), 0, 'claim clears pending');
  assert.ok(!harts[0]!.has(MIP_MEIP_BIT));
  assert.ok(!harts[1]!.has(MIP_SEIP_BIT), 'claimed source is not offered to other contexts');
  assert.equal(rd(mr, claim(3)), 0);
  // Still high: not pending again until completed.
  plic.input(10).set(true);
  wr(mr, claim(0), 10);
  assert.ok(harts[0]!.has(MIP_MEIP_BIT), 'level still high: pending again after complete');
  assert.equal(rd(mr, claim(3)), 10);
  plic.input(10).set(false);
  wr(mr, claim(3), 10);
  assert.ok(!harts[0]!.has(MIP_MEIP_BIT));
  assert.equal(rd(mr, 0x1000), 0);
});

test('plic: completion for a source not enabled in that context is ignored', () => {
  const { harts, plic, mr } = make(1);
  wr(mr, prio(5), 1);
  wr(mr, enable(0), 1 << 5);
  plic.input(5).set(true);
  assert.equal(rd(mr, claim(0)), 5);
  wr(mr, claim(1), 5); // S context has it disabled
  assert.ok(!harts[0]!.has(MIP_MEIP_BIT));
  wr(mr, claim(0), 5);
  assert.ok(harts[0]!.has(MIP_MEIP_BIT));
});

test('plic: highest priority wins, ties go to the lowest id, threshold masks', () => {
  const { harts, plic, mr } = make(1);
  for (const s of [3, 7, 40, 90]) {
    plic.input(s).set(true);
  }
  wr(mr, prio(3), 2);
  wr(mr, prio(7), 5);
  wr(mr, prio(40), 5);
  wr(mr, prio(90), 6);
  wr(mr, enable(0, 0), (1 << 3) | (1 << 7));
  wr(mr, enable(0, 1), 1 << 8);
  // 90 is pending but not enabled.
  wr(mr, thresh(0), 4);
  assert.equal(rd(mr, claim(0)), 7);
  assert.equal(rd(mr, claim(0)), 40);
  assert.equal(rd(mr, claim(0)), 0, 'source 3 (prio 2) is below the threshold');
  assert.ok(!harts[0]!.has(MIP_MEIP_BIT));
  wr(mr, thresh(0), 1);
  assert.ok(harts[0]!.has(MIP_MEIP_BIT));
  assert.equal(rd(mr, claim(0)), 3);
  assert.equal(rd(mr, 0x1000 + 8), 1 << (90 - 64));
});

test('plic: priority 0 never interrupts; a request stays latched after the input drops (QEMU 7.2)', () => {
  const { harts, plic, mr } = make(1);
  wr(mr, enable(0), 1 << 1);
  plic.input(1).set(true);
  assert.ok(!harts[0]!.has(MIP_MEIP_BIT));
  wr(mr, prio(1), 1);
  assert.ok(harts[0]!.has(MIP_MEIP_BIT));
  plic.input(1).set(false);
  assert.ok(harts[0]!.has(MIP_MEIP_BIT), 'still pending');
  assert.equal(rd(mr, claim(0)), 1);
  wr(mr, claim(0), 1);
  assert.ok(!harts[0]!.has(MIP_MEIP_BIT), 'input low at completion: not pending again');
  assert.equal(rd(mr, claim(0)), 0);
});

test('plic: reset clears configuration; high inputs are pending again', () => {
  const { harts, plic, mr } = make(1);
  wr(mr, prio(2), 1);
  wr(mr, enable(0), 1 << 2);
  plic.input(2).set(true);
  plic.reset();
  assert.ok(!harts[0]!.has(MIP_MEIP_BIT));
  assert.equal(rd(mr, prio(2)), 0);
  assert.ok(plic.isPending(2));
});

test('plic: hostile accesses never throw', () => {
  const { plic, mr } = make(2);
  for (let s = 1; s < 96; s += 7) plic.input(s).set(true);
  fuzzRegion(mr, 0x600000, 50000, 11);
  fuzzRegion(mr, 0x3000, 20000, 12);
  for (let ctx = 0; ctx < 6; ctx++) {
    wr(mr, claim(ctx), 0xffffffff);
    wr(mr, claim(ctx), 95);
    rd(mr, claim(ctx));
  }
});
