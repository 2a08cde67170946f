/**
 * Threaded code (jit/thread-code.ts, jit/thread-loop.ts: -accel tcg,threaded=on) against the
 * interpreter: self-modifying code, precise faults, interrupts inside threaded loops, exact
 * budgets over a warm footprint, and the block translator taking over hot entries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { againstInterpreter, assemble, assembleFile, makeMachine, RAM_BASE, sameState, u64At, type GuestMachine } from './guest.js';
import { footprint } from '../../bench/cpu-programs.js';
import { POLL_STEPS } from '../../src/cpu/riscv/hart.js';
import { IRQ_LOOP } from './jit-programs.js';

const RESULT = 0x80300000;

/** Threaded code from an entry's second count; the block translator where an entry's count reaches 64. */
const PROMOTING = { translate: true, translateThreshold: 64, threadThreshold: 2 };
/** Threaded code only (the block translator's threshold out of reach). */
const THREADED_ONLY = { translate: true, translateThreshold: 60000, threadThreshold: 2 };

for (const [name, engine] of [['threaded only', THREADED_ONLY], ['threaded, then blocks', PROMOTING]] as const) {
  test(`${name}: self-modifying code runs the new instructions (with and without fence.i)`, () => {
    const { jit, interp } = againstInterpreter(assembleFile('jit-smc.S'), engine);
    sameState(jit, interp);
    const st = jit.hart.jit!.stats;
    assert.ok(st.threaded > 0, 'blocks were threaded');
    assert.ok(st.invalidated > 0, 'stores to code invalidated its threaded code');
  });

  test(`${name}: a fault inside threaded code, and a fetch straddling into an unmapped page, are precise`, () => {
    const { jit, interp } = againstInterpreter(assembleFile('jit-fault.S'), engine);
    for (const off of [0, 8, 16, 24, 32]) assert.equal(u64At(jit, RESULT + off), u64At(interp, RESULT + off), `result word ${off}`);
    sameState(jit, interp);
    assert.ok(jit.hart.jit!.stats.threaded > 0);
  });
}

test('a timer interrupt is taken inside a threaded loop within one quantum (its header checks the budget)', () => {
  const clockFromSteps = (m: GuestMachine): void => {
    Object.defineProperty(m.mtime, 'value', { get: () => m.hart.steps, set: () => {} });
  };
  const { jit, interp } = againstInterpreter(assemble(IRQ_LOOP), THREADED_ONLY, clockFromSteps);
  for (const m of [jit, interp]) {
    const t = Number(u64At(m, RESULT));
    assert.ok(t >= 200_000 && t <= 200_000 + POLL_STEPS + 16, `interrupt taken at time ${t}`);
    const sepc = Number(u64At(m, RESULT + 16));
    assert.ok(sepc > RAM_BASE && sepc < RAM_BASE + 0x1000, 'sepc inside the loop');
  }
  assert.ok(jit.hart.jit!.stats.threaded > 0, 'the loop ran threaded');
});

test('a large warm footprint runs threaded, exactly to any instruction budget, and ends as the interpreter ends it', () => {
  // 400 blocks (several pages), each entered 60 times: every budget stops both engines at
  // the same instruction (a header leaves when the budget cannot cover its block).
  const image = assemble(footprint(400, 60));
  const jit = makeMachine(image, 8 << 20, THREADED_ONLY);
  const interp = makeMachine(image, 8 << 20, { translate: false });
  let budget = 997;
  for (let k = 0; k < 300; k++) {
    budget = (budget * 7 + 13) % 3001;
    const a = jit.hart.run(budget + 1);
    const b = interp.hart.run(budget + 1);
    assert.equal(a, b, `run ${k}: instructions`);
    assert.equal(jit.hart.pc, interp.hart.pc, `run ${k}: pc`);
  }
  sameState(jit, interp);
  const st = jit.hart.jit!.stats;
  // Every block of the program is entered by a jump (its predecessor's taken branch).
  assert.ok(st.threaded >= 400, `threaded ${st.threaded} blocks`);
});

test('a threaded entry that gets hot is translated by the block translator, which then runs it', () => {
  const image = assemble(footprint(40, 400));
  const jit = makeMachine(image, 8 << 20, PROMOTING);
  const interp = makeMachine(image, 8 << 20, { translate: false });
  jit.hart.run(400 * (40 * 6 + 2));
  interp.hart.run(400 * (40 * 6 + 2));
  sameState(jit, interp);
  const st = jit.hart.jit!.stats;
  assert.ok(st.threaded > 0, 'blocks were threaded first');
  assert.ok(st.promoted > 0, 'hot threaded entries went to the block translator');
  assert.ok(st.translatedSteps > 0.5 * jit.hart.steps, `translated ${st.translatedSteps} of ${jit.hart.steps}`);
});
