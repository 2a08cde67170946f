import { execAmo } from './amo.js';
import { FENCE_WORD } from './common.js';
import { CAUSE_BREAKPOINT, CAUSE_MACHINE_ECALL, CAUSE_SUPERVISOR_ECALL, CAUSE_USER_ECALL, MIP_SEIP, MSTATUS_FS, MSTATUS_MIE, MSTATUS_MPIE, MSTATUS_MPP, MSTATUS_MPP_SHIFT, MSTATUS_MPRV, MSTATUS_SIE, MSTATUS_SPIE, MSTATUS_SPP, MSTATUS_TSR, MSTATUS_TVM, MSTATUS_TW, PRV_M, PRV_S, PRV_U, SSTATUS_MASK } from './constants.js';
import { csrRead, csrWrite } from './csr.js';
import { executeFp } from './fpu.js';
import type { Hart } from './hart.js';
import { flushTlb, flushTlbPage, syncTlbContext } from './mmu.js';
// ------------------------------------------------------------------ rarely executed opcodes

/** Run an instruction the interpreter loop leaves out, at h.pc (read from the hart: see fetchSlow). */
export function execOther(h: Hart, insn: number, ilen: number): void {
  const pc = h.pc;
  const op = insn & 0x7f;
  switch (op) {
    case 0x0f: {
      const f3 = (insn >> 12) & 7;
      if (f3 === 0) {
        // fence (and pause): with harts in worker threads sharing RAM
        // (src/machine/smp), plain accesses need a host barrier to keep the
        // order a fence asks for (a store then a load, Dekker-style); an
        // atomic read-modify-write on shared memory is a full barrier on
        // every host.
        Atomics.add(FENCE_WORD, 0, 0);
        // pause (Zihintpause): the guest spins waiting for another hart.
        if (insn === 0x0100000f && h.onPause !== null) h.onPause(false);
      } else if (f3 === 1) {
        // fence.i: the interpreter fetches from memory every time. Stores through the harts'
        // store paths already invalidated what they wrote (CodeSync); writes that bypass them
        // (DMA, host writes) are caught here: every page compares its bytes with those its
        // blocks were translated from before they run again. Linux issues tens of thousands
        // of fence.i while it patches its text at boot; dropping every translation each time
        // kept its code from ever getting hot.
        if (h.jit !== null) {
          h.jit.recheckPages();
          h.exitRequest = true;
        }
      } else h.illegalInsn(insn, ilen);
      h.pc = pc + ilen;
      return;
    }
    case 0x73:
      execSystem(h, insn, ilen, pc);
      return;
    case 0x2f:
      execAmo(h, insn, ilen);
      h.pc = pc + ilen;
      return;
    case 0x07:
    case 0x27:
    case 0x43:
    case 0x47:
    case 0x4b:
    case 0x4f:
    case 0x53:
      if ((h.mstatus & MSTATUS_FS) === 0) h.illegalInsn(insn, ilen);
      if (!executeFp(h, insn)) h.illegalInsn(insn, ilen);
      h.pc = pc + ilen;
      return;
    default:
      h.illegalInsn(insn, ilen);
  }
}


export function execSystem(h: Hart, insn: number, ilen: number, pc: number): void {
  const f3 = (insn >> 12) & 7;
  if (f3 === 0) {
    switch (insn) {
      case 0x00000073: {
        const cause =
          h.priv === PRV_U ? CAUSE_USER_ECALL : h.priv === PRV_S ? CAUSE_SUPERVISOR_ECALL : CAUSE_MACHINE_ECALL;
        h.enterTrap(cause, false, 0n);
        h.exitRequest = true;
        return;
      }
      case 0x00100073:
        h.enterTrap(CAUSE_BREAKPOINT, false, 0n);
        h.exitRequest = true;
        return;
      case 0x30200073: {
        // mret
        if (h.priv !== PRV_M) h.illegalInsn(insn, ilen);
        let s = h.mstatus;
        const mpp = (s >> MSTATUS_MPP_SHIFT) & 3;
        s = (s & ~MSTATUS_MIE) | ((s & MSTATUS_MPIE) !== 0 ? MSTATUS_MIE : 0);
        s |= MSTATUS_MPIE;
        s &= ~MSTATUS_MPP;
        if (mpp !== PRV_M) s &= ~MSTATUS_MPRV;
        h.mstatus = s;
        h.priv = mpp;
        h.pc = Number(BigInt.asIntN(64, h.mepc));
        syncTlbContext(h);
        h.exitRequest = true;
        return;
      }
      case 0x10200073: {
        // sret
        if (h.priv === PRV_U || (h.priv === PRV_S && (h.mstatus & MSTATUS_TSR) !== 0))
          h.illegalInsn(insn, ilen);
        let s = h.mstatus;
        const spp = (s & MSTATUS_SPP) !== 0 ? PRV_S : PRV_U;
        s = (s & ~MSTATUS_SIE) | ((s & MSTATUS_SPIE) !== 0 ? MSTATUS_SIE : 0);
        s |= MSTATUS_SPIE;
        s &= ~MSTATUS_SPP;
        s &= ~MSTATUS_MPRV;
        h.mstatus = s;
        h.priv = spp;
        h.pc = Number(BigInt.asIntN(64, h.sepc));
        syncTlbContext(h);
        h.exitRequest = true;
        return;
      }
      case 0x10500073: {
        // wfi
        if (h.priv === PRV_U || (h.priv === PRV_S && (h.mstatus & MSTATUS_TW) !== 0))
          h.illegalInsn(insn, ilen);
        h.pc = pc + ilen;
        if ((h.readMip() & h.mie) === 0) {
          h._waiting = true;
          h.exitRequest = true;
        } else if (h.onPause !== null) {
          // An enabled interrupt is already pending, so this wfi does not wait: a guest that
          // loops on it spins as with pause (OpenSBI's secondary harts wait for their start
          // in a loop of wfi with their IPI left pending, for seconds of a Linux boot).
          h.onPause(true);
        }
        return;
      }
      default:
        if ((insn & 0xfe007fff) === 0x12000073) {
          // sfence.vma
          if (h.priv === PRV_U || (h.priv === PRV_S && (h.mstatus & MSTATUS_TVM) !== 0))
            h.illegalInsn(insn, ilen);
          // With an address: that page (mmu.ts flushTlbPage); otherwise everything. The ASID
          // is not looked at: flushing it for every address space is a superset.
          const rs1 = (insn >> 15) & 31;
          if (rs1 !== 0) flushTlbPage(h, h.xlo[rs1 << 1]!, h.xhi[rs1 << 1]!);
          else flushTlb(h);
          h.pc = pc + ilen;
          return;
        }
        h.illegalInsn(insn, ilen);
    }
  }
  if (f3 === 4) h.illegalInsn(insn, ilen);
  const csr = insn >>> 20;
  const rd = (insn >> 7) & 31;
  const rs1 = (insn >> 15) & 31;
  const useImm = f3 >= 5;
  const op = f3 & 3; // 1 rw, 2 rs, 3 rc
  const writes = op === 1 || rs1 !== 0;
  const readOnly = csr >>> 10 === 3;
  if (((csr >> 8) & 3) > h.priv) h.illegalInsn(insn, ilen);
  if (writes && readOnly) h.illegalInsn(insn, ilen);
  // An sstatus write makes an interrupt deliverable only by setting SIE (Linux clears it to
  // enter every critical section and sets it to leave: the clears need no look at mip).
  let enables = writes;
  if (csr === 0x100) enables = sstatusOp(h, op, writes, useImm ? rs1 : h.xlo[rs1 << 1]!, rd);
  else {
    const src = useImm ? BigInt(rs1) : h.getX(rs1);
    const old = csrRead(h, csr, insn, ilen);
    if (writes) {
      // CSRRS/CSRRC on mip modify the software-writable SEIP bit, not the OR with the PLIC line
      // (priv. spec 3.1.9), so a set of another bit does not latch a device's SEIP.
      const base = csr === 0x344 ? (old & ~BigInt(MIP_SEIP)) | BigInt(h.mipSw & MIP_SEIP) : old;
      const nv = op === 1 ? src : op === 2 ? base | src : base & ~src;
      csrWrite(h, csr, BigInt.asUintN(64, nv), insn, ilen);
    }
    if (rd !== 0) h.setX(rd, old);
  }
  h.pc = pc + ilen;
  // A write may have made an interrupt deliverable (mstatus/sstatus enables, mie, mip,
  // mideleg, stimecmp, menvcfg): re-check before the next instruction when one is pending
  // and enabled in mie at all; trigger and misa writes change how instructions run. Writes
  // that change translation flush the TLBs, which drops the fetch page and ends translated
  // code anyway. Reads, and writes with nothing pending (Linux toggles sstatus.SIE around
  // every critical section), go straight on: returning each time cost a quantum each.
  if (enables && ((h.readMip() & h.mie) !== 0 || (csr >= 0x7a0 && csr <= 0x7a5) || csr === 0x301)) h.exitRequest = true;
}

/**
 * CSRRW/RS/RC(I) on sstatus in 32-bit halves (csr.ts's BigInt path gives the same: the
 * writable fields are all in the low word; the high word reads UXL = 2 and SD). Linux sets and
 * clears sstatus.SIE around every critical section: ~480,000 of a boot's ~560,000 CSR
 * instructions. `src` is rs1's low word or the immediate. Returns whether the write set SIE.
 */
function sstatusOp(h: Hart, op: number, writes: boolean, src: number, rd: number): boolean {
  const olo = h.mstatus & SSTATUS_MASK;
  const ohi = 2 | ((h.mstatus & MSTATUS_FS) === MSTATUS_FS ? 0x80000000 : 0);
  let sieSet = false;
  if (writes) {
    const nlo = op === 1 ? src : op === 2 ? olo | src : olo & ~src;
    h.mstatus = (h.mstatus & ~SSTATUS_MASK) | (nlo & SSTATUS_MASK);
    sieSet = (olo & MSTATUS_SIE) === 0 && (h.mstatus & MSTATUS_SIE) !== 0;
    syncTlbContext(h);
  }
  if (rd !== 0) {
    h.xlo[rd << 1] = olo;
    h.xhi[rd << 1] = ohi | 0;
  }
  return sieSet;
}
