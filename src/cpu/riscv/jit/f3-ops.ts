/**
 * RISC-V funct3 -> WebAssembly opcode, for the two code generators that emit loads, stores,
 * branches and integer arithmetic: translated blocks (block-emitter.ts) and the interpreter
 * loop (interp-wasm-ops.ts).
 */
import { Op } from './wasm-writer.js';

/** LB, LH, LW, LD, LBU, LHU, LWU: the i64 load that extends as the guest's does. */
export const LOAD_OPS: readonly Op[] = [Op.i64_load8_s, Op.i64_load16_s, Op.i64_load32_s, Op.i64_load, Op.i64_load8_u, Op.i64_load16_u, Op.i64_load32_u];
/** SB, SH, SW, SD. */
export const STORE_OPS: readonly Op[] = [Op.i64_store8, Op.i64_store16, Op.i64_store32, Op.i64_store];
/** BEQ, BNE, -, -, BLT, BGE, BLTU, BGEU: the i64 compare that is the branch's condition (0: no such branch). */
export const BRANCH_OPS: readonly (Op | 0)[] = [Op.i64_eq, Op.i64_ne, 0, 0, Op.i64_lt_s, Op.i64_ge_s, Op.i64_lt_u, Op.i64_ge_u];
/**
 * OP and OP-IMM by funct3 — ADD, SLL, SLT, SLTU, XOR, SRL, OR, AND — as the i64 opcodes that
 * compute the result from the two operands on the stack (single-byte opcodes: Bytes.bytes
 * emits them). With funct7 0x20 (imm[10] of a shift immediate): ALU_ALT_OPS.
 */
export const ALU_OPS: readonly (readonly Op[])[] = [[Op.i64_add], [Op.i64_shl], [Op.i64_lt_s, Op.i64_extend_i32_u], [Op.i64_lt_u, Op.i64_extend_i32_u], [Op.i64_xor], [Op.i64_shr_u], [Op.i64_or], [Op.i64_and]];
/** SUB (funct3 0) and SRA (5), the funct7 0x20 forms; the other entries are ALU_OPS' (no such forms). */
export const ALU_ALT_OPS: readonly (readonly Op[])[] = ALU_OPS.map((ops, f3) => (f3 === 0 ? [Op.i64_sub] : f3 === 5 ? [Op.i64_shr_s] : ops));
/** OP-32 and OP-IMM-32 by funct3 (ADDW, SLLW, SRLW; their funct7 0x20 forms SUBW, SRAW): the i32 opcodes, none for no such instruction. */
export const ALUW_OPS: readonly (readonly Op[])[] = [[Op.i32_add], [Op.i32_shl], [], [], [], [Op.i32_shr_u], [], []];
export const ALUW_ALT_OPS: readonly (readonly Op[])[] = ALUW_OPS.map((ops, f3) => (f3 === 0 ? [Op.i32_sub] : f3 === 5 ? [Op.i32_shr_s] : ops));
