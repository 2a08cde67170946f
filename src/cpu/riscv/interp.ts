import { CI, CV, LOAD_SIZE, TLB_MASK, TWO32 } from './common.js';
import type { Hart } from './hart.js';
import { fetchSlow, loadSlow, storeSlow } from './mmu.js';
import { mulDiv, mulDivW } from './muldiv.js';
import { rvcFill } from './rvc.js';
import { execOther } from './system.js';
/**
 * The interpreter loop: runs until `end` steps or an exit request. With
 * `stopAtJump` (used by the translator's dispatcher) it also returns after
 * taken branches and jumps that may enter a translated or hot block (see cBase below), so
 * the dispatcher sees those block entries.
 */
export function inner(h: Hart, end: number, stopAtJumpArg: boolean): void {
  const xlo = h.xlo;
  const xhi = h.xhi;
  const rvc = h.rvc;
  const rTagLo = h.rTagLo;
  const rTagHi = h.rTagHi;
  const rOff = h.rOff;
  const rDv = h.rDv;
  const rF64 = h.rF64;
  const wF64 = h.wF64;
  const wTagLo = h.wTagLo;
  const wTagHi = h.wTagHi;
  const wOff = h.wOff;
  const wDv = h.wDv;
  // The translation context's tag bits: a context change drops the fetch page, which ends this loop.
  const tTag = h.tlbTag;
  // pc and steps live in locals; they are written back before anything that may trap or
  // look at them (slow paths, system instructions) and when the loop exits.
  let pc = h.pc;
  let steps = h.steps;
  let fBase = h.fetchBase;
  let fDv = h.fetchDv;
  let fOff = h.fetchOff;
  // The translator's code-cache state of the page the dispatcher entered us in: a taken jump
  // within that page to a block that is neither translated nor hot yet stays here instead of
  // returning to the dispatcher (which would only count it and call us again). The jump sites
  // test k === 1 first so that even a run seeing only in-page jumps leaves V8 feedback for
  // every compare (a compare without feedback deoptimises this loop when first reached).
  const cBase = h.jitBase;
  const cKinds = h.jitKinds;
  const cHits = h.jitHits;
  const cHot = h.jitThreshold;
  // An int32 in a register: testing the boolean parameter itself made V8 convert it (a
  // ToBoolean of a tagged value) on every instruction.
  const stopAtJump = stopAtJumpArg ? 1 : 0;
  while (steps < end) {
    steps++;
    let insn: number;
    const off = pc - fBase;
    if (off >= 0 && off <= 4092) insn = fDv.getInt32((fOff + off) | 0, true);
    else {
      h.pc = pc;
      h.steps = steps;
      // `| 0`: an int32, so that insn stays an untagged word in the loop (like the fast fetch's).
      insn = fetchSlow(h) | 0;
      fBase = h.fetchBase;
      fDv = h.fetchDv;
      fOff = h.fetchOff;
    }
    const raw = insn;
    let ilen = 4;
    if ((insn & 3) !== 3) {
      insn = rvc[insn & 0xffff]!;
      ilen = 2;
      if ((insn & 3) !== 3 && (insn = rvcFill(rvc, raw & 0xffff) | 0) === 0) {
        h.pc = pc;
        h.steps = steps;
        h.trapIllegal(raw & 0xffff);
        return;
      }
    }
    const rd = (insn >> 7) & 31;
    const rs1 = (insn >> 15) & 31;
    switch ((insn >> 2) & 31) {
      case 4: {
        // OP-IMM
        const f3 = (insn >> 12) & 7;
        const imm = insn >> 20;
        const alo = xlo[rs1 << 1]!;
        const ahi = xhi[rs1 << 1]!;
        let lo: number;
        let hi: number;
        switch (f3) {
          case 0: {
            const s = (alo >>> 0) + (imm >>> 0);
            lo = s | 0;
            hi = (ahi + (imm >> 31) + (s > 0xffffffff ? 1 : 0)) | 0;
            break;
          }
          case 1: {
            if (insn >>> 26 !== 0) { h.pc = pc; h.steps = steps; h.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
            const sh = imm & 63;
            if (sh === 0) {
              lo = alo;
              hi = ahi;
            } else if (sh < 32) {
              hi = (ahi << sh) | (alo >>> (32 - sh));
              lo = alo << sh;
            } else {
              hi = alo << (sh - 32);
              lo = 0;
            }
            break;
          }
          case 2: {
            const ihi = imm >> 31;
            lo = ahi < ihi || (ahi === ihi && alo >>> 0 < imm >>> 0) ? 1 : 0;
            hi = 0;
            break;
          }
          case 3: {
            const ihi = (imm >> 31) >>> 0;
            lo = ahi >>> 0 < ihi || (ahi >>> 0 === ihi && alo >>> 0 < imm >>> 0) ? 1 : 0;
            hi = 0;
            break;
          }
          case 4:
            lo = alo ^ imm;
            hi = ahi ^ (imm >> 31);
            break;
          case 5: {
            const top = insn >>> 26;
            const sh = imm & 63;
            if (top === 0) {
              if (sh === 0) {
                lo = alo;
                hi = ahi;
              } else if (sh < 32) {
                lo = (alo >>> sh) | (ahi << (32 - sh));
                hi = ahi >>> sh;
              } else {
                lo = ahi >>> (sh - 32);
                hi = 0;
              }
            } else if (top === 0x10) {
              if (sh === 0) {
                lo = alo;
                hi = ahi;
              } else if (sh < 32) {
                lo = (alo >>> sh) | (ahi << (32 - sh));
                hi = ahi >> sh;
              } else {
                lo = ahi >> (sh - 32);
                hi = ahi >> 31;
              }
            } else { h.pc = pc; h.steps = steps; h.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
            break;
          }
          case 6:
            lo = alo | imm;
            hi = ahi | (imm >> 31);
            break;
          default:
            lo = alo & imm;
            hi = ahi & (imm >> 31);
            break;
        }
        if (rd !== 0) {
          xlo[rd << 1] = lo;
          xhi[rd << 1] = hi;
        }
        pc = pc + ilen;
        break;
      }
      case 12: {
        // OP
        const rs2 = (insn >> 20) & 31;
        const f7 = insn >>> 25;
        const f3 = (insn >> 12) & 7;
        const alo = xlo[rs1 << 1]!;
        const ahi = xhi[rs1 << 1]!;
        const blo = xlo[rs2 << 1]!;
        const bhi = xhi[rs2 << 1]!;
        let lo: number;
        let hi: number;
        if (f7 === 0) {
          switch (f3) {
            case 0: {
              const s = (alo >>> 0) + (blo >>> 0);
              lo = s | 0;
              hi = (ahi + bhi + (s > 0xffffffff ? 1 : 0)) | 0;
              break;
            }
            case 1: {
              const sh = blo & 63;
              if (sh === 0) {
                lo = alo;
                hi = ahi;
              } else if (sh < 32) {
                hi = (ahi << sh) | (alo >>> (32 - sh));
                lo = alo << sh;
              } else {
                hi = alo << (sh - 32);
                lo = 0;
              }
              break;
            }
            case 2:
              lo = ahi < bhi || (ahi === bhi && alo >>> 0 < blo >>> 0) ? 1 : 0;
              hi = 0;
              break;
            case 3:
              lo = ahi >>> 0 < bhi >>> 0 || (ahi === bhi && alo >>> 0 < blo >>> 0) ? 1 : 0;
              hi = 0;
              break;
            case 4:
              lo = alo ^ blo;
              hi = ahi ^ bhi;
              break;
            case 5: {
              const sh = blo & 63;
              if (sh === 0) {
                lo = alo;
                hi = ahi;
              } else if (sh < 32) {
                lo = (alo >>> sh) | (ahi << (32 - sh));
                hi = ahi >>> sh;
              } else {
                lo = ahi >>> (sh - 32);
                hi = 0;
              }
              break;
            }
            case 6:
              lo = alo | blo;
              hi = ahi | bhi;
              break;
            default:
              lo = alo & blo;
              hi = ahi & bhi;
              break;
          }
        } else if (f7 === 0x20 && f3 === 0) {
          lo = (alo - blo) | 0;
          hi = (ahi - bhi - (alo >>> 0 < blo >>> 0 ? 1 : 0)) | 0;
        } else if (f7 === 0x20 && f3 === 5) {
          const sh = blo & 63;
          if (sh === 0) {
            lo = alo;
            hi = ahi;
          } else if (sh < 32) {
            lo = (alo >>> sh) | (ahi << (32 - sh));
            hi = ahi >> sh;
          } else {
            lo = ahi >> (sh - 32);
            hi = ahi >> 31;
          }
        } else if (f7 === 1) {
          mulDiv(h, f3, alo, ahi, blo, bhi);
          lo = h.tLo;
          hi = h.tHi;
        } else { h.pc = pc; h.steps = steps; h.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
        if (rd !== 0) {
          xlo[rd << 1] = lo;
          xhi[rd << 1] = hi;
        }
        pc = pc + ilen;
        break;
      }
      case 0: {
        // LOAD
        const f3 = (insn >> 12) & 7;
        if (f3 === 7) { h.pc = pc; h.steps = steps; h.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
        const imm = insn >> 20;
        const s = (xlo[rs1 << 1]! >>> 0) + imm;
        const lo = s | 0;
        const hi = (xhi[rs1 << 1]! + (s > 0xffffffff ? 1 : s < 0 ? -1 : 0)) | 0;
        const vpn = lo >>> 12;
        const idx = vpn & TLB_MASK;
        const po = lo & 0xfff;
        let vlo: number;
        let vhi: number;
        if (rTagLo[idx] === ((lo & -4096) | tTag) && rTagHi[idx] === hi && po <= 4088) {
          const dv = rDv[idx]!;
          const a = (rOff[idx]! + po) | 0;
          switch (f3) {
            case 0:
              vlo = dv.getInt8(a);
              vhi = vlo >> 31;
              break;
            case 1:
              vlo = dv.getInt16(a, true);
              vhi = vlo >> 31;
              break;
            case 2:
              vlo = dv.getInt32(a, true);
              vhi = vlo >> 31;
              break;
            case 3:
              if ((a & 7) === 0) {
                // one 8-byte host access: never torn by a hart in another worker
                CV[0] = rF64[idx]![a >> 3]!;
                vlo = CI[0]!;
                vhi = CI[1]!;
              } else {
                vlo = dv.getInt32(a, true);
                vhi = dv.getInt32(a + 4, true);
              }
              break;
            case 4:
              vlo = dv.getUint8(a);
              vhi = 0;
              break;
            case 5:
              vlo = dv.getUint16(a, true);
              vhi = 0;
              break;
            default:
              vlo = dv.getInt32(a, true);
              vhi = 0;
              break;
          }
        } else {
          h.pc = pc;
          h.steps = steps;
          if (h.debug !== null) h.debugAccess(lo, hi, LOAD_SIZE[f3]!, false);
          loadSlow(h, lo, hi, f3);
          vlo = h.tLo;
          vhi = h.tHi;
          if (h.exitRequest || fBase !== h.fetchBase) {
            if (rd !== 0) {
              xlo[rd << 1] = vlo;
              xhi[rd << 1] = vhi;
            }
            h.pc = pc + ilen;
            return;
          }
        }
        if (rd !== 0) {
          xlo[rd << 1] = vlo;
          xhi[rd << 1] = vhi;
        }
        pc = pc + ilen;
        break;
      }
      case 8: {
        // STORE
        const f3 = (insn >> 12) & 7;
        if (f3 > 3) { h.pc = pc; h.steps = steps; h.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
        const rs2 = (insn >> 20) & 31;
        const imm = ((insn >> 25) << 5) | ((insn >> 7) & 31);
        const s = (xlo[rs1 << 1]! >>> 0) + imm;
        const lo = s | 0;
        const hi = (xhi[rs1 << 1]! + (s > 0xffffffff ? 1 : s < 0 ? -1 : 0)) | 0;
        const vpn = lo >>> 12;
        const idx = vpn & TLB_MASK;
        const po = lo & 0xfff;
        if (wTagLo[idx] === ((lo & -4096) | tTag) && wTagHi[idx] === hi && po <= 4088) {
          const dv = wDv[idx]!;
          const a = (wOff[idx]! + po) | 0;
          switch (f3) {
            case 0:
              dv.setInt8(a, xlo[rs2 << 1]!);
              break;
            case 1:
              dv.setInt16(a, xlo[rs2 << 1]!, true);
              break;
            case 2:
              dv.setInt32(a, xlo[rs2 << 1]!, true);
              break;
            default:
              if ((a & 7) === 0) {
                CI[0] = xlo[rs2 << 1]!;
                CI[1] = xhi[rs2 << 1]!;
                wF64[idx]![a >> 3] = CV[0]!;
              } else {
                dv.setInt32(a, xlo[rs2 << 1]!, true);
                dv.setInt32(a + 4, xhi[rs2 << 1]!, true);
              }
              break;
          }
        } else {
          h.pc = pc;
          h.steps = steps;
          if (h.debug !== null) h.debugAccess(lo, hi, 1 << f3, true);
          storeSlow(h, lo, hi, 1 << f3, xlo[rs2 << 1]!, xhi[rs2 << 1]!);
          if (h.exitRequest || fBase !== h.fetchBase) {
            h.pc = pc + ilen;
            return;
          }
        }
        pc = pc + ilen;
        break;
      }
      case 24: {
        // BRANCH
        const rs2 = (insn >> 20) & 31;
        const f3 = (insn >> 12) & 7;
        const ahi = xhi[rs1 << 1]!;
        const bhi = xhi[rs2 << 1]!;
        let taken: boolean;
        switch (f3) {
          case 0:
            taken = xlo[rs1 << 1] === xlo[rs2 << 1] && ahi === bhi;
            break;
          case 1:
            taken = xlo[rs1 << 1] !== xlo[rs2 << 1] || ahi !== bhi;
            break;
          case 4:
            taken = ahi < bhi || (ahi === bhi && xlo[rs1 << 1]! >>> 0 < xlo[rs2 << 1]! >>> 0);
            break;
          case 5:
            taken = !(ahi < bhi || (ahi === bhi && xlo[rs1 << 1]! >>> 0 < xlo[rs2 << 1]! >>> 0));
            break;
          case 6:
            taken = ahi >>> 0 < bhi >>> 0 || (ahi === bhi && xlo[rs1 << 1]! >>> 0 < xlo[rs2 << 1]! >>> 0);
            break;
          case 7:
            taken = !(ahi >>> 0 < bhi >>> 0 || (ahi === bhi && xlo[rs1 << 1]! >>> 0 < xlo[rs2 << 1]! >>> 0));
            break;
          default:
            { h.pc = pc; h.steps = steps; h.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
        }
        if (taken) {
          const imm =
            ((insn >> 31) << 12) | (((insn >> 7) & 1) << 11) | (((insn >> 25) & 0x3f) << 5) | (((insn >> 8) & 0xf) << 1);
          pc = pc + imm;
          if (stopAtJump !== 0) {
            const o = pc - cBase;
            const k = o >= 0 && o < 4096 && fBase === cBase ? cKinds[o >> 1]! : 1;
            if (k === 1 || (k === 0 && ++cHits[o >> 1]! >= cHot)) {
              h.pc = pc;
              h.steps = steps;
              return;
            }
          }
        } else pc = pc + ilen;
        break;
      }
      case 27: {
        // JAL
        const imm =
          ((insn >> 31) << 20) | (insn & 0xff000) | (((insn >> 20) & 1) << 11) | (((insn >> 21) & 0x3ff) << 1);
        if (rd !== 0) {
          const link = pc + ilen;
          xlo[rd << 1] = link | 0;
          xhi[rd << 1] = Math.floor(link / TWO32) | 0;
        }
        pc = pc + imm;
        if (stopAtJump !== 0) {
          const o = pc - cBase;
          const k = o >= 0 && o < 4096 && fBase === cBase ? cKinds[o >> 1]! : 1;
          if (k === 1 || (k === 0 && ++cHits[o >> 1]! >= cHot)) {
            h.pc = pc;
            h.steps = steps;
            return;
          }
        }
        break;
      }
      case 25: {
        // JALR
        if (((insn >> 12) & 7) !== 0) { h.pc = pc; h.steps = steps; h.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
        const imm = insn >> 20;
        const s = (xlo[rs1 << 1]! >>> 0) + imm;
        const hi = (xhi[rs1 << 1]! + (s > 0xffffffff ? 1 : s < 0 ? -1 : 0)) | 0;
        const target = hi * TWO32 + ((s & ~1) >>> 0);
        if (rd !== 0) {
          const link = pc + ilen;
          xlo[rd << 1] = link | 0;
          xhi[rd << 1] = Math.floor(link / TWO32) | 0;
        }
        pc = target;
        if (stopAtJump !== 0) {
          const o = pc - cBase;
          const k = o >= 0 && o < 4096 && fBase === cBase ? cKinds[o >> 1]! : 1;
          if (k === 1 || (k === 0 && ++cHits[o >> 1]! >= cHot)) {
            h.pc = pc;
            h.steps = steps;
            return;
          }
        }
        break;
      }
      case 13: {
        // LUI
        if (rd !== 0) {
          const v = insn & 0xfffff000;
          xlo[rd << 1] = v;
          xhi[rd << 1] = v >> 31;
        }
        pc = pc + ilen;
        break;
      }
      case 5: {
        // AUIPC
        if (rd !== 0) {
          const v = pc + (insn & 0xfffff000);
          xlo[rd << 1] = v | 0;
          xhi[rd << 1] = Math.floor(v / TWO32) | 0;
        }
        pc = pc + ilen;
        break;
      }
      case 6: {
        // OP-IMM-32
        const f3 = (insn >> 12) & 7;
        const a = xlo[rs1 << 1]!;
        let v: number;
        if (f3 === 0) v = (a + (insn >> 20)) | 0;
        else if (f3 === 1 && insn >>> 25 === 0) v = a << ((insn >> 20) & 31);
        else if (f3 === 5 && insn >>> 25 === 0) v = a >>> ((insn >> 20) & 31);
        else if (f3 === 5 && insn >>> 25 === 0x20) v = a >> ((insn >> 20) & 31);
        else { h.pc = pc; h.steps = steps; h.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
        if (rd !== 0) {
          xlo[rd << 1] = v;
          xhi[rd << 1] = v >> 31;
        }
        pc = pc + ilen;
        break;
      }
      case 14: {
        // OP-32
        const f3 = (insn >> 12) & 7;
        const f7 = insn >>> 25;
        const a = xlo[rs1 << 1]!;
        const b = xlo[((insn >> 20) & 31) << 1]!;
        let v: number;
        if (f7 === 0) {
          if (f3 === 0) v = (a + b) | 0;
          else if (f3 === 1) v = a << (b & 31);
          else if (f3 === 5) v = a >>> (b & 31);
          else { h.pc = pc; h.steps = steps; h.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
        } else if (f7 === 0x20) {
          if (f3 === 0) v = (a - b) | 0;
          else if (f3 === 5) v = a >> (b & 31);
          else { h.pc = pc; h.steps = steps; h.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
        } else if (f7 === 1) {
          h.pc = pc;
          h.steps = steps;
          h.curRaw = raw;
          v = mulDivW(h, f3, a, b, insn, ilen);
        } else { h.pc = pc; h.steps = steps; h.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
        if (rd !== 0) {
          xlo[rd << 1] = v;
          xhi[rd << 1] = v >> 31;
        }
        pc = pc + ilen;
        break;
      }
      default:
        h.pc = pc;
        h.steps = steps;
        h.curRaw = raw;
        execOther(h, insn, ilen);
        pc = h.pc;
        // System instructions that change privilege, translation or interrupt state ask for
        // an exit (exitRequest) or drop the fetch page; fences, AMOs and FP just continue.
        if (h.exitRequest || fBase !== h.fetchBase) return;
        // The translator ends blocks before these instructions, so the one after is where
        // translated code would resume: count it as a block entry like a jump target.
        if (stopAtJump !== 0) {
          const o = pc - cBase;
          const k = o >= 0 && o < 4096 && fBase === cBase ? cKinds[o >> 1]! : 1;
          if (k === 1 || (k === 0 && ++cHits[o >> 1]! >= cHot)) {
            h.pc = pc;
            h.steps = steps;
            return;
          }
        }
        break;
    }
  }
  h.pc = pc;
  h.steps = steps;
}
