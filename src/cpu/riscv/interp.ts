import { CI, CV, LOAD_SIZE, TLB_MASK, TWO32 } from './common.js';
import type { Hart } from './hart.js';
import { fetchSlow, loadSlow, storeSlow } from './mmu.js';
import { mulDiv, mulDivW } from './muldiv.js';
import { rvcFill } from './rvc.js';
import { execOther } from './system.js';
/**
 * Where pc sits above pBase when the loop has no fetch page for it: far outside the page
 * check, yet within an int32 however far one instruction moves it (a jal by up to 1 MiB).
 */
const FAR = 0x40000000;

/** inner() runs until `end` steps or an exit request. */
export const RUN = 0;
/**
 * For the translator's dispatcher: inner() also returns after taken branches and jumps that
 * may enter a translated or hot block (see the jump sites below), and asks the translator on entering
 * a page (Translator.enterPage), so the dispatcher sees those block entries.
 */
export const DISPATCH = 1;
/**
 * For a debugger stepping one instruction at a time: returns after taken jumps as DISPATCH
 * does but never asks the translator, whose answer may be to hand the instruction back (the
 * debugger's loop would then never get past it).
 */
export const STEP = 2;

/** The interpreter loop (`mode`: RUN, DISPATCH or STEP above). */
export function inner(h: Hart, end: number, mode: number): void {
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
  // Imported constants as locals: the bundle makes module constants mutable variables, which
  // optimised code loads and checks at every use.
  const tlbMask = TLB_MASK;
  const ci = CI;
  const cv = CV;
  const two32 = TWO32;
  // pc and steps live in locals; they are written back before anything that may trap or
  // look at them (slow paths, system instructions) and when the loop exits. pc is kept as
  // pBase + po: po an int32 offset (one compare checks the fetch page, an integer add steps
  // it), pBase a double that changes only when the loop rebases on a new fetch page. With
  // no fetch page (fetching from a device, or after a far jump until the next fetch) the
  // base is set FAR below pc, so that po fails the page check and the next fetch rebases.
  // The steps left as an int32 countdown (a step count is a double past 2^31, which every
  // guest reaches: a double add and compare per instruction); callers pass an end at most a
  // poll interval ahead, and a longer one just ends this run early (they loop).
  let left = Math.min(end - h.steps, 0x3fffffff) | 0;
  const stop = h.steps + left;
  let fBase = h.fetchBase;
  let fDv = h.fetchDv;
  // `| 0`: an int32 (the field is a double), so the fetch's offset add stays an integer add.
  let fOff = h.fetchOff | 0;
  let po = h.pc - fBase >= 0 && h.pc - fBase < 4096 ? (h.pc - fBase) | 0 : FAR;
  let pBase = h.pc - po;
  // The translator's code-cache state of the page the dispatcher entered us in (h.jitBase,
  // h.jitKinds, h.jitHits): a taken jump within that page to a block that is neither
  // translated nor hot yet stays here instead of returning to the dispatcher (which would only
  // count it and call us again). The jump sites test k === 1 first so that even a run seeing
  // only in-page jumps leaves V8 feedback for every compare (a compare without feedback
  // deoptimises this loop when first reached). They read that state from the hart rather
  // than from locals: locals the loop updates (on entering a page) are values V8 keeps live
  // across the whole loop, and these five cost every instruction interpreted with the
  // translator on ~8 % (a cold process interpreting 36 M instructions).
  // An int32 in a register (a boolean parameter tested directly was a ToBoolean of a tagged
  // value on every instruction).
  const stopAtJump = mode !== RUN ? 1 : 0;
  // Whether to ask the translator on entering a new page.
  const askJit = mode === DISPATCH && h.jit !== null ? 1 : 0;
  while (left > 0) {
    left--;
    let insn: number;
    if (po >>> 0 <= 4092) insn = fDv.getInt32((fOff + po) | 0, true);
    else {
      h.pc = pBase + po;
      h.steps = stop - left;
      // `| 0`: an int32, so that insn stays an untagged word in the loop (like the fast fetch's).
      insn = fetchSlow(h) | 0;
      fBase = h.fetchBase;
      fDv = h.fetchDv;
      fOff = h.fetchOff | 0;
      const d = h.pc - fBase;
      po = d >= 0 && d < 4096 ? d | 0 : FAR;
      pBase = h.pc - po;
      if (askJit !== 0 && po !== FAR && h.jit!.enterPage() === 0) {
        // Not executed: the dispatcher takes over at this instruction.
        h.steps = stop - left - 1;
        return;
      }
    }
    const raw = insn;
    let ilen = 4;
    if ((insn & 3) !== 3) {
      insn = rvc[insn & 0xffff]!;
      ilen = 2;
      if ((insn & 3) !== 3 && (insn = rvcFill(rvc, raw & 0xffff) | 0) === 0) {
        h.pc = pBase + po;
        h.steps = stop - left;
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
            if (insn >>> 26 !== 0) { h.pc = pBase + po; h.steps = stop - left; h.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
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
            } else { h.pc = pBase + po; h.steps = stop - left; h.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
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
        po = (po + ilen) | 0;
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
        } else { h.pc = pBase + po; h.steps = stop - left; h.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
        if (rd !== 0) {
          xlo[rd << 1] = lo;
          xhi[rd << 1] = hi;
        }
        po = (po + ilen) | 0;
        break;
      }
      case 0: {
        // LOAD
        const f3 = (insn >> 12) & 7;
        if (f3 === 7) { h.pc = pBase + po; h.steps = stop - left; h.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
        const imm = insn >> 20;
        const s = (xlo[rs1 << 1]! >>> 0) + imm;
        const lo = s | 0;
        const hi = (xhi[rs1 << 1]! + (s > 0xffffffff ? 1 : s < 0 ? -1 : 0)) | 0;
        const vpn = lo >>> 12;
        const idx = vpn & tlbMask;
        const ao = lo & 0xfff;
        let vlo: number;
        let vhi: number;
        if (rTagLo[idx] === ((lo & -4096) | tTag) && rTagHi[idx] === hi && ao <= 4088) {
          const dv = rDv[idx]!;
          const a = (rOff[idx]! + ao) | 0;
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
                cv[0] = rF64[idx]![a >> 3]!;
                vlo = ci[0]!;
                vhi = ci[1]!;
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
          h.pc = pBase + po;
          h.steps = stop - left;
          if (h.debug !== null) h.debugAccess(lo, hi, LOAD_SIZE[f3]!, false);
          loadSlow(h, lo, hi, f3);
          vlo = h.tLo;
          vhi = h.tHi;
          if (h.exitRequest || fBase !== h.fetchBase) {
            if (rd !== 0) {
              xlo[rd << 1] = vlo;
              xhi[rd << 1] = vhi;
            }
            h.pc = pBase + po + ilen;
            return;
          }
        }
        if (rd !== 0) {
          xlo[rd << 1] = vlo;
          xhi[rd << 1] = vhi;
        }
        po = (po + ilen) | 0;
        break;
      }
      case 8: {
        // STORE
        const f3 = (insn >> 12) & 7;
        if (f3 > 3) { h.pc = pBase + po; h.steps = stop - left; h.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
        const rs2 = (insn >> 20) & 31;
        const imm = ((insn >> 25) << 5) | ((insn >> 7) & 31);
        const s = (xlo[rs1 << 1]! >>> 0) + imm;
        const lo = s | 0;
        const hi = (xhi[rs1 << 1]! + (s > 0xffffffff ? 1 : s < 0 ? -1 : 0)) | 0;
        const vpn = lo >>> 12;
        const idx = vpn & tlbMask;
        const ao = lo & 0xfff;
        if (wTagLo[idx] === ((lo & -4096) | tTag) && wTagHi[idx] === hi && ao <= 4088) {
          const dv = wDv[idx]!;
          const a = (wOff[idx]! + ao) | 0;
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
                ci[0] = xlo[rs2 << 1]!;
                ci[1] = xhi[rs2 << 1]!;
                wF64[idx]![a >> 3] = cv[0]!;
              } else {
                dv.setInt32(a, xlo[rs2 << 1]!, true);
                dv.setInt32(a + 4, xhi[rs2 << 1]!, true);
              }
              break;
          }
        } else {
          h.pc = pBase + po;
          h.steps = stop - left;
          if (h.debug !== null) h.debugAccess(lo, hi, 1 << f3, true);
          storeSlow(h, lo, hi, 1 << f3, xlo[rs2 << 1]!, xhi[rs2 << 1]!);
          if (h.exitRequest || fBase !== h.fetchBase) {
            h.pc = pBase + po + ilen;
            return;
          }
        }
        po = (po + ilen) | 0;
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
            { h.pc = pBase + po; h.steps = stop - left; h.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
        }
        if (taken) {
          const imm =
            ((insn >> 31) << 12) | (((insn >> 7) & 1) << 11) | (((insn >> 25) & 0x3f) << 5) | (((insn >> 8) & 0xf) << 1);
          po = (po + imm) | 0;
          if (stopAtJump !== 0) {
            const k = po >>> 0 < 4096 && fBase === h.jitBase ? h.jitKinds[po >> 1]! : 1;
            if (k === 1 || (k === 0 && ++h.jitHits[po >> 1]! >= h.jitThreshold)) {
              h.pc = pBase + po;
              h.steps = stop - left;
              return;
            }
          }
        } else po = (po + ilen) | 0;
        break;
      }
      case 27: {
        // JAL
        const imm =
          ((insn >> 31) << 20) | (insn & 0xff000) | (((insn >> 20) & 1) << 11) | (((insn >> 21) & 0x3ff) << 1);
        if (rd !== 0) {
          const link = pBase + po + ilen;
          xlo[rd << 1] = link | 0;
          xhi[rd << 1] = Math.floor(link / two32) | 0;
        }
        po = (po + imm) | 0;
        if (stopAtJump !== 0) {
          const k = po >>> 0 < 4096 && fBase === h.jitBase ? h.jitKinds[po >> 1]! : 1;
          if (k === 1 || (k === 0 && ++h.jitHits[po >> 1]! >= h.jitThreshold)) {
            h.pc = pBase + po;
            h.steps = stop - left;
            return;
          }
        }
        break;
      }
      case 25: {
        // JALR
        if (((insn >> 12) & 7) !== 0) { h.pc = pBase + po; h.steps = stop - left; h.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
        const imm = insn >> 20;
        const s = (xlo[rs1 << 1]! >>> 0) + imm;
        const hi = (xhi[rs1 << 1]! + (s > 0xffffffff ? 1 : s < 0 ? -1 : 0)) | 0;
        const target = hi * two32 + ((s & ~1) >>> 0);
        if (rd !== 0) {
          const link = pBase + po + ilen;
          xlo[rd << 1] = link | 0;
          xhi[rd << 1] = Math.floor(link / two32) | 0;
        }
        {
          const d = target - fBase;
          po = d >= 0 && d < 4096 ? d | 0 : FAR;
          pBase = target - po;
        }
        if (stopAtJump !== 0) {
          const k = po >>> 0 < 4096 && fBase === h.jitBase ? h.jitKinds[po >> 1]! : 1;
          if (k === 1 || (k === 0 && ++h.jitHits[po >> 1]! >= h.jitThreshold)) {
            h.pc = pBase + po;
            h.steps = stop - left;
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
        po = (po + ilen) | 0;
        break;
      }
      case 5: {
        // AUIPC
        if (rd !== 0) {
          const v = pBase + po + (insn & 0xfffff000);
          xlo[rd << 1] = v | 0;
          xhi[rd << 1] = Math.floor(v / two32) | 0;
        }
        po = (po + ilen) | 0;
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
        else { h.pc = pBase + po; h.steps = stop - left; h.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
        if (rd !== 0) {
          xlo[rd << 1] = v;
          xhi[rd << 1] = v >> 31;
        }
        po = (po + ilen) | 0;
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
          else { h.pc = pBase + po; h.steps = stop - left; h.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
        } else if (f7 === 0x20) {
          if (f3 === 0) v = (a - b) | 0;
          else if (f3 === 5) v = a >> (b & 31);
          else { h.pc = pBase + po; h.steps = stop - left; h.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
        } else if (f7 === 1) {
          h.pc = pBase + po;
          h.steps = stop - left;
          h.curRaw = raw;
          v = mulDivW(h, f3, a, b, insn, ilen);
        } else { h.pc = pBase + po; h.steps = stop - left; h.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
        if (rd !== 0) {
          xlo[rd << 1] = v;
          xhi[rd << 1] = v >> 31;
        }
        po = (po + ilen) | 0;
        break;
      }
      default:
        h.pc = pBase + po;
        h.steps = stop - left;
        h.curRaw = raw;
        execOther(h, insn, ilen);
        // System instructions that change privilege, translation or interrupt state ask for
        // an exit (exitRequest) or drop the fetch page; fences, AMOs and FP just continue.
        if (h.exitRequest || fBase !== h.fetchBase) return;
        {
          const d = h.pc - fBase;
          po = d >= 0 && d < 4096 ? d | 0 : FAR;
          pBase = h.pc - po;
        }
        // The translator ends blocks before these instructions, so the one after is where
        // translated code would resume: count it as a block entry like a jump target.
        if (stopAtJump !== 0) {
          const k = po >>> 0 < 4096 && fBase === h.jitBase ? h.jitKinds[po >> 1]! : 1;
          if (k === 1 || (k === 0 && ++h.jitHits[po >> 1]! >= h.jitThreshold)) {
            h.pc = pBase + po;
            h.steps = stop - left;
            return;
          }
        }
        break;
    }
  }
  h.pc = pBase + po;
  h.steps = stop - left;
}
