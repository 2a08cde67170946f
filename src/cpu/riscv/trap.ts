/**
 * Interrupts and trap entry (the privileged spec's delegation, cause, epc and tval, the status
 * stack, vectored mode): what Hart.checkInterrupts and Hart.enterTrap do.
 */
import { u64 } from './common.js';
import { IRQ_M_EXT, IRQ_M_SOFT, IRQ_M_TIMER, IRQ_S_EXT, IRQ_S_SOFT, IRQ_S_TIMER, MIP_MEIP, MIP_MSIP, MIP_MTIP, MIP_SEIP, MIP_SSIP, MIP_STIP, MSTATUS_MIE, MSTATUS_MPIE, MSTATUS_MPP, MSTATUS_MPP_SHIFT, MSTATUS_SIE, MSTATUS_SPIE, MSTATUS_SPP, PRV_M, PRV_S } from './constants.js';
import type { Hart } from './hart.js';
import { syncTlbContext } from './mmu.js';

/** Take hart h's highest-priority pending and enabled interrupt, if any. */
export function takeInterrupt(h: Hart): void {
  const pending = h.readMip() & h.mie;
  if (pending === 0) return;
  const mIrq = pending & ~h.mideleg;
  const mEnabled = h.priv < PRV_M || (h.mstatus & MSTATUS_MIE) !== 0;
  let irqs = mEnabled ? mIrq : 0;
  if (irqs === 0) {
    const sIrq = pending & h.mideleg;
    const sEnabled = h.priv < PRV_S || (h.priv === PRV_S && (h.mstatus & MSTATUS_SIE) !== 0);
    irqs = sEnabled ? sIrq : 0;
    if (irqs === 0) return;
  }
  let cause: number;
  if (irqs & MIP_MEIP) cause = IRQ_M_EXT;
  else if (irqs & MIP_MSIP) cause = IRQ_M_SOFT;
  else if (irqs & MIP_MTIP) cause = IRQ_M_TIMER;
  else if (irqs & MIP_SEIP) cause = IRQ_S_EXT;
  else if (irqs & MIP_SSIP) cause = IRQ_S_SOFT;
  else if (irqs & MIP_STIP) cause = IRQ_S_TIMER;
  else cause = 31 - Math.clz32(irqs);
  enterTrap(h, cause, true, 0n);
}

/** Trap entry: sets cause/epc/tval, the new privilege and pc. */
export function enterTrap(h: Hart, cause: number, interrupt: boolean, tval: bigint): void {
  const bitm = 1 << cause;
  const toS =
    h.priv <= PRV_S && (interrupt ? (h.mideleg & bitm) !== 0 : (h.medeleg & bitm) !== 0);
  const epc = u64(h.pc);
  const causeVal = interrupt ? (1n << 63n) | BigInt(cause) : BigInt(cause);
  let s = h.mstatus;
  let vec: bigint;
  if (toS) {
    h.scause = causeVal;
    h.sepc = epc;
    h.stval = tval;
    s = (s & ~MSTATUS_SPP) | (h.priv === PRV_S ? MSTATUS_SPP : 0);
    s = (s & ~MSTATUS_SPIE) | ((s & MSTATUS_SIE) !== 0 ? MSTATUS_SPIE : 0);
    s &= ~MSTATUS_SIE;
    h.priv = PRV_S;
    vec = h.stvec;
  } else {
    h.mcause = causeVal;
    h.mepc = epc;
    h.mtval = tval;
    s = (s & ~MSTATUS_MPP) | (h.priv << MSTATUS_MPP_SHIFT);
    s = (s & ~MSTATUS_MPIE) | ((s & MSTATUS_MIE) !== 0 ? MSTATUS_MPIE : 0);
    s &= ~MSTATUS_MIE;
    h.priv = PRV_M;
    vec = h.mtvec;
  }
  h.mstatus = s;
  let target = vec & ~3n;
  if ((vec & 3n) === 1n && interrupt) target += BigInt(4 * cause);
  h.pc = Number(BigInt.asIntN(64, target));
  syncTlbContext(h);
  if (!interrupt) h.trapped++;
}
