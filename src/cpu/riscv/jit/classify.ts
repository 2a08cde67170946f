/**
 * What the block translator (codegen.ts) does with each instruction, and the
 * immediates of the jumps it follows: decoding shared by the scan that
 * delimits a block and the emitter.
 */
import { atomicInline } from './atomic-ops.js';
import { zbKind } from '../bitmanip.js';

/** Not in a block: the block ends before it. */
export const NO = 0;
/** Translated inline; the block goes on. */
export const GOES_ON = 1;
/** Translated inline; the block ends after it. */
export const ENDS = 2;
/** Run by the interpreter, one instruction, from inside the block. */
export const HELPER = 3;

/**
 * How the translator handles `insn`: inline (GOES_ON, or ENDS after it), through the
 * interpreter (HELPER: everything not translated inline, including illegal encodings,
 * which trap there), or not at all (NO: the block ends before it).
 */
export function classify(insn: number): number {
  const f3 = (insn >> 12) & 7;
  // Zba, Zbb, Zbc and Zbs, inline (jit/bitmanip-ops.ts).
  if (zbKind(insn) >= 0) return GOES_ON;
  switch ((insn >> 2) & 31) {
    case 4: {
      const top = insn >>> 26;
      if (f3 === 1 && top !== 0) return HELPER;
      if (f3 === 5 && top !== 0 && top !== 0x10) return HELPER;
      return GOES_ON;
    }
    case 12: {
      const f7 = insn >>> 25;
      if (f7 === 0 || f7 === 1) return GOES_ON;
      if (f7 === 0x20 && (f3 === 0 || f3 === 5)) return GOES_ON;
      return HELPER;
    }
    case 6:
      if (f3 === 0) return GOES_ON;
      if (f3 === 1 && insn >>> 25 === 0) return GOES_ON;
      if (f3 === 5 && (insn >>> 25 === 0 || insn >>> 25 === 0x20)) return GOES_ON;
      return HELPER;
    case 14: {
      const f7 = insn >>> 25;
      if (f7 === 0 && (f3 === 0 || f3 === 1 || f3 === 5)) return GOES_ON;
      if (f7 === 0x20 && (f3 === 0 || f3 === 5)) return GOES_ON;
      if (f7 === 1 && (f3 === 0 || f3 >= 4)) return GOES_ON;
      return HELPER;
    }
    case 13:
    case 5:
      return GOES_ON;
    case 0:
      return f3 === 7 ? HELPER : GOES_ON;
    case 8:
      return f3 > 3 ? HELPER : GOES_ON;
    case 24:
      return f3 === 2 || f3 === 3 ? HELPER : GOES_ON;
    case 27:
      return ENDS;
    case 25:
      return f3 === 0 ? ENDS : HELPER;
    case 3:
      // fence (an atomic.fence); fence.i re-checks the code pages, between blocks.
      if (f3 === 0) return GOES_ON;
      return f3 === 1 ? NO : HELPER;
    case 11: {
      // AMOSWAP/ADD/XOR/AND/OR .W/.D inline (a wasm atomic read-modify-write when the store
      // TLB hits), LR (an atomic load when the load TLB hits) and SC (a compare-and-exchange
      // when the store TLB hits); the min/max forms go to the interpreter.
      const f5 = insn >>> 27;
      if (f5 === 2 && ((insn >> 20) & 31) !== 0) return HELPER;
      return (f3 === 2 || f3 === 3) && atomicInline(f5) ? GOES_ON : HELPER;
    }
    case 28:
      // Only CSR instructions run inside a block: the others trap, return, wait or flush.
      return f3 === 0 ? NO : HELPER;
    default:
      return HELPER;
  }
}

/** The page offset a conditional branch or `jal` at offset `at` jumps to directly; -1 for any other instruction. */
export function directTarget(insn: number, at: number): number {
  const op = insn & 0x7f;
  return op === 0x63 ? at + branchImm(insn) : op === 0x6f ? at + jalImm(insn) : -1;
}

/** B-type immediate (byte offset). */
export function branchImm(insn: number): number {
  return ((insn >> 31) << 12) | (((insn >> 7) & 1) << 11) | (((insn >> 25) & 0x3f) << 5) | (((insn >> 8) & 0xf) << 1);
}

/** J-type immediate (byte offset). */
export function jalImm(insn: number): number {
  return ((insn >> 31) << 20) | (insn & 0xff000) | (((insn >> 20) & 1) << 11) | (((insn >> 21) & 0x3ff) << 1);
}
