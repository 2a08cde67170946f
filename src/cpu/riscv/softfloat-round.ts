/**
 * SoftFloat's foundation (softfloat.ts describes the whole): the rounding
 * modes, flags and canonical NaNs, the error-free transformations the fast
 * paths test exactness with, and the state every operation shares — the
 * scratch views that turn values into bit patterns, the canonical NaN
 * results, and the slow path's single rounding of an exact value.
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

export const enum Fmt {
  S = 0,
  D = 1,
}

export const TWO32 = 4294967296;
export const TWO52 = 4503599627370496;
const MAX32 = 3.4028234663852886e38;
const MAX64 = 1.7976931348623157e308;
export const MIN_NORMAL32 = 1.1754943508222875e-38;
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

export function bitLength(x: bigint): number {
  const s = x.toString(16);
  return (s.length - 1) * 4 + (32 - Math.clz32(parseInt(s[0]!, 16)));
}

/** Error of a + b = s (Knuth's TwoSum; exact when nothing overflows). */
export function twoSumErr(a: number, b: number, s: number): number {
  const bb = s - a;
  return a - (s - bb) + (b - bb);
}

/** Error of a * b = p (Dekker; exact for operands and product within SAFE_LO..SAFE_HI). */
export function twoProdErr(a: number, b: number, p: number): number {
  let c = SPLITTER * a;
  const ah = c - (c - a);
  const al = a - ah;
  c = SPLITTER * b;
  const bh = c - (c - b);
  const bl = b - bh;
  return ah * bh - p + ah * bl + al * bh + al * bl;
}

export function inSafeRange(x: number): boolean {
  const m = Math.abs(x);
  return m > SAFE_LO && m < SAFE_HI;
}

export function isSnan32(a: number): boolean {
  return (a & 0x7fc00000) === 0x7f800000 && (a & 0x3fffff) !== 0;
}
export function isNan32(a: number): boolean {
  return (a & 0x7fffffff) > 0x7f800000;
}
export function isNan64(hi: number, lo: number): boolean {
  const h = hi & 0x7fffffff;
  return h > 0x7ff00000 || (h === 0x7ff00000 && lo !== 0);
}
export function isSnan64(hi: number, lo: number): boolean {
  return isNan64(hi, lo) && (hi & 0x80000) === 0;
}

/** State, bit patterns, NaN results and rounding; the operations are in the subclasses. */
export abstract class SoftFloatRounding {
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
  protected dNeg = false;
  protected dSig = 0;
  protected dExp = 0;

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
  protected bits32(v: number): number {
    if (v !== v) return CANONICAL_NAN32;
    this.f32[0] = v;
    return this.i32[0]!;
  }
  protected put64(v: number): void {
    if (v !== v) {
      this.hi = CANONICAL_NAN64_HI;
      this.lo = 0;
      return;
    }
    this.f64[0] = v;
    this.lo = this.i64[0]!;
    this.hi = this.i64[1]!;
  }

  // ------------------------------------------------------------ internals: NaNs

  protected nan32(invalid: boolean): number {
    if (invalid) this.flags |= FLAG_NV;
    return CANONICAL_NAN32;
  }
  protected nan64(invalid: boolean): void {
    if (invalid) this.flags |= FLAG_NV;
    this.hi = CANONICAL_NAN64_HI;
    this.lo = 0;
  }
  protected isZeroInf32(a: number, b: number): boolean {
    const za = (a & 0x7fffffff) === 0;
    const zb = (b & 0x7fffffff) === 0;
    const ia = (a & 0x7fffffff) === 0x7f800000;
    const ib = (b & 0x7fffffff) === 0x7f800000;
    return (za && ib) || (zb && ia);
  }

  // ------------------------------------------------------------ internals: results and rounding

  protected invalid(): number {
    this.flags |= FLAG_NV;
    return NaN;
  }

  /** Flags and result for a fast-path value that is the correctly rounded RNE result. */
  protected nearest(r: number, inexact: boolean, fmt: Fmt): number {
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
  protected directed(r: number, d: number, rm: number): number {
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
  protected narrow(r: number, exactInDouble: boolean, rm: number): number {
    const f = Math.fround(r);
    if (exactInDouble && f === r) return r;
    if (rm !== RM_RNE || Math.abs(f) === MIN_NORMAL32) return NaN;
    return this.nearest(f, true, Fmt.S);
  }

  protected overflowResult(neg: boolean, fmt: Fmt, rm: number): number {
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
  protected decode(v: number): void {
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
  protected round(neg: boolean, sig: bigint, exp: number, fmt: Fmt, rm: number): number {
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
