/**
 * A hart's architectural state as plain data (it crosses realms by
 * structured clone), for the monitor's `info registers`, `x` (virtual
 * addresses through satp) and QMP's query-cpus-fast. Read through the hart's
 * public API only, never through an instruction path, so capturing changes
 * nothing in the hart.
 */
import type { Hart } from '../cpu/riscv/hart.js';

export interface HartState {
  hartId: number;
  pc: bigint;
  /** 0 U, 1 S, 3 M. */
  priv: number;
  x: bigint[];
  f: bigint[];
  /** CSRs by QEMU's names (mstatus, mtvec, satp, ...). */
  csr: Record<string, bigint>;
  waiting: boolean;
  /** Instructions executed. */
  steps: number;
}

/** CSR numbers csrRead may read without a privilege check (the monitor's view is M-mode). */
const MSTATUS = 0x300;

export function captureHartState(h: Hart): HartState {
  const x: bigint[] = [];
  const f: bigint[] = [];
  for (let i = 0; i < 32; i++) {
    x.push(h.getX(i));
    f.push(h.getF(i));
  }
  const u = (v: number): bigint => BigInt(v >>> 0);
  return {
    hartId: h.hartId,
    pc: h.getPc(),
    priv: h.priv,
    x,
    f,
    csr: {
      mhartid: BigInt(h.hartId),
      mstatus: h.csrRead(MSTATUS, 0, 4),
      misa: h.misa,
      mip: u(h.readMip()),
      mie: u(h.mie),
      mideleg: u(h.mideleg),
      medeleg: u(h.medeleg),
      mtvec: h.mtvec,
      stvec: h.stvec,
      mepc: h.mepc,
      sepc: h.sepc,
      mcause: h.mcause,
      scause: h.scause,
      mtval: h.mtval,
      stval: h.stval,
      mscratch: h.mscratch,
      sscratch: h.sscratch,
      satp: h.satp,
      fcsr: u(h.fcsr),
    },
    waiting: h.waiting,
    steps: h.steps,
  };
}
