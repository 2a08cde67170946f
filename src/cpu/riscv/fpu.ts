/**
 * F and D: loads/stores, moves, sign injection, comparisons, classification,
 * conversions and arithmetic. Moves and sign injection are bit-exact; the
 * arithmetic uses JS doubles (Math.fround for single precision) with the
 * dynamic rounding mode honoured only by float-to-integer conversions, and
 * fflags approximated (NV, DZ, and NX for single-precision rounding).
 * Every encoding outside F/D, and reserved rounding modes, are illegal.
 */
import type { Hart } from './hart.js';

const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);
const f64 = new Float64Array(1);
const i64 = new Int32Array(f64.buffer);

const NV = 0x10;
const DZ = 0x08;
const NX = 0x01;

const CANON_S = 0x7fc00000;
const CANON_D_HI = 0x7ff80000;

function bitsToS(bits: number): number {
  i32[0] = bits;
  return f32[0]!;
}
function sToBits(v: number): number {
  if (v !== v) return CANON_S;
  f32[0] = v;
  return i32[0]!;
}

function isSnanS(bits: number): boolean {
  return (bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0 && (bits & 0x400000) === 0;
}
function isSnanD(lo: number, hi: number): boolean {
  return (hi & 0x7ff00000) === 0x7ff00000 && ((hi & 0xfffff) !== 0 || lo !== 0) && (hi & 0x80000) === 0;
}

function classify(v: number, neg: boolean, subnormal: boolean, snan: boolean): number {
  if (v !== v) return snan ? 1 << 8 : 1 << 9;
  if (v === -Infinity) return 1 << 0;
  if (v === Infinity) return 1 << 7;
  if (v === 0) return neg ? 1 << 3 : 1 << 4;
  if (subnormal) return neg ? 1 << 2 : 1 << 5;
  return neg ? 1 << 1 : 1 << 6;
}

function roundInt(v: number, rm: number): number {
  switch (rm) {
    case 0: {
      // round to nearest, ties to even
      const f = Math.floor(v);
      const d = v - f;
      if (d < 0.5) return f;
      if (d > 0.5) return f + 1;
      return f % 2 === 0 ? f : f + 1;
    }
    case 1:
      return Math.trunc(v);
    case 2:
      return Math.floor(v);
    case 3:
      return Math.ceil(v);
    default:
      return v < 0 ? -Math.round(-v) : Math.round(v);
  }
}

/** Execute one F/D instruction (FS already checked to be on). Returns false for illegal encodings. */
export function executeFp(h: Hart, insn: number): boolean {
  const op = insn & 0x7f;
  const rd = (insn >> 7) & 31;
  const rs1 = (insn >> 15) & 31;
  const rs2 = (insn >> 20) & 31;
  const f3 = (insn >> 12) & 7;
  const flo = h.flo;
  const fhi = h.fhi;

  if (op === 0x07 || op === 0x27) {
    if (f3 !== 2 && f3 !== 3) return false;
    const imm = op === 0x07 ? insn >> 20 : ((insn >> 25) << 5) | ((insn >> 7) & 31);
    const s = (h.xlo[rs1]! >>> 0) + imm;
    const lo = s | 0;
    const hi = (h.xhi[rs1]! + (s > 0xffffffff ? 1 : s < 0 ? -1 : 0)) | 0;
    const size = f3 === 2 ? 4 : 8;
    if (op === 0x07) {
      h.loadRaw(lo, hi, size);
      flo[rd] = h.tLo;
      fhi[rd] = size === 4 ? -1 : h.tHi;
      h.fpDirty();
    } else {
      h.storeSlow(lo, hi, size, flo[rs2]!, fhi[rs2]!);
    }
    return true;
  }

  // rounding mode
  let rm = f3;
  const frm = (h.fcsr >> 5) & 7;
  const fmtBits = op === 0x53 ? (insn >>> 25) & 3 : (insn >>> 25) & 3;
  if (fmtBits > 1) return false;
  const dbl = fmtBits === 1;
  const readS = (r: number): number => (fhi[r] === -1 ? bitsToS(flo[r]!) : NaN);
  const readD = (r: number): number => {
    i64[0] = flo[r]!;
    i64[1] = fhi[r]!;
    return f64[0]!;
  };
  const rdv = (r: number): number => (dbl ? readD(r) : readS(r));
  const sBits = (r: number): number => (fhi[r] === -1 ? flo[r]! : CANON_S);
  const snan = (r: number): boolean => (dbl ? isSnanD(flo[r]!, fhi[r]!) : isSnanS(sBits(r)));
  let flags = 0;
  const writeF = (v: number): void => {
    if (dbl) {
      if (v !== v) {
        flo[rd] = 0;
        fhi[rd] = CANON_D_HI;
      } else {
        f64[0] = v;
        flo[rd] = i64[0]!;
        fhi[rd] = i64[1]!;
      }
    } else {
      const r = Math.fround(v);
      if (r !== v && v === v && isFinite(v)) flags |= NX;
      flo[rd] = sToBits(r);
      fhi[rd] = -1;
    }
  };
  const writeX = (lo: number, hi: number): void => {
    if (rd !== 0) {
      h.xlo[rd] = lo;
      h.xhi[rd] = hi;
    }
  };
  const rmValid = (): boolean => {
    if (rm === 7) rm = frm;
    return rm <= 4;
  };
  const finish = (): true => {
    if (flags) h.fcsr |= flags;
    h.fpDirty();
    return true;
  };

  if (op !== 0x53) {
    // fused multiply-add family
    if (!rmValid()) return false;
    const rs3 = insn >>> 27;
    const a = rdv(rs1);
    const b = rdv(rs2);
    const c = rdv(rs3);
    if (snan(rs1) || snan(rs2) || snan(rs3)) flags |= NV;
    if ((a === 0 && Math.abs(b) === Infinity) || (b === 0 && Math.abs(a) === Infinity)) flags |= NV;
    let r: number;
    if (op === 0x43) r = a * b + c;
    else if (op === 0x47) r = a * b - c;
    else if (op === 0x4b) r = -(a * b) + c;
    else r = -(a * b) - c;
    if (r !== r && a === a && b === b && c === c) flags |= NV;
    writeF(r);
    return finish();
  }

  const f5 = insn >>> 27;
  switch (f5) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 0xb: {
      if (!rmValid()) return false;
      if (f5 === 0xb && rs2 !== 0) return false;
      const a = rdv(rs1);
      const b = f5 === 0xb ? 0 : rdv(rs2);
      if (snan(rs1) || (f5 !== 0xb && snan(rs2))) flags |= NV;
      let r: number;
      if (f5 === 0) r = a + b;
      else if (f5 === 1) r = a - b;
      else if (f5 === 2) r = a * b;
      else if (f5 === 3) {
        if (b === 0 && a === a && a !== 0 && isFinite(a)) flags |= DZ;
        r = a / b;
      } else r = Math.sqrt(a);
      if (r !== r && a === a && (f5 === 0xb || b === b)) flags |= NV;
      writeF(r);
      return finish();
    }
    case 4: {
      if (f3 > 2) return false;
      if (dbl) {
        const sa = fhi[rs1]! & 0x80000000;
        const sb = fhi[rs2]! & 0x80000000;
        const sign = f3 === 0 ? sb : f3 === 1 ? sb ^ 0x80000000 : sa ^ sb;
        const lo = flo[rs1]!;
        fhi[rd] = (fhi[rs1]! & 0x7fffffff) | sign;
        flo[rd] = lo;
      } else {
        const a = sBits(rs1);
        const sb = sBits(rs2) & 0x80000000;
        const sign = f3 === 0 ? sb : f3 === 1 ? sb ^ 0x80000000 : (a & 0x80000000) ^ sb;
        flo[rd] = (a & 0x7fffffff) | sign;
        fhi[rd] = -1;
      }
      return finish();
    }
    case 5: {
      if (f3 > 1) return false;
      const a = rdv(rs1);
      const b = rdv(rs2);
      if (snan(rs1) || snan(rs2)) flags |= NV;
      let r: number;
      if (a !== a && b !== b) r = NaN;
      else if (a !== a) r = b;
      else if (b !== b) r = a;
      else if (a === 0 && b === 0) r = f3 === 0 ? (Object.is(a, -0) || Object.is(b, -0) ? -0 : 0) : Object.is(a, 0) || Object.is(b, 0) ? 0 : -0;
      else r = f3 === 0 ? Math.min(a, b) : Math.max(a, b);
      writeF(r);
      return finish();
    }
    case 8: {
      // fcvt.s.d (fmt S, rs2 = 1) / fcvt.d.s (fmt D, rs2 = 0)
      if (!rmValid()) return false;
      if (dbl && rs2 === 0) {
        const a = readS(rs1);
        if (isSnanS(sBits(rs1))) flags |= NV;
        writeF(a);
        return finish();
      }
      if (!dbl && rs2 === 1) {
        const a = readD(rs1);
        if (isSnanD(flo[rs1]!, fhi[rs1]!)) flags |= NV;
        writeF(a);
        return finish();
      }
      return false;
    }
    case 0x14: {
      if (f3 > 2) return false;
      const a = rdv(rs1);
      const b = rdv(rs2);
      let r: boolean;
      if (f3 === 2) {
        if (snan(rs1) || snan(rs2)) flags |= NV;
        r = a === b;
      } else {
        if (a !== a || b !== b) flags |= NV;
        r = f3 === 1 ? a < b : a <= b;
      }
      writeX(r ? 1 : 0, 0);
      return finish();
    }
    case 0x18: {
      // fcvt.{w,wu,l,lu}.fmt
      if (rs2 > 3 || !rmValid()) return false;
      const a = rdv(rs1);
      const r = a !== a ? NaN : roundInt(a, rm);
      const signed = (rs2 & 1) === 0;
      const wide = rs2 >= 2;
      const min = signed ? (wide ? -(2 ** 63) : -(2 ** 31)) : 0;
      const max = signed ? (wide ? 2 ** 63 : 2 ** 31) : wide ? 2 ** 64 : 2 ** 32; // exclusive
      let v: bigint;
      if (r !== r || r >= max) {
        flags |= NV;
        v = a !== a || a > 0 ? BigInt(max) - 1n : BigInt(min);
        if (a !== a) v = BigInt(max) - 1n;
      } else if (r < min) {
        flags |= NV;
        v = BigInt(min);
      } else {
        if (r !== a) flags |= NX;
        v = BigInt(r);
      }
      if (!wide) v = BigInt.asIntN(32, v);
      const u = BigInt.asUintN(64, v);
      writeX(Number(u & 0xffffffffn) | 0, Number(u >> 32n) | 0);
      return finish();
    }
    case 0x1a: {
      // fcvt.fmt.{w,wu,l,lu}
      if (rs2 > 3 || !rmValid()) return false;
      const x = h.getX(rs1);
      let v: bigint;
      if (rs2 === 0) v = BigInt.asIntN(32, x);
      else if (rs2 === 1) v = BigInt.asUintN(32, x);
      else if (rs2 === 2) v = BigInt.asIntN(64, x);
      else v = x;
      const n = Number(v);
      if (BigInt(n) !== v) flags |= NX;
      writeF(n);
      return finish();
    }
    case 0x1c: {
      if (rs2 !== 0) return false;
      if (f3 === 0) {
        // fmv.x.w / fmv.x.d
        if (dbl) writeX(flo[rs1]!, fhi[rs1]!);
        else writeX(flo[rs1]!, flo[rs1]! >> 31);
        return true;
      }
      if (f3 === 1) {
        let c: number;
        if (dbl) {
          const hi = fhi[rs1]!;
          const lo = flo[rs1]!;
          const sub = (hi & 0x7ff00000) === 0 && ((hi & 0xfffff) !== 0 || lo !== 0);
          c = classify(readD(rs1), hi < 0, sub, isSnanD(lo, hi));
        } else {
          const b = sBits(rs1);
          const sub = (b & 0x7f800000) === 0 && (b & 0x7fffff) !== 0;
          c = classify(bitsToS(b), b < 0, sub, isSnanS(b));
        }
        writeX(c, 0);
        return true;
      }
      return false;
    }
    case 0x1e: {
      if (rs2 !== 0 || f3 !== 0) return false;
      // fmv.w.x / fmv.d.x
      flo[rd] = h.xlo[rs1]!;
      fhi[rd] = dbl ? h.xhi[rs1]! : -1;
      h.fpDirty();
      return true;
    }
    default:
      return false;
  }
}
