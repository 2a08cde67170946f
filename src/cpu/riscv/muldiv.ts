import { TWO32 } from './common.js';
import type { Hart } from './hart.js';
// ------------------------------------------------------------------ M extension

export function mulDiv(h: Hart, f3: number, alo: number, ahi: number, blo: number, bhi: number): void {
  if (f3 === 0) {
    // mul: low 64 bits of the product
    const lo = Math.imul(alo, blo);
    const hi = (mulhu32(alo, blo) + Math.imul(alo, bhi) + Math.imul(ahi, blo)) | 0;
    h.tLo = lo;
    h.tHi = hi;
    return;
  }
  if (f3 >= 4 && ahi >= -0x100000 && ahi < 0x100000 && bhi >= -0x100000 && bhi < 0x100000) {
    // Both operands fit in 53 bits: exact double arithmetic (the common case in firmware).
    const signed = f3 === 4 || f3 === 6;
    if (signed || (ahi >= 0 && bhi >= 0)) {
      const a = ahi * TWO32 + (alo >>> 0);
      const b = bhi * TWO32 + (blo >>> 0);
      let q: number;
      let r: number;
      if (b === 0) {
        q = -1;
        r = a;
      } else {
        const ua = Math.abs(a);
        const ub = Math.abs(b);
        q = Math.floor(ua / ub);
        r = ua - q * ub;
        if (r < 0) {
          q--;
          r += ub;
        } else if (r >= ub) {
          q++;
          r -= ub;
        }
        if (a < 0 !== b < 0) q = -q;
        if (a < 0) r = -r;
      }
      const v = f3 === 4 || f3 === 5 ? q : r;
      h.tLo = v | 0;
      h.tHi = Math.floor(v / TWO32) | 0;
      return;
    }
  }
  if (f3 >= 4) {
    // Divisors below 2^32 (printf's divide-by-10 of 64-bit values): exact 16-bit long division.
    const signed = f3 === 4 || f3 === 6;
    const bNeg = signed && bhi < 0;
    const bmHi = bNeg ? ~bhi + (blo === 0 ? 1 : 0) : bhi;
    const bmLo = bNeg ? -blo | 0 : blo;
    if (bmHi === 0 && bmLo !== 0) {
      const aNeg = signed && ahi < 0;
      const amHi = aNeg ? (~ahi + (alo === 0 ? 1 : 0)) | 0 : ahi;
      const amLo = aNeg ? -alo | 0 : alo;
      const b = bmLo >>> 0;
      const hiU = amHi >>> 0;
      const qh = Math.floor(hiU / b);
      let r = hiU - qh * b;
      let t = r * 65536 + (amLo >>> 16);
      const q1 = Math.floor(t / b);
      r = t - q1 * b;
      t = r * 65536 + (amLo & 0xffff);
      const q0 = Math.floor(t / b);
      r = t - q0 * b;
      let lo: number;
      let hi: number;
      if (f3 === 4 || f3 === 5) {
        lo = (q1 * 65536 + q0) | 0;
        hi = qh | 0;
        if (aNeg !== bNeg) {
          hi = (~hi + (lo === 0 ? 1 : 0)) | 0;
          lo = -lo | 0;
        }
      } else {
        lo = r | 0;
        hi = 0;
        if (aNeg && r !== 0) {
          lo = -lo | 0;
          hi = -1;
        }
      }
      h.tLo = lo;
      h.tHi = hi;
      return;
    }
  }
  const a = (BigInt(ahi) << 32n) | BigInt(alo >>> 0); // signed
  const b = (BigInt(bhi) << 32n) | BigInt(blo >>> 0);
  const au = BigInt.asUintN(64, a);
  const bu = BigInt.asUintN(64, b);
  let r: bigint;
  switch (f3) {
    case 1:
      r = (a * b) >> 64n;
      break;
    case 2:
      r = (a * bu) >> 64n;
      break;
    case 3:
      r = (au * bu) >> 64n;
      break;
    case 4:
      if (b === 0n) r = -1n;
      else if (a === -(1n << 63n) && b === -1n) r = a;
      else r = a / b;
      break;
    case 5:
      r = bu === 0n ? -1n : au / bu;
      break;
    case 6:
      if (b === 0n) r = a;
      else if (a === -(1n << 63n) && b === -1n) r = 0n;
      else r = a % b;
      break;
    default:
      r = bu === 0n ? au : au % bu;
      break;
  }
  h.tLo = Number(BigInt.asIntN(32, r));
  h.tHi = Number(BigInt.asIntN(32, r >> 32n));
}

export function mulDivW(h: Hart, f3: number, a: number, b: number, insn: number, ilen: number): number {
  switch (f3) {
    case 0:
      return Math.imul(a, b);
    case 4:
      if (b === 0) return -1;
      if (a === -2147483648 && b === -1) return a;
      return (a / b) | 0;
    case 5:
      if (b === 0) return -1;
      return ((a >>> 0) / (b >>> 0)) | 0;
    case 6:
      if (b === 0) return a;
      if (a === -2147483648 && b === -1) return 0;
      return a % b | 0;
    case 7:
      if (b === 0) return a;
      return ((a >>> 0) % (b >>> 0)) | 0;
    default:
      return h.illegalInsn(insn, ilen);
  }
}

/** High 32 bits of the unsigned product of two 32-bit values. */
export function mulhu32(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const lo = a0 * b0;
  const mid1 = a1 * b0;
  const mid2 = a0 * b1;
  const carry = ((lo >>> 16) + (mid1 & 0xffff) + (mid2 & 0xffff)) >>> 16;
  return (a1 * b1 + (mid1 >>> 16) + (mid2 >>> 16) + carry) | 0;
}
