import { u64 } from './common.js';
import { ALL_INTERRUPTS, DELEGABLE_EXCEPTIONS, HPM_COUNTERS, MENVCFG_FIOM, MENVCFG_STCE, MIP_SEIP, MIP_SSIP, MIP_STIP, MSTATUS_FS, MSTATUS_MPP, MSTATUS_MPP_SHIFT, MSTATUS_TVM, MSTATUS_WMASK, PRV_M, PRV_S, PRV_U, SSTATUS_MASK, S_INTERRUPTS } from './constants.js';
import type { Hart } from './hart.js';
import { flushTlb, syncTlbContext } from './mmu.js';
// ------------------------------------------------------------------ CSRs

export function counterAllowed(h: Hart, index: number): boolean {
  if (h.priv === PRV_M) return true;
  const bit = 1 << index;
  if ((h.mcounteren & bit) === 0) return false;
  if (h.priv === PRV_U && (h.scounteren & bit) === 0) return false;
  return true;
}

export function mstatusValue(h: Hart): bigint {
  let v = BigInt(h.mstatus >>> 0) | (2n << 32n) | (2n << 34n);
  if ((h.mstatus & MSTATUS_FS) === MSTATUS_FS) v |= 1n << 63n;
  return v;
}

export function requireFs(h: Hart, insn: number, ilen: number): void {
  if ((h.mstatus & MSTATUS_FS) === 0) h.illegalInsn(insn, ilen);
}

/** Read a CSR; absent or inaccessible CSRs raise illegal instruction. */
export function csrRead(h: Hart, csr: number, insn: number, ilen: number): bigint {
  switch (csr) {
    case 0x001:
      requireFs(h, insn, ilen);
      return BigInt(h.fcsr & 0x1f);
    case 0x002:
      requireFs(h, insn, ilen);
      return BigInt((h.fcsr >> 5) & 7);
    case 0x003:
      requireFs(h, insn, ilen);
      return BigInt(h.fcsr & 0xff);
    case 0xc00:
    case 0xc02: {
      if (!counterAllowed(h, csr - 0xc00)) h.illegalInsn(insn, ilen);
      return csr === 0xc00 ? readCycle(h) : readInstret(h);
    }
    case 0xc01:
      if (!counterAllowed(h, 1)) h.illegalInsn(insn, ilen);
      return u64(Math.floor(h.timeSource()));
    // supervisor
    case 0x100:
      return mstatusValue(h) & (BigInt(SSTATUS_MASK) | (3n << 32n) | (1n << 63n));
    case 0x104:
      return BigInt(h.mie & h.mideleg);
    case 0x105:
      return h.stvec;
    case 0x106:
      return BigInt(h.scounteren >>> 0);
    case 0x10a:
      return h.senvcfg;
    case 0x140:
      return h.sscratch;
    case 0x141:
      return h.sepc;
    case 0x142:
      return h.scause;
    case 0x143:
      return h.stval;
    case 0x144:
      return BigInt(h.readMip() & h.mideleg);
    case 0x14d:
      requireSstc(h, insn, ilen);
      return h.stimecmp;
    case 0x180:
      if (h.priv === PRV_S && (h.mstatus & MSTATUS_TVM) !== 0) h.illegalInsn(insn, ilen);
      return h.satp;
    // machine
    case 0xf11:
    case 0xf12:
    case 0xf13:
    case 0xf15:
      return 0n;
    case 0xf14:
      return BigInt(h.hartId);
    case 0x300:
      return mstatusValue(h);
    case 0x301:
      return h.misa;
    case 0x302:
      return BigInt(h.medeleg);
    case 0x303:
      return BigInt(h.mideleg);
    case 0x304:
      return BigInt(h.mie);
    case 0x305:
      return h.mtvec;
    case 0x306:
      return BigInt(h.mcounteren >>> 0);
    case 0x30a:
      return h.menvcfg;
    case 0x320:
      return BigInt(h.mcountinhibit);
    case 0x340:
      return h.mscratch;
    case 0x341:
      return h.mepc;
    case 0x342:
      return h.mcause;
    case 0x343:
      return h.mtval;
    case 0x344:
      return BigInt(h.readMip());
    case 0x3a0:
    case 0x3a2:
      return h.pmp.readCfg(csr - 0x3a0);
    case 0xb00:
      return readCycle(h);
    case 0xb02:
      return readInstret(h);
    default:
      break;
  }
  if (csr >= 0x7a0 && csr <= 0x7a5) return h.triggers.read(csr) ?? h.illegalInsn(insn, ilen);
  if (csr >= 0x3b0 && csr < 0x3b0 + h.pmp.count && csr < 0x3c0) return h.pmp.readAddr(csr - 0x3b0);
  if (csr >= 0x323 && csr <= 0x33f) return h.mhpmevent[csr - 0x320]!;
  if (csr >= 0xb03 && csr < 0xb03 + HPM_COUNTERS) return h.mhpmcounter[csr - 0xb00]!;
  if (csr >= 0xc03 && csr < 0xc03 + HPM_COUNTERS) {
    if (!counterAllowed(h, csr - 0xc00)) h.illegalInsn(insn, ilen);
    return h.mhpmcounter[csr - 0xc00]!;
  }
  return h.illegalInsn(insn, ilen);
}

export function requireSstc(h: Hart, insn: number, ilen: number): void {
  if (!h.sstc) h.illegalInsn(insn, ilen);
  if (h.priv === PRV_M) return;
  if ((h.mcounteren & 2) === 0 || !h.stce) h.illegalInsn(insn, ilen);
}

export function readCycle(h: Hart): bigint {
  if (h.mcountinhibit & 1) return h.cycleFrozen;
  return BigInt.asUintN(64, BigInt(h.steps) + h.cycleOffset);
}
export function readInstret(h: Hart): bigint {
  if (h.mcountinhibit & 4) return h.instretFrozen;
  return BigInt.asUintN(64, BigInt(h.instret) + h.instretOffset);
}

export function writeCountInhibit(h: Hart, v: number): void {
  const old = h.mcountinhibit;
  // Freeze or resume counting at the current value; the CSR instruction itself still counts.
  if ((v & 1) !== (old & 1)) {
    if (v & 1) h.cycleFrozen = readCycle(h);
    else h.cycleOffset = h.cycleFrozen - BigInt(h.steps) - 1n;
  }
  if ((v & 4) !== (old & 4)) {
    if (v & 4) h.instretFrozen = readInstret(h);
    else h.instretOffset = h.instretFrozen - BigInt(h.instret) - 1n;
  }
  h.mcountinhibit = v;
}

export function csrWrite(h: Hart, csr: number, v: bigint, insn: number, ilen: number): void {
  switch (csr) {
    case 0x001:
      h.fcsr = (h.fcsr & ~0x1f) | Number(v & 0x1fn);
      h.fpDirty();
      return;
    case 0x002:
      h.fcsr = (h.fcsr & 0x1f) | (Number(v & 7n) << 5);
      h.fpDirty();
      return;
    case 0x003:
      h.fcsr = Number(v & 0xffn);
      h.fpDirty();
      return;
    case 0x100: {
      const m = SSTATUS_MASK;
      h.mstatus = (h.mstatus & ~m) | (Number(v & 0xffffffffn) & m);
      syncTlbContext(h);
      return;
    }
    case 0x104: {
      const m = h.mideleg & S_INTERRUPTS;
      h.mie = (h.mie & ~m) | (Number(v & 0xffffn) & m);
      return;
    }
    case 0x105:
      if ((v & 3n) < 2n) h.stvec = v;
      return;
    case 0x106:
      h.scounteren = Number(v & 0xffffffffn) | 0;
      return;
    case 0x10a:
      h.senvcfg = v & 1n;
      return;
    case 0x140:
      h.sscratch = v;
      return;
    case 0x141:
      h.sepc = v & ~1n;
      return;
    case 0x142:
      h.scause = v;
      return;
    case 0x143:
      h.stval = v;
      return;
    case 0x144: {
      const m = h.mideleg & MIP_SSIP;
      h.mipSw = (h.mipSw & ~m) | (Number(v & 0xffffn) & m);
      return;
    }
    case 0x14d:
      h.stimecmp = v;
      h.stimecmpNum = v >= 1n << 53n ? Infinity : Number(v);
      return;
    case 0x180: {
      if (h.priv === PRV_S && (h.mstatus & MSTATUS_TVM) !== 0) h.illegalInsn(insn, ilen);
      const mode = Number(v >> 60n);
      if (mode !== 0 && mode !== 8 && mode !== 9) return; // unsupported modes: write ignored
      h.satp = mode === 0 ? 0n : v & ((0xfn << 60n) | (0xffffn << 44n) | ((1n << 44n) - 1n));
      h.satpMode = mode;
      h.satpPpnAddr = Number(h.satp & ((1n << 44n) - 1n)) * 4096;
      flushTlb(h);
      return;
    }
    case 0x300: {
      let nv = Number(v & 0xffffffffn) & MSTATUS_WMASK;
      if (((nv >> MSTATUS_MPP_SHIFT) & 3) === 2) nv &= ~MSTATUS_MPP; // reserved MPP -> U
      h.mstatus = (h.mstatus & ~MSTATUS_WMASK) | nv;
      syncTlbContext(h);
      return;
    }
    case 0x301:
      return; // misa is read-only here, as on QEMU's default CPUs
    case 0x302:
      h.medeleg = Number(v & BigInt(DELEGABLE_EXCEPTIONS));
      return;
    case 0x303:
      h.mideleg = Number(v & BigInt(S_INTERRUPTS));
      return;
    case 0x304:
      h.mie = Number(v & BigInt(ALL_INTERRUPTS));
      return;
    case 0x305:
      if ((v & 3n) < 2n) h.mtvec = v;
      return;
    case 0x306:
      h.mcounteren = Number(v & 0xffffffffn) | 0;
      return;
    case 0x30a:
      h.menvcfg = v & (MENVCFG_FIOM | (h.sstc ? MENVCFG_STCE : 0n));
      return;
    case 0x320:
      writeCountInhibit(h, Number(v & BigInt(0x5 | (((1 << HPM_COUNTERS) - 1) << 3))));
      return;
    case 0x340:
      h.mscratch = v;
      return;
    case 0x341:
      h.mepc = v & ~1n;
      return;
    case 0x342:
      h.mcause = v;
      return;
    case 0x343:
      h.mtval = v;
      return;
    case 0x344: {
      let m = MIP_SSIP | MIP_SEIP;
      if (!h.sstc || !h.stce) m |= MIP_STIP;
      h.mipSw = (h.mipSw & ~m) | (Number(v & 0xffffn) & m);
      return;
    }
    case 0x3a0:
    case 0x3a2:
      h.pmp.writeCfg(csr - 0x3a0, v);
      flushTlb(h);
      return;
    case 0xb00:
      if (h.mcountinhibit & 1) h.cycleFrozen = v;
      h.cycleOffset = v - BigInt(h.steps) - 1n;
      return;
    case 0xb02:
      // The write replaces h instruction's own increment (already counted in steps): the
      // next instruction reads v.
      if (h.mcountinhibit & 4) h.instretFrozen = v;
      h.instretOffset = v - BigInt(h.instret) - 1n;
      return;
    case 0xf11:
    case 0xf12:
    case 0xf13:
    case 0xf14:
    case 0xf15:
      return h.illegalInsn(insn, ilen);
    default:
      break;
  }
  if (csr >= 0x7a0 && csr <= 0x7a5 && h.triggers.write(csr, v)) return;
  if (csr >= 0x3b0 && csr < 0x3b0 + h.pmp.count && csr < 0x3c0) {
    h.pmp.writeAddr(csr - 0x3b0, v);
    flushTlb(h);
    return;
  }
  if (csr >= 0x323 && csr <= 0x33f) {
    h.mhpmevent[csr - 0x320] = v;
    return;
  }
  if (csr >= 0xb03 && csr < 0xb03 + HPM_COUNTERS) {
    h.mhpmcounter[csr - 0xb00] = v;
    return;
  }
  h.illegalInsn(insn, ilen);
}
