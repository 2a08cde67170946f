/**
 * WebAssembly for the M extension in translated blocks (codegen.ts): RISC-V
 * defines every division (by zero, overflow) where wasm traps, and wasm has no
 * 64x64->128 multiply, so the high products come from a helper function.
 */
import { Bytes, Op, T_I32, T_I64 } from './wasm-writer.js';

/**
 * M extension, 64-bit, operands in i64 locals `a` and `b`: pushes the result. `mulhu`: the
 * module's function index of mulhuBody.
 */
export function emitMulDiv(c: Bytes, f3: number, a: number, b: number, mulhu: number): void {
  switch (f3) {
    case 0:
      c.get(a).get(b).op(Op.i64_mul);
      return;
    case 1:
      // mulh = mulhu - (a<0 ? b : 0) - (b<0 ? a : 0)
      c.get(a).get(b).op(Op.call).uleb(mulhu);
      c.get(a).i64(63).op(Op.i64_shr_s).get(b).op(Op.i64_and).op(Op.i64_sub);
      c.get(b).i64(63).op(Op.i64_shr_s).get(a).op(Op.i64_and).op(Op.i64_sub);
      return;
    case 2:
      // mulhsu = mulhu - (a<0 ? b : 0)
      c.get(a).get(b).op(Op.call).uleb(mulhu);
      c.get(a).i64(63).op(Op.i64_shr_s).get(b).op(Op.i64_and).op(Op.i64_sub);
      return;
    case 3:
      c.get(a).get(b).op(Op.call).uleb(mulhu);
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

/** (a, b) -> high 64 bits of the unsigned 128-bit product, from 32-bit partial products. */
export function mulhuBody(): Bytes {
  const c = new Bytes();
  // params 0 a, 1 b; locals 2 p0, 3 p1, 4 p2, 5 mid
  c.uleb(1).uleb(4).byte(T_I64);
  const M = 0xffffffff;
  const lo = (x: number): void => void c.get(x).i64(M).op(Op.i64_and);
  const hi = (x: number): void => void c.get(x).i64(32).op(Op.i64_shr_u);
  lo(0);
  lo(1);
  c.op(Op.i64_mul).set(2);
  lo(0);
  hi(1);
  c.op(Op.i64_mul).set(3);
  hi(0);
  lo(1);
  c.op(Op.i64_mul).set(4);
  // mid = (p0 >> 32) + (p1 & M) + (p2 & M)
  c.get(2).i64(32).op(Op.i64_shr_u);
  c.get(3).i64(M).op(Op.i64_and).op(Op.i64_add);
  c.get(4).i64(M).op(Op.i64_and).op(Op.i64_add).set(5);
  // hi = a_hi*b_hi + (p1 >> 32) + (p2 >> 32) + (mid >> 32)
  hi(0);
  hi(1);
  c.op(Op.i64_mul);
  c.get(3).i64(32).op(Op.i64_shr_u).op(Op.i64_add);
  c.get(4).i64(32).op(Op.i64_shr_u).op(Op.i64_add);
  c.get(5).i64(32).op(Op.i64_shr_u).op(Op.i64_add);
  c.op(Op.end);
  return c;
}
