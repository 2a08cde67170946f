/**
 * SoftFloat's arithmetic (softfloat.ts describes the fast and slow paths):
 * +, -, *, /, sqrt and fused multiply-add in binary32 and binary64, each
 * tried in double arithmetic first and computed exactly (BigInt) and rounded
 * once when that cannot decide the result or its flags.
 */
import {
  FLAG_DZ,
  FLAG_NX,
  Fmt,
  RM_RDN,
  RM_RNE,
  SoftFloatRounding,
  bitLength,
  inSafeRange,
  isNan32,
  isNan64,
  isSnan32,
  isSnan64,
  twoProdErr,
  twoSumErr,
} from './softfloat-round.js';

/** The arithmetic operations; comparisons and conversions are SoftFloat's (softfloat.ts). */
export abstract class SoftFloatArith extends SoftFloatRounding {
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

  // ------------------------------------------------------------ internals: operations on values
  // Operands are non-NaN doubles holding values of the format; the result is the
  // rounded value as a double (NaN means invalid: NV already set).

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
}

function isqrt(n: bigint): bigint {
  let x = 1n << BigInt((bitLength(n) >> 1) + 1);
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}
