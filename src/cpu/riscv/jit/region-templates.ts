/**
 * The region tier's instruction templates (region-gen.ts writes regions from them): for each
 * form of instruction it translates, the function-body bytes once, with every field that varies
 * (registers, immediates, pc offsets, counts, branch depths) as a hole of fixed width — LEB128
 * with redundant continuation bytes, which WebAssembly accepts — so that translating an
 * instruction is a copy and a few patched bytes.
 *
 * Why: a region is written from cold JavaScript (a process whose guest code is warm but never
 * hot keeps V8's lower tiers); writing each operation through Bytes' methods cost the block
 * translator ~50 µs a block there, copying templates ~1 µs an instruction
 * (docs/cpu-performance.md, *A region tier*). The templates themselves come from the same emitters the block translator and the
 * interpreter loop use (tlb-probe.ts, f3-ops.ts, codegen-m.ts), written once per hart.
 *
 * Registers live in the state area (no locals, so no write-back at exits). A template that
 * writes rd starts with the store's address (`local.get SB`: every state access is relative to
 * the state area) and ends with the store; for rd = x0
 * the generator leaves the instruction out, or (a load, whose access must still happen) stores
 * to the slow-path result word instead.
 */
import { CHAIN_ACCESS, ST_CHAIN_EPOCH, ST_JC_EPOCH, ST_LOOP_CHAIN, ST_PC_OUT, ST_R_TLB, ST_T, ST_W_TLB, ST_X } from '../state-area.js';
import { emitMulDiv, emitMulDivW, MULH_SCRATCH } from './codegen-m.js';
import { ALU_ALT_OPS, ALU_OPS, ALUW_ALT_OPS, ALUW_OPS, BRANCH_OPS, LOAD_OPS, STORE_OPS } from './f3-ops.js';
import { emitHitAddress, emitProbe, type ProbeLocals } from './tlb-probe.js';
import { HELPER_J, HELPER_X } from './trampoline.js';
import { T_BLOCK, T_LD } from './block-emitter.js';
import { Bytes, Op, T_I32, T_I64, T_VOID } from './wasm-writer.js';

// A region function's parameters: (pc f64, budget, retired, label) -> retired.
export const P_PCF = 0;
export const P_BUDGET = 1;
export const P_CNT = 2;
export const P_LBL = 3;
// Locals: i64 page base (the pc's page: a region's code lies in one page), target pc, two
// operands; i32 probe and scratch words; the high multiplies' scratch.
export const L_BASE = 4;
export const L_TGT = 5;
export const L_A = 6;
export const L_B = 7;
/**
 * The translation context's tag bits (ST_TLB_TAG), read once at the function's start: the
 * context changes only with a TLB flush count's change, after which every exit path leaves.
 */
export const L_CTX = 8;
export const L_LO = 9;
export const L_IX = 10;
export const L_ABS = 11;
export const L_T = 12;
export const L_HI = 13;
/** The state area's address: every state access is relative to it (2-byte offsets instead of 5). */
export const L_SB = 14;
export const L_MULH = 15;
/** The locals' declaration (after the parameters). */
export const LOCALS: readonly number[] = [3, 5, T_I64, 6, T_I32, MULH_SCRATCH, T_I64];

/** A region module's own type (region-module.ts: after the block translator's T_BLOCK, T_LD, T_ST). */
export const T_REGION = 3;

/** Widths of the holes. */
const W_REG = 2;
const W_IMM = 3;
const W_OFF = 4;
const W_CNT = 3;
const W_DEPTH = 2;

/**
 * A template: its bytes and where its holes are (-1: none). One shape for all, so that the
 * generator's reads of the holes stay monomorphic while V8 runs it in its lower tiers.
 * A register operand's hole (a, b1) is a 6-byte `local.get SB; i64.load offset`, whose offset
 * is its last 2 bytes; the others are the field itself.
 */
export class Template {
  b: Uint8Array = new Uint8Array(0);
  a = -1;
  b1 = -1;
  d = -1;
  i = -1;
  rel = -1;
  c = -1;
  leave = -1;
  v = -1;
  off = -1;
  slot = -1;
  fn = -1;
  n = -1;
  ilen = -1;
  insn = -1;
  parcel = -1;
  max = -1;
  hits = -1;
  hot = -1;
}

type Hole = Exclude<keyof Template, 'b'>;

/** Writes a template: Bytes plus named holes. */
class Tb {
  readonly c = new Bytes();
  readonly t = new Template();
  hole(name: Hole, width: number): this {
    this.t[name] = this.c.length;
    for (let i = 0; i < width; i++) this.c.byte(i === width - 1 ? 0 : 0x80);
    return this;
  }
  /** Push register `name` (i64): a 6-byte load from the state area, which the generator turns into `i64.const 0` for x0. */
  reg(name: 'a' | 'b1'): this {
    this.t[name] = this.c.length;
    this.c.get(L_SB).op(Op.i64_load).uleb(3);
    for (let i = 0; i < W_REG; i++) this.c.byte(i === W_REG - 1 ? 0 : 0x80);
    return this;
  }
  /** Store the i64 on the stack (above a `local.get SB`) to register `name`. */
  store(name: 'd'): this {
    this.c.op(Op.i64_store).uleb(3);
    return this.hole(name, W_REG);
  }
  done(): Template {
    this.t.b = this.c.view().slice();
    return this.t;
  }
}

/** Every template of one hart (its state area's address is in the bytes). */
export class Templates {
  /** OP-IMM by funct3, and SRAI at 8. */
  readonly opImm: Template[] = [];
  /** OP by funct3, and SUB, SRA at 8, 13. */
  readonly op: Template[] = [];
  /** OP-IMM-32 by funct3 (0, 1, 5), SRAIW at 13. */
  readonly opImmW: Template[] = [];
  /** OP-32 by funct3 (0, 1, 5), SUBW, SRAW at 8, 13. */
  readonly opW: Template[] = [];
  /** M by funct3; the 32-bit forms by funct3 (0, 4-7). */
  readonly mul: Template[] = [];
  readonly mulW: Template[] = [];
  readonly load: Template[] = [];
  readonly store: Template[] = [];
  /** A branch's compare and `if`, by funct3 (the taken path follows; then `end`). */
  readonly branch: Template[] = [];
  readonly lui: Template;
  readonly auipc: Template;
  /** rd = page base + v (jal's and jalr's link). */
  readonly link: Template;
  /** L_A = (rs1 + imm) & ~1 (jalr's target, before its link). */
  readonly jalr: Template;
  /** TGT = L_A; br. */
  readonly toA: Template;
  /** One instruction through the interpreter (`x`), leaving when it says so. */
  readonly x: Template;
  /** cnt += n. */
  readonly count: Template;
  /** br d. */
  readonly br: Template;
  /** TGT = base + off; br d (an exit, or to the head). */
  readonly to: Template;
  /** TGT = base + off; label = slot; br d (to the head). */
  readonly back: Template;
  /** Tail-call chunk function `fn` at `slot` with pc base + off. */
  readonly call: Template;
  /** The function's head: the budget, the jump cache's epoch and the label's hit count. */
  readonly head: Template;
  /** After the loop: the exits' epilogues and the function's end. */
  readonly tail: Template;
  readonly fence: Uint8Array;
  /** Where a load to x0 stores (the slow-path result word: its value is dead by then). */
  readonly sink: number;

  constructor(readonly state: number) {
    this.sink = ST_T;
    const pl: ProbeLocals = { a: L_A, lo: L_LO, ix: L_IX, abs: L_ABS, sb: L_SB, state: 0, ctx: L_CTX, lateAbs: true };
    const rType = (ops: readonly Op[]): Template => {
      const t = new Tb();
      t.c.get(L_SB);
      t.reg('a').reg('b1').c.bytes(ops);
      return t.store('d').done();
    };
    const iType = (ops: readonly Op[], shift: boolean): Template => {
      const t = new Tb();
      t.c.get(L_SB);
      t.reg('a').c.op(Op.i64_const);
      t.hole('i', shift ? 1 : W_IMM).c.bytes(ops);
      return t.store('d').done();
    };
    for (let f3 = 0; f3 < 8; f3++) {
      this.opImm[f3] = iType(ALU_OPS[f3]!, f3 === 1 || f3 === 5);
      this.op[f3] = rType(ALU_OPS[f3]!);
    }
    this.opImm[8] = iType(ALU_ALT_OPS[5]!, true);
    this.op[8] = rType(ALU_ALT_OPS[0]!);
    this.op[13] = rType(ALU_ALT_OPS[5]!);
    const wType = (ops: readonly Op[], imm: boolean): Template => {
      const t = new Tb();
      t.c.get(L_SB);
      t.reg('a').c.op(Op.i32_wrap_i64);
      if (imm) {
        t.c.op(Op.i32_const);
        t.hole('i', W_IMM);
      } else t.reg('b1').c.op(Op.i32_wrap_i64);
      t.c.bytes(ops).op(Op.i64_extend_i32_s);
      return t.store('d').done();
    };
    for (const f3 of [0, 1, 5]) {
      this.opImmW[f3] = wType(ALUW_OPS[f3]!, true);
      this.opW[f3] = wType(ALUW_OPS[f3]!, false);
    }
    this.opImmW[13] = wType(ALUW_ALT_OPS[5]!, true);
    this.opW[8] = wType(ALUW_ALT_OPS[0]!, false);
    this.opW[13] = wType(ALUW_ALT_OPS[5]!, false);
    for (let f3 = 0; f3 < 8; f3++) {
      const t = new Tb();
      t.c.get(L_SB);
      t.reg('a').c.set(L_A);
      t.reg('b1').c.set(L_B);
      emitMulDiv(t.c, f3, L_A, L_B, L_MULH);
      this.mul[f3] = t.store('d').done();
      if (f3 === 0 || f3 >= 4) {
        const w = new Tb();
        w.c.get(L_SB);
        w.reg('a').c.op(Op.i32_wrap_i64).set(L_LO);
        w.reg('b1').c.op(Op.i32_wrap_i64).set(L_HI);
        emitMulDivW(w.c, f3, L_LO, L_HI);
        w.c.op(Op.i64_extend_i32_s);
        this.mulW[f3] = w.store('d').done();
      }
    }
    // pc (f64) of the instruction at base + `rel`, and the retired count with it (cnt + `c`).
    const pcCnt = (t: Tb): void => {
      t.c.get(L_BASE).op(Op.i64_const);
      t.hole('rel', W_OFF).c.op(Op.i64_add).op(Op.f64_convert_i64_s);
      t.c.get(P_CNT).op(Op.i32_const);
      t.hole('c', W_CNT).c.op(Op.i32_add);
    };
    // A TLB miss: leave before the access, so that the interpreter makes it (its slow path:
    // page walk, fault, device, store to code) with the instruction's exact pc and count, and
    // goes on interpreting to the next jump into translated code (CHAIN_ACCESS says so to the
    // interpreter loop and the dispatcher). TGT = base + rel, cnt += c (without the access).
    const miss = (t: Tb): void => {
      t.c.get(L_BASE).op(Op.i64_const);
      t.hole('rel', W_OFF).c.op(Op.i64_add).set(L_TGT);
      t.c.get(P_CNT).op(Op.i32_const);
      t.hole('c', W_CNT).c.op(Op.i32_add).set(P_CNT);
      t.c.get(L_SB).i32(CHAIN_ACCESS).mem(Op.i32_store, 2, ST_LOOP_CHAIN).op(Op.br);
      t.hole('leave', W_DEPTH);
    };
    for (let f3 = 0; f3 < 7; f3++) {
      const t = new Tb();
      t.c.get(L_SB);
      t.reg('a').c.op(Op.i64_const);
      t.hole('i', W_IMM).c.op(Op.i64_add);
      emitProbe(t.c, pl, ST_R_TLB, (1 << (f3 & 3)) - 1);
      t.c.op(Op.if_).byte(T_I64);
      emitHitAddress(t.c, pl, ST_R_TLB);
      t.c.mem(LOAD_OPS[f3]!, 0, 0);
      t.c.op(Op.else_);
      miss(t);
      t.c.op(Op.end);
      this.load[f3] = t.store('d').done();
    }
    for (let f3 = 0; f3 < 4; f3++) {
      const t = new Tb();
      t.reg('a').c.op(Op.i64_const);
      t.hole('i', W_IMM).c.op(Op.i64_add);
      emitProbe(t.c, pl, ST_W_TLB, (1 << f3) - 1);
      t.c.op(Op.if_).byte(T_VOID);
      emitHitAddress(t.c, pl, ST_W_TLB);
      t.reg('b1').c.mem(STORE_OPS[f3]!, 0, 0);
      t.c.op(Op.else_);
      miss(t);
      t.c.op(Op.end);
      this.store[f3] = t.done();
    }
    for (let f3 = 0; f3 < 8; f3++) {
      const op = BRANCH_OPS[f3]!;
      if (op === 0) continue;
      const t = new Tb();
      t.reg('a').reg('b1').c.op(op).op(Op.if_).byte(T_VOID);
      this.branch[f3] = t.done();
    }
    {
      const t = new Tb();
      t.c.get(L_SB).op(Op.i64_const);
      this.lui = t.hole('v', 5).store('d').done();
    }
    {
      const t = new Tb();
      t.c.get(L_SB).get(L_BASE).op(Op.i64_const);
      t.hole('v', 5).c.op(Op.i64_add);
      this.auipc = t.store('d').done();
    }
    {
      const t = new Tb();
      t.c.get(L_SB).get(L_BASE).op(Op.i64_const);
      t.hole('v', W_OFF).c.op(Op.i64_add);
      this.link = t.store('d').done();
    }
    {
      const t = new Tb();
      t.reg('a').c.op(Op.i64_const);
      t.hole('i', W_IMM).c.op(Op.i64_add).i64(-2).op(Op.i64_and).set(L_A);
      this.jalr = t.done();
    }
    {
      const t = new Tb();
      t.c.get(L_A).set(L_TGT).op(Op.br);
      this.toA = t.hole('d', W_DEPTH).done();
    }
    {
      const t = new Tb();
      pcCnt(t);
      t.c.op(Op.i32_const);
      t.hole('ilen', 1).c.op(Op.i32_const);
      t.hole('insn', 5).c.op(Op.i32_const);
      t.hole('parcel', W_IMM);
      t.c.i32(HELPER_X).op(Op.call_indirect).uleb(T_LD).byte(0x00).tee(L_T);
      t.c.i32(-1).op(Op.i32_ne).op(Op.if_).byte(T_VOID).get(L_T).op(Op.return_).op(Op.end);
      this.x = t.done();
    }
    {
      const t = new Tb();
      t.c.get(P_CNT).op(Op.i32_const);
      t.hole('n', W_CNT).c.op(Op.i32_add).set(P_CNT);
      this.count = t.done();
    }
    {
      const t = new Tb();
      t.c.op(Op.br);
      this.br = t.hole('d', W_DEPTH).done();
    }
    {
      const t = new Tb();
      t.c.get(L_BASE).op(Op.i64_const);
      t.hole('off', W_OFF).c.op(Op.i64_add).set(L_TGT).op(Op.br);
      this.to = t.hole('d', W_DEPTH).done();
    }
    {
      // Into another chunk's function of the module, at its slot (its head checks the budget).
      const t = new Tb();
      t.c.get(L_BASE).op(Op.i64_const);
      t.hole('off', W_OFF).c.op(Op.i64_add).op(Op.f64_convert_i64_s).get(P_BUDGET).get(P_CNT).op(Op.i32_const);
      t.hole('slot', W_CNT).c.op(Op.return_call);
      this.call = t.hole('fn', W_CNT).done();
    }
    {
      const t = new Tb();
      t.c.get(L_BASE).op(Op.i64_const);
      t.hole('off', W_OFF).c.op(Op.i64_add).set(L_TGT).op(Op.i32_const);
      t.hole('slot', W_CNT).c.set(P_LBL).op(Op.br);
      this.back = t.hole('d', W_DEPTH).done();
    }
    {
      // Inside the loop (depths: loop 0, `jump` 1, `leave` 2). Leave when the budget cannot
      // cover the function's longest path, when the jump cache went stale (a store to code, an
      // invalidation, another thread's kick: what a block's direct link checks), and when the
      // label's count reaches `hot`: the dispatcher then runs the block translator's block
      // there, translating it first if it has none (engine.ts: promote). Not through `j`: its
      // jump-cache entry for the label may still lead back here. At `hot` and every 256th
      // count past it (so a leave the dispatcher did not see, at a quantum's end, is made
      // again), not at every count: the region's own loops come back to a promoted label, and
      // leaving on each pass sent each through the dispatcher (U-Boot's boot ~27,000 times).
      const t = new Tb();
      t.c.get(L_SB).mem(Op.i32_load, 2, ST_JC_EPOCH).get(L_SB).mem(Op.i32_load, 2, ST_CHAIN_EPOCH).op(Op.i32_ne);
      t.c.op(Op.br_if).uleb(2);
      // Out of budget: the interpreter loop, if it called the chain, interprets the quantum's
      // rest itself, as after a jump-cache miss (interp-wasm.ts: chainBody), instead of
      // returning to the dispatcher for it.
      t.c.get(P_CNT).op(Op.i32_const);
      t.hole('max', W_CNT).c.op(Op.i32_add).get(P_BUDGET).op(Op.i32_gt_u);
      t.c.op(Op.if_).byte(T_VOID).get(L_SB).i32(1).mem(Op.i32_store, 2, ST_LOOP_CHAIN).op(Op.br).uleb(3).op(Op.end);
      t.c.get(L_TGT).get(L_BASE).op(Op.i64_sub).op(Op.i32_wrap_i64).op(Op.i32_const);
      t.hole('hits', 5).c.op(Op.i32_add).tee(L_T);
      t.c.get(L_T).mem(Op.i32_load16_u, 1, 0).i32(1).op(Op.i32_add).tee(L_IX).mem(Op.i32_store16, 1, 0);
      t.c.get(L_IX).op(Op.i32_const);
      t.hole('hot', W_CNT).c.op(Op.i32_sub).i32(0x800000ff | 0).op(Op.i32_and).op(Op.i32_eqz).op(Op.br_if).uleb(2);
      this.head = t.done();
    }
    {
      const t = new Tb();
      t.c.op(Op.end).op(Op.unreachable).op(Op.end);
      t.c.get(L_TGT).op(Op.f64_convert_i64_s).get(P_BUDGET).get(P_CNT).i32(HELPER_J).op(Op.return_call_indirect).uleb(T_BLOCK).byte(0x00);
      t.c.op(Op.end);
      t.c.get(L_SB).get(L_TGT).op(Op.f64_convert_i64_s).mem(Op.f64_store, 3, ST_PC_OUT);
      t.c.get(P_CNT).op(Op.end);
      this.tail = t.done();
    }
    this.fence = Uint8Array.from([Op.atomic_prefix, 0x03, 0x00]);
  }

  /** Register r's word, relative to the state area (what a register hole holds). */
  regOff(r: number): number {
    return ST_X + 8 * r;
  }
}
