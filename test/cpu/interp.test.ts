/**
 * The interpreter loop's exits (src/cpu/riscv/interp.ts): what it leaves to
 * JavaScript must keep the architectural state and the step count exact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressSpace } from '../../src/memory/address-space.js';
import { MemoryRegion } from '../../src/memory/region.js';
import { Hart } from '../../src/cpu/riscv/hart.js';
import { assemble, makeMachine, runGuest, RAM_BASE } from './guest.js';

const PROGRAM = `
main:
  li s0, 0
  li s1, 3000
  la s2, buf
1:
  addi s0, s0, 7
  c.slli s0, 1
  sd s0, 0(s2)
  ld t0, 0(s2)
  xor s0, s0, t0
  add s0, s0, s1
  mulhu t1, s0, s1
  add s0, s0, t1
  csrr t2, mcycle
  addi s1, s1, -1
  bnez s1, 1b
  PASS
.data
.align 3
buf: .zero 16
`;

test('a hart whose trap vector cannot be fetched still counts every fetch fault (run() returns)', () => {
  // mtvec 0: nothing is mapped there, so each trap entry faults on its fetch again. Each
  // faulting fetch is a step (as any trapping instruction is); run() must come back.
  const m = makeMachine(assemble(`
main:
  csrw mtvec, zero
  .word 0
`));
  const n = m.hart.run(10_000);
  assert.equal(n, 10_000);
  assert.equal(m.hart.getPc(), 0n);
  assert.equal(m.hart.mcause, 1n, 'instruction access fault');
});

/** Run `image` on a hart whose RAM is outside the loop's memory (every fetch through the JavaScript side). */
function runOutside(image: Uint8Array): Hart {
  // A hart without a state area in the RAM's memory (a private one): RAM is a plain buffer.
  const root = MemoryRegion.container('system', 2 ** 40);
  const ram = MemoryRegion.ram('ram', 1 << 20);
  root.addSubregion(RAM_BASE, ram);
  let finished = 0;
  let hart: Hart | null = null;
  root.addSubregion(
    0x100000,
    MemoryRegion.io('finisher', 0x1000, {
      read: () => 0,
      write: (_o, v) => {
        finished = v;
        hart?.requestStop();
      },
    }),
  );
  ram.ramBytes().set(image);
  hart = new Hart({ hartId: 0, mem: new AddressSpace(root, 'memory'), timeSource: () => 0, translate: false });
  hart.reset(RAM_BASE);
  while (finished === 0 && hart.steps < 1_000_000) hart.run(10_000);
  assert.equal(finished, 0x5555);
  return hart;
}

test('RAM outside the loop\'s memory: every fetch comes through the JavaScript side, same results', () => {
  const image = assemble(PROGRAM);
  const hart = runOutside(image);
  const direct = makeMachine(image, 1 << 20, { translate: false });
  assert.equal(runGuest(direct), 0x5555);
  for (let r = 1; r < 32; r++) assert.equal(hart.getX(r), direct.hart.getX(r), `x${r}`);
  assert.equal(hart.steps, direct.hart.steps);
});

// A loop on one page calling a function on the next, whose 32-bit instruction at the page's
// last halfword crosses into the page after, and which returns from there.
const CROSSING = `
main:
  li s0, 0
  li s1, 2000
1:
  call far
  addi s1, s1, -1
  bnez s1, 1b
  PASS
.balign 4096
.skip 4090
far:
.option push
.option norvc
  addi s0, s0, 3
  addi s0, s0, 5
.option pop
  ret
`;

test('the loop moves between pages and fetches an instruction crossing pages without leaving, with the results and step counts of the JavaScript side', () => {
  const image = assemble(CROSSING);
  const outside = runOutside(image);
  assert.equal(outside.getX(8), 16000n);
  // Interpreter alone; the translator's dispatcher interpreting (threshold out of reach); translating.
  for (const opts of [{ translate: false }, { translate: true, translateThreshold: 60_000 }, { translate: true, translateThreshold: 16 }]) {
    const m = makeMachine(image, 1 << 20, opts);
    assert.equal(runGuest(m), 0x5555);
    for (let r = 1; r < 32; r++) assert.equal(m.hart.getX(r), outside.getX(r), `x${r} ${JSON.stringify(opts)}`);
    assert.equal(m.hart.steps, outside.steps, JSON.stringify(opts));
    if (opts.translateThreshold !== 16) {
      // 2,000 rounds of four page changes (a straddle among them): a return to JavaScript for
      // each would be 8,000 and more.
      assert.ok(m.hart.interp.exits < 400, `${m.hart.interp.exits} exits ${JSON.stringify(opts)}`);
    }
  }
});

test('the loop runs LR/SC, the read-modify-write AMOs (on a TLB hit) and FENCE itself, min/max through the JavaScript side, with the same results', () => {
  // 2,000 rounds of an LR/SC increment that succeeds, three AMOs, a FENCE and an SC on another
  // word than its reservation's (fails), on a data page of their own; then one AMOMAX.
  const image = assemble(`main:
  la s1, words
  addi s2, s1, 8
  addi s4, s1, 16
  addi s6, s1, 24
  addi s7, s1, 32
  li s3, 2000
  li s5, 0
1:lr.d t0, (s1)
  addi t0, t0, 3
  sc.d t1, t0, (s1)
  add s5, s5, t1
  li t2, 5
  amoadd.w t3, t2, (s2)
  amoswap.d t4, s3, (s4)
  amoor.d t5, s3, (s6)
  fence rw, rw
  lr.w t0, (s7)
  sc.w t1, t3, (s2)
  add s5, s5, t1
  addi s3, s3, -1
  bnez s3, 1b
  li t2, 1000000
  amomax.w a4, t2, (s2)
  ld a0, 0(s1)
  ld a1, 0(s2)
  ld a2, 0(s4)
  ld a3, 0(s6)
  PASS
.data
.align 12
words: .zero 48`);
  const outside = runOutside(image);
  assert.deepEqual([10, 11, 12, 13, 21, 14].map((r) => outside.getX(r)), [6000n, 1000000n, 1n, 2047n, 2000n, 10000n]);
  for (const opts of [{ translate: false }, { translate: true, translateThreshold: 60_000 }]) {
    const m = makeMachine(image, 1 << 20, opts);
    assert.equal(runGuest(m), 0x5555);
    for (let r = 1; r < 32; r++) assert.equal(m.hart.getX(r), outside.getX(r), `x${r} ${JSON.stringify(opts)}`);
    assert.equal(m.hart.steps, outside.steps, JSON.stringify(opts));
    // Seven a round: through the JavaScript side that would be 14,000 exits.
    assert.ok(m.hart.interp.exits < 200, `${m.hart.interp.exits} exits ${JSON.stringify(opts)}`);
  }
});
