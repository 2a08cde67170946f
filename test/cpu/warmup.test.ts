/**
 * The engines' type-feedback warm-up (src/cpu/riscv/warmup.ts): its program
 * must run as written in both engines — every pass reaches the final `wfi`
 * through exactly the traps it plants — or it would warm up the wrong paths.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Hart } from '../../src/cpu/riscv/hart.js';
import { resetWarmUp, warmUp, warmUpEnd } from '../../src/cpu/riscv/warmup.js';

test('warm-up program runs to its end with its 16 planted traps (14 in the trap list, a permission fault and an ecall from U); the translator runs its first part, also as a quantum too short for a block', () => {
  resetWarmUp();
  const runs = warmUp((o) => new Hart(o), true);
  const whole = runs.filter((r) => r.engine !== 'translator');
  const jit = runs.filter((r) => r.engine === 'translator');
  assert.equal(whole.length, 6);
  assert.equal(jit.length, 3);
  [0, 1, 2].forEach((i) => [whole[2 * i]!, whole[2 * i + 1]!].forEach((r) => {
    assert.equal(r.waiting, true, 'stopped at the final wfi');
    assert.equal(r.pc, warmUpEnd());
    assert.equal(r.trapped, 16 * (i + 1));
  }));
  jit.forEach((r, i) => {
    assert.equal(r.steps, 200 * (i + 1));
    assert.equal(r.trapped, 0);
  });
  // Once per realm: a second call does nothing.
  assert.deepEqual(warmUp((o) => new Hart(o), true), []);
});
