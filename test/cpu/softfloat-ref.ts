/**
 * An independent reference for the softfloat tests: operands become exact
 * rationals (BigInt numerator/denominator), the operation is done exactly, and
 * the result is rounded by comparing remainders against the denominator.
 * Slow and simple on purpose; it shares no code with src/cpu/riscv/softfloat.ts.
 */

export type Fmt = 32 | 64;
export interface Res {
  /** Result bits: binary32 in the low 32 bits, or binary64, or a 64-bit integer (two's complement). */
  bits: bigint;
  flags: number;
}

const NV = 0x10;
const DZ = 0x08;
const OF = 0x04;
const UF = 0x02;
const NX = 0x01;

interface Spec {
  p: number;
  emin: number;
  emax: number;
  ebits: number;
}
const SPEC: Record<Fmt, Spec> = {
  32: { p: 24, emin: -126, emax: 127, ebits: 8 },
  64: { p: 53, emin: -1022, emax: 1023, ebits: 11 },
};

/** A decoded operand. */
export type Val =
  | { k: 'nan'; snan: boolean }
  | { k: 'inf'; neg: boolean }
  | { k: 'zero'; neg: boolean }
  | { k: 'fin'; num: bigint; den: bigint }; // num carries the sign, den > 0

export function decode(bits: bigint, fmt: Fmt): Val {
  const s = SPEC[fmt];
  const mbits = BigInt(s.p - 1);
  const width = BigInt(s.p + s.ebits);
  const neg = (bits >> (width - 1n)) & 1n ? true : false;
  const e = Number((bits >> mbits) & ((1n << BigInt(s.ebits)) - 1n));
  const m = bits & ((1n << mbits) - 1n);
  const emaxField = (1 << s.ebits) - 1;
  if (e === emaxField) {
    if (m === 0n) return { k: 'inf', neg };
    return { k: 'nan', snan: ((m >> (mbits - 1n)) & 1n) === 0n };
  }
  if (e === 0 && m === 0n) return { k: 'zero', neg };
  const sig = e === 0 ? m : m | (1n << mbits);
  // value = sig * 2^(max(e,1) - bias - (p-1))
  const bias = (1 << (s.ebits - 1)) - 1;
  const ex = Math.max(e, 1) - bias - (s.p - 1);
  const num = neg ? -sig : sig;
  return ex >= 0 ? { k: 'fin', num: num << BigInt(ex), den: 1n } : { k: 'fin', num, den: 1n << BigInt(-ex) };
}

export function canonicalNaN(fmt: Fmt): bigint {
  return fmt === 32 ? 0x7fc00000n : 0x7ff8000000000000n;
}
function infBits(neg: boolean, fmt: Fmt): bigint {
  const s = SPEC[fmt];
  const b = ((1n << BigInt(s.ebits)) - 1n) << BigInt(s.p - 1);
  return neg ? b | (1n << BigInt(s.p + s.ebits - 1)) : b;
}
function zeroBits(neg: boolean, fmt: Fmt): bigint {
  return neg ? 1n << BigInt(SPEC[fmt].p + SPEC[fmt].ebits - 1) : 0n;
}
function maxBits(neg: boolean, fmt: Fmt): bigint {
  return infBits(neg, fmt) - 1n;
}

function bitLen(x: bigint): number {
  return x === 0n ? 0 : x.toString(2).length;
}

/** floor(log2(n/d)) for n, d > 0. */
function ilog2(n: bigint, d: bigint): number {
  let e = bitLen(n) - bitLen(d);
  // 2^e <= n/d ?
  const ge = (k: number): boolean => (k >= 0 ? n >= d << BigInt(k) : n << BigInt(-k) >= d);
  while (!ge(e)) e--;
  while (ge(e + 1)) e++;
  return e;
}

/** Round a non-zero rational to the format. */
export function roundRational(num: bigint, den: bigint, fmt: Fmt, rm: number): Res {
  const s = SPEC[fmt];
  const neg = num < 0n;
  const n = neg ? -num : num;
  const E = ilog2(n, den);
  // Scale so that the kept digits are the integer part: m = n/den * 2^sc.
  const roundAt = (sc: number): { q: bigint; cmp: number; exact: boolean } => {
    let nn = n;
    let dd = den;
    if (sc >= 0) nn <<= BigInt(sc);
    else dd <<= BigInt(-sc);
    const q = nn / dd;
    const r = nn - q * dd;
    const twice = 2n * r;
    const cmp = twice < dd ? -1 : twice === dd ? 0 : 1;
    return { q, cmp, exact: r === 0n };
  };
  const up = (q: bigint, cmp: number, exact: boolean): boolean => {
    if (exact) return false;
    switch (rm) {
      case 0:
        return cmp > 0 || (cmp === 0 && (q & 1n) === 1n);
      case 1:
        return false;
      case 2:
        return neg;
      case 3:
        return !neg;
      default:
        return cmp >= 0;
    }
  };
  // Unbounded exponent: tininess after rounding.
  const u = roundAt(s.p - 1 - E);
  let qu = u.q + (up(u.q, u.cmp, u.exact) ? 1n : 0n);
  let Eu = E;
  if (qu === 1n << BigInt(s.p)) {
    qu >>= 1n;
    Eu++;
  }
  const tiny = Eu < s.emin;
  if (Eu > s.emax) {
    const toInf = rm === 0 || rm === 4 || (rm === 2 && neg) || (rm === 3 && !neg);
    return { bits: toInf ? infBits(neg, fmt) : maxBits(neg, fmt), flags: OF | NX };
  }
  const Eb = Math.max(E, s.emin);
  const sc = s.p - 1 - Eb;
  const b = roundAt(sc);
  const q = b.q + (up(b.q, b.cmp, b.exact) ? 1n : 0n);
  let flags = 0;
  if (!b.exact) flags |= NX | (tiny ? UF : 0);
  // q * 2^-sc, q <= 2^p: encode.
  const bias = (1 << (s.ebits - 1)) - 1;
  let field: bigint;
  if (q === 0n) field = 0n;
  else {
    const L = bitLen(q);
    const exp = L - 1 - sc; // unbiased exponent of the result
    if (exp < s.emin) field = q; // subnormal: the biased exponent is 0
    else {
      const mant = (q << BigInt(s.p - L)) & ((1n << BigInt(s.p - 1)) - 1n);
      field = (BigInt(exp + bias) << BigInt(s.p - 1)) | mant;
    }
  }
  return { bits: neg ? field | zeroBits(true, fmt) : field, flags };
}

function nanRes(fmt: Fmt, flags: number): Res {
  return { bits: canonicalNaN(fmt), flags };
}
function anySnan(...v: Val[]): boolean {
  return v.some((x) => x.k === 'nan' && x.snan);
}
function anyNan(...v: Val[]): boolean {
  return v.some((x) => x.k === 'nan');
}

type Fin = { k: 'fin'; num: bigint; den: bigint };
function rat(v: Val): Fin {
  if (v.k === 'fin') return v;
  if (v.k === 'zero') return { k: 'fin', num: 0n, den: 1n };
  throw new Error('not finite');
}
function negOf(v: Val): Val {
  if (v.k === 'inf' || v.k === 'zero') return { k: v.k, neg: !v.neg };
  if (v.k === 'fin') return { k: 'fin', num: -v.num, den: v.den };
  return v;
}
function isNegVal(v: Val): boolean {
  return v.k === 'fin' ? v.num < 0n : v.k === 'nan' ? false : v.neg;
}

/** Exact sum of two non-NaN values, rounded, with IEEE's zero-sign rules. */
function sumVals(a: Val, b: Val, fmt: Fmt, rm: number): Res {
  if (a.k === 'inf' || b.k === 'inf') {
    if (a.k === 'inf' && b.k === 'inf' && a.neg !== b.neg) return nanRes(fmt, NV);
    return { bits: infBits(a.k === 'inf' ? a.neg : (b as { neg: boolean }).neg, fmt), flags: 0 };
  }
  if (a.k === 'zero' && b.k === 'zero') {
    const neg = a.neg === b.neg ? a.neg : rm === 2;
    return { bits: zeroBits(neg, fmt), flags: 0 };
  }
  const x = rat(a);
  const y = rat(b);
  const num = x.num * y.den + y.num * x.den;
  if (num === 0n) return { bits: zeroBits(rm === 2, fmt), flags: 0 };
  return roundRational(num, x.den * y.den, fmt, rm);
}

export function refAdd(ab: bigint, bb: bigint, fmt: Fmt, rm: number, sub = false): Res {
  const a = decode(ab, fmt);
  let b = decode(bb, fmt);
  if (anyNan(a, b)) return nanRes(fmt, anySnan(a, b) ? NV : 0);
  if (sub) b = negOf(b);
  return sumVals(a, b, fmt, rm);
}

function productVal(a: Val, b: Val): Val | null {
  const neg = isNegVal(a) !== isNegVal(b);
  if ((a.k === 'inf' && b.k === 'zero') || (a.k === 'zero' && b.k === 'inf')) return null;
  if (a.k === 'inf' || b.k === 'inf') return { k: 'inf', neg };
  if (a.k === 'zero' || b.k === 'zero') return { k: 'zero', neg };
  const x = rat(a);
  const y = rat(b);
  return { k: 'fin', num: x.num * y.num, den: x.den * y.den };
}

export function refMul(ab: bigint, bb: bigint, fmt: Fmt, rm: number): Res {
  const a = decode(ab, fmt);
  const b = decode(bb, fmt);
  if (anyNan(a, b)) return nanRes(fmt, anySnan(a, b) ? NV : 0);
  const p = productVal(a, b);
  if (p === null) return nanRes(fmt, NV);
  if (p.k === 'inf' || p.k === 'zero') return { bits: p.k === 'inf' ? infBits(p.neg, fmt) : zeroBits(p.neg, fmt), flags: 0 };
  return roundRational((p as Fin).num, (p as Fin).den, fmt, rm);
}

export function refDiv(ab: bigint, bb: bigint, fmt: Fmt, rm: number): Res {
  const a = decode(ab, fmt);
  const b = decode(bb, fmt);
  if (anyNan(a, b)) return nanRes(fmt, anySnan(a, b) ? NV : 0);
  const neg = isNegVal(a) !== isNegVal(b);
  if ((a.k === 'inf' && b.k === 'inf') || (a.k === 'zero' && b.k === 'zero')) return nanRes(fmt, NV);
  if (a.k === 'inf') return { bits: infBits(neg, fmt), flags: 0 };
  if (b.k === 'inf' || a.k === 'zero') return { bits: zeroBits(neg, fmt), flags: 0 };
  if (b.k === 'zero') return { bits: infBits(neg, fmt), flags: DZ };
  const x = rat(a);
  const y = rat(b);
  let num = x.num * y.den;
  let den = x.den * y.num;
  if (den < 0n) {
    den = -den;
    num = -num;
  }
  return roundRational(num, den, fmt, rm);
}

export function refFma(ab: bigint, bb: bigint, cb: bigint, fmt: Fmt, rm: number, negP: boolean, negC: boolean): Res {
  const a = decode(ab, fmt);
  const b = decode(bb, fmt);
  const c = decode(cb, fmt);
  const zeroInf = (a.k === 'inf' && b.k === 'zero') || (a.k === 'zero' && b.k === 'inf');
  if (anyNan(a, b, c)) return nanRes(fmt, anySnan(a, b, c) || zeroInf ? NV : 0);
  let p = productVal(a, b);
  if (p === null) return nanRes(fmt, NV);
  if (negP) p = negOf(p);
  return sumVals(p, negC ? negOf(c) : c, fmt, rm);
}

function isqrtBig(n: bigint): bigint {
  if (n < 2n) return n;
  let x = n;
  let y = (x + 1n) >> 1n;
  while (y < x) {
    x = y;
    y = (x + n / x) >> 1n;
  }
  return x;
}

export function refSqrt(ab: bigint, fmt: Fmt, rm: number): Res {
  const a = decode(ab, fmt);
  if (a.k === 'nan') return nanRes(fmt, a.snan ? NV : 0);
  if (a.k === 'zero') return { bits: zeroBits(a.neg, fmt), flags: 0 };
  if (a.k === 'inf') return a.neg ? nanRes(fmt, NV) : { bits: infBits(false, fmt), flags: 0 };
  if (a.num < 0n) return nanRes(fmt, NV);
  // sqrt(num/den) rounded: find q = floor(sqrt(x) * 2^sc) and compare with q + 1/2.
  const s = SPEC[fmt];
  const E = Math.floor(ilog2(a.num, a.den) / 2);
  const Eb = E; // square roots of format values are never below 2^emin / subnormal
  const sc = s.p - 1 - Eb;
  // x * 2^(2sc) = N / D
  let N = a.num;
  let D = a.den;
  if (sc >= 0) N <<= BigInt(2 * sc);
  else D <<= BigInt(-2 * sc);
  const q = isqrtBig(N / D);
  // exact iff q^2 * D == N; above half iff 4N > (2q+1)^2 D
  const exact = q * q * D === N;
  const above = 4n * N > (2n * q + 1n) * (2n * q + 1n) * D;
  let inc = false;
  if (!exact) inc = rm === 0 || rm === 4 ? above : rm === 3;
  let qq = q + (inc ? 1n : 0n);
  let sc2 = sc;
  if (qq === 1n << BigInt(s.p)) {
    qq >>= 1n;
    sc2--;
  }
  const bias = (1 << (s.ebits - 1)) - 1;
  const exp = s.p - 1 - sc2;
  const field = (BigInt(exp + bias) << BigInt(s.p - 1)) | (qq & ((1n << BigInt(s.p - 1)) - 1n));
  return { bits: field, flags: exact ? 0 : NX };
}

/** fcvt.{w,wu,l,lu}.fmt: 64-bit result register value (w/wu sign-extended). */
export function refToInt(ab: bigint, fmt: Fmt, kind: number, rm: number): Res {
  const a = decode(ab, fmt);
  const wide = kind >= 2;
  const signed = (kind & 1) === 0;
  const bits = wide ? 64n : 32n;
  const min = signed ? -(1n << (bits - 1n)) : 0n;
  const max = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
  const out = (v: bigint, flags: number): Res => {
    const r = wide ? BigInt.asUintN(64, v) : BigInt.asUintN(64, BigInt.asIntN(32, v));
    return { bits: r, flags };
  };
  if (a.k === 'nan') return out(max, NV);
  if (a.k === 'inf') return out(a.neg ? min : max, NV);
  if (a.k === 'zero') return out(0n, 0);
  const neg = a.num < 0n;
  const n = neg ? -a.num : a.num;
  const q = n / a.den;
  const r = n - q * a.den;
  const cmp = 2n * r < a.den ? -1 : 2n * r === a.den ? 0 : 1;
  let inc = false;
  if (r !== 0n) {
    switch (rm) {
      case 0:
        inc = cmp > 0 || (cmp === 0 && (q & 1n) === 1n);
        break;
      case 1:
        inc = false;
        break;
      case 2:
        inc = neg;
        break;
      case 3:
        inc = !neg;
        break;
      default:
        inc = cmp >= 0;
    }
  }
  const mag = q + (inc ? 1n : 0n);
  const v = neg ? -mag : mag;
  if (v < min) return out(min, NV);
  if (v > max) return out(max, NV);
  return out(v, r !== 0n ? NX : 0);
}

/** fcvt.fmt.{w,wu,l,lu} from a 64-bit register value. */
export function refFromInt(x: bigint, fmt: Fmt, kind: number, rm: number): Res {
  let v: bigint;
  if (kind === 0) v = BigInt.asIntN(32, x);
  else if (kind === 1) v = BigInt.asUintN(32, x);
  else if (kind === 2) v = BigInt.asIntN(64, x);
  else v = BigInt.asUintN(64, x);
  if (v === 0n) return { bits: 0n, flags: 0 };
  return roundRational(v, 1n, fmt, rm);
}

/** fcvt.s.d / fcvt.d.s. */
export function refConvert(ab: bigint, from: Fmt, to: Fmt, rm: number): Res {
  const a = decode(ab, from);
  if (a.k === 'nan') return nanRes(to, a.snan ? NV : 0);
  if (a.k === 'inf') return { bits: infBits(a.neg, to), flags: 0 };
  if (a.k === 'zero') return { bits: zeroBits(a.neg, to), flags: 0 };
  return roundRational(a.num, a.den, to, rm);
}
