/**
 * hart.debug (src/cpu/riscv/debug.ts): with hooks installed the hart runs
 * instruction by instruction in the interpreter, even code already translated;
 * beforeInstruction can stop before an instruction and onDataAccess after one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble, makeMachine, RAM_BASE } from './guest.js';

const SRC = `
main:
  la s0, buf
  li s1, 0
1:
  addi s1, s1, 1
  sd s1, 0(s0)
  ld s2, 0(s0)
  j 1b
.data
.align 3
buf: .zero 8
`;

test('debug hooks see every instruction and data access, also after translation, and can stop the run', () => {
  const m = makeMachine(assemble(SRC), 8 << 20, { translate: true, translateThreshold: 4 });
  const h = m.hart;
  h.run(2000); // hot: the loop is translated
  assert.ok(h.jit!.stats.translated > 0);
  const pcs: bigint[] = [];
  const accesses: string[] = [];
  let stopAt = -1n;
  h.debug = {
    beforeInstruction: () => {
      pcs.push(h.getPc());
      return h.getPc() === stopAt;
    },
    onDataAccess: (vaddr, size, write) => {
      accesses.push(`${write ? 'w' : 'r'}${size}@${vaddr.toString(16)}`);
      return false;
    },
  };
  const before = h.steps;
  assert.equal(h.run(8), 8);
  assert.equal(pcs.length, 8, 'one call per instruction');
  assert.equal(h.steps - before, 8);
  assert.ok(accesses.length >= 4 && accesses.every((a) => /^(w8|r8)@[0-9a-f]+$/.test(a)), accesses.join(' '));
  // Stop before a given instruction: the run returns with pc there, nothing executed.
  stopAt = pcs[3]!;
  pcs.length = 0;
  const n = h.run(100);
  assert.ok(n < 100);
  assert.equal(h.getPc(), stopAt);
  // Stop after a data access.
  h.debug = { beforeInstruction: () => false, onDataAccess: () => true };
  const s0 = h.steps;
  h.run(100);
  assert.ok(h.steps - s0 <= 4, 'stopped right after the access');
  h.debug = null;
  const s1 = h.steps;
  h.run(1000);
  assert.equal(h.steps - s1, 1000);
  assert.ok(h.getPc() >= BigInt(RAM_BASE));
});
