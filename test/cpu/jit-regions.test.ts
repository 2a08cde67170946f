/**
 * The region tier (src/cpu/riscv/jit/region-gen.ts, `-accel tcg,regions=on`): guest programs
 * run through regions (and the block translator where a region's label gets hot) end as the
 * interpreter ends them — self-modifying code, precise faults, a timer interrupt inside a
 * region's loop, exact instruction budgets — and the generator writes valid modules from any
 * page bytes. Random programs under regions are in jit-diff.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { againstInterpreter, assemble, sameState } from './guest.js';
import { budgetsAgainstInterpreter, tierChecks } from './tier-checks.js';
import { translateRegion } from '../../src/cpu/riscv/jit/region-gen.js';
import { Templates } from '../../src/cpu/riscv/jit/region-templates.js';
import { rvcTable } from '../../src/cpu/riscv/rvc.js';
import { MAX_REGION_BUILDS } from '../../src/cpu/riscv/jit/thresholds.js';

/** Regions from an entry's second count; the block translator only where a label's count reaches 64. */
const PROMOTING = { translate: true, translateThreshold: 64, regionThreshold: 2 };
/** Regions only (the block translator's threshold out of reach). */
const REGIONS_ONLY = { translate: true, translateThreshold: 60000, regionThreshold: 2 };

tierChecks({ name: 'regions', only: REGIONS_ONLY, promoting: PROMOTING, made: (st) => st.regions, blocksRunHotCode: false });

test('a large warm footprint runs in regions, exactly to any instruction budget, and ends as the interpreter ends it', () => {
  // Every budget stops both engines at the same instruction (regions leave at their head when
  // the budget cannot cover a chunk).
  const jit = budgetsAgainstInterpreter(REGIONS_ONLY);
  const st = jit.hart.jit!.stats;
  assert.ok(st.regions > 0, 'regions were written');
  assert.ok(st.translatedSteps > 0.5 * jit.hart.steps, `translated ${st.translatedSteps} of ${jit.hart.steps}`);
});

test('a load whose TLB probe misses at a region\'s entry is made by the interpreter, which goes on from there', () => {
  // Two data pages 4 MiB apart share a TLB entry, so every iteration's load misses; it is the
  // first instruction of the loop's slot. Entered again from the dispatcher, the slot would
  // miss again (before: ~60,000 passes there until its count made it hot and a block took it).
  const image = assemble(`
main:
  li s0, 0x80100000
  li s1, 0x80500000
  li s2, 3000
1:
  ld t0, 0(s0)
  add t1, t1, t0
  mv t2, s0
  mv s0, s1
  mv s1, t2
  addi s2, s2, -1
  bnez s2, 1b
  li t0, 0x100000
  li t1, 0x5555
  sw t1, 0(t0)
2: j 2b
`);
  const { jit, interp } = againstInterpreter(image, REGIONS_ONLY);
  sameState(jit, interp);
  const st = jit.hart.jit!.stats;
  assert.ok(st.regions > 0, 'the loop is a region');
  assert.equal(st.translated, 0, 'no block was translated to get past the miss');
  assert.ok(st.dispatches < 100, `${st.dispatches} dispatcher passes for 3,000 misses`);
});

test('entries of a page whose regions are all written wait in the interpreter for the hot threshold', () => {
  // Twelve functions on one page, each called 1,000 times through a register (so no region's
  // walk reaches the next): the page's first MAX_REGION_BUILDS entries get regions, the rest
  // are interpreted; each of those left the loop for the dispatcher on every call (~4,000).
  const lines = ['main:', '  li s3, 0'];
  for (let k = 0; k < 12; k++) lines.push(`  la s4, f${k}`, '  li s2, 1000', `9${k}:`, '  jalr ra, 0(s4)', '  addi s2, s2, -1', `  bnez s2, 9${k}b`);
  lines.push('  li t0, 0x100000', '  li t1, 0x5555', '  sw t1, 0(t0)', '8: j 8b', '.balign 4096');
  for (let k = 0; k < 12; k++) lines.push(`f${k}:`, `  addi s3, s3, ${k + 1}`, '  ret');
  const { jit, interp } = againstInterpreter(assemble(lines.join('\n') + '\n'), REGIONS_ONLY);
  sameState(jit, interp);
  const st = jit.hart.jit!.stats;
  assert.ok(st.regions > MAX_REGION_BUILDS, `${st.regions} regions`);
  assert.ok(st.dispatches < 500, `${st.dispatches} dispatcher passes for 12,000 calls`);
});

test('bad input: regions written from any page bytes and entries are valid modules', () => {
  const tp = new Templates(1 << 20);
  const rvc = rvcTable();
  let seed = 12345;
  const rand = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed;
  };
  for (let k = 0; k < 40; k++) {
    const page = new Uint8Array(4096);
    for (let i = 0; i < 4096; i += 4) new DataView(page.buffer).setUint32(i, rand(), true);
    const entries = Array.from({ length: 1 + (k % 7) }, () => rand() % 4096);
    const src = translateRegion(new DataView(page.buffer), 0, entries, rvc, tp, 1 << 22, 4096);
    if (src === null) continue;
    assert.ok(WebAssembly.validate(src.wasm), `page ${k}: the module validates`);
    for (let s = 0; s < src.nSlots; s++) assert.ok(src.slotLen[s]! > 0 && src.slotLen[s]! <= 512, 'a slot\'s budget need is its chunk\'s instructions');
  }
});
