/**
 * The RV64 register file as gdb sees it: the target description (XML) and
 * register access by gdb register number.
 *
 * Numbering (the `regnum`s of the description, which gdb uses in p/P):
 * x0-x31 = 0-31, pc = 32, f0-f31 = 33-64, CSR n = 65 + n (so fflags, frm and
 * fcsr are 66-68, in the fpu feature as gdb expects), priv = 4161 — gdb's own
 * internal RISC-V numbering. `g`/`G` carry x0-x31 and pc.
 */
import type { Hart } from '../cpu/riscv/hart.js';
import { HPM_COUNTERS, PRV_M } from '../cpu/riscv/constants.js';

export const REG_PC = 32;
export const REG_F0 = 33;
export const REG_CSR0 = 65;
export const REG_PRIV = REG_CSR0 + 4096;
/** Registers in a `g` packet. */
export const G_REGS = 33;

const XNAMES = [
  'zero', 'ra', 'sp', 'gp', 'tp', 't0', 't1', 't2', 'fp', 's1', 'a0', 'a1', 'a2', 'a3', 'a4', 'a5',
  'a6', 'a7', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9', 's10', 's11', 't3', 't4', 't5', 't6',
];
const FNAMES = [
  'ft0', 'ft1', 'ft2', 'ft3', 'ft4', 'ft5', 'ft6', 'ft7', 'fs0', 'fs1', 'fa0', 'fa1', 'fa2', 'fa3', 'fa4', 'fa5',
  'fa6', 'fa7', 'fs2', 'fs3', 'fs4', 'fs5', 'fs6', 'fs7', 'fs8', 'fs9', 'fs10', 'fs11', 'ft8', 'ft9', 'ft10', 'ft11',
];

/** The CSRs the hart implements, by the names gdb knows them by (fflags/frm/fcsr are in the fpu feature). */
function csrList(hart: Hart): [string, number][] {
  const l: [string, number][] = [
    ['cycle', 0xc00], ['time', 0xc01], ['instret', 0xc02],
    ['sstatus', 0x100], ['sie', 0x104], ['stvec', 0x105], ['scounteren', 0x106], ['senvcfg', 0x10a],
    ['sscratch', 0x140], ['sepc', 0x141], ['scause', 0x142], ['stval', 0x143], ['sip', 0x144],
  ];
  if (hart.sstc) l.push(['stimecmp', 0x14d]);
  l.push(
    ['satp', 0x180],
    ['mvendorid', 0xf11], ['marchid', 0xf12], ['mimpid', 0xf13], ['mhartid', 0xf14], ['mconfigptr', 0xf15],
    ['mstatus', 0x300], ['misa', 0x301], ['medeleg', 0x302], ['mideleg', 0x303], ['mie', 0x304], ['mtvec', 0x305],
    ['mcounteren', 0x306], ['menvcfg', 0x30a], ['mcountinhibit', 0x320],
    ['mscratch', 0x340], ['mepc', 0x341], ['mcause', 0x342], ['mtval', 0x343], ['mip', 0x344],
    ['pmpcfg0', 0x3a0], ['pmpcfg2', 0x3a2],
  );
  for (let i = 0; i < hart.pmp.count && i < 16; i++) l.push([`pmpaddr${i}`, 0x3b0 + i]);
  l.push(['mcycle', 0xb00], ['minstret', 0xb02]);
  for (let i = 3; i < 3 + HPM_COUNTERS; i++) l.push([`mhpmcounter${i}`, 0xb00 + i], [`hpmcounter${i}`, 0xc00 + i]);
  for (let i = 3; i < 32; i++) l.push([`mhpmevent${i}`, 0x320 + i]);
  l.push(['tselect', 0x7a0], ['tdata1', 0x7a1], ['tdata2', 0x7a2], ['tdata3', 0x7a3], ['tinfo', 0x7a4]);
  return l;
}

/** One register file view per hart (the CSR set depends on the hart's extensions). */
export class RegisterFile {
  private readonly csrs: Set<number>;
  readonly xml: string;

  constructor(hart: Hart) {
    const list = csrList(hart);
    this.csrs = new Set(list.map(([, n]) => n));
    this.xml = targetXml(list);
  }

  /** Bytes of register `n`, or 0 if there is no such register. */
  size(n: number): number {
    if (n >= 0 && n < REG_F0 + 32) return 8;
    if (n >= REG_CSR0 + 1 && n <= REG_CSR0 + 3) return 4;
    if (n === REG_PRIV) return 8;
    if (n > REG_CSR0 && n < REG_PRIV && this.csrs.has(n - REG_CSR0)) return 8;
    return 0;
  }

  read(hart: Hart, n: number): bigint | null {
    if (n >= 0 && n < 32) return hart.getX(n);
    if (n === REG_PC) return hart.getPc();
    if (n >= REG_F0 && n < REG_F0 + 32) return hart.getF(n - REG_F0);
    if (n === REG_PRIV) return BigInt(hart.priv);
    const csr = n - REG_CSR0;
    if (csr === 1) return BigInt(hart.fcsr & 0x1f);
    if (csr === 2) return BigInt((hart.fcsr >> 5) & 7);
    if (csr === 3) return BigInt(hart.fcsr & 0xff);
    if (!this.csrs.has(csr)) return null;
    return asMachine(hart, () => hart.csrRead(csr, 0, 4));
  }

  /** Write register `n`; false if it does not exist or is read-only. */
  write(hart: Hart, n: number, v: bigint): boolean {
    if (n >= 0 && n < 32) {
      hart.setX(n, v);
      return true;
    }
    if (n === REG_PC) {
      hart.pc = Number(BigInt.asIntN(64, v));
      return true;
    }
    if (n >= REG_F0 && n < REG_F0 + 32) {
      hart.setF(n - REG_F0, v);
      return true;
    }
    if (n === REG_PRIV) {
      // Like QEMU: only M, S, U; the translation caches follow the new mode.
      const p = Number(v & 3n);
      if (p === 2) return false;
      hart.priv = p;
      hart.flushTlb();
      return true;
    }
    const csr = n - REG_CSR0;
    if (csr >= 1 && csr <= 3) {
      const x = Number(BigInt.asUintN(8, v));
      hart.fcsr = csr === 1 ? (hart.fcsr & ~0x1f) | (x & 0x1f) : csr === 2 ? (hart.fcsr & 0x1f) | ((x & 7) << 5) : x;
      return true;
    }
    if (!this.csrs.has(csr) || csr >>> 10 === 3 || (csr >= 0xf11 && csr <= 0xf15)) return false;
    asMachine(hart, () => hart.csrWrite(csr, BigInt.asUintN(64, v), 0, 4));
    return true;
  }
}

/** Run a CSR access with the hart in M-mode, so privilege checks cannot trap. */
function asMachine<T>(hart: Hart, f: () => T): T {
  const p = hart.priv;
  hart.priv = PRV_M;
  try {
    return f();
  } finally {
    hart.priv = p;
  }
}

function targetXml(csrs: [string, number][]): string {
  const r = (name: string, n: number, bits: number, type: string, group?: string): string =>
    `<reg name="${name}" bitsize="${bits}" type="${type}" regnum="${n}"${group ? ` group="${group}"` : ''}/>`;
  const x = XNAMES.map((name, i) => r(name, i, 64, i === 1 ? 'code_ptr' : i === 2 || i === 8 ? 'data_ptr' : 'int')).join('');
  const f = FNAMES.map((name, i) => r(name, REG_F0 + i, 64, 'riscv_double', 'float')).join('');
  const c = csrs.map(([name, n]) => r(name, REG_CSR0 + n, 64, 'int', 'csr')).join('');
  return (
    '<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd"><target version="1.0">' +
    '<architecture>riscv:rv64</architecture>' +
    `<feature name="org.gnu.gdb.riscv.cpu">${x}${r('pc', REG_PC, 64, 'code_ptr')}</feature>` +
    '<feature name="org.gnu.gdb.riscv.fpu">' +
    '<union id="riscv_double"><field name="float" type="ieee_single"/><field name="double" type="ieee_double"/></union>' +
    f +
    r('fflags', REG_CSR0 + 1, 32, 'int', 'float') +
    r('frm', REG_CSR0 + 2, 32, 'int', 'float') +
    r('fcsr', REG_CSR0 + 3, 32, 'int', 'float') +
    '</feature>' +
    `<feature name="org.gnu.gdb.riscv.csr">${c}</feature>` +
    `<feature name="org.gnu.gdb.riscv.virtual">${r('priv', REG_PRIV, 64, 'int', 'system')}</feature>` +
    '</target>'
  );
}
