/**
 * IEEE 754-2008 binary32/binary64 arithmetic as the RISC-V F and D extensions
 * define it: five rounding modes, the five accrued exception flags, tininess
 * detected after rounding, canonical NaN results and RISC-V's saturating
 * float-to-integer conversions.
 *
 * Operands and results are bit patterns: a binary32 is an int32; a binary64 is
 * a (hi, lo) pair of int32 halves, with binary64 (and 64-bit integer) results
 * left in `hi`/`lo`. NaN-boxing is the caller's business (the hart unboxes
 * before calling). Flags accumulate in `flags`; the caller ORs them into
 * fflags and clears them.
 *
 * Two paths. The fast path uses JS doubles: binary64 +,-,*,/,sqrt in double
 * arithmetic are correctly rounded to nearest-even, and binary32 results
 * computed in double then narrowed with Math.fround are correctly rounded too
 * (53 >= 2*24 + 2, so the double rounding is innocuous). Whether the result
 * is exact is decided with error-free transformations (TwoSum, Dekker's
 * TwoProduct), and an exact result is the answer in every rounding mode. The
 * slow path — a directed rounding mode with an inexact result, results near
 * the underflow threshold, operands outside Dekker's safe range, fused
 * multiply-adds whose product is not a double — computes the exact value as a
 * BigInt significand and a binary exponent and rounds it once.
 *
 * The class is split by concern along one chain of subclasses, so that every
 * operation is still a method of the one instance the hart calls (no wrapper
 * object, no extra call): softfloat-round.ts holds the constants, the state,
 * bit patterns, NaN results and the slow path's rounding; softfloat-arith.ts
 * the arithmetic; this module compares, min/max, classification and
 * conversions, and is the entry point.
 */
import { SoftFloatArith } from './softfloat-arith.js';
import {
  CANONICAL_NAN32,
  FLAG_NV,
  FLAG_NX,
  FLAG_OF,
  FLAG_UF,
  Fmt,
  INT_L,
  INT_LU,
  INT_W,
  INT_WU,
  MIN_NORMAL32,
  RM_RDN,
  RM_RNE,
  RM_RTZ,
  RM_RUP,
  TWO32,
  TWO52,
  isNan32,
  isNan64,
  isSnan32,
  isSnan64,
} from './softfloat-round.js';

export {
  CANONICAL_NAN32,
  CANONICAL_NAN64_HI,
  FLAG_DZ,
  FLAG_NV,
  FLAG_NX,
  FLAG_OF,
  FLAG_UF,
  INT_L,
  INT_LU,
  INT_W,
  INT_WU,
  RM_RDN,
  RM_RMM,
  RM_RNE,
  RM_RTZ,
  RM_RUP,
} from './softfloat-round.js';

export class SoftFloat extends SoftFloatArith {
  // ------------------------------------------------------------ min/max, compares, class

  min32(a: number, b: number): number {
    return this.minMax32(a, b, false);
  }
  max32(a: number, b: number): number {
    return this.minMax32(a, b, true);
  }
  min64(aHi: number, aLo: number, bHi: number, bLo: number): void {
    this.minMax64(aHi, aLo, bHi, bLo, false);
  }
  max64(aHi: number, aLo: number, bHi: number, bLo: number): void {
    this.minMax64(aHi, aLo, bHi, bLo, true);
  }

  /** feq.s: quiet (NV only for signalling NaNs). Returns 1 or 0. */
  eq32(a: number, b: number): number {
    if (isNan32(a) || isNan32(b)) {
      if (isSnan32(a) || isSnan32(b)) this.flags |= FLAG_NV;
      return 0;
    }
    return this.value32(a) === this.value32(b) ? 1 : 0;
  }
  /** flt.s: signalling (NV for any NaN). */
  lt32(a: number, b: number): number {
    if (isNan32(a) || isNan32(b)) {
      this.flags |= FLAG_NV;
      return 0;
    }
    return this.value32(a) < this.value32(b) ? 1 : 0;
  }
  le32(a: number, b: number): number {
    if (isNan32(a) || isNan32(b)) {
      this.flags |= FLAG_NV;
      return 0;
    }
    return this.value32(a) <= this.value32(b) ? 1 : 0;
  }
  eq64(aHi: number, aLo: number, bHi: number, bLo: number): number {
    if (isNan64(aHi, aLo) || isNan64(bHi, bLo)) {
      if (isSnan64(aHi, aLo) || isSnan64(bHi, bLo)) this.flags |= FLAG_NV;
      return 0;
    }
    return this.value64(aHi, aLo) === this.value64(bHi, bLo) ? 1 : 0;
  }
  lt64(aHi: number, aLo: number, bHi: number, bLo: number): number {
    if (isNan64(aHi, aLo) || isNan64(bHi, bLo)) {
      this.flags |= FLAG_NV;
      return 0;
    }
    return this.value64(aHi, aLo) < this.value64(bHi, bLo) ? 1 : 0;
  }
  le64(aHi: number, aLo: number, bHi: number, bLo: number): number {
    if (isNan64(aHi, aLo) || isNan64(bHi, bLo)) {
      this.flags |= FLAG_NV;
      return 0;
    }
    return this.value64(aHi, aLo) <= this.value64(bHi, bLo) ? 1 : 0;
  }

  /** fclass.s: one-hot class mask. */
  class32(a: number): number {
    const neg = a < 0;
    const e = (a >>> 23) & 0xff;
    const m = a & 0x7fffff;
    if (e === 0xff) {
      if (m === 0) return neg ? 1 << 0 : 1 << 7;
      return m & 0x400000 ? 1 << 9 : 1 << 8;
    }
    if (e === 0) {
      if (m === 0) return neg ? 1 << 3 : 1 << 4;
      return neg ? 1 << 2 : 1 << 5;
    }
    return neg ? 1 << 1 : 1 << 6;
  }
  class64(hi: number, lo: number): number {
    const neg = hi < 0;
    const e = (hi >>> 20) & 0x7ff;
    const mz = (hi & 0xfffff) === 0 && lo === 0;
    if (e === 0x7ff) {
      if (mz) return neg ? 1 << 0 : 1 << 7;
      return hi & 0x80000 ? 1 << 9 : 1 << 8;
    }
    if (e === 0) {
      if (mz) return neg ? 1 << 3 : 1 << 4;
      return neg ? 1 << 2 : 1 << 5;
    }
    return neg ? 1 << 1 : 1 << 6;
  }

  // ------------------------------------------------------------ conversions

  /** fcvt.d.s (exact). */
  f32ToF64(a: number): void {
    if (isNan32(a)) return this.nan64(isSnan32(a));
    this.put64(this.value32(a));
  }
  /** fcvt.s.d. */
  f64ToF32(hi: number, lo: number, rm: number): number {
    if (isNan64(hi, lo)) return this.nan32(isSnan64(hi, lo));
    const v = this.value64(hi, lo);
    const f = Math.fround(v);
    if (f === v || v === Infinity || v === -Infinity) return this.bits32(v);
    if (rm === RM_RNE) {
      const m = Math.abs(f);
      if (m === Infinity) {
        this.flags |= FLAG_OF | FLAG_NX;
        return this.bits32(f);
      }
      if (m > MIN_NORMAL32) {
        this.flags |= FLAG_NX;
        return this.bits32(f);
      }
      if (m < MIN_NORMAL32) {
        this.flags |= FLAG_UF | FLAG_NX;
        return this.bits32(f);
      }
    }
    this.decode(v);
    return this.bits32(this.round(this.dNeg, BigInt(this.dSig), this.dExp, Fmt.S, rm));
  }

  /** fcvt.{w,wu,l,lu}.s: result (sign-extended to 64 bits for w/wu) in hi/lo. */
  f32ToInt(a: number, kind: number, rm: number): void {
    this.toInt(isNan32(a) ? NaN : this.value32(a), kind, rm);
  }
  /** fcvt.{w,wu,l,lu}.d. */
  f64ToInt(hi: number, lo: number, kind: number, rm: number): void {
    this.toInt(isNan64(hi, lo) ? NaN : this.value64(hi, lo), kind, rm);
  }

  /** fcvt.s.{w,wu,l,lu}: the integer is the 64-bit register (hi, lo). */
  intToF32(hi: number, lo: number, kind: number, rm: number): number {
    const v = this.intValue(hi, lo, kind);
    if (v === v) {
      const f = Math.fround(v);
      if (f === v) return this.bits32(v);
      if (rm === RM_RNE) {
        this.flags |= FLAG_NX;
        return this.bits32(f);
      }
    }
    return this.bits32(this.intSlow(hi, lo, kind, Fmt.S, rm));
  }
  /** fcvt.d.{w,wu,l,lu}: result in hi/lo. */
  intToF64(hi: number, lo: number, kind: number, rm: number): void {
    const v = this.intValue(hi, lo, kind);
    if (v === v) {
      this.put64(v);
      return;
    }
    this.put64(this.intSlow(hi, lo, kind, Fmt.D, rm));
  }

  // ------------------------------------------------------------ internals: integers

  private toInt(v: number, kind: number, rm: number): void {
    let lo: number;
    let hi: number;
    if (v !== v) {
      this.flags |= FLAG_NV;
      this.setIntMax(kind);
      return;
    }
    const r = roundIntegral(v, rm);
    const wide = kind >= INT_L;
    const signed = (kind & 1) === 0;
    const min = signed ? (wide ? -9223372036854775808 : -2147483648) : 0;
    const limit = signed ? (wide ? 9223372036854775808 : 2147483648) : wide ? 18446744073709551616 : TWO32;
    if (r < min) {
      this.flags |= FLAG_NV;
      this.setIntMin(kind);
      return;
    }
    if (r >= limit) {
      this.flags |= FLAG_NV;
      this.setIntMax(kind);
      return;
    }
    if (r !== v) this.flags |= FLAG_NX;
    if (!wide) {
      lo = r | 0;
      hi = lo >> 31;
    } else if (r >= 0) {
      const h = Math.floor(r / TWO32);
      lo = (r - h * TWO32) | 0;
      hi = h | 0;
    } else {
      const m = -r;
      const h = Math.floor(m / TWO32);
      const l = m - h * TWO32;
      lo = -l | 0;
      hi = l === 0 ? -h | 0 : ~h;
    }
    this.lo = lo;
    this.hi = hi;
  }
  private setIntMax(kind: number): void {
    switch (kind) {
      case INT_W:
        this.lo = 0x7fffffff;
        this.hi = 0;
        break;
      case INT_WU:
      case INT_LU:
        this.lo = -1;
        this.hi = -1;
        break;
      default:
        this.lo = -1;
        this.hi = 0x7fffffff;
    }
  }
  private setIntMin(kind: number): void {
    this.lo = kind === INT_W ? -0x80000000 : 0;
    this.hi = kind === INT_W ? -1 : kind === INT_L ? -0x80000000 : 0;
  }

  /** The integer operand as an exact double, or NaN when it has more than 53 bits. */
  private intValue(hi: number, lo: number, kind: number): number {
    switch (kind) {
      case INT_W:
        return lo | 0;
      case INT_WU:
        return lo >>> 0;
      case INT_L:
        if (hi >= -0x200000 && hi < 0x200000) return hi * TWO32 + (lo >>> 0);
        return NaN;
      default:
        if (hi >>> 0 < 0x200000) return (hi >>> 0) * TWO32 + (lo >>> 0);
        return NaN;
    }
  }
  private intSlow(hi: number, lo: number, kind: number, fmt: Fmt, rm: number): number {
    let x: bigint;
    if (kind === INT_W) x = BigInt(lo | 0);
    else if (kind === INT_WU) x = BigInt(lo >>> 0);
    else {
      x = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
      if (kind === INT_L) x = BigInt.asIntN(64, x);
    }
    if (x === 0n) return 0;
    return x < 0n ? this.round(true, -x, 0, fmt, rm) : this.round(false, x, 0, fmt, rm);
  }

  // ------------------------------------------------------------ internals: min/max

  private minMax32(a: number, b: number, max: boolean): number {
    const an = isNan32(a);
    const bn = isNan32(b);
    if (an || bn) {
      if (isSnan32(a) || isSnan32(b)) this.flags |= FLAG_NV;
      if (an && bn) return CANONICAL_NAN32;
      return an ? b : a;
    }
    const va = this.value32(a);
    const vb = this.value32(b);
    if (va === vb) return max ? a & b : a | b; // zeros: -0 < +0 (sign bit: OR for min, AND for max)
    return va < vb === max ? b : a;
  }
  private minMax64(aHi: number, aLo: number, bHi: number, bLo: number, max: boolean): void {
    const an = isNan64(aHi, aLo);
    const bn = isNan64(bHi, bLo);
    if (an || bn) {
      if (isSnan64(aHi, aLo) || isSnan64(bHi, bLo)) this.flags |= FLAG_NV;
      if (an && bn) return this.nan64(false);
      this.hi = an ? bHi : aHi;
      this.lo = an ? bLo : aLo;
      return;
    }
    const va = this.value64(aHi, aLo);
    const vb = this.value64(bHi, bLo);
    let pickB: boolean;
    if (va === vb) pickB = max ? bHi >= 0 : bHi < 0;
    else pickB = va < vb === max;
    this.hi = pickB ? bHi : aHi;
    this.lo = pickB ? bLo : aLo;
  }
}

/** v rounded to an integer in rounding mode rm (exact: doubles of 2^52 and above are integers). */
function roundIntegral(v: number, rm: number): number {
  const m = Math.abs(v);
  if (m >= TWO52 || m === 0) return v;
  switch (rm) {
    case RM_RNE: {
      const r = m + TWO52 - TWO52;
      return v < 0 ? -r : r;
    }
    case RM_RTZ:
      return Math.trunc(v);
    case RM_RDN:
      return Math.floor(v);
    case RM_RUP:
      return Math.ceil(v);
    default: {
      const f = Math.floor(m);
      const r = m - f >= 0.5 ? f + 1 : f;
      return v < 0 ? -r : r;
    }
  }
}
