/**
 * The interpreter loop's instructions (interp-wasm.ts builds the loop around them): the integer
 * base ISA, M and the loads and stores, one case of body() per major opcode, decoded from
 * L_INSN at run time. An encoding a case does not execute branches to 'other' (the JavaScript
 * side runs it or traps it as illegal).
 */
import { Op, T_I32, T_I64, type Bytes } from './jit/wasm-writer.js';
import { emitMulDiv, emitMulDivW } from './jit/codegen-m.js';
import { ALU_ALT_OPS, ALU_OPS, ALUW_ALT_OPS, ALUW_OPS, BRANCH_OPS, LOAD_OPS, STORE_OPS } from './jit/f3-ops.js';
import { emitHigh, emitHitAddress, emitProbe, type ProbeLocals } from './jit/tlb-probe.js';
import { atomicInline, emitAtomicHit, F5_LR, type AtomicHit } from './jit/atomic-ops.js';
import { ST_R_TLB, ST_T, ST_W_TLB, ST_X } from './state-area.js';
import { Emit, F_AMO, F_LD, F_ST, L_A, L_B, L_CNT, L_F3, L_ILEN, L_IX, L_INSN, L_LO, L_MULH, L_PC, L_RS1, L_RS2, L_SB, L_V, L_W1, L_W2, PROBE, R_LEAVE, R_TRAP } from './interp-wasm-frame.js';

/** The major opcodes the loop executes (insn >> 2 & 31) and the case of body() for each. */
export const CASES: readonly (readonly [number, string])[] = [
  [0, 'load'],
  [4, 'opimm'],
  [5, 'auipc'],
  [6, 'opimm32'],
  [8, 'store'],
  [11, 'amo'],
  [3, 'fence'],
  [12, 'op'],
  [13, 'lui'],
  [14, 'op32'],
  [24, 'branch'],
  [25, 'jalr'],
  [27, 'jal'],
];

/**
 * Major opcodes whose every valid encoding the loop executes (interp.ts traps the rest of them
 * as illegal): not AMO, whose min/max forms and TLB misses the JavaScript side runs, nor
 * MISC-MEM, whose fence.i and pause it runs.
 */
export const OWNED: ReadonlySet<number> = new Set(CASES.map(([op]) => op).filter((op) => op !== 11 && op !== 3));

/** Push the sign-extended I-immediate (i64). */
function immI(e: Emit): void {
  e.c.get(L_INSN).i32(20).op(Op.i32_shr_s).op(Op.i64_extend_i32_s);
}

/** Push the sign-extended S-immediate (i64). */
function immS(e: Emit): void {
  const c = e.c;
  c.get(L_INSN).i32(25).op(Op.i32_shr_s).i32(5).op(Op.i32_shl);
  e.field(7, 31);
  c.op(Op.i32_or).op(Op.i64_extend_i32_s);
}

/** A switch on L_F3 with one arm per f3 (null: the instruction is illegal -> other). */
function onF3(e: Emit, arms: readonly ((() => void) | null)[]): void {
  const c = e.c;
  e.open(Op.block, 'f3done');
  for (let i = 7; i >= 0; i--) e.open(Op.block, `f3_${i}`);
  c.get(L_F3).op(Op.br_table).uleb(8);
  for (let i = 0; i < 8; i++) c.uleb(i);
  c.uleb(7);
  for (let i = 0; i < 8; i++) {
    e.end();
    const arm = arms[i];
    if (arm) {
      arm();
      e.br('f3done');
    } else e.br('other');
  }
  e.end();
}

/** Branch to 'other' unless insn >>> shift equals one of `ok` (checked encodings). */
function onlyEncodings(e: Emit, shift: number, ok: readonly number[]): void {
  const c = e.c;
  for (let i = 0; i < ok.length; i++) {
    c.get(L_INSN).i32(shift).op(Op.i32_shr_u).i32(ok[i]!).op(Op.i32_ne);
    if (i > 0) c.op(Op.i32_and);
  }
  e.br('other', Op.br_if);
}

/**
 * A load or store: the address rs1 + imm into L_A, the TLB probe, and on a hit the access of
 * `ops[f3]` at the page's place in memory (after the host address is pushed); leaves the
 * probe's if open with its else started, for the caller's slow path.
 */
function onHit(e: Emit, imm: (e: Emit) => void, tlb: number, ops: readonly (() => void)[]): void {
  const c = e.c;
  e.reg(L_RS1);
  imm(e);
  c.op(Op.i64_add);
  // The access's size, 1 << (f3 & 3), known at run time: its alignment bits.
  emitProbe(c, PROBE, tlb, () => void c.i32(1).get(L_F3).i32(3).op(Op.i32_and).op(Op.i32_shl).i32(1).op(Op.i32_sub));
  e.open(Op.if_, 'if');
  onF3(e, Array.from({ length: 8 }, (_, f3) => {
    const op = ops[f3];
    return op === undefined ? null : () => {
      emitHitAddress(c, PROBE);
      op();
    };
  }));
  c.op(Op.else_);
}

/** After a slow path's result in L_IX: 2 trapped -> leave (pcOut set); 1 -> the access is done, leave after it. */
function slowExit(e: Emit, after: () => void): void {
  const c = e.c;
  c.get(L_IX).i32(2).op(Op.i32_eq);
  e.open(Op.if_, 'if');
  e.exit(R_TRAP);
  e.end();
  after();
  c.get(L_IX);
  e.open(Op.if_, 'if');
  e.next();
  e.exit(R_LEAVE);
  e.end();
}

/**
 * Go to the loop's jump tail for jal or jalr, counted there as a backward branch is
 * (interp-wasm.ts: jumped tests L_INSN's sign bit; nothing reads L_INSN after it).
 */
function countedJump(e: Emit): void {
  e.c.get(L_INSN).i32(-0x80000000).op(Op.i32_or).set(L_INSN);
  e.br('jumped');
}

/**
 * Push f3's result from locals a and b: ops[f3], or where `alt` (funct7 0x20 possible) the
 * instruction's bit 30 picks altOps[f3] (SUB, SRA) over it, at run time.
 */
function alu(e: Emit, f3: number, alt: boolean, ops: readonly (readonly Op[])[], altOps: readonly (readonly Op[])[], type: number, a: number, b: number): void {
  const c = e.c;
  const emit = (o: readonly Op[]): void => void c.get(a).get(b).bytes(o);
  if (!alt) {
    emit(ops[f3]!);
    return;
  }
  c.get(L_INSN).i32(30).op(Op.i32_shr_u);
  c.op(Op.if_).byte(type);
  emit(altOps[f3]!);
  c.op(Op.else_);
  emit(ops[f3]!);
  c.op(Op.end);
}

export function body(e: Emit, label: string): void {
  const c = e.c;
  switch (label) {
    case 'opimm': {
      e.reg(L_RS1).c.set(L_A);
      immI(e);
      c.set(L_B);
      onF3(e, Array.from({ length: 8 }, (_, f3) => () => {
        // Shifts: the amount is imm[5:0] (wasm masks it the same way), imm[11:6] must be 0 or
        // (SRAI) 0x10.
        if (f3 === 1) onlyEncodings(e, 26, [0]);
        if (f3 === 5) onlyEncodings(e, 26, [0, 0x10]);
        alu(e, f3, f3 === 5, ALU_OPS, ALU_ALT_OPS, T_I64, L_A, L_B);
        c.set(L_V);
      }));
      e.writeRd().next();
      return;
    }
    case 'op': {
      e.reg(L_RS1).c.set(L_A);
      e.reg(L_RS2).c.set(L_B);
      // f7 = 1: M; 0 / 0x20: base.
      c.get(L_INSN).i32(25).op(Op.i32_shr_u).i32(1).op(Op.i32_eq);
      e.open(Op.if_, 'if');
      onF3(e, Array.from({ length: 8 }, (_, f3) => () => {
        emitMulDiv(c, f3, L_A, L_B, L_MULH);
        c.set(L_V);
      }));
      c.op(Op.else_);
      onF3(e, Array.from({ length: 8 }, (_, f3) => () => {
        // 0x20 only with add (sub) and srl (sra).
        const alt = f3 === 0 || f3 === 5;
        onlyEncodings(e, 25, alt ? [0, 0x20] : [0]);
        alu(e, f3, alt, ALU_OPS, ALU_ALT_OPS, T_I64, L_A, L_B);
        c.set(L_V);
      }));
      e.end();
      e.writeRd().next();
      return;
    }
    case 'opimm32': {
      e.reg(L_RS1).c.op(Op.i32_wrap_i64).set(L_W1);
      c.get(L_INSN).i32(20).op(Op.i32_shr_s).set(L_W2);
      onF3(e, Array.from({ length: 8 }, (_, f3) => (ALUW_OPS[f3]!.length === 0 ? null : () => {
        // ADDIW's upper bits are immediate bits; SLLIW 0, SRLIW / SRAIW 0 or 0x20.
        if (f3 === 1) onlyEncodings(e, 25, [0]);
        if (f3 === 5) onlyEncodings(e, 25, [0, 0x20]);
        alu(e, f3, f3 === 5, ALUW_OPS, ALUW_ALT_OPS, T_I32, L_W1, L_W2);
        c.op(Op.i64_extend_i32_s).set(L_V);
      })));
      e.writeRd().next();
      return;
    }
    case 'op32': {
      e.reg(L_RS1).c.op(Op.i32_wrap_i64).set(L_W1);
      e.reg(L_RS2).c.op(Op.i32_wrap_i64).set(L_W2);
      c.get(L_INSN).i32(25).op(Op.i32_shr_u).i32(1).op(Op.i32_eq);
      e.open(Op.if_, 'if');
      onF3(e, [0, null, null, null, 4, 5, 6, 7].map((f3) => (f3 === null ? null : () => {
        emitMulDivW(c, f3, L_W1, L_W2);
        c.op(Op.i64_extend_i32_s).set(L_V);
      })));
      c.op(Op.else_);
      onF3(e, Array.from({ length: 8 }, (_, f3) => (ALUW_OPS[f3]!.length === 0 ? null : () => {
        onlyEncodings(e, 25, f3 === 1 ? [0] : [0, 0x20]);
        alu(e, f3, f3 !== 1, ALUW_OPS, ALUW_ALT_OPS, T_I32, L_W1, L_W2);
        c.op(Op.i64_extend_i32_s).set(L_V);
      })));
      e.end();
      e.writeRd().next();
      return;
    }
    case 'amo':
      // Out of line (atomicBody): inline, the loop's other instructions got ~3 % slower.
      c.get(L_INSN).get(L_SB).op(Op.call).uleb(F_AMO);
      e.br('other', Op.br_if);
      e.next();
      return;
    case 'fence':
      // FENCE (and FENCE.TSO): a sequentially consistent wasm fence, as in translated blocks
      // (system.ts says why a fence needs a host barrier at all). PAUSE, FENCE.I and the rest
      // are the JavaScript side's.
      c.get(L_F3).get(L_INSN).i32(0x0100000f).op(Op.i32_eq).op(Op.i32_or);
      e.br('other', Op.br_if);
      c.op(Op.atomic_prefix).byte(0x03).byte(0x00);
      e.next();
      return;
    case 'lui':
      c.get(L_INSN).i32(-4096).op(Op.i32_and).op(Op.i64_extend_i32_s).set(L_V);
      e.writeRd().next();
      return;
    case 'auipc':
      c.get(L_PC).get(L_INSN).i32(-4096).op(Op.i32_and).op(Op.i64_extend_i32_s).op(Op.i64_add).set(L_V);
      e.writeRd().next();
      return;
    case 'jal':
      c.get(L_PC).get(L_ILEN).op(Op.i64_extend_i32_u).op(Op.i64_add).set(L_V);
      // J-immediate.
      c.get(L_PC);
      c.get(L_INSN).i32(31).op(Op.i32_shr_s).i32(20).op(Op.i32_shl);
      c.get(L_INSN).i32(0xff000).op(Op.i32_and).op(Op.i32_or);
      e.field(20, 1).i32(11).op(Op.i32_shl).op(Op.i32_or);
      e.field(21, 0x3ff).i32(1).op(Op.i32_shl).op(Op.i32_or);
      c.op(Op.i64_extend_i32_s).op(Op.i64_add).set(L_PC);
      e.writeRd();
      countedJump(e);
      return;
    case 'jalr':
      c.get(L_F3);
      e.br('other', Op.br_if);
      e.reg(L_RS1);
      immI(e);
      c.op(Op.i64_add).i64(-2).op(Op.i64_and).set(L_A);
      c.get(L_PC).get(L_ILEN).op(Op.i64_extend_i32_u).op(Op.i64_add).set(L_V);
      c.get(L_A).set(L_PC);
      e.writeRd();
      countedJump(e);
      return;
    case 'branch': {
      // f3 2 and 3 are illegal.
      c.get(L_F3).i32(2).op(Op.i32_eq).get(L_F3).i32(3).op(Op.i32_eq).op(Op.i32_or);
      e.br('other', Op.br_if);
      e.reg(L_RS1).c.set(L_A);
      e.reg(L_RS2).c.set(L_B);
      onF3(e, BRANCH_OPS.map((op) => (op === 0 ? null : () => void c.get(L_A).get(L_B).op(op).set(L_IX))));
      c.get(L_IX);
      e.open(Op.if_, 'if');
      c.get(L_PC);
      c.get(L_INSN).i32(31).op(Op.i32_shr_s).i32(12).op(Op.i32_shl);
      e.field(7, 1).i32(11).op(Op.i32_shl).op(Op.i32_or);
      e.field(25, 0x3f).i32(5).op(Op.i32_shl).op(Op.i32_or);
      e.field(8, 0xf).i32(1).op(Op.i32_shl).op(Op.i32_or);
      c.op(Op.i64_extend_i32_s).op(Op.i64_add).set(L_PC);
      e.br('jumped');
      c.op(Op.else_);
      e.next();
      e.end();
      return;
    }
    case 'load': {
      c.get(L_F3).i32(7).op(Op.i32_eq);
      e.br('other', Op.br_if);
      onHit(e, immI, ST_R_TLB, LOAD_OPS.map((op) => () => void c.mem(op, 0, 0).set(L_V)));
      c.get(L_PC).op(Op.f64_convert_i64_s).get(L_CNT).get(L_LO);
      emitHigh(c, PROBE);
      c.get(L_F3);
      c.op(Op.call).uleb(F_LD).set(L_IX);
      slowExit(e, () => {
        c.get(L_SB).mem(Op.i64_load, 3, ST_T).set(L_V);
        e.writeRd();
      });
      e.end();
      e.writeRd().next();
      return;
    }
    case 'store': {
      c.get(L_F3).i32(3).op(Op.i32_gt_u);
      e.br('other', Op.br_if);
      e.reg(L_RS2).c.set(L_B);
      onHit(e, immS, ST_W_TLB, STORE_OPS.map((op) => () => void c.get(L_B).mem(op, 0, 0)));
      c.get(L_PC).op(Op.f64_convert_i64_s).get(L_CNT).get(L_LO);
      emitHigh(c, PROBE);
      c.i32(1).get(L_F3).op(Op.i32_shl);
      c.get(L_B).op(Op.i32_wrap_i64).get(L_B).i64(32).op(Op.i64_shr_u).op(Op.i32_wrap_i64);
      c.op(Op.call).uleb(F_ST).set(L_IX);
      slowExit(e, () => {});
      e.end();
      e.next();
      return;
    }
  }
  throw new Error(`no body for ${label}`);
}

/**
 * The loop's A extension, out of line: (insn, sb) -> 0 when it ran (rd written in the state
 * area), 1 when the JavaScript side must (amo.ts: min/max, a TLB miss, a fault, an encoding
 * that is no LR/SC/AMO .W/.D). On a hit of the load TLB (LR) or the store TLB (SC and the
 * read-modify-writes): jit/atomic-ops.ts, as translated blocks do.
 */
export function atomicBody(): Bytes {
  const e = new Emit();
  const c = e.c;
  // Parameters 0 insn, 1 sb; locals 2 address (i64), 3 its low word, 4 TLB entry, 5 page in memory, 6 result (i64), 7 scratch (i64), 8 f3.
  const insn = 0;
  const sb = 1;
  const v = 6;
  const f3 = 8;
  const pl: ProbeLocals = { a: 2, lo: 3, ix: 4, abs: 5, sb, state: 0 };
  c.uleb(4).uleb(1).byte(T_I64).uleb(3).byte(T_I32).uleb(2).byte(T_I64).uleb(1).byte(T_I32);
  const field = (shift: number, mask: number): void => void c.get(insn).i32(shift).op(Op.i32_shr_u).i32(mask).op(Op.i32_and);
  const reg = (shift: number): void => {
    field(shift, 31);
    c.i32(3).op(Op.i32_shl).get(sb).op(Op.i32_add).mem(Op.i64_load, 3, ST_X);
  };
  const hit: AtomicHit = { addr: () => emitHitAddress(c, pl), src: () => reg(20), base: () => void c.get(sb), at: (f) => f, tmp: 7 };
  // Either width by f3 at run time: the result in v.
  const widths = (f5: number): void => {
    c.get(f3).i32(3).op(Op.i32_eq);
    c.op(Op.if_).byte(T_I64);
    emitAtomicHit(c, f5, true, hit);
    c.op(Op.else_);
    emitAtomicHit(c, f5, false, hit);
    c.op(Op.end).set(v);
  };
  const probe = (tlb: number): void => {
    reg(15);
    emitProbe(c, pl, tlb, () => void c.i32(1).get(f3).i32(3).op(Op.i32_and).op(Op.i32_shl).i32(1).op(Op.i32_sub));
    c.op(Op.i32_eqz);
    e.br('miss', Op.br_if);
  };
  e.open(Op.block, 'miss');
  field(12, 7);
  c.tee(f3).i32(2).op(Op.i32_sub).i32(1).op(Op.i32_gt_u);
  e.br('miss', Op.br_if);
  c.get(insn).i32(27).op(Op.i32_shr_u).i32(F5_LR).op(Op.i32_eq);
  e.open(Op.if_, 'if');
  // LR: rs2 must be x0.
  field(20, 31);
  e.br('miss', Op.br_if);
  probe(ST_R_TLB);
  widths(F5_LR);
  c.op(Op.else_);
  probe(ST_W_TLB);
  // By funct5: SC and the read-modify-writes; anything else (min/max) is a miss.
  const f5s = Array.from({ length: 32 }, (_, f5) => f5).filter((f5) => f5 !== F5_LR && atomicInline(f5));
  e.open(Op.block, 'f5done');
  e.open(Op.block, 'f5other');
  for (let i = f5s.length - 1; i >= 0; i--) e.open(Op.block, `f5_${i}`);
  c.get(insn).i32(27).op(Op.i32_shr_u).op(Op.br_table).uleb(32);
  for (let f5 = 0; f5 < 32; f5++) {
    const i = f5s.indexOf(f5);
    c.uleb(i >= 0 ? i : f5s.length);
  }
  c.uleb(f5s.length);
  for (const f5 of f5s) {
    e.end();
    widths(f5);
    e.br('f5done');
  }
  e.end(); // f5other
  e.br('miss');
  e.end(); // f5done
  e.end(); // if
  // rd (x0 stays zero).
  field(7, 31);
  c.op(Op.if_).byte(0x40);
  field(7, 31);
  c.i32(3).op(Op.i32_shl).get(sb).op(Op.i32_add).get(v).mem(Op.i64_store, 3, ST_X);
  c.op(Op.end);
  c.i32(0).op(Op.return_);
  e.end(); // miss
  c.i32(1);
  c.op(Op.end);
  return c;
}
