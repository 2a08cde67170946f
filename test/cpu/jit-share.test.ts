/**
 * Translated modules shared between harts (code-share.ts): a hart runs the
 * blocks another hart translated from the same physical page, with the same
 * results, and never blocks translated from bytes the page no longer holds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble, RAM_BASE } from './guest.js';
import { AddressSpace } from '../../src/memory/address-space.js';
import { MemoryRegion } from '../../src/memory/region.js';
import { allocateGuestRam } from '../../src/memory/guest-ram.js';
import { Hart } from '../../src/cpu/riscv/hart.js';
import { HART_STATE_BYTES, SHARED_HITS_BYTES, sharedHitsIn, stateAreasIn } from '../../src/cpu/riscv/state-area.js';
import { CodeSync } from '../../src/cpu/riscv/jit/code-sync.js';
import { CodeShare, wordsOf } from '../../src/cpu/riscv/jit/code-share.js';

/** Each hart sums f(i) for i < n into a0 and parks; f's body is what the test rewrites. */
const program = (n: number): string => `
main:
  li s0, 0
  li s1, ${n}
  li s2, 0
1:mv a0, s0
  call f
  add s2, s2, a0
  addi s0, s0, 1
  bne s0, s1, 1b
  mv a0, s2
2:wfi                      # no interrupt enabled: the hart waits (no parking loop to count)
  j 2b
.balign 4096
.option push
.option norvc
f:
  slli a0, a0, 1
  addi a0, a0, 7
  ret
.option pop
.balign 4096
`;

interface Pair {
  harts: Hart[];
  ram: MemoryRegion;
}

const PROGRAM = program(3000);

function makePair(image: Uint8Array, share: boolean, threshold = 64): Pair {
  const root = MemoryRegion.container('system', 2 ** 40);
  const size = 1 << 20;
  const backing = allocateGuestRam(size, 2 * HART_STATE_BYTES + SHARED_HITS_BYTES);
  const ram = MemoryRegion.ram('ram', size, { buffer: backing.buffer });
  root.addSubregion(RAM_BASE, ram);
  const as = new AddressSpace(root, 'memory');
  ram.ramBytes().set(image);
  const areas = stateAreasIn(backing, 2);
  const codeSync = CodeSync.allocate();
  const codeShare = share ? CodeShare.allocate(1 << 20) : undefined;
  // As the virt machine does: the hit counters after the areas.
  const sharedHits = share ? sharedHitsIn(backing, 2) : undefined;
  const harts = [0, 1].map((i) => {
    const h = new Hart({ hartId: i, mem: as, timeSource: () => 0, translate: true, translateThreshold: threshold, codeSync, codeShare, sharedHits, state: areas[i] });
    h.reset(RAM_BASE);
    return h;
  });
  return { harts, ram };
}

const sumOf = (k: (i: number) => number): bigint => {
  let s = 0n;
  for (let i = 0; i < 3000; i++) s += BigInt(k(i));
  return s;
};

test('a hart runs the blocks another hart translated from the same page, with the same results', () => {
  const image = assemble(PROGRAM);
  const { harts } = makePair(image, true);
  const [h0, h1] = harts as [Hart, Hart];
  h0.run(200_000);
  assert.equal(h0.getX(10), sumOf((i) => 2 * i + 7));
  const s0 = h0.jit!.stats;
  assert.ok(s0.published > 0, `hart 0 published ${s0.published}`);
  h1.run(200_000);
  assert.equal(h1.getX(10), sumOf((i) => 2 * i + 7));
  const s1 = h1.jit!.stats;
  assert.ok(s1.adopted > 0, `hart 1 adopted ${s1.adopted}`);
  // What it adopted it did not translate again.
  assert.ok(s1.translated < s0.translated, `translated ${s1.translated} vs ${s0.translated}`);
  // And the same run without sharing translates everything twice.
  const alone = makePair(image, false);
  alone.harts[0]!.run(200_000);
  alone.harts[1]!.run(200_000);
  assert.equal(alone.harts[1]!.jit!.stats.adopted, 0);
  assert.equal(alone.harts[1]!.jit!.stats.translated, alone.harts[0]!.jit!.stats.translated);
});

test('a page rewritten after another hart translated it runs its new code (a stale module is not adopted)', () => {
  const image = assemble(PROGRAM);
  const { harts, ram } = makePair(image, true);
  const [h0, h1] = harts as [Hart, Hart];
  h0.run(200_000);
  assert.ok(h0.jit!.stats.published > 0);
  // Rewrite f as a host write would (DMA: no hart store, so no CodeSync generation moves):
  // `addi a0, a0, 7` becomes `addi a0, a0, 9`. Hart 1 has never run it.
  const dv = new DataView(ram.ramBytes().buffer, ram.ramBytes().byteOffset);
  let f = 0;
  while (dv.getUint32(f, true) !== 0x00151513) f += 4096; // slli a0, a0, 1 starts f's page
  const addi = dv.getUint32(f + 4, true);
  assert.equal(addi >>> 20, 7);
  dv.setUint32(f + 4, (addi & 0xfffff) | (9 << 20), true);
  h1.run(200_000);
  assert.equal(h1.getX(10), sumOf((i) => 2 * i + 9));
});

test('block entries count towards translation whichever hart makes them', () => {
  // 600 calls each, threshold 1,000: only the two harts' entries together make the loop and f hot.
  const image = assemble(program(600));
  const together = makePair(image, true, 1000);
  const alone = makePair(image, false, 1000);
  for (const m of [together, alone]) for (const h of m.harts) h.run(100_000);
  assert.equal(together.harts[0]!.jit!.stats.translated, 0);
  assert.ok(together.harts[1]!.jit!.stats.translated > 0, 'hart 1 translates once both harts\' entries count');
  assert.equal(alone.harts[0]!.jit!.stats.translated + alone.harts[1]!.jit!.stats.translated, 0);
  assert.equal(together.harts[1]!.getX(10), alone.harts[1]!.getX(10));
});

test('CodeShare: records are found by page, checked against the page, and the arena is bounded', () => {
  const share = new CodeShare(CodeShare.allocate(64 << 10));
  const page = new Int32Array(1024).map((_, i) => i * 3);
  const wasm = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
  assert.equal(share.head(5), 0);
  assert.ok(share.publish(5, [{ off: 8, length: 3, bytes: 12 }, { off: 100, length: 1, bytes: 6 }], page, 0, wasm));
  const r = share.head(5);
  assert.notEqual(r, 0);
  assert.ok(share.isFor(r, 5));
  // Same bucket, other page.
  assert.ok(!share.isFor(r, 5 + 4096));
  assert.equal(share.blocks(r), 2);
  assert.deepEqual(share.block(r, 1), { off: 100, length: 1, bytes: 6 });
  assert.deepEqual([...share.wasm(r)], [...wasm]);
  assert.ok(share.matches(r, page, 0));
  // A word inside a block's range changed: no match; outside every range: still a match.
  const other = page.slice();
  other[wordsOf(100, 6)[1] - 1]! += 1;
  assert.ok(!share.matches(r, other, 0));
  const outside = page.slice();
  outside[500] = -1;
  assert.ok(share.matches(r, outside, 0));
  // Newer records go in front; a reader that saw r sees only what came after.
  assert.ok(share.publish(5 + 4096, [{ off: 0, length: 1, bytes: 4 }], page, 0, wasm));
  const r2 = share.head(5);
  assert.equal(share.next(r2), r);
  // Full: publishing fails, what was published stays readable.
  const big = new Uint8Array(40 << 10);
  let n = 0;
  while (share.publish(9, [{ off: 0, length: 1, bytes: 4 }], page, 0, big)) n++;
  assert.ok(n >= 1 && n < 3, `${n} big records fit`);
  assert.equal(share.published(), 2 + n);
  assert.ok(share.matches(r, page, 0));
  assert.deepEqual([...share.wasm(r)], [...wasm]);
});
