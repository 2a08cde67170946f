/**
 * What the interpreter loop's generated code shares (interp-wasm.ts builds the loop and its page
 * moves, interp-wasm-ops.ts the instructions): its exit reasons, its locals and function
 * indices, and the emitter with named branch labels.
 */
import { Bytes, Labels, Op } from './jit/wasm-writer.js';
import { MULH_SCRATCH } from './jit/codegen-m.js';
import type { ProbeLocals } from './jit/tlb-probe.js';
import { ST_X } from './state-area.js';

/** Exit reasons. */
export const R_BUDGET = 0;
export const R_PAGE = 1;
export const R_OTHER = 2;
export const R_LEAVE = 3;
export const R_TRAP = 4;
export const R_RVC = 5;
export const R_JUMP = 6;

// Locals: parameters, then scratch.
export const P_PCF = 0;
export const P_BUDGET = 1;
export const P_RAW = 2;
export const P_HASRAW = 3;
export const L_PC = 4; // i64
export const L_A = 5; // i64
export const L_B = 6; // i64
export const L_V = 7; // i64: result
export const L_CNT = 8; // i32
export const L_ABS = 9; // i32: fetch page in memory
export const L_OFF = 10; // i32
export const L_INSN = 11; // i32
export const L_ILEN = 12; // i32
export const L_RD = 13; // i32: rd * 8
export const L_RS1 = 14; // i32
export const L_RS2 = 15; // i32
export const L_F3 = 16; // i32
export const L_LO = 17; // i32
export const L_IX = 18; // i32
export const L_DABS = 19; // i32
export const L_REASON = 20; // i32
export const L_VBASE = 21; // i64
export const L_W1 = 22; // i32 scratch (W multiplies)
export const L_W2 = 23; // i32
export const L_RAW = 24; // i32
export const L_MULH = 25; // i64 x MULH_SCRATCH
export const L_MODE = L_MULH + MULH_SCRATCH; // i32
export const L_KINDS = L_MODE + 1; // i32
export const L_HITS = L_MODE + 2; // i32
export const L_THR = L_MODE + 3; // i32
export const L_SB = L_MODE + 4; // i32: the state area's address (the imported global e.s)
/** The sign bit set when the fetch page has translated blocks or its kinds are not at hand (interp-wasm.ts: jumped). */
export const L_CODED = L_MODE + 5; // i32
/** The TLB probe's locals (jit/tlb-probe.ts): the state area's address is L_SB. */
export const PROBE: ProbeLocals = { a: L_A, lo: L_LO, ix: L_IX, abs: L_DABS, sb: L_SB, state: 0 };
/** The module's functions: the imported slow paths, the loop, its page move, the upper half of an instruction crossing pages, the A extension, and a call of translated blocks. */
export const F_LD = 0;
export const F_ST = 1;
export const F_MOVE = 3;
export const F_UPPER = 4;
export const F_AMO = 5;
export const F_CHAIN = 6;
export const F_THR = 7;
/** Threaded code's decoder (jit/thread-code.ts), exported as `dec` too. */
export const F_DEC = 8;

/** The loop's emitter: named structured-control labels (wasm-writer.ts), and the loop's own steps. */
export class Emit extends Labels {
  constructor() {
    super(new Bytes());
  }
  /** Push register at byte offset local `l` (i64). */
  reg(l: number): this {
    this.c.get(l).mem(Op.i64_load, 3, ST_X);
    return this;
  }
  /** x[rd] = L_V; x0 stays zero. */
  writeRd(): this {
    const c = this.c;
    c.get(L_RD).get(L_V).mem(Op.i64_store, 3, ST_X);
    c.get(L_SB).i64(0).mem(Op.i64_store, 3, ST_X);
    return this;
  }
  /** Push (insn >>> shift) & mask; returns the byte writer to go on with. */
  field(shift: number, mask: number): Bytes {
    return this.c.get(L_INSN).i32(shift).op(Op.i32_shr_u).i32(mask).op(Op.i32_and);
  }
  /** pc += ilen. */
  next(): this {
    this.c.get(L_PC).get(L_ILEN).op(Op.i64_extend_i32_u).op(Op.i64_add).set(L_PC);
    return this;
  }
  /** Leave with `reason` (the pc and count as they are). */
  exit(reason: number): this {
    this.c.i32(reason).set(L_REASON);
    return this.br('done');
  }
}
