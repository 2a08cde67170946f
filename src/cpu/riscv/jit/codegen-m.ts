/**
 * WebAssembly for the M extension in translated blocks (block-emitter.ts): RISC-V
 * defines every division (by zero, overflow) where wasm traps, and wasm has no
 * 64x64->128 multiply, so the high products are built from 32-bit partial
 * products, inline: as a call (V8 11 inlines no wasm calls) it made TurboFan
 * spill the loop's live registers around every `mulhu` of a bignum loop.
 */
import { Bytes, Op, T_I32, T_I64 } from './wasm-writer.js';

/** i64 scratch locals the high multiplies need (from `t` on). */
export const MULH_SCRATCH = 3;

/**
 * M extension, 64-bit, operands in i64 locals `a` and `b`: pushes the result. `t`: the first of
 * MULH_SCRATCH i64 scratch locals (the high multiplies).
 */
export function emitMulDiv(c: Bytes, f3: number, a: number, b: number, t: number): void {
  switch (f3) {
    case 0:
      c.get(a).get(b).op(Op.i64_mul);
      return;
    case 1:
      // mulh = mulhu - (a<0 ? b : 0) - (b<0 ? a : 0)
      mulhu(c, a, b, t);
      c.get(a).i64(63).op(Op.i64_shr_s).get(b).op(Op.i64_and).op(Op.i64_sub);
      c.get(b).i64(63).op(Op.i64_shr_s).get(a).op(Op.i64_and).op(Op.i64_sub);
      return;
    case 2:
      // mulhsu = mulhu - (a<0 ? b : 0)
      mulhu(c, a, b, t);
      c.get(a).i64(63).op(Op.i64_shr_s).get(b).op(Op.i64_and).op(Op.i64_sub);
      return;
    case 3:
      mulhu(c, a, b, t);
      return;
    default:
      emitDivRem(c, f3, a, b, W64);
      return;
  }
}

/** M extension, 32-bit, operands in i32 locals `a` and `b`: pushes the i32 result (the caller sign-extends). */
export function emitMulDivW(c: Bytes, f3: number, a: number, b: number): void {
  switch (f3) {
    case 0:
      c.get(a).get(b).op(Op.i32_mul);
      return;
    default:
      emitDivRem(c, f3, a, b, W32);
      return;
  }
}

/** The wasm operations of one operand width that division and remainder use. */
interface Width {
  readonly type: number;
  readonly eqz: Op;
  readonly eq: Op;
  readonly divS: Op;
  readonly divU: Op;
  readonly remS: Op;
  readonly remU: Op;
  /** Push -1 of this width. */
  readonly minusOne: (c: Bytes) => void;
  /** Push the most negative value of this width. */
  readonly min: (c: Bytes) => void;
}

const W64: Width = {
  type: T_I64,
  eqz: Op.i64_eqz,
  eq: Op.i64_eq,
  divS: Op.i64_div_s,
  divU: Op.i64_div_u,
  remS: Op.i64_rem_s,
  remU: Op.i64_rem_u,
  minusOne: (c) => c.i64(-1),
  min: (c) => c.i64(1).i64(63).op(Op.i64_shl),
};

const W32: Width = {
  type: T_I32,
  eqz: Op.i32_eqz,
  eq: Op.i32_eq,
  divS: Op.i32_div_s,
  divU: Op.i32_div_u,
  remS: Op.i32_rem_s,
  remU: Op.i32_rem_u,
  minusOne: (c) => c.i32(-1),
  min: (c) => c.i32(-2147483648),
};

/**
 * div, divu, rem, remu (f3 4-7) at width `w`: RISC-V defines the cases where wasm traps.
 * x / 0 -> -1 (both signs), MIN / -1 -> MIN, x % 0 -> x; MIN % -1 is 0 in both.
 */
function emitDivRem(c: Bytes, f3: number, a: number, b: number, w: Width): void {
  c.get(b).op(w.eqz).op(Op.if_).byte(w.type);
  if (f3 === 4) {
    w.minusOne(c);
    c.op(Op.else_).get(b);
    w.minusOne(c);
    c.op(w.eq).get(a);
    w.min(c);
    c.op(w.eq).op(Op.i32_and);
    c.op(Op.if_).byte(w.type).get(a).op(Op.else_).get(a).get(b).op(w.divS).op(Op.end);
    c.op(Op.end);
    return;
  }
  if (f3 === 5) w.minusOne(c);
  else c.get(a);
  c.op(Op.else_).get(a).get(b).op(f3 === 5 ? w.divU : f3 === 6 ? w.remS : w.remU).op(Op.end);
}

/** Push the high 64 bits of the unsigned 128-bit product of i64 locals a and b (scratch locals t, t+1, t+2). */
function mulhu(c: Bytes, a: number, b: number, t: number): void {
  const M = 0xffffffff;
  const lo = (x: number): void => void c.get(x).i64(M).op(Op.i64_and);
  const hi = (x: number): void => void c.get(x).i64(32).op(Op.i64_shr_u);
  const p1 = t;
  const p2 = t + 1;
  const mid = t + 2;
  lo(a);
  hi(b);
  c.op(Op.i64_mul).set(p1);
  hi(a);
  lo(b);
  c.op(Op.i64_mul).set(p2);
  // mid = (lo(a)*lo(b) >> 32) + (p1 & M) + (p2 & M)
  lo(a);
  lo(b);
  c.op(Op.i64_mul).i64(32).op(Op.i64_shr_u);
  c.get(p1).i64(M).op(Op.i64_and).op(Op.i64_add);
  c.get(p2).i64(M).op(Op.i64_and).op(Op.i64_add).set(mid);
  // hi(a)*hi(b) + (p1 >> 32) + (p2 >> 32) + (mid >> 32)
  hi(a);
  hi(b);
  c.op(Op.i64_mul);
  c.get(p1).i64(32).op(Op.i64_shr_u).op(Op.i64_add);
  c.get(p2).i64(32).op(Op.i64_shr_u).op(Op.i64_add);
  c.get(mid).i64(32).op(Op.i64_shr_u).op(Op.i64_add);
}
