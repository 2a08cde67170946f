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
 */

export const RM_RNE = 0;
export const RM_RTZ = 1;
export const RM_RDN = 2;
export const RM_RUP = 3;
export const RM_RMM = 4;

export const FLAG_NV = 0x10;
export const FLAG_DZ = 0x08;
export const FLAG_OF = 0x04;
export const FLAG_UF = 0x02;
export const FLAG_NX = 0x01;

export const CANONICAL_NAN32 = 0x7fc00000;
export const CANONICAL_NAN64_HI = 0x7ff80000;

/** Integer kinds of fcvt, numbered as the instruction's rs2 field. */
export const INT_W = 0;
export const INT_WU = 1;
export const INT_L = 2;
export const INT_LU = 3;

const enum Fmt {
  S = 0,
  D = 1,
}

const TWO32 = 4294967296;
const TWO52 = 4503599627370496;
const MAX32 = 3.4028234663852886e38;
const MAX64 = 1.7976931348623157e308;
const MIN_NORMAL32 = 1.1754943508222875e-38;
const MIN_NORMAL64 = 2.2250738585072014e-308;
// Dekker's TwoProduct is exact when operands and product stay in this range.
const SAFE_HI = 2 ** 900;
const SAFE_LO = 2 ** -900;
const SPLITTER = 134217729; // 2^27 + 1

/** 2^e for e in [-1100, 1100], built by exact doubling/halving. */
const POW2 = new Float64Array(2201);
{
  POW2[1100] = 1;
  for (let e = 1; e <= 1100; e++) POW2[1100 + e] = POW2[1099 + e]! * 2;
  for (let e = 1; e <= 1100; e++) POW2[1100 - e] = POW2[1101 - e]! / 2;
}

function bitLength(x: bigint): number {
  const s = x.toString(16);
  return (s.length - 1) * 4 + (32 - Math.clz32(parseInt(s[0]!, 16)));
}

/** Error of a + b = s (Knuth's TwoSum; exact when nothing overflows). */
function twoSumErr(a: number, b: number, s: number): number {
  const bb = s - a;
  return a - (s - bb) + (b - bb);
}

/** Error of a * b = p (Dekker; exact for operands and product within SAFE_LO..SAFE_HI). */
function twoProdErr(a: number, b: number, p: number): number {
  let c = SPLITTER * a;
  const ah = c - (c - a);
  const al = a - ah;
  c = SPLITTER * b;
  const bh = c - (c - b);
  const bl = b - bh;
  return ah * bh - p + ah * bl + al * bh + al * bl;
}

function inSafeRange(x: number): boolean {
  const m = Math.abs(x);
  return m > SAFE_LO && m < SAFE_HI;
}

function isSnan32(a: number): boolean {
  return (a & 0x7fc00000) === 0x7f800000 && (a & 0x3fffff) !== 0;
}
function isNan32(a: number): boolean {
  return (a & 0x7fffffff) > 0x7f800000;
}
function isNan64(hi: number, lo: number): boolean {
  const h = hi & 0x7fffffff;
  return h > 0x7ff00000 || (h === 0x7ff00000 && lo !== 0);
}
function isSnan64(hi: number, lo: number): boolean {
  return isNan64(hi, lo) && (hi & 0x80000) === 0;
}

export class SoftFloat {
  /** Accrued exception flags (NV DZ OF UF NX in fflags' bit order). */
  flags = 0;
  /** binary64 or 64-bit integer result. */
  hi = 0;
  lo = 0;

  private readonly f64 = new Float64Array(1);
  private readonly i64 = new Int32Array(this.f64.buffer);
  private readonly f32 = new Float32Array(1);
  private readonly i32 = new Int32Array(this.f32.buffer);
  // decode() output
  private dNeg = false;
  private dSig = 0;
  private dExp = 0;

  // ------------------------------------------------------------ bit conversions

  /** The value of a binary32 bit pattern (NaNs lose their payload). */
  value32(a: number): number {
    this.i32[0] = a;
    return this.f32[0]!;
  }
  /** The value of a binary64 bit pattern (NaNs lose their payload). */
  value64(hi: number, lo: number): number {
    this.i64[0] = lo;
    this.i64[1] = hi;
    return this.f64[0]!;
  }
  private bits32(v: number): number {
    if (v !== v) return CANONICAL_NAN32;
    this.f32[0] = v;
    return this.i32[0]!;
  }
  private put64(v: number): void {
    if (v !== v) {
      this.hi = CANONICAL_NAN64_HI;
      this.lo = 0;
      return;
    }
    this.f64[0] = v;
    this.lo = this.i64[0]!;
    this.hi = this.i64[1]!;
  }

  // ------------------------------------------------------------ binary32 arithmetic

  add32(a: number, b: number, rm: number): number {
    if (isNan32(a) || isNan32(b)) return this.nan32(isSnan32(a) || isSnan32(b));
    return this.bits32(this.add(this.value32(a), this.value32(b), Fmt.S, rm));
  }
  sub32(a: number, b: number, rm: number): number {
    if (isNan32(a) || isNan32(b)) return this.nan32(isSnan32(a) || isSnan32(b));
    return this.bits32(this.add(this.value32(a), -this.value32(b), Fmt.S, rm));
  }
  mul32(a: number, b: number, rm: number): number {
    if (isNan32(a) || isNan32(b)) return this.nan32(isSnan32(a) || isSnan32(b));
    return this.bits32(this.mul(this.value32(a), this.value32(b), Fmt.S, rm));
  }
  div32(a: number, b: number, rm: number): number {
    if (isNan32(a) || isNan32(b)) return this.nan32(isSnan32(a) || isSnan32(b));
    return this.bits32(this.div(this.value32(a), this.value32(b), Fmt.S, rm));
  }
  sqrt32(a: number, rm: number): number {
    if (isNan32(a)) return this.nan32(isSnan32(a));
    return this.bits32(this.sqrt(this.value32(a), Fmt.S, rm));
  }
  /** (negProduct ? -(a*b) : a*b) + (negAddend ? -c : c) with one rounding. */
  fma32(a: number, b: number, c: number, rm: number, negProduct: boolean, negAddend: boolean): number {
    if (isNan32(a) || isNan32(b) || isNan32(c)) {
      // RISC-V: 0 * inf is invalid even when the addend is a quiet NaN.
      const inv = this.isZeroInf32(a, b) || isSnan32(a) || isSnan32(b) || isSnan32(c);
      return this.nan32(inv);
    }
    const va = this.value32(a);
    return this.bits32(this.fma(negProduct ? -va : va, this.value32(b), negAddend ? -this.value32(c) : this.value32(c), Fmt.S, rm));
  }

  // ------------------------------------------------------------ binary64 arithmetic

  add64(aHi: number, aLo: number, bHi: number, bLo: number, rm: number): void {
    if (isNan64(aHi, aLo) || isNan64(bHi, bLo)) return this.nan64(isSnan64(aHi, aLo) || isSnan64(bHi, bLo));
    this.put64(this.add(this.value64(aHi, aLo), this.value64(bHi, bLo), Fmt.D, rm));
  }
  sub64(aHi: number, aLo: number, bHi: number, bLo: number, rm: number): void {
    if (isNan64(aHi, aLo) || isNan64(bHi, bLo)) return this.nan64(isSnan64(aHi, aLo) || isSnan64(bHi, bLo));
    this.put64(this.add(this.value64(aHi, aLo), -this.value64(bHi, bLo), Fmt.D, rm));
  }
  mul64(aHi: number, aLo: number, bHi: number, bLo: number, rm: number): void {
    if (isNan64(aHi, aLo) || isNan64(bHi, bLo)) return this.nan64(isSnan64(aHi, aLo) || isSnan64(bHi, bLo));
    this.put64(this.mul(this.value64(aHi, aLo), this.value64(bHi, bLo), Fmt.D, rm));
  }
  div64(aHi: number, aLo: number, bHi: number, bLo: number, rm: number): void {
    if (isNan64(aHi, aLo) || isNan64(bHi, bLo)) return this.nan64(isSnan64(aHi, aLo) || isSnan64(bHi, bLo));
    this.put64(this.div(this.value64(aHi, aLo), this.value64(bHi, bLo), Fmt.D, rm));
  }
  sqrt64(aHi: number, aLo: number, rm: number): void {
    if (isNan64(aHi, aLo)) return this.nan64(isSnan64(aHi, aLo));
    this.put64(this.sqrt(this.value64(aHi, aLo), Fmt.D, rm));
  }
  fma64(
    aHi: number,
    aLo: number,
    bHi: number,
    bLo: number,
    cHi: number,
    cLo: number,
    rm: number,
    negProduct: boolean,
    negAddend: boolean,
  ): void {
    if (isNan64(aHi, aLo) || isNan64(bHi, bLo) || isNan64(cHi, cLo)) {
      const va = this.value64(aHi, aLo);
      const vb = this.value64(bHi, bLo);
      const zeroInf = (va === 0 && Math.abs(vb) === Infinity) || (vb === 0 && Math.abs(va) === Infinity);
      return this.nan64(zeroInf || isSnan64(aHi, aLo) || isSnan64(bHi, bLo) || isSnan64(cHi, cLo));
    }
    const va = this.value64(aHi, aLo);
    const vb = this.value64(bHi, bLo);
    const vc = this.value64(cHi, cLo);
    this.put64(this.fma(negProduct ? -va : va, vb, negAddend ? -vc : vc, Fmt.D, rm));
  }

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

  // ------------------------------------------------------------ internals: NaNs

  private nan32(invalid: boolean): number {
    if (invalid) this.flags |= FLAG_NV;
    return CANONICAL_NAN32;
  }
  private nan64(invalid: boolean): void {
    if (invalid) this.flags |= FLAG_NV;
    this.hi = CANONICAL_NAN64_HI;
    this.lo = 0;
  }
  private isZeroInf32(a: number, b: number): boolean {
    const za = (a & 0x7fffffff) === 0;
    const zb = (b & 0x7fffffff) === 0;
    const ia = (a & 0x7fffffff) === 0x7f800000;
    const ib = (b & 0x7fffffff) === 0x7f800000;
    return (za && ib) || (zb && ia);
  }

  // ------------------------------------------------------------ internals: operations on values
  // Operands are non-NaN doubles holding values of the format; the result is the
  // rounded value as a double (NaN means invalid: NV already set).

  private invalid(): number {
    this.flags |= FLAG_NV;
    return NaN;
  }

  /** Flags and result for a fast-path value that is the correctly rounded RNE result. */
  private nearest(r: number, inexact: boolean, fmt: Fmt): number {
    if (!inexact) return r;
    const m = Math.abs(r);
    if (m === Infinity) this.flags |= FLAG_OF | FLAG_NX;
    else if (m < (fmt === Fmt.S ? MIN_NORMAL32 : MIN_NORMAL64)) this.flags |= FLAG_UF | FLAG_NX;
    else this.flags |= FLAG_NX;
    return r;
  }

  /**
   * A binary64 result in a directed rounding mode from the round-to-nearest
   * value r and the sign of (exact - r): the answer is r or its neighbour
   * on that side. NaN (slow path) for RMM, where only ties differ and they
   * are not detected here, and at the edges of the range (overflow, tiny).
   */
  private directed(r: number, d: number, rm: number): number {
    if (rm === RM_RMM || !inSafeRange(r)) return NaN;
    this.flags |= FLAG_NX;
    // Move towards +inf when rounding up past r, towards -inf when down.
    let step = 0;
    if (rm === RM_RUP) step = d > 0 ? 1 : 0;
    else if (rm === RM_RDN) step = d < 0 ? -1 : 0;
    else step = r > 0 ? (d < 0 ? -1 : 0) : d > 0 ? 1 : 0; // RTZ
    if (step === 0) return r;
    // Neighbours by the bit pattern: +1 on the magnitude moves away from zero.
    this.f64[0] = r;
    const away = (step > 0) === (r > 0);
    let lo = this.i64[0]! >>> 0;
    let hi = this.i64[1]!;
    if (away) {
      lo = (lo + 1) >>> 0;
      if (lo === 0) hi++;
    } else {
      if (lo === 0) hi--;
      lo = (lo - 1) >>> 0;
    }
    this.i64[0] = lo | 0;
    this.i64[1] = hi;
    return this.f64[0]!;
  }

  /** A narrowed binary32 fast-path result, or NaN when it needs the slow path. */
  private narrow(r: number, exactInDouble: boolean, rm: number): number {
    const f = Math.fround(r);
    if (exactInDouble && f === r) return r;
    if (rm !== RM_RNE || Math.abs(f) === MIN_NORMAL32) return NaN;
    return this.nearest(f, true, Fmt.S);
  }

  /**
   * a + b. `innocuous`: a and b are values of the format, so a binary32 sum
   * rounded to double and then to binary32 is still correctly rounded (not so
   * for the exact binary64 products fma passes in).
   */
  private add(a: number, b: number, fmt: Fmt, rm: number, innocuous = true): number {
    const s = a + b;
    if (s !== s) return this.invalid();
    if (s === Infinity || s === -Infinity) {
      if (a === s || b === s) return s; // an infinite operand: exact
      // Finite operands: below RNE's threshold a directed mode may not overflow.
      if (rm === RM_RNE) return this.overflowResult(s < 0, fmt, rm);
    } else {
      const err = twoSumErr(a, b, s);
      if (err === 0) {
        if (s === 0 && rm === RM_RDN && !(Object.is(a, 0) && Object.is(b, 0))) return -0;
        if (fmt === Fmt.D) return s;
        const r = this.narrow(s, true, rm);
        if (r === r) return r;
      } else if (fmt === Fmt.D) {
        if (rm === RM_RNE) return this.nearest(s, true, Fmt.D);
        const r = this.directed(s, err, rm);
        if (r === r) return r;
      } else if (rm === RM_RNE) {
        if (innocuous) {
          const r = this.narrow(s, false, rm);
          if (r === r) return r;
        }
      }
    }
    this.decode(a);
    const na = this.dNeg;
    const sa = BigInt(this.dSig);
    const ea = this.dExp;
    this.decode(b);
    const nb = this.dNeg;
    const sb = BigInt(this.dSig);
    const eb = this.dExp;
    const e = Math.min(ea, eb);
    const A = (na ? -sa : sa) << BigInt(ea - e);
    const B = (nb ? -sb : sb) << BigInt(eb - e);
    const S = A + B;
    if (S === 0n) return rm === RM_RDN ? -0 : 0;
    return S < 0n ? this.round(true, -S, e, fmt, rm) : this.round(false, S, e, fmt, rm);
  }

  private mul(a: number, b: number, fmt: Fmt, rm: number): number {
    const p = a * b;
    if (p !== p) return this.invalid();
    if (a === 0 || b === 0 || a === Infinity || a === -Infinity || b === Infinity || b === -Infinity) return p;
    if (fmt === Fmt.S) {
      // 24 x 24 bits: the double product is exact.
      const r = this.narrow(p, true, rm);
      if (r === r) return r;
    } else if (inSafeRange(a) && inSafeRange(b) && inSafeRange(p)) {
      const exact = twoProdErr(a, b, p) === 0;
      if (exact) return p;
      if (rm === RM_RNE) return this.nearest(p, true, Fmt.D);
      const r = this.directed(p, twoProdErr(a, b, p), rm);
      if (r === r) return r;
    }
    this.decode(a);
    const n = this.dNeg;
    const sa = BigInt(this.dSig);
    const ea = this.dExp;
    this.decode(b);
    return this.round(n !== this.dNeg, sa * BigInt(this.dSig), ea + this.dExp, fmt, rm);
  }

  private div(a: number, b: number, fmt: Fmt, rm: number): number {
    const q = a / b;
    if (q !== q) return this.invalid();
    if (b === 0) {
      if (a !== Infinity && a !== -Infinity) this.flags |= FLAG_DZ; // a is non-zero here
      return q;
    }
    if (a === 0 || a === Infinity || a === -Infinity || b === Infinity || b === -Infinity) return q;
    if (inSafeRange(a) && inSafeRange(b) && inSafeRange(q)) {
      const exact = q * b === a && twoProdErr(q, b, a) === 0;
      if (fmt === Fmt.D) {
        if (exact) return q;
        if (rm === RM_RNE) return this.nearest(q, true, Fmt.D);
        // sign(a/b - q) = sign(a - q*b) * sign(b); a - fl(q*b) is exact (Sterbenz).
        const qb = q * b;
        const rem = a - qb - twoProdErr(q, b, qb);
        const r = this.directed(q, b > 0 ? rem : -rem, rm);
        if (r === r) return r;
      } else {
        const r = this.narrow(q, exact, rm);
        if (r === r) return r;
      }
    }
    this.decode(a);
    const na = this.dNeg;
    const sa = BigInt(this.dSig);
    const ea = this.dExp;
    this.decode(b);
    const sb = BigInt(this.dSig);
    const p = fmt === Fmt.S ? 24 : 53;
    // Enough quotient bits that the remainder only matters as a sticky bit.
    const k = Math.max(0, p + 3 + bitLength(sb) - bitLength(sa) + 1);
    const num = sa << BigInt(k);
    const quo = num / sb;
    const sticky = quo * sb === num ? 0n : 1n;
    return this.round(na !== this.dNeg, (quo << 1n) | sticky, ea - this.dExp - k - 1, fmt, rm);
  }

  private sqrt(a: number, fmt: Fmt, rm: number): number {
    if (a === 0 || a === Infinity) return a;
    if (a < 0) return this.invalid();
    const r = Math.sqrt(a);
    if (inSafeRange(a)) {
      const exact = r * r === a && twoProdErr(r, r, a) === 0;
      if (fmt === Fmt.D) {
        if (exact) return r;
        if (rm === RM_RNE) {
          this.flags |= FLAG_NX; // a square root never overflows or underflows
          return r;
        }
        // sign(sqrt(a) - r) = sign(a - r*r); a - fl(r*r) is exact (Sterbenz).
        const rr = r * r;
        const f = this.directed(r, a - rr - twoProdErr(r, r, rr), rm);
        if (f === f) return f;
      } else {
        const f = this.narrow(r, exact, rm);
        if (f === f) return f;
      }
    }
    // sqrt's result never lands in the tiny range and is normal: NX only.
    if (fmt === Fmt.D && rm === RM_RNE && r * r !== a) {
      this.flags |= FLAG_NX;
      return r;
    }
    this.decode(a);
    let sig = BigInt(this.dSig);
    let exp = this.dExp;
    if (exp & 1) {
      sig <<= 1n;
      exp -= 1;
    }
    const p = fmt === Fmt.S ? 24 : 53;
    const k = Math.max(0, p + 3 - (bitLength(sig) >> 1)) + 1;
    const n = sig << BigInt(2 * k);
    const root = isqrt(n);
    const sticky = root * root === n ? 0n : 1n;
    return this.round(false, (root << 1n) | sticky, (exp - 2 * k) / 2 - 1, fmt, rm);
  }

  private fma(a: number, b: number, c: number, fmt: Fmt, rm: number): number {
    const p = a * b;
    if (p !== p) return this.invalid(); // 0 * inf
    if (a === Infinity || a === -Infinity || b === Infinity || b === -Infinity) {
      const s = p + c;
      if (s !== s) return this.invalid(); // inf - inf
      return s;
    }
    if (c === Infinity || c === -Infinity) return c; // the product is finite, even if p overflowed
    // Is the product exactly a double? (binary32 products always are.)
    let exactProduct = a === 0 || b === 0 || fmt === Fmt.S;
    if (!exactProduct && inSafeRange(a) && inSafeRange(b) && inSafeRange(p)) {
      const e = twoProdErr(a, b, p);
      exactProduct = e === 0;
      if (!exactProduct && rm === RM_RNE && (c === 0 || inSafeRange(c))) {
        // a*b + c = p + e + c = s + t + e exactly (TwoProduct, TwoSum). When
        // t + e is exact too, the value is the sum of two doubles s + u, and
        // one rounding of that sum is the correctly rounded result.
        const s = p + c;
        const t = twoSumErr(p, c, s);
        const u = t + e;
        if (twoSumErr(t, e, u) === 0) {
          const r = s + u;
          if (inSafeRange(r)) return this.nearest(r, twoSumErr(s, u, r) !== 0, Fmt.D);
        }
      }
    }
    if (exactProduct) {
      if (p === 0) {
        // (+-0) + c: exact unless c is zero, where the sum-of-zeros sign rule applies.
        if (c !== 0) return c;
        if (Object.is(p, c)) return c;
        return rm === RM_RDN ? -0 : 0;
      }
      return this.add(p, c, fmt, rm, false);
    }
    this.decode(a);
    const na = this.dNeg;
    const sa = BigInt(this.dSig);
    const ea = this.dExp;
    this.decode(b);
    const np = na !== this.dNeg;
    const P = sa * BigInt(this.dSig);
    const ep = ea + this.dExp;
    if (c === 0) return this.round(np, P, ep, fmt, rm);
    this.decode(c);
    const C = BigInt(this.dSig);
    const ec = this.dExp;
    const e = Math.min(ep, ec);
    const S = (np ? -P : P) * (1n << BigInt(ep - e)) + (this.dNeg ? -C : C) * (1n << BigInt(ec - e));
    if (S === 0n) return rm === RM_RDN ? -0 : 0;
    return S < 0n ? this.round(true, -S, e, fmt, rm) : this.round(false, S, e, fmt, rm);
  }

  private overflowResult(neg: boolean, fmt: Fmt, rm: number): number {
    this.flags |= FLAG_OF | FLAG_NX;
    const max = fmt === Fmt.S ? MAX32 : MAX64;
    let toInf: boolean;
    switch (rm) {
      case RM_RTZ:
        toInf = false;
        break;
      case RM_RDN:
        toInf = neg;
        break;
      case RM_RUP:
        toInf = !neg;
        break;
      default:
        toInf = true;
    }
    const m = toInf ? Infinity : max;
    return neg ? -m : m;
  }

  /** Split a finite double into sign, integer significand and exponent (value = sig * 2^exp). */
  private decode(v: number): void {
    this.f64[0] = v;
    const hi = this.i64[1]!;
    const lo = this.i64[0]!;
    const be = (hi >>> 20) & 0x7ff;
    let m = (hi & 0xfffff) * TWO32 + (lo >>> 0);
    if (be === 0) this.dExp = -1074;
    else {
      m += TWO52;
      this.dExp = be - 1075;
    }
    this.dNeg = hi < 0;
    this.dSig = m;
  }

  /**
   * Round (-1)^neg * sig * 2^exp (sig > 0) to the format once, setting flags;
   * tininess is detected after rounding, as RISC-V specifies.
   */
  private round(neg: boolean, sig: bigint, exp: number, fmt: Fmt, rm: number): number {
    const p = fmt === Fmt.S ? 24 : 53;
    const emin = fmt === Fmt.S ? -126 : -1022;
    const emax = fmt === Fmt.S ? 127 : 1023;
    const n = bitLength(sig);
    const E = exp + n - 1;
    if (E > emax) return this.overflowResult(neg, fmt, rm);
    const lsb = Math.max(E, emin) - (p - 1);
    const drop = lsb - exp;
    if (drop <= 0) return (neg ? -1 : 1) * Number(sig << BigInt(-drop)) * POW2[1100 + lsb]!;
    const bd = BigInt(drop);
    let q = sig >> bd;
    const rest = sig - (q << bd);
    const half = 1n << (bd - 1n);
    const inc = roundUp(rm, neg, (q & 1n) === 1n, rest > half ? 2 : rest === half ? 1 : rest === 0n ? -1 : 0);
    if (inc) q += 1n;
    let e = lsb;
    if (q === 1n << BigInt(p)) {
      q >>= 1n;
      e += 1;
    }
    if (e + p - 1 > emax) return this.overflowResult(neg, fmt, rm);
    if (rest !== 0n) {
      let tiny = E < emin;
      if (E === emin - 1 && n > p) {
        // Rounded to p bits with an unbounded exponent, does it reach 2^emin?
        const d2 = BigInt(n - p);
        const q2 = sig >> d2;
        const r2 = sig - (q2 << d2);
        const h2 = 1n << (d2 - 1n);
        const up = roundUp(rm, neg, (q2 & 1n) === 1n, r2 > h2 ? 2 : r2 === h2 ? 1 : r2 === 0n ? -1 : 0);
        tiny = !(up && q2 + 1n === 1n << BigInt(p));
      }
      this.flags |= tiny ? FLAG_NX | FLAG_UF : FLAG_NX;
    }
    return (neg ? -1 : 1) * Number(q) * POW2[1100 + e]!;
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

/**
 * Whether to add one unit in the last place. `half`: 2 above half, 1 exactly
 * half, 0 below half but non-zero, -1 exact.
 */
function roundUp(rm: number, neg: boolean, odd: boolean, half: number): boolean {
  if (half < 0) return false;
  switch (rm) {
    case RM_RNE:
      return half === 2 || (half === 1 && odd);
    case RM_RTZ:
      return false;
    case RM_RDN:
      return neg;
    case RM_RUP:
      return !neg;
    default:
      return half >= 1;
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

function isqrt(n: bigint): bigint {
  let x = 1n << BigInt((bitLength(n) >> 1) + 1);
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}
