/**
 * The checks every tier in front of the block translator passes against the interpreter
 * (jit-regions.test.ts, jit-threaded.test.ts): self-modifying code, precise faults, a timer
 * interrupt inside the tier's loop, hot entries promoted to the block translator, exact
 * instruction budgets over a warm footprint.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { againstInterpreter, assemble, assembleFile, makeMachine, RAM_BASE, sameState, u64At, type EngineOptions, type GuestMachine } from './guest.js';
import { footprint } from '../../bench/cpu-programs.js';
import { POLL_STEPS } from '../../src/cpu/riscv/hart.js';
import type { Translator } from '../../src/cpu/riscv/jit/engine.js';
import { IRQ_LOOP } from './jit-programs.js';

const RESULT = 0x80300000;

export interface Tier {
  /** What the tier's code is called in test names ("regions", "threaded code"). */
  readonly name: string;
  /** The tier alone (the block translator's threshold out of reach). */
  readonly only: EngineOptions;
  /** The tier, then the block translator where an entry gets hot. */
  readonly promoting: EngineOptions;
  /** How much the tier made, from the translator's counters. */
  readonly made: (st: Translator['stats']) => number;
  /** Whether, once promoted, blocks run most of a hot footprint's instructions (a region's own loops keep running it). */
  readonly blocksRunHotCode: boolean;
}

/** Register the checks for `tier`; returns nothing, the tests run with the file's. */
export function tierChecks(tier: Tier): void {
  for (const [mode, engine] of [[`${tier.name} only`, tier.only], [`${tier.name}, then blocks`, tier.promoting]] as const) {
    test(`${mode}: self-modifying code runs the new instructions (with and without fence.i)`, () => {
      const { jit, interp } = againstInterpreter(assembleFile('jit-smc.S'), engine);
      sameState(jit, interp);
      const st = jit.hart.jit!.stats;
      assert.ok(tier.made(st) > 0, `${tier.name} was made`);
      assert.ok(st.invalidated > 0, 'stores to code invalidated it');
    });

    test(`${mode}: a fault inside it, and a fetch straddling into an unmapped page, are precise`, () => {
      const { jit, interp } = againstInterpreter(assembleFile('jit-fault.S'), engine);
      for (const off of [0, 8, 16, 24, 32]) assert.equal(u64At(jit, RESULT + off), u64At(interp, RESULT + off), `result word ${off}`);
      sameState(jit, interp);
      assert.ok(tier.made(jit.hart.jit!.stats) > 0);
    });
  }

  test(`${tier.name}: a timer interrupt is taken inside its loop within one quantum (it checks the budget)`, () => {
    const clockFromSteps = (m: GuestMachine): void => {
      Object.defineProperty(m.mtime, 'value', { get: () => m.hart.steps, set: () => {} });
    };
    const { jit, interp } = againstInterpreter(assemble(IRQ_LOOP), tier.only, clockFromSteps);
    for (const m of [jit, interp]) {
      const t = Number(u64At(m, RESULT));
      assert.ok(t >= 200_000 && t <= 200_000 + POLL_STEPS + 16, `interrupt taken at time ${t}`);
      const sepc = Number(u64At(m, RESULT + 16));
      assert.ok(sepc > RAM_BASE && sepc < RAM_BASE + 0x1000, 'sepc inside the loop');
    }
    assert.ok(tier.made(jit.hart.jit!.stats) > 0, `the loop ran as ${tier.name}`);
  });

  test(`${tier.name}: an entry that gets hot is translated by the block translator, which then runs it`, () => {
    const image = assemble(footprint(40, 400));
    const jit = makeMachine(image, 8 << 20, tier.promoting);
    const interp = makeMachine(image, 8 << 20, { translate: false });
    jit.hart.run(400 * (40 * 6 + 2));
    interp.hart.run(400 * (40 * 6 + 2));
    sameState(jit, interp);
    const st = jit.hart.jit!.stats;
    assert.ok(tier.made(st) > 0, `${tier.name} was made first`);
    assert.ok(st.promoted > 0 && st.translated > 0, 'hot entries went to the block translator');
    if (tier.blocksRunHotCode) assert.ok(st.translatedSteps > 0.5 * jit.hart.steps, `translated ${st.translatedSteps} of ${jit.hart.steps}`);
  });
}

/**
 * A warm footprint of `blocks` blocks (several pages), each entered `rounds` times, run by `engine`
 * and the interpreter to the same instruction budgets; returns the translating machine.
 */
export function budgetsAgainstInterpreter(engine: EngineOptions, blocks = 400, rounds = 60): GuestMachine {
  const image = assemble(footprint(blocks, rounds));
  const jit = makeMachine(image, 8 << 20, engine);
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
  return jit;
}
