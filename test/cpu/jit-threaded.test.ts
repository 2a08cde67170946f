/**
 * Threaded code (jit/thread-code.ts, jit/thread-loop.ts; -accel tcg,threaded=off turns it off) against the
 * interpreter: self-modifying code, precise faults, interrupts inside threaded loops, exact
 * budgets over a warm footprint, and the block translator taking over hot entries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { budgetsAgainstInterpreter, tierChecks } from './tier-checks.js';

/** Threaded code from an entry's second count; the block translator where an entry's count reaches 64. */
const PROMOTING = { translate: true, translateThreshold: 64, threadThreshold: 2 };
/** Threaded code only (the block translator's threshold out of reach). */
const THREADED_ONLY = { translate: true, translateThreshold: 60000, threadThreshold: 2 };

tierChecks({ name: 'threaded code', only: THREADED_ONLY, promoting: PROMOTING, made: (st) => st.threaded, blocksRunHotCode: true });

test('a large warm footprint runs threaded, exactly to any instruction budget, and ends as the interpreter ends it', () => {
  // Every budget stops both engines at the same instruction (a header leaves when the budget
  // cannot cover its block).
  const st = budgetsAgainstInterpreter(THREADED_ONLY).hart.jit!.stats;
  // Every block of the program is entered by a jump (its predecessor's taken branch).
  assert.ok(st.threaded >= 400, `threaded ${st.threaded} blocks`);
});
