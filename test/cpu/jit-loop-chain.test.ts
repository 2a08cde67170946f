/**
 * The interpreter loop runs translated code itself (interp-wasm.ts: runChain): cold code that
 * calls a translated function enters its block through the jump cache without returning to
 * the dispatcher, and the block's return to cold code goes on in the loop. The results, step
 * counts and quantum ends are the interpreter's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble, describe, makeMachine, runGuest, sameState } from './guest.js';

const SITES = 200;
const ROUNDS = 40;

/**
 * SITES call sites, each entered ROUNDS times (below the threshold: interpreted), calling one
 * function on a page of its own (entered SITES x ROUNDS times: translated), whose return lands
 * on the next call site (cold again).
 */
function program(): string {
  const lines = ['main:', `  li s1, ${ROUNDS}`, 'round:'];
  for (let k = 0; k < SITES; k++) lines.push(`  addi a1, a1, ${k + 1}`, '  call fn');
  lines.push('  addi s1, s1, -1', '  bnez s1, round', '  li t0, 0x100000', '  li t1, 0x5555', '  sw t1, 0(t0)', '1: j 1b');
  lines.push('.balign 4096', 'fn:', '  addi a0, a0, 3', '  xor a2, a2, a1', '  slli a3, a2, 1', '  add a4, a4, a3', '  ret');
  return lines.join('\n');
}

test('cold code calls a translated function and takes its return without the dispatcher', () => {
  const image = assemble(program());
  const jit = makeMachine(image, 8 << 20, { translate: true, translateThreshold: 64 });
  const interp = makeMachine(image, 8 << 20, { translate: false });
  for (const m of [jit, interp]) {
    const r = runGuest(m, 5_000_000);
    assert.equal(r, 0x5555, describe(r, m));
  }
  sameState(jit, interp);
  const st = jit.hart.jit!.stats;
  const calls = SITES * ROUNDS;
  // The function's five instructions ran translated on nearly every call...
  assert.ok(st.translatedSteps > 5 * (calls - 200), `${st.translatedSteps} steps translated`);
  // ...the call sites did not get hot...
  assert.ok(st.translated <= 4, `${st.translated} blocks translated`);
  // ...and neither the call nor the return went through the dispatcher (two dispatches a call
  // when the loop left for every translated block and blocks for every cold target).
  assert.ok(st.dispatches < calls / 8, `${st.dispatches} dispatches for ${calls} calls`);
});

test('a chain the loop calls ends every quantum on its exact instruction', () => {
  const image = assemble(program());
  const q = makeMachine(image, 8 << 20, { translate: true, translateThreshold: 64 });
  const qi = makeMachine(image, 8 << 20, { translate: false });
  // Odd quanta put quantum ends inside the function's block and around the calls.
  for (let end = 331; end < 60_000; end += 331) {
    for (const m of [q, qi]) m.hart.run(end - m.hart.steps);
    assert.equal(q.hart.steps, end);
    assert.equal(q.hart.pc, qi.hart.pc, `pc after ${end} instructions`);
  }
  assert.ok(q.hart.jit!.stats.translatedSteps > 20_000, `${q.hart.jit!.stats.translatedSteps} steps translated`);
  sameState(q, qi);
});

test("a translated block's one-instruction calls: CSR (minstret exact), F/D and compressed F/D ones run directly (a trapping compressed one reports its parcel), an illegal encoding of the loop's own opcodes traps with its mtval", () => {
  const N = 3000;
  const image = assemble(`
main:
  la t0, handler
  csrw mtvec, t0
  li t0, 0x6000            # mstatus.FS = dirty
  csrs mstatus, t0
  la s0, data
  li s1, ${N}
  fcvt.d.l f1, s1
loop:
  csrrc t1, sstatus, 2     # CSR (the JavaScript side's)
  csrrs x0, sstatus, t1
  csrr t4, minstret        # a counter the JavaScript side reads: the step count must be exact
  add s8, s8, t4
  fadd.d f2, f2, f1        # F/D
  fld fs0, 0(s0)           # compressed F/D (c.fld)
  fadd.d f2, f2, fs0
  addi a0, a0, 1
  .word 0x40b51533         # OP, funct7 0x20, funct3 1: illegal (no such SLL form, nor a Zbb one)
  addi s1, s1, -1
  bnez s1, loop
  fsd f2, 8(s0)
  # With the FPU off, a compressed F/D load traps as illegal, reporting its 16-bit parcel.
  li t0, 0x6000
  csrc mstatus, t0
  li s1, ${N}
floop:
  fld fs0, 0(s0)           # c.fld
  addi s1, s1, -1
  bnez s1, floop
  li t0, 0x100000
  li t1, 0x5555
  sw t1, 0(t0)
1: j 1b
.align 2
handler:
  csrr t2, mcause
  li t3, 2
  bne t2, t3, 1b
  csrr t3, mtval
  add s6, s6, t3
  csrr t2, mepc             # skip the trapping instruction (2 or 4 bytes)
  lhu t3, 0(t2)
  andi t3, t3, 3
  addi t2, t2, 2
  li t4, 3
  bne t3, t4, 2f
  addi t2, t2, 2
2:csrw mepc, t2
  addi s7, s7, 1
  mret
.data
.align 3
data: .double 0.5, 0
`);
  const jit = makeMachine(image, 8 << 20, { translate: true, translateThreshold: 64 });
  const interp = makeMachine(image, 8 << 20, { translate: false });
  for (const m of [jit, interp]) {
    const r = runGuest(m, 5_000_000);
    assert.equal(r, 0x5555, describe(r, m));
    assert.equal(m.hart.getX(23), BigInt(2 * N), 's7: one illegal-instruction trap a round, in both loops');
    // c.fld fs0, 0(s0) is 0x2000.
    assert.equal(m.hart.getX(22), BigInt(N) * 0x40b51533n + BigInt(N) * 0x2000n, 's6: each with the encoding in mtval');
  }
  sameState(jit, interp);
  assert.ok(jit.hart.jit!.stats.translatedSteps > 10 * (N - 100), `${jit.hart.jit!.stats.translatedSteps} steps translated`);
});
