/**
 * The engines' type-feedback warm-up (src/cpu/riscv/warmup.ts): its program
 * must run as written in both engines — every pass reaches the final `wfi`
 * through exactly the traps it plants — or it would warm up the wrong paths.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Hart } from '../../src/cpu/riscv/hart.js';
import { resetWarmUp, warmedUp, warmUp, warmUpEnd } from '../../src/cpu/riscv/warmup.js';
import { assemble, makeMachine } from './guest.js';

test('warm-up program runs to its end with its 16 planted traps (14 in the trap list, a permission fault and an ecall from U), in each of its passes', () => {
  resetWarmUp();
  const runs = warmUp((o) => new Hart(o));
  assert.equal(runs.length, 3);
  runs.forEach((r, i) => {
    assert.equal(r.waiting, true, 'stopped at the final wfi');
    assert.equal(r.pc, warmUpEnd());
    assert.equal(r.trapped, 16 * (i + 1));
  });
  // Once per realm: a second call does nothing.
  assert.deepEqual(warmUp((o) => new Hart(o)), []);
});

test('a hart warms the engines up only before its first translation: cold code that never gets hot, and a hart that does not translate, do not pay for it', () => {
  resetWarmUp();
  const off = makeMachine(assemble('main:\n  addi a0, a0, 1\n  j main'), 8 << 20, { translate: false });
  off.hart.run(100_000);
  assert.equal(warmedUp(), false);
  assert.ok(off.hart.getX(10) > 40_000n, "it ran");
  // 300 distinct blocks run 3 times each: under the threshold, nothing is translated.
  const lines = ['main:'];
  for (let b = 0; b < 300; b++) lines.push(`b${b}:`, `  addi a0, a0, ${b}`, `  bnez a0, b${b + 1}`);
  lines.push('b300:', '  addi a1, a1, 1', '  li t0, 3', '  blt a1, t0, main', 'hot:', '  addi a2, a2, 1', '  j hot');
  const m = makeMachine(assemble(lines.join('\n')), 8 << 20, { translate: true, translateThreshold: 64 });
  assert.equal(warmedUp(), false);
  m.hart.run(300 * 2 * 3 + 50);
  assert.equal(m.hart.jit!.stats.translated, 0);
  assert.equal(warmedUp(), false);
  // The loop at `hot` gets hot: the warm-up runs, then the translation.
  m.hart.run(2000);
  assert.ok(m.hart.jit!.stats.translated > 0);
  assert.equal(warmedUp(), true);
  // Its private harts did not disturb the guest's: the loop went on counting.
  const before = m.hart.getX(12);
  m.hart.run(1000);
  assert.ok(m.hart.getX(12) > before);
});
