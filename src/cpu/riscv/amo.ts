import { MEMTX_OK } from '../../memory/types.js';
import { toU64 } from './common.js';
import { CAUSE_MISALIGNED_LOAD, CAUSE_MISALIGNED_STORE } from './constants.js';
import type { Hart } from './hart.js';
import { fault, fill, ramWindow, translate } from './mmu.js';
import { ACC_READ, ACC_WRITE } from './pmp.js';
import { ST_RES_KEY, ST_RES_VAL } from './state-area.js';
// ------------------------------------------------------------------ A extension

export function execAmo(h: Hart, insn: number, ilen: number): void {
  const f3 = (insn >> 12) & 7;
  const f5 = insn >>> 27;
  if (f3 !== 2 && f3 !== 3) h.illegalInsn(insn, ilen);
  const isD = f3 === 3;
  const size = isD ? 8 : 4;
  const rd = (insn >> 7) & 31;
  const rs1 = (insn >> 15) & 31;
  const rs2 = (insn >> 20) & 31;
  const lo = h.xlo[rs1 << 1]!;
  const hi = h.xhi[rs1 << 1]!;
  if (h.debug !== null) h.debugAccess(lo, hi, size, f5 !== 2);
  const misaligned = (lo & (size - 1)) !== 0;
  if (f5 === 2) {
    // LR
    if (rs2 !== 0) h.illegalInsn(insn, ilen);
    if (misaligned) h.raise(CAUSE_MISALIGNED_LOAD, toU64(lo, hi));
    const pa = translate(h, lo, hi, ACC_READ, size);
    fill(h, lo, hi, pa, ACC_READ);
    physRead(h, pa, size, lo, hi, ACC_READ);
    h.stateF64[ST_RES_KEY / 8] = reservationKey(h, pa, size);
    h.stateI32[ST_RES_VAL / 4] = h.tLo;
    h.stateI32[ST_RES_VAL / 4 + 1] = h.tHi;
    setAmoResult(h, rd, isD);
    return;
  }
  const known = f5 === 3 || f5 === 1 || f5 === 0 || f5 === 4 || f5 === 0xc || f5 === 8 || f5 === 0x10 || f5 === 0x14 || f5 === 0x18 || f5 === 0x1c;
  if (!known) h.illegalInsn(insn, ilen);
  if (misaligned) h.raise(CAUSE_MISALIGNED_STORE, toU64(lo, hi));
  const pa = translate(h, lo, hi, ACC_WRITE, size);
  // The page's data TLB entries, as a load or store leaves them (translated code's inline LR,
  // SC and AMOs hit there next time); a page code was translated from stays out of the store
  // TLB, and a write to it is a store to code (mmu.ts: storeSlow says why).
  const code = h.codeSync.isCode(pa) && ramWindow(h, pa, size, true) !== null;
  if (!code) fill(h, lo, hi, pa, ACC_WRITE);
  const blo = h.xlo[rs2 << 1]!;
  const bhi = h.xhi[rs2 << 1]!;
  if (f5 === 3) {
    // SC: succeeds if the reservation is ours and memory still holds the value LR saw.
    let ok = false;
    if (h.stateF64[ST_RES_KEY / 8] === reservationKey(h, pa, size)) ok = physCas(h, pa, size, h.stateI32[ST_RES_VAL / 4]!, h.stateI32[ST_RES_VAL / 4 + 1]!, blo, bhi, lo, hi);
    h.stateF64[ST_RES_KEY / 8] = NaN;
    if (ok && code) codeWritten(h, pa);
    if (rd !== 0) {
      h.xlo[rd << 1] = ok ? 0 : 1;
      h.xhi[rd << 1] = 0;
    }
    return;
  }
  // Read-modify-write as a compare-and-exchange loop, so it stays atomic on shared RAM.
  for (;;) {
    physRead(h, pa, size, lo, hi, ACC_WRITE);
    const olo = h.tLo;
    const ohi = isD ? h.tHi : olo >> 31;
    let nlo: number;
    let nhi: number;
    switch (f5) {
      case 1:
        nlo = blo;
        nhi = bhi;
        break;
      case 0: {
        const s = (olo >>> 0) + (blo >>> 0);
        nlo = s | 0;
        nhi = (ohi + bhi + (s > 0xffffffff ? 1 : 0)) | 0;
        break;
      }
      case 4:
        nlo = olo ^ blo;
        nhi = ohi ^ bhi;
        break;
      case 0xc:
        nlo = olo & blo;
        nhi = ohi & bhi;
        break;
      case 8:
        nlo = olo | blo;
        nhi = ohi | bhi;
        break;
      default: {
        const bh = isD ? bhi : blo >> 31;
        const signed = f5 === 0x10 || f5 === 0x14;
        const less = signed
          ? ohi < bh || (ohi === bh && olo >>> 0 < blo >>> 0)
          : ohi >>> 0 < bh >>> 0 || (ohi === bh && olo >>> 0 < blo >>> 0);
        const takeOld = f5 === 0x10 || f5 === 0x18 ? less : !less;
        nlo = takeOld ? olo : blo;
        nhi = takeOld ? ohi : bh;
        break;
      }
    }
    if (physCas(h, pa, size, olo, h.tHi, nlo, nhi, lo, hi)) {
      if (code) codeWritten(h, pa);
      if (rd !== 0) {
        h.xlo[rd << 1] = olo;
        h.xhi[rd << 1] = ohi;
      }
      return;
    }
  }
}

/** A store to a page code was translated from (as mmu.ts storeSlow's): its translations are checked before they run again. */
function codeWritten(h: Hart, pa: number): void {
  h.codeSync.written(pa);
  h.exitRequest = true;
}

/**
 * The key of a reservation on the word at physical address pa (state-area.ts ST_RES_KEY): its
 * byte address in the hart's state memory when it is RAM there — what a translated LR or SC
 * computes from its TLB hit, so that either may pair with the other — else -1 - pa.
 */
function reservationKey(h: Hart, pa: number, size: number): number {
  return ramWindow(h, pa, size, false) !== null && h.rcInState ? h.ramAt : -1 - pa;
}

export function setAmoResult(h: Hart, rd: number, isD: boolean): void {
  if (rd === 0) return;
  h.xlo[rd << 1] = h.tLo;
  h.xhi[rd << 1] = isD ? h.tHi : h.tLo >> 31;
}

/** Physical read of an aligned 4/8-byte word into tLo/tHi (RAM directly, else dispatch). */
export function physRead(h: Hart, pa: number, size: number, lo: number, hi: number, acc: number): void {
  const v = ramWindow(h, pa, size, acc === ACC_WRITE);
  if (v !== null) {
    const a = h.ramAt - v.base;
    if (size === 8) {
      const x = Atomics.load(v.i64, a >> 3);
      h.tLo = Number(BigInt.asIntN(32, x));
      h.tHi = Number(x >> 32n);
      return;
    }
    h.tLo = Atomics.load(v.i32, a >> 2);
    h.tHi = 0;
    return;
  }
  if (h.mem.load(pa, size, h.attrs) !== MEMTX_OK) fault(h, acc, false, lo, hi);
  h.tLo = h.mem.valLo | 0;
  h.tHi = size === 8 ? h.mem.valHi | 0 : 0;
}

/** Compare-and-exchange on RAM (Atomics); plain read-check-write on MMIO. */
export function physCas(h: Hart, pa: number, size: number, elo: number, ehi: number, nlo: number, nhi: number, lo: number, hi: number): boolean {
  const v = ramWindow(h, pa, size, true);
  if (v !== null) {
    const a = h.ramAt - v.base;
    if (size === 4) return Atomics.compareExchange(v.i32, a >> 2, elo, nlo) === elo;
    const i64 = v.i64;
    const exp = BigInt.asIntN(64, toU64(elo, ehi));
    return Atomics.compareExchange(i64, a >> 3, exp, BigInt.asIntN(64, toU64(nlo, nhi))) === exp;
  }
  if (h.mem.load(pa, size, h.attrs) !== MEMTX_OK) fault(h, ACC_WRITE, false, lo, hi);
  if ((h.mem.valLo | 0) !== elo || (size === 8 && (h.mem.valHi | 0) !== ehi)) return false;
  if (h.mem.store(pa, size, nlo >>> 0, nhi >>> 0, h.attrs) !== MEMTX_OK) fault(h, ACC_WRITE, false, lo, hi);
  return true;
}
