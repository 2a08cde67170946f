/**
 * F and D on top of SoftFloat (softfloat.ts): every arithmetic result, flag
 * and conversion is IEEE 754-exact in all five rounding modes (see
 * softfloat.ts for how). Moves and sign injection are bit operations;
 * singles live NaN-boxed in the 64-bit registers (upper half all ones), and a
 * single read from a register that is not properly boxed is the canonical
 * NaN. Reserved formats, reserved rounding modes (directly or through frm)
 * and unused encodings are illegal instructions (return false).
 */
import { loadRaw, storeSlow } from './mmu.js';
import type { Hart } from './hart.js';
import { CANONICAL_NAN32, SoftFloat } from './softfloat.js';

// One instance per realm: each instruction clears and consumes its flags
// before returning, and harts in one realm never run concurrently.
const sf = new SoftFloat();

/** The binary32 held in f[r] (the canonical NaN when not NaN-boxed). */
function unbox(h: Hart, r: number): number {
  return h.fhi[r] === -1 ? h.flo[r]! : CANONICAL_NAN32;
}

function setS(h: Hart, rd: number, bits: number): void {
  h.flo[rd] = bits;
  h.fhi[rd] = -1;
}

function setD(h: Hart, rd: number): void {
  h.flo[rd] = sf.lo;
  h.fhi[rd] = sf.hi;
}

function setX(h: Hart, rd: number, lo: number, hi: number): void {
  if (rd !== 0) {
    h.xlo[rd << 1] = lo;
    h.xhi[rd << 1] = hi;
  }
}

/** Accrue the operation's flags into fflags; the FP state is now dirty. */
function done(h: Hart): true {
  if (sf.flags !== 0) {
    h.fcsr |= sf.flags;
    sf.flags = 0;
  }
  h.fpDirty();
  return true;
}

/** Execute one F/D instruction (mstatus.FS already checked to be on). Returns false for illegal encodings. */
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
    const s = (h.xlo[rs1 << 1]! >>> 0) + imm;
    const lo = s | 0;
    const hi = (h.xhi[rs1 << 1]! + (s > 0xffffffff ? 1 : s < 0 ? -1 : 0)) | 0;
    const size = f3 === 2 ? 4 : 8;
    if (op === 0x07) {
      if (h.debug !== null) h.debugAccess(lo, hi, size, false);
      loadRaw(h, lo, hi, size);
      flo[rd] = h.tLo;
      fhi[rd] = size === 4 ? -1 : h.tHi;
      h.fpDirty();
    } else {
      if (h.debug !== null) h.debugAccess(lo, hi, size, true);
      storeSlow(h, lo, hi, size, flo[rs2]!, fhi[rs2]!);
    }
    return true;
  }

  const fmt = (insn >>> 25) & 3;
  if (fmt > 1) return false;
  const dbl = fmt === 1;
  // The rounding mode, for the instructions that have one.
  const rm = f3 === 7 ? (h.fcsr >> 5) & 7 : f3;

  if (op !== 0x53) {
    // fmadd 0x43, fmsub 0x47, fnmsub 0x4b, fnmadd 0x4f
    if (rm > 4) return false;
    const rs3 = insn >>> 27;
    const negP = op === 0x4b || op === 0x4f;
    const negC = op === 0x47 || op === 0x4f;
    if (dbl) {
      sf.fma64(fhi[rs1]!, flo[rs1]!, fhi[rs2]!, flo[rs2]!, fhi[rs3]!, flo[rs3]!, rm, negP, negC);
      setD(h, rd);
    } else {
      setS(h, rd, sf.fma32(unbox(h, rs1), unbox(h, rs2), unbox(h, rs3), rm, negP, negC));
    }
    return done(h);
  }

  const f5 = insn >>> 27;
  switch (f5) {
    case 0:
    case 1:
    case 2:
    case 3: {
      if (rm > 4) return false;
      if (dbl) {
        const aH = fhi[rs1]!;
        const aL = flo[rs1]!;
        const bH = fhi[rs2]!;
        const bL = flo[rs2]!;
        if (f5 === 0) sf.add64(aH, aL, bH, bL, rm);
        else if (f5 === 1) sf.sub64(aH, aL, bH, bL, rm);
        else if (f5 === 2) sf.mul64(aH, aL, bH, bL, rm);
        else sf.div64(aH, aL, bH, bL, rm);
        setD(h, rd);
      } else {
        const a = unbox(h, rs1);
        const b = unbox(h, rs2);
        setS(h, rd, f5 === 0 ? sf.add32(a, b, rm) : f5 === 1 ? sf.sub32(a, b, rm) : f5 === 2 ? sf.mul32(a, b, rm) : sf.div32(a, b, rm));
      }
      return done(h);
    }
    case 0xb: {
      if (rs2 !== 0 || rm > 4) return false;
      if (dbl) {
        sf.sqrt64(fhi[rs1]!, flo[rs1]!, rm);
        setD(h, rd);
      } else setS(h, rd, sf.sqrt32(unbox(h, rs1), rm));
      return done(h);
    }
    case 4: {
      // fsgnj / fsgnjn / fsgnjx: sign bit operations, no flags
      if (f3 > 2) return false;
      if (dbl) {
        const sa = fhi[rs1]! & 0x80000000;
        const sb = fhi[rs2]! & 0x80000000;
        const sign = f3 === 0 ? sb : f3 === 1 ? sb ^ 0x80000000 : sa ^ sb;
        flo[rd] = flo[rs1]!;
        fhi[rd] = (fhi[rs1]! & 0x7fffffff) | sign;
      } else {
        const a = unbox(h, rs1);
        const sb = unbox(h, rs2) & 0x80000000;
        const sign = f3 === 0 ? sb : f3 === 1 ? sb ^ 0x80000000 : (a & 0x80000000) ^ sb;
        setS(h, rd, (a & 0x7fffffff) | sign);
      }
      return done(h);
    }
    case 5: {
      // fmin / fmax
      if (f3 > 1) return false;
      if (dbl) {
        if (f3 === 0) sf.min64(fhi[rs1]!, flo[rs1]!, fhi[rs2]!, flo[rs2]!);
        else sf.max64(fhi[rs1]!, flo[rs1]!, fhi[rs2]!, flo[rs2]!);
        setD(h, rd);
      } else {
        const a = unbox(h, rs1);
        const b = unbox(h, rs2);
        setS(h, rd, f3 === 0 ? sf.min32(a, b) : sf.max32(a, b));
      }
      return done(h);
    }
    case 8: {
      // fcvt.s.d (fmt S, rs2 = 1) / fcvt.d.s (fmt D, rs2 = 0)
      if (rm > 4) return false;
      if (dbl && rs2 === 0) {
        sf.f32ToF64(unbox(h, rs1));
        setD(h, rd);
      } else if (!dbl && rs2 === 1) {
        setS(h, rd, sf.f64ToF32(fhi[rs1]!, flo[rs1]!, rm));
      } else return false;
      return done(h);
    }
    case 0x14: {
      // fle (0) / flt (1) / feq (2)
      if (f3 > 2) return false;
      let r: number;
      if (dbl) {
        const aH = fhi[rs1]!;
        const aL = flo[rs1]!;
        const bH = fhi[rs2]!;
        const bL = flo[rs2]!;
        r = f3 === 2 ? sf.eq64(aH, aL, bH, bL) : f3 === 1 ? sf.lt64(aH, aL, bH, bL) : sf.le64(aH, aL, bH, bL);
      } else {
        const a = unbox(h, rs1);
        const b = unbox(h, rs2);
        r = f3 === 2 ? sf.eq32(a, b) : f3 === 1 ? sf.lt32(a, b) : sf.le32(a, b);
      }
      setX(h, rd, r, 0);
      return done(h);
    }
    case 0x18: {
      // fcvt.{w,wu,l,lu}.fmt
      if (rs2 > 3 || rm > 4) return false;
      if (dbl) sf.f64ToInt(fhi[rs1]!, flo[rs1]!, rs2, rm);
      else sf.f32ToInt(unbox(h, rs1), rs2, rm);
      setX(h, rd, sf.lo, sf.hi);
      return done(h);
    }
    case 0x1a: {
      // fcvt.fmt.{w,wu,l,lu}
      if (rs2 > 3 || rm > 4) return false;
      const xl = h.xlo[rs1 << 1]!;
      const xh = h.xhi[rs1 << 1]!;
      if (dbl) {
        sf.intToF64(xh, xl, rs2, rm);
        setD(h, rd);
      } else setS(h, rd, sf.intToF32(xh, xl, rs2, rm));
      return done(h);
    }
    case 0x1c: {
      if (rs2 !== 0) return false;
      if (f3 === 0) {
        // fmv.x.w (the low 32 bits, boxed or not, sign-extended) / fmv.x.d
        if (dbl) setX(h, rd, flo[rs1]!, fhi[rs1]!);
        else setX(h, rd, flo[rs1]!, flo[rs1]! >> 31);
        return true;
      }
      if (f3 === 1) {
        setX(h, rd, dbl ? sf.class64(fhi[rs1]!, flo[rs1]!) : sf.class32(unbox(h, rs1)), 0);
        return true;
      }
      return false;
    }
    case 0x1e: {
      // fmv.w.x / fmv.d.x
      if (rs2 !== 0 || f3 !== 0) return false;
      flo[rd] = h.xlo[rs1 << 1]!;
      fhi[rd] = dbl ? h.xhi[rs1 << 1]! : -1;
      h.fpDirty();
      return true;
    }
    default:
      return false;
  }
}
