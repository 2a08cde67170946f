/**
 * Which guest registers a translated block keeps in wasm locals (block-emitter.ts). A local
 * costs a load at the block's entry and a store in each epilogue and link that leaves after
 * the register was written; it pays for a register the block uses more than once, or at all
 * when the block loops (a use per iteration). The others are read and written in the state
 * area where they are used: the code of a six-instruction block ~11 % smaller, a Linux boot
 * ~2 % faster, hot loops the same (docs/cpu-performance.md, *Translated code at the
 * cold-footprint program's scale*).
 */
import { branchImm, jalImm } from './classify.js';

/** What blockRegs reads of an instruction (block-emitter.ts: Insn). */
export interface RegsInsn {
  readonly insn: number;
  /** Byte offset from the block start. */
  readonly rel: number;
  /** Left to the interpreter: it reads its operands from the state area, after a write-back. */
  readonly helper: boolean;
}

export interface BlockRegs {
  /** The registers in locals, ascending (the block's k-th register local holds used[k]). */
  readonly used: readonly number[];
  /** Those of them the block writes: what a write-back stores. */
  readonly dirty: readonly number[];
  /** Whether the block jumps back to its first instruction (a wasm loop). */
  readonly loops: boolean;
  /** Whether it has a high multiply (its scratch locals follow the registers'). */
  readonly mulhu: boolean;
}

export function blockRegs(insns: readonly RegsInsn[]): BlockRegs {
  let loops = false;
  let mulhu = false;
  const read = new Set<number>();
  const written = new Set<number>();
  /** Reads and writes of each register by the block's own instructions. */
  const uses = new Int32Array(32);
  for (const { insn, rel, helper } of insns) {
    if (helper) continue;
    const op = (insn >> 2) & 31;
    const rd = (insn >> 7) & 31;
    const rs1 = (insn >> 15) & 31;
    const rs2 = (insn >> 20) & 31;
    if (op !== 13 && op !== 5 && op !== 27) {
      read.add(rs1);
      uses[rs1]++;
    }
    if (op === 12 || op === 14 || op === 8 || op === 24 || op === 11) {
      read.add(rs2);
      uses[rs2]++;
    }
    if (op !== 8 && op !== 24) {
      written.add(rd);
      uses[rd]++;
    }
    if (op === 12 && insn >>> 25 === 1 && ((insn >> 12) & 7) >= 1 && ((insn >> 12) & 7) <= 3) mulhu = true;
    if (op === 24 && rel + branchImm(insn) === 0) loops = true;
    if (op === 27 && rel + jalImm(insn) === 0) loops = true;
  }
  read.delete(0);
  written.delete(0);
  // A register in the state area is always right (it is the architectural state; a local is a
  // copy), so a use counted too many only keeps a register in a local.
  if (!loops) {
    for (let r = 1; r < 32; r++) {
      if (uses[r] === 1) {
        read.delete(r);
        written.delete(r);
      }
    }
  }
  return {
    used: [...new Set([...read, ...written])].sort((a, b) => a - b),
    dirty: [...written].sort((a, b) => a - b),
    loops,
    mulhu,
  };
}
