import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Hart, HartError } from '../../src/cpu/riscv/hart.js';
import type { MemTxAttrs, MemTxResult, PhysMemory, RamPtr } from '../../src/memory/types.js';
import { assemble, makeMachine, runGuest, RAM_BASE } from './guest.js';

test('an internal error stops run() with a HartError naming hart, pc and instruction', () => {
  const m = makeMachine(assemble(`
main:
  li a0, 0x3000000
  ld a1, 0(a0)
  PASS
`));
  // A PhysMemory whose dispatch path breaks (an emulator bug, not a guest action).
  const inner = m.as;
  const broken: PhysMemory = {
    get epoch() {
      return inner.epoch;
    },
    get valLo() {
      return inner.valLo;
    },
    get valHi() {
      return inner.valHi;
    },
    ramPtr: (a: number, l: number, w: boolean): RamPtr | null => inner.ramPtr(a, l, w),
    load(addr: number, size: number, attrs: MemTxAttrs): MemTxResult {
      if (addr === 0x3000000) throw new Error('device model exploded');
      return inner.load(addr, size, attrs);
    },
    store: (a: number, s: number, lo: number, hi: number, at: MemTxAttrs): MemTxResult => inner.store(a, s, lo, hi, at),
  };
  const hart = new Hart({ hartId: 3, mem: broken, timeSource: () => 0 });
  hart.reset(RAM_BASE);
  assert.throws(
    () => hart.run(1000),
    (e: unknown) =>
      e instanceof HartError &&
      e.hartId === 3 &&
      /hart 3: internal error at pc=0x8/.test(e.message) &&
      /device model exploded/.test(e.message) &&
      e.insn !== 0,
  );
});

test('WFI parks the hart until an enabled interrupt is pending; setInterruptLevel wakes it', () => {
  const m = makeMachine(assemble(`
main:
  li t0, 0x800
  csrw mie, t0          # MEIE, but mstatus.MIE = 0: wake without taking the trap
  wfi
  csrr a0, mip
  CHECK a0, 0x800
  PASS
`));
  const h = m.hart;
  const n = h.run(1000);
  assert.ok(n > 0 && n < 1000);
  assert.equal(h.waiting, true);
  assert.equal(h.run(1000), 0, 'a waiting hart executes nothing');
  h.setInterruptLevel(11, true);
  assert.equal(h.waiting, false);
  assert.equal(runGuest(m), 0x5555);
});

test('requestStop() from a device returns from run() early', () => {
  const m = makeMachine(assemble(`
main:
  li a0, FINISHER
  li a1, 0x5555
  sw a1, 0(a0)
1:j 1b
`));
  const n = m.hart.run(1_000_000);
  assert.ok(n < 20, `ran ${n}`);
  assert.equal(m.result(), 0x5555);
});

test('nextTimerDeadline follows stimecmp once Sstc is enabled', () => {
  const off = makeMachine(assemble(`
main:
  li t0, 500
  csrw stimecmp, t0
  PASS
`));
  runGuest(off);
  assert.equal(off.hart.nextTimerDeadline(), Infinity, 'STCE off: no hart timer');
  const on = makeMachine(assemble(`
main:
  li t0, 0x8000000000000000
  csrw menvcfg, t0
  li t0, 500
  csrw stimecmp, t0
  PASS
`));
  runGuest(on);
  const h = on.hart;
  assert.equal(h.nextTimerDeadline(), 500);
  assert.equal(h.readMip() & 0x20, 0);
  on.mtime.value = 500;
  assert.equal(h.readMip() & 0x20, 0x20);
});

test('counters: instret excludes trapped instructions, cycle counts every step', () => {
  const m = makeMachine(assemble(`
main:
  nop
  nop
  PASS
`));
  const h = m.hart;
  runGuest(m);
  assert.ok(h.instret > 0 && h.instret <= h.cycle);
});

test('random code in every privilege mode never throws out of run()', () => {
  let seed = 12345;
  const next = (): number => {
    seed ^= seed << 13;
    seed >>>= 0;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    seed >>>= 0;
    return seed;
  };
  for (let round = 0; round < 6; round++) {
    const image = new Uint8Array(1 << 16);
    const dv = new DataView(image.buffer);
    for (let i = 0; i < image.length; i += 4) dv.setUint32(i, next(), true);
    const m = makeMachine(image, 1 << 20);
    const h = m.hart;
    for (let r = 1; r < 32; r++) {
      // Mostly pointers into RAM so loads, stores, AMOs and jumps land somewhere interesting.
      const k = next() % 3;
      h.setX(r, k === 0 ? BigInt(RAM_BASE + (next() % (1 << 16))) : k === 1 ? BigInt(next()) : (BigInt(next()) << 32n) | BigInt(next()));
    }
    h.mtvec = BigInt(RAM_BASE + (next() % (1 << 16))) & ~3n;
    h.stvec = BigInt(RAM_BASE + (next() % (1 << 16))) & ~3n;
    h.priv = round % 3 === 0 ? 3 : round % 3 === 1 ? 1 : 0;
    h.mstatus = 0x6000;
    assert.doesNotThrow(() => {
      for (let i = 0; i < 10 && !h.waiting; i++) h.run(5000);
    });
  }
});
