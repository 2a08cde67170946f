/**
 * RISC-V funct3 -> WebAssembly opcode, for the two code generators that emit loads, stores and
 * branches: translated blocks (block-emitter.ts) and the interpreter loop (interp-wasm.ts).
 */
import { Op } from './wasm-writer.js';

/** LB, LH, LW, LD, LBU, LHU, LWU: the i64 load that extends as the guest's does. */
export const LOAD_OPS: readonly Op[] = [Op.i64_load8_s, Op.i64_load16_s, Op.i64_load32_s, Op.i64_load, Op.i64_load8_u, Op.i64_load16_u, Op.i64_load32_u];
/** SB, SH, SW, SD. */
export const STORE_OPS: readonly Op[] = [Op.i64_store8, Op.i64_store16, Op.i64_store32, Op.i64_store];
/** BEQ, BNE, -, -, BLT, BGE, BLTU, BGEU: the i64 compare that is the branch's condition (0: no such branch). */
export const BRANCH_OPS: readonly (Op | 0)[] = [Op.i64_eq, Op.i64_ne, 0, 0, Op.i64_lt_s, Op.i64_ge_s, Op.i64_lt_u, Op.i64_ge_u];
