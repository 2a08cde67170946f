/**
 * system.ts: CSR instructions on sstatus take a path of their own (32-bit halves, no BigInt);
 * it must give what the generic path through csr.ts (csrRead / csrWrite) gives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Hart } from '../../src/cpu/riscv/hart.js';
import { execSystem } from '../../src/cpu/riscv/system.js';
import { MIP_SSIP, MSTATUS_SIE, PRV_S } from '../../src/cpu/riscv/constants.js';
import type { MemTxResult, PhysMemory } from '../../src/memory/types.js';

const NO_MEMORY: PhysMemory = {
  epoch: 0,
  valLo: 0,
  valHi: 0,
  ramPtr: () => null,
  load: (): MemTxResult => 1 as MemTxResult,
  store: (): MemTxResult => 1 as MemTxResult,
};

function hart(): Hart {
  const h = new Hart({ hartId: 0, mem: NO_MEMORY, timeSource: () => 0, translate: false });
  h.reset(0x80000000);
  return h;
}

test('CSRRW/RS/RC and their immediate forms on sstatus give csr.ts\'s results, in S-mode, for any mstatus and operand', () => {
  let seed = 12345;
  const rand = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) | 0;
    return seed;
  };
  for (let i = 0; i < 2000; i++) {
    const f3 = [1, 2, 3, 5, 6, 7][i % 6]!;
    const rs1 = i % 7 === 0 ? 0 : 1 + ((rand() >>> 27) % 31);
    const rd = (rand() >>> 27) % 32;
    const mstatus = rand() & ~0x1800; // MPP and the rest as they come
    const x = (BigInt(rand() >>> 0) << 32n) | BigInt(rand() >>> 0);
    const insn = (0x100 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | 0x73;
    // The fast path.
    const a = hart();
    a.priv = PRV_S;
    a.mstatus = mstatus;
    if (rs1 !== 0 && f3 < 5) a.setX(rs1, x);
    execSystem(a, insn, 4, a.pc);
    // The generic path, by hand: read, combine, write (csr.ts).
    const b = hart();
    b.priv = PRV_S;
    b.mstatus = mstatus;
    if (rs1 !== 0 && f3 < 5) b.setX(rs1, x);
    const src = f3 >= 5 ? BigInt(rs1) : b.getX(rs1);
    const old = b.csrRead(0x100, insn, 4);
    const op = f3 & 3;
    if (op === 1 || rs1 !== 0) b.csrWrite(0x100, BigInt.asUintN(64, op === 1 ? src : op === 2 ? old | src : old & ~src), insn, 4);
    if (rd !== 0) b.setX(rd, old);
    const what = `f3 ${f3} rs1 ${rs1} rd ${rd} mstatus ${(mstatus >>> 0).toString(16)}`;
    assert.equal(a.mstatus, b.mstatus, `mstatus: ${what}`);
    for (let r = 0; r < 32; r++) assert.equal(a.getX(r), b.getX(r), `x${r}: ${what}`);
    assert.equal(a.pc, b.pc + 4, what);
  }
});

test('with an interrupt pending, an sstatus write that sets SIE asks the run loop to leave (the interrupt is taken next); one that clears it, or leaves it set, does not', () => {
  const csrrc = (0x100 << 20) | (3 << 12) | (10 << 15) | 0x73; // csrrc x0, sstatus, a0
  const csrrs = (0x100 << 20) | (2 << 12) | (10 << 15) | 0x73; // csrrs x0, sstatus, a0
  const run = (insn: number, sie: boolean): boolean => {
    const h = hart();
    h.priv = PRV_S;
    h.mideleg = MIP_SSIP;
    h.mie = MIP_SSIP;
    h.mipSw = MIP_SSIP; // a supervisor software interrupt, pending and enabled in sie
    h.mstatus = sie ? MSTATUS_SIE : 0;
    h.setX(10, BigInt(MSTATUS_SIE));
    h.exitRequest = false;
    execSystem(h, insn, 4, h.pc);
    return h.exitRequest;
  };
  assert.equal(run(csrrs, false), true, 'SIE 0 -> 1: the pending interrupt becomes deliverable');
  assert.equal(run(csrrc, true), false, 'SIE 1 -> 0: nothing becomes deliverable');
  assert.equal(run(csrrc, false), false, 'SIE stays 0');
  assert.equal(run(csrrs, true), false, 'SIE stays 1 (had the interrupt been deliverable, it was taken before)');
});
