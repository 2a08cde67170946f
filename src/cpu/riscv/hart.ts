import type { MemTxAttrs, PhysMemory } from '../../memory/types.js';
import { MEMTX_OK, memTxAttrs } from '../../memory/types.js';
import {
  PRV_M,
  PRV_S,
  PRV_U,
  ALL_INTERRUPTS,
  CAUSE_BREAKPOINT,
  CAUSE_FETCH_ACCESS,
  CAUSE_FETCH_PAGE_FAULT,
  CAUSE_ILLEGAL_INSTRUCTION,
  CAUSE_LOAD_ACCESS,
  CAUSE_LOAD_PAGE_FAULT,
  CAUSE_MACHINE_ECALL,
  CAUSE_MISALIGNED_LOAD,
  CAUSE_MISALIGNED_STORE,
  CAUSE_STORE_ACCESS,
  CAUSE_STORE_PAGE_FAULT,
  CAUSE_SUPERVISOR_ECALL,
  CAUSE_USER_ECALL,
  DELEGABLE_EXCEPTIONS,
  HPM_COUNTERS,
  IRQ_M_EXT,
  IRQ_M_SOFT,
  IRQ_M_TIMER,
  IRQ_S_EXT,
  IRQ_S_SOFT,
  IRQ_S_TIMER,
  MENVCFG_FIOM,
  MENVCFG_STCE,
  MIP_MEIP,
  MIP_MSIP,
  MIP_MTIP,
  MIP_SEIP,
  MIP_SSIP,
  MIP_STIP,
  MISA_VALUE,
  MSTATUS_FS,
  MSTATUS_MIE,
  MSTATUS_MPIE,
  MSTATUS_MPP,
  MSTATUS_MPP_SHIFT,
  MSTATUS_MPRV,
  MSTATUS_MXR,
  MSTATUS_SIE,
  MSTATUS_SPIE,
  MSTATUS_SPP,
  MSTATUS_SUM,
  MSTATUS_TSR,
  MSTATUS_TVM,
  MSTATUS_TW,
  MSTATUS_WMASK,
  SSTATUS_MASK,
  S_INTERRUPTS,
} from './constants.js';
import { ACC_EXEC, ACC_READ, ACC_WRITE, Pmp } from './pmp.js';
import { rvcTable } from './rvc.js';
import { executeFp } from './fpu.js';
import { disassemble } from './disasm.js';
import { HartDebug, type HartDebugHooks } from './debug.js';
import { Triggers } from './triggers.js';

/** An internal emulator error (never a guest action): names the hart, PC and instruction word. */
export class HartError extends Error {
  constructor(
    readonly hartId: number,
    readonly pc: bigint,
    readonly insn: number,
    detail: string,
  ) {
    super(
      `hart ${hartId}: internal error at pc=0x${pc.toString(16)} insn=0x${(insn >>> 0).toString(16).padStart(8, '0')}` +
        ` (${disassemble(insn)}): ${detail}`,
    );
    this.name = 'HartError';
  }
}

export interface IsaExtensions {
  /** Sstc (stimecmp); default true, as QEMU 7.2's rv64 CPU has it. */
  sstc?: boolean;
}

export interface HartOptions {
  hartId: number;
  mem: PhysMemory;
  /** mtime in ticks of the 10 MHz timebase. */
  timeSource: () => number;
  pmpCount?: number;
  isaExtensions?: IsaExtensions;
}

/** Thrown (never escapes run()) after a trap has been taken, to abandon the current instruction. */
class TrapTaken {
  readonly trap = true;
}
const TRAP = new TrapTaken();
/** A shared word whose atomic update is the host memory barrier behind FENCE. */
const FENCE_WORD = new Int32Array(new SharedArrayBuffer(4));

const TLB_SIZE = 1024;
const TLB_MASK = TLB_SIZE - 1;
const TWO32 = 4294967296;
const NO_PAGE = -1;

const LOAD_SIZE = [1, 2, 4, 8, 1, 2, 4, 0];

function toU64(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
function u64(v: number): bigint {
  return BigInt.asUintN(64, BigInt(v));
}

/**
 * One RISC-V hart (RV64IMAFDC, Zicsr, Zifencei, Zicntr, Zihintpause, Sstc;
 * M/S/U; Sv39/Sv48; 16 PMP entries).
 *
 * Integer registers are pairs of signed 32-bit halves (xlo/xhi) so that no
 * BigInt is allocated per instruction; docs/cpu.md has the measurements.
 * PC is a JS number holding the sign-extended 64-bit value (exact for every
 * canonical Sv48 address and every physical address below 2^53).
 */
export class Hart {
  readonly hartId: number;
  readonly mem: PhysMemory;
  readonly timeSource: () => number;
  readonly pmp: Pmp;
  readonly sstc: boolean;

  readonly xlo = new Int32Array(32);
  readonly xhi = new Int32Array(32);
  /** FP registers as raw bits (NaN-boxed singles have fhi = -1). */
  readonly flo = new Int32Array(32);
  readonly fhi = new Int32Array(32);

  pc = 0;
  priv = PRV_M;
  private _waiting = false;
  private stopRequested = false;
  /** Set when the run loop must leave its inner loop (interrupt state changed, stop, map change). */
  private exitRequest = false;

  /** Instructions attempted (retired + trapped); the budget unit. */
  steps = 0;
  /**
   * Called on every `pause` (a guest spin-wait hint). A hart in a worker
   * thread uses it to give its host core away while the guest spins
   * (src/machine/smp/hart-worker.ts); null in the interleaved mode.
   */
  onPause: (() => void) | null = null;
  private trapped = 0;
  /** Debug hooks (src/cpu/riscv/debug.ts): non-null while breakpoints, watchpoints, a step or triggers are armed. */
  debug: HartDebugHooks | null = null;
  /** The Sdtrig CSRs (0x7a0-0x7a5); arming a trigger switches the debug hooks on. */
  readonly triggers: Triggers = new Triggers(() => HartDebug.of(this).update());

  // --- CSR state ---
  mstatus = 0; // low 32 bits; UXL/SXL/SD derived
  fcsr = 0; // frm << 5 | fflags
  misa = MISA_VALUE;
  mtvec = 0n;
  stvec = 0n;
  mepc = 0n;
  sepc = 0n;
  mcause = 0n;
  scause = 0n;
  mtval = 0n;
  stval = 0n;
  mscratch = 0n;
  sscratch = 0n;
  medeleg = 0;
  mideleg = 0;
  mie = 0;
  /** Software-writable pending bits (SSIP, STIP when Sstc is off, SEIP). */
  mipSw = 0;
  /** Lines driven by devices (CLINT, PLIC, ...). */
  mipHw = 0;
  mcounteren = 0;
  scounteren = 0;
  mcountinhibit = 0;
  menvcfg = 0n;
  senvcfg = 0n;
  satp = 0n;
  stimecmp = 0n;
  private stimecmpNum = Infinity;
  private cycleOffset = 0n;
  private instretOffset = 0n;
  readonly mhpmcounter: bigint[] = new Array<bigint>(32).fill(0n);
  readonly mhpmevent: bigint[] = new Array<bigint>(32).fill(0n);

  // LR/SC reservation (physical address, or -1) and the value seen by LR.
  private resAddr = -1;
  private resLo = 0;
  private resHi = 0;

  // --- MMU / TLB ---
  private epoch = -1;
  private satpMode = 0;
  private satpPpnAddr = 0;
  /** Tags: virtual page number bits 12..43 in tagLo, address bits 32..63 in tagHi. */
  private readonly rTagLo = new Int32Array(TLB_SIZE).fill(NO_PAGE);
  private readonly rTagHi = new Int32Array(TLB_SIZE);
  private readonly rOff = new Int32Array(TLB_SIZE);
  private readonly rDv: DataView[] = [];
  private readonly wTagLo = new Int32Array(TLB_SIZE).fill(NO_PAGE);
  private readonly wTagHi = new Int32Array(TLB_SIZE);
  private readonly wOff = new Int32Array(TLB_SIZE);
  private readonly wDv: DataView[] = [];
  /** I/O TLBs: virtual page -> physical page for MMIO pages (no RAM view), so device accesses skip the walk. */
  private readonly rioTagLo = new Int32Array(TLB_SIZE).fill(NO_PAGE);
  private readonly rioTagHi = new Int32Array(TLB_SIZE);
  private readonly rioPa = new Float64Array(TLB_SIZE);
  private readonly wioTagLo = new Int32Array(TLB_SIZE).fill(NO_PAGE);
  private readonly wioTagHi = new Int32Array(TLB_SIZE);
  private readonly wioPa = new Float64Array(TLB_SIZE);
  /** Instruction TLB: pages recently fetched from, so jumps between pages avoid a walk and a fill. */
  private readonly xTagLo = new Int32Array(TLB_SIZE).fill(NO_PAGE);
  private readonly xTagHi = new Int32Array(TLB_SIZE);
  private readonly xOff = new Int32Array(TLB_SIZE);
  private readonly xDv: DataView[] = [];
  /** The page instructions are fetched from: virtual base (as pc number), view and offset. */
  private fetchBase = NaN;
  private fetchDv: DataView;
  private fetchOff = 0;
  /** Views of RAM buffers, one per 1 GiB window so offsets stay int32 and typed-array lengths stay valid for any RAM size. */
  private readonly views = new WeakMap<ArrayBufferLike, RamWindow[]>();
  private readonly attrs: MemTxAttrs;
  private readonly rvc: Int32Array;

  /** Scratch results of slow paths (avoid allocation). */
  tLo = 0;
  tHi = 0;

  constructor(opts: HartOptions) {
    this.hartId = opts.hartId;
    this.mem = opts.mem;
    this.timeSource = opts.timeSource;
    this.pmp = new Pmp(opts.pmpCount ?? 16);
    this.sstc = opts.isaExtensions?.sstc ?? true;
    this.attrs = memTxAttrs({ requesterId: opts.hartId });
    this.rvc = rvcTable();
    const dummy = new DataView(new ArrayBuffer(8));
    this.fetchDv = dummy;
    for (let i = 0; i < TLB_SIZE; i++) {
      this.rDv.push(dummy);
      this.wDv.push(dummy);
      this.xDv.push(dummy);
    }
    this.reset(0);
  }

  get waiting(): boolean {
    return this._waiting;
  }
  get instret(): number {
    return this.steps - this.trapped;
  }
  get cycle(): number {
    return this.steps;
  }

  /** Reset state per the privileged spec; a0/a1/a2 are the reset ROM's business. */
  reset(pc: number): void {
    this.xlo.fill(0);
    this.xhi.fill(0);
    this.flo.fill(0);
    this.fhi.fill(0);
    this.pc = pc;
    this.priv = PRV_M;
    this.mstatus = 0;
    this.fcsr = 0;
    this.mtvec = this.stvec = this.mepc = this.sepc = 0n;
    this.mcause = this.scause = this.mtval = this.stval = 0n;
    this.mscratch = this.sscratch = 0n;
    this.medeleg = this.mideleg = this.mie = this.mipSw = 0;
    this.mcounteren = this.scounteren = this.mcountinhibit = 0;
    this.cycleOffset = this.instretOffset = 0n;
    this.menvcfg = this.senvcfg = 0n;
    this.satp = 0n;
    this.satpMode = 0;
    this.satpPpnAddr = 0;
    this.stimecmp = 0n;
    this.stimecmpNum = Infinity;
    this.mhpmcounter.fill(0n);
    this.mhpmevent.fill(0n);
    this.resAddr = -1;
    this.pmp.reset();
    this.triggers.reset();
    this._waiting = false;
    this.flushTlb();
  }

  getX(i: number): bigint {
    return toU64(this.xlo[i]!, this.xhi[i]!);
  }
  setX(i: number, v: bigint): void {
    if (i === 0) return;
    const u = BigInt.asUintN(64, v);
    this.xlo[i] = Number(u & 0xffffffffn) | 0;
    this.xhi[i] = Number(u >> 32n) | 0;
  }
  getF(i: number): bigint {
    return toU64(this.flo[i]!, this.fhi[i]!);
  }
  setF(i: number, v: bigint): void {
    const u = BigInt.asUintN(64, v);
    this.flo[i] = Number(u & 0xffffffffn) | 0;
    this.fhi[i] = Number(u >> 32n) | 0;
  }
  /** PC as an unsigned 64-bit value. */
  getPc(): bigint {
    return u64(this.pc);
  }

  requestStop(): void {
    this.stopRequested = true;
    this.exitRequest = true;
  }

  setInterruptLevel(bit: number, level: boolean): void {
    const m = 1 << bit;
    this.mipHw = level ? this.mipHw | m : this.mipHw & ~m;
    this.exitRequest = true;
    if (this._waiting && (this.readMip() & this.mie) !== 0) this._waiting = false;
  }

  /** mtime tick at which this hart's own timer (Sstc stimecmp) fires; Infinity if none is armed. */
  nextTimerDeadline(): number {
    if (!this.sstc || (this.menvcfg & MENVCFG_STCE) === 0n) return Infinity;
    return this.stimecmpNum;
  }

  /** Current mip value: software bits, device lines, and the Sstc comparator. */
  readMip(): number {
    let v = this.mipSw | this.mipHw;
    if (this.sstc && (this.menvcfg & MENVCFG_STCE) !== 0n) {
      v &= ~MIP_STIP;
      if (this.timeSource() >= this.stimecmpNum) v |= MIP_STIP;
      v |= this.mipHw & MIP_STIP;
    }
    return v;
  }

  // ------------------------------------------------------------------ run loop

  /**
   * Execute up to `budget` instructions; returns how many were attempted
   * (retired or trapped). Returns early on WFI with nothing pending or on
   * requestStop().
   */
  run(budget: number): number {
    const start = this.steps;
    const end = start + budget;
    this.stopRequested = false;
    if (this.mem.epoch !== this.epoch) this.flushTlb();
    if (this._waiting) {
      if ((this.readMip() & this.mie) === 0) return 0;
      this._waiting = false;
    }
    while (this.steps < end && !this.stopRequested && !this._waiting) {
      this.exitRequest = false;
      try {
        this.checkInterrupts();
        if (this.debug !== null && this.debug.beforeInstruction()) break;
        this.inner(this.debug !== null ? this.steps + 1 : Math.min(end, this.steps + 4096));
      } catch (e) {
        if (e === TRAP) continue;
        throw this.internalError(e);
      }
    }
    return this.steps - start;
  }

  private internalError(e: unknown): HartError {
    let insn = 0;
    try {
      const b = this.mem.load(this.pc, 4, this.attrs);
      if (b === MEMTX_OK) insn = this.mem.valLo;
    } catch {
      insn = 0;
    }
    const detail = e instanceof Error ? e.message : String(e);
    return new HartError(this.hartId, this.getPc(), insn, detail);
  }

  /** Take the highest-priority pending and enabled interrupt, if any. */
  private checkInterrupts(): void {
    const pending = this.readMip() & this.mie;
    if (pending === 0) return;
    const mIrq = pending & ~this.mideleg;
    const mEnabled = this.priv < PRV_M || (this.mstatus & MSTATUS_MIE) !== 0;
    let irqs = mEnabled ? mIrq : 0;
    if (irqs === 0) {
      const sIrq = pending & this.mideleg;
      const sEnabled = this.priv < PRV_S || (this.priv === PRV_S && (this.mstatus & MSTATUS_SIE) !== 0);
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
    this.enterTrap(cause, true, 0n);
  }

  /** Trap entry: sets cause/epc/tval, the new privilege and pc. */
  enterTrap(cause: number, interrupt: boolean, tval: bigint): void {
    const bitm = 1 << cause;
    const toS =
      this.priv <= PRV_S && (interrupt ? (this.mideleg & bitm) !== 0 : (this.medeleg & bitm) !== 0);
    const epc = u64(this.pc);
    const causeVal = interrupt ? (1n << 63n) | BigInt(cause) : BigInt(cause);
    let s = this.mstatus;
    let vec: bigint;
    if (toS) {
      this.scause = causeVal;
      this.sepc = epc;
      this.stval = tval;
      s = (s & ~MSTATUS_SPP) | (this.priv === PRV_S ? MSTATUS_SPP : 0);
      s = (s & ~MSTATUS_SPIE) | ((s & MSTATUS_SIE) !== 0 ? MSTATUS_SPIE : 0);
      s &= ~MSTATUS_SIE;
      this.priv = PRV_S;
      vec = this.stvec;
    } else {
      this.mcause = causeVal;
      this.mepc = epc;
      this.mtval = tval;
      s = (s & ~MSTATUS_MPP) | (this.priv << MSTATUS_MPP_SHIFT);
      s = (s & ~MSTATUS_MPIE) | ((s & MSTATUS_MIE) !== 0 ? MSTATUS_MPIE : 0);
      s &= ~MSTATUS_MIE;
      this.priv = PRV_M;
      vec = this.mtvec;
    }
    this.mstatus = s;
    let target = vec & ~3n;
    if ((vec & 3n) === 1n && interrupt) target += BigInt(4 * cause);
    this.pc = Number(BigInt.asIntN(64, target));
    this.flushTlb();
    if (!interrupt) this.trapped++;
  }

  /** Raise a synchronous exception: enter the trap and abandon the current instruction. */
  raise(cause: number, tval: bigint): never {
    this.enterTrap(cause, false, tval);
    throw TRAP;
  }

  illegal(insnBits: number): never {
    return this.raise(CAUSE_ILLEGAL_INSTRUCTION, BigInt(insnBits >>> 0));
  }

  /** The interpreter loop: runs until `end` steps or an exit request. */
  private inner(end: number): void {
    const xlo = this.xlo;
    const xhi = this.xhi;
    const rvc = this.rvc;
    const rTagLo = this.rTagLo;
    const rTagHi = this.rTagHi;
    const rOff = this.rOff;
    const rDv = this.rDv;
    const wTagLo = this.wTagLo;
    const wTagHi = this.wTagHi;
    const wOff = this.wOff;
    const wDv = this.wDv;
    // pc and steps live in locals; they are written back before anything that may trap or
    // look at them (slow paths, system instructions) and when the loop exits.
    let pc = this.pc;
    let steps = this.steps;
    let fBase = this.fetchBase;
    let fDv = this.fetchDv;
    let fOff = this.fetchOff;
    while (steps < end) {
      steps++;
      let insn: number;
      const off = pc - fBase;
      if (off >= 0 && off <= 4092) insn = fDv.getInt32((fOff + off) | 0, true);
      else {
        this.pc = pc;
        this.steps = steps;
        insn = this.fetchSlow(pc);
        fBase = this.fetchBase;
        fDv = this.fetchDv;
        fOff = this.fetchOff;
      }
      const raw = insn;
      let ilen = 4;
      if ((insn & 3) !== 3) {
        insn = rvc[insn & 0xffff]!;
        ilen = 2;
        if (insn === 0) {
          this.pc = pc;
          this.steps = steps;
          this.trapIllegal(raw & 0xffff);
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
          const alo = xlo[rs1]!;
          const ahi = xhi[rs1]!;
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
              if (insn >>> 26 !== 0) { this.pc = pc; this.steps = steps; this.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
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
              } else { this.pc = pc; this.steps = steps; this.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
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
            xlo[rd] = lo;
            xhi[rd] = hi;
          }
          pc = pc + ilen;
          break;
        }
        case 12: {
          // OP
          const rs2 = (insn >> 20) & 31;
          const f7 = insn >>> 25;
          const f3 = (insn >> 12) & 7;
          const alo = xlo[rs1]!;
          const ahi = xhi[rs1]!;
          const blo = xlo[rs2]!;
          const bhi = xhi[rs2]!;
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
            this.mulDiv(f3, alo, ahi, blo, bhi);
            lo = this.tLo;
            hi = this.tHi;
          } else { this.pc = pc; this.steps = steps; this.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
          if (rd !== 0) {
            xlo[rd] = lo;
            xhi[rd] = hi;
          }
          pc = pc + ilen;
          break;
        }
        case 0: {
          // LOAD
          const f3 = (insn >> 12) & 7;
          if (f3 === 7) { this.pc = pc; this.steps = steps; this.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
          const imm = insn >> 20;
          const s = (xlo[rs1]! >>> 0) + imm;
          const lo = s | 0;
          const hi = (xhi[rs1]! + (s > 0xffffffff ? 1 : s < 0 ? -1 : 0)) | 0;
          const vpn = lo >>> 12;
          const idx = vpn & TLB_MASK;
          const po = lo & 0xfff;
          let vlo: number;
          let vhi: number;
          if (rTagLo[idx] === vpn && rTagHi[idx] === hi && po <= 4088) {
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
                vlo = dv.getInt32(a, true);
                vhi = dv.getInt32(a + 4, true);
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
            this.pc = pc;
            this.steps = steps;
            this.loadSlow(lo, hi, f3);
            vlo = this.tLo;
            vhi = this.tHi;
            if (this.exitRequest || fBase !== this.fetchBase) {
              if (rd !== 0) {
                xlo[rd] = vlo;
                xhi[rd] = vhi;
              }
              this.pc = pc + ilen;
              return;
            }
          }
          if (rd !== 0) {
            xlo[rd] = vlo;
            xhi[rd] = vhi;
          }
          pc = pc + ilen;
          break;
        }
        case 8: {
          // STORE
          const f3 = (insn >> 12) & 7;
          if (f3 > 3) { this.pc = pc; this.steps = steps; this.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
          const rs2 = (insn >> 20) & 31;
          const imm = ((insn >> 25) << 5) | ((insn >> 7) & 31);
          const s = (xlo[rs1]! >>> 0) + imm;
          const lo = s | 0;
          const hi = (xhi[rs1]! + (s > 0xffffffff ? 1 : s < 0 ? -1 : 0)) | 0;
          const vpn = lo >>> 12;
          const idx = vpn & TLB_MASK;
          const po = lo & 0xfff;
          if (wTagLo[idx] === vpn && wTagHi[idx] === hi && po <= 4088) {
            const dv = wDv[idx]!;
            const a = (wOff[idx]! + po) | 0;
            switch (f3) {
              case 0:
                dv.setInt8(a, xlo[rs2]!);
                break;
              case 1:
                dv.setInt16(a, xlo[rs2]!, true);
                break;
              case 2:
                dv.setInt32(a, xlo[rs2]!, true);
                break;
              default:
                dv.setInt32(a, xlo[rs2]!, true);
                dv.setInt32(a + 4, xhi[rs2]!, true);
                break;
            }
          } else {
            this.pc = pc;
            this.steps = steps;
            this.storeSlow(lo, hi, 1 << f3, xlo[rs2]!, xhi[rs2]!);
            if (this.exitRequest || fBase !== this.fetchBase) {
              this.pc = pc + ilen;
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
          const ahi = xhi[rs1]!;
          const bhi = xhi[rs2]!;
          let taken: boolean;
          switch (f3) {
            case 0:
              taken = xlo[rs1] === xlo[rs2] && ahi === bhi;
              break;
            case 1:
              taken = xlo[rs1] !== xlo[rs2] || ahi !== bhi;
              break;
            case 4:
              taken = ahi < bhi || (ahi === bhi && xlo[rs1]! >>> 0 < xlo[rs2]! >>> 0);
              break;
            case 5:
              taken = !(ahi < bhi || (ahi === bhi && xlo[rs1]! >>> 0 < xlo[rs2]! >>> 0));
              break;
            case 6:
              taken = ahi >>> 0 < bhi >>> 0 || (ahi === bhi && xlo[rs1]! >>> 0 < xlo[rs2]! >>> 0);
              break;
            case 7:
              taken = !(ahi >>> 0 < bhi >>> 0 || (ahi === bhi && xlo[rs1]! >>> 0 < xlo[rs2]! >>> 0));
              break;
            default:
              { this.pc = pc; this.steps = steps; this.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
          }
          if (taken) {
            const imm =
              ((insn >> 31) << 12) | (((insn >> 7) & 1) << 11) | (((insn >> 25) & 0x3f) << 5) | (((insn >> 8) & 0xf) << 1);
            pc = pc + imm;
          } else pc = pc + ilen;
          break;
        }
        case 27: {
          // JAL
          const imm =
            ((insn >> 31) << 20) | (insn & 0xff000) | (((insn >> 20) & 1) << 11) | (((insn >> 21) & 0x3ff) << 1);
          if (rd !== 0) {
            const link = pc + ilen;
            xlo[rd] = link | 0;
            xhi[rd] = Math.floor(link / TWO32) | 0;
          }
          pc = pc + imm;
          break;
        }
        case 25: {
          // JALR
          if (((insn >> 12) & 7) !== 0) { this.pc = pc; this.steps = steps; this.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
          const imm = insn >> 20;
          const s = (xlo[rs1]! >>> 0) + imm;
          const hi = (xhi[rs1]! + (s > 0xffffffff ? 1 : s < 0 ? -1 : 0)) | 0;
          const target = hi * TWO32 + ((s & ~1) >>> 0);
          if (rd !== 0) {
            const link = pc + ilen;
            xlo[rd] = link | 0;
            xhi[rd] = Math.floor(link / TWO32) | 0;
          }
          pc = target;
          break;
        }
        case 13: {
          // LUI
          if (rd !== 0) {
            const v = insn & 0xfffff000;
            xlo[rd] = v;
            xhi[rd] = v >> 31;
          }
          pc = pc + ilen;
          break;
        }
        case 5: {
          // AUIPC
          if (rd !== 0) {
            const v = pc + (insn & 0xfffff000);
            xlo[rd] = v | 0;
            xhi[rd] = Math.floor(v / TWO32) | 0;
          }
          pc = pc + ilen;
          break;
        }
        case 6: {
          // OP-IMM-32
          const f3 = (insn >> 12) & 7;
          const a = xlo[rs1]!;
          let v: number;
          if (f3 === 0) v = (a + (insn >> 20)) | 0;
          else if (f3 === 1 && insn >>> 25 === 0) v = a << ((insn >> 20) & 31);
          else if (f3 === 5 && insn >>> 25 === 0) v = a >>> ((insn >> 20) & 31);
          else if (f3 === 5 && insn >>> 25 === 0x20) v = a >> ((insn >> 20) & 31);
          else { this.pc = pc; this.steps = steps; this.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
          if (rd !== 0) {
            xlo[rd] = v;
            xhi[rd] = v >> 31;
          }
          pc = pc + ilen;
          break;
        }
        case 14: {
          // OP-32
          const f3 = (insn >> 12) & 7;
          const f7 = insn >>> 25;
          const a = xlo[rs1]!;
          const b = xlo[(insn >> 20) & 31]!;
          let v: number;
          if (f7 === 0) {
            if (f3 === 0) v = (a + b) | 0;
            else if (f3 === 1) v = a << (b & 31);
            else if (f3 === 5) v = a >>> (b & 31);
            else { this.pc = pc; this.steps = steps; this.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
          } else if (f7 === 0x20) {
            if (f3 === 0) v = (a - b) | 0;
            else if (f3 === 5) v = a >> (b & 31);
            else { this.pc = pc; this.steps = steps; this.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
          } else if (f7 === 1) {
            this.pc = pc;
            this.steps = steps;
            this.curRaw = raw;
            v = this.mulDivW(f3, a, b, insn, ilen);
          } else { this.pc = pc; this.steps = steps; this.trapIllegal(ilen === 2 ? raw & 0xffff : insn); return; }
          if (rd !== 0) {
            xlo[rd] = v;
            xhi[rd] = v >> 31;
          }
          pc = pc + ilen;
          break;
        }
        default:
          this.pc = pc;
          this.steps = steps;
          this.curRaw = raw;
          this.execOther(insn, ilen, pc);
          pc = this.pc;
          // System instructions that change privilege, translation or interrupt state ask for
          // an exit (exitRequest) or drop the fetch page; fences, AMOs and FP just continue.
          if (this.exitRequest || fBase !== this.fetchBase) return;
          break;
      }
    }
    this.pc = pc;
    this.steps = steps;
  }

  /** The fetched encoding of the instruction being executed out of line (for illegal-instruction tval). */
  private curRaw = 0;

  /** Illegal instruction with tval = the original encoding (16 bits for compressed), then unwind. */
  illegalInsn(insn: number, ilen: number): never {
    return this.illegal(ilen === 2 ? this.curRaw & 0xffff : insn);
  }

  /** Enter the illegal-instruction trap without unwinding (the interpreter loop returns itself). */
  private trapIllegal(bits: number): void {
    this.enterTrap(CAUSE_ILLEGAL_INSTRUCTION, false, BigInt(bits >>> 0));
  }

  // ------------------------------------------------------------------ M extension

  private mulDiv(f3: number, alo: number, ahi: number, blo: number, bhi: number): void {
    if (f3 === 0) {
      // mul: low 64 bits of the product
      const lo = Math.imul(alo, blo);
      const hi = (mulhu32(alo, blo) + Math.imul(alo, bhi) + Math.imul(ahi, blo)) | 0;
      this.tLo = lo;
      this.tHi = hi;
      return;
    }
    if (f3 >= 4 && ahi >= -0x100000 && ahi < 0x100000 && bhi >= -0x100000 && bhi < 0x100000) {
      // Both operands fit in 53 bits: exact double arithmetic (the common case in firmware).
      const signed = f3 === 4 || f3 === 6;
      if (signed || (ahi >= 0 && bhi >= 0)) {
        const a = ahi * TWO32 + (alo >>> 0);
        const b = bhi * TWO32 + (blo >>> 0);
        let q: number;
        let r: number;
        if (b === 0) {
          q = -1;
          r = a;
        } else {
          const ua = Math.abs(a);
          const ub = Math.abs(b);
          q = Math.floor(ua / ub);
          r = ua - q * ub;
          if (r < 0) {
            q--;
            r += ub;
          } else if (r >= ub) {
            q++;
            r -= ub;
          }
          if (a < 0 !== b < 0) q = -q;
          if (a < 0) r = -r;
        }
        const v = f3 === 4 || f3 === 5 ? q : r;
        this.tLo = v | 0;
        this.tHi = Math.floor(v / TWO32) | 0;
        return;
      }
    }
    if (f3 >= 4) {
      // Divisors below 2^32 (printf's divide-by-10 of 64-bit values): exact 16-bit long division.
      const signed = f3 === 4 || f3 === 6;
      const bNeg = signed && bhi < 0;
      const bmHi = bNeg ? ~bhi + (blo === 0 ? 1 : 0) : bhi;
      const bmLo = bNeg ? -blo | 0 : blo;
      if (bmHi === 0 && bmLo !== 0) {
        const aNeg = signed && ahi < 0;
        const amHi = aNeg ? (~ahi + (alo === 0 ? 1 : 0)) | 0 : ahi;
        const amLo = aNeg ? -alo | 0 : alo;
        const b = bmLo >>> 0;
        const hiU = amHi >>> 0;
        const qh = Math.floor(hiU / b);
        let r = hiU - qh * b;
        let t = r * 65536 + (amLo >>> 16);
        const q1 = Math.floor(t / b);
        r = t - q1 * b;
        t = r * 65536 + (amLo & 0xffff);
        const q0 = Math.floor(t / b);
        r = t - q0 * b;
        let lo: number;
        let hi: number;
        if (f3 === 4 || f3 === 5) {
          lo = (q1 * 65536 + q0) | 0;
          hi = qh | 0;
          if (aNeg !== bNeg) {
            hi = (~hi + (lo === 0 ? 1 : 0)) | 0;
            lo = -lo | 0;
          }
        } else {
          lo = r | 0;
          hi = 0;
          if (aNeg && r !== 0) {
            lo = -lo | 0;
            hi = -1;
          }
        }
        this.tLo = lo;
        this.tHi = hi;
        return;
      }
    }
    const a = (BigInt(ahi) << 32n) | BigInt(alo >>> 0); // signed
    const b = (BigInt(bhi) << 32n) | BigInt(blo >>> 0);
    const au = BigInt.asUintN(64, a);
    const bu = BigInt.asUintN(64, b);
    let r: bigint;
    switch (f3) {
      case 1:
        r = (a * b) >> 64n;
        break;
      case 2:
        r = (a * bu) >> 64n;
        break;
      case 3:
        r = (au * bu) >> 64n;
        break;
      case 4:
        if (b === 0n) r = -1n;
        else if (a === -(1n << 63n) && b === -1n) r = a;
        else r = a / b;
        break;
      case 5:
        r = bu === 0n ? -1n : au / bu;
        break;
      case 6:
        if (b === 0n) r = a;
        else if (a === -(1n << 63n) && b === -1n) r = 0n;
        else r = a % b;
        break;
      default:
        r = bu === 0n ? au : au % bu;
        break;
    }
    this.tLo = Number(BigInt.asIntN(32, r));
    this.tHi = Number(BigInt.asIntN(32, r >> 32n));
  }

  private mulDivW(f3: number, a: number, b: number, insn: number, ilen: number): number {
    switch (f3) {
      case 0:
        return Math.imul(a, b);
      case 4:
        if (b === 0) return -1;
        if (a === -2147483648 && b === -1) return a;
        return (a / b) | 0;
      case 5:
        if (b === 0) return -1;
        return ((a >>> 0) / (b >>> 0)) | 0;
      case 6:
        if (b === 0) return a;
        if (a === -2147483648 && b === -1) return 0;
        return a % b | 0;
      case 7:
        if (b === 0) return a;
        return ((a >>> 0) % (b >>> 0)) | 0;
      default:
        return this.illegalInsn(insn, ilen);
    }
  }

  // ------------------------------------------------------------------ rarely executed opcodes

  private execOther(insn: number, ilen: number, pc: number): void {
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
          if (insn === 0x0100000f && this.onPause !== null) this.onPause();
        } else if (f3 === 1) {
          // fence.i: instructions are fetched from memory every time; nothing is cached
        } else this.illegalInsn(insn, ilen);
        this.pc = pc + ilen;
        return;
      }
      case 0x73:
        this.execSystem(insn, ilen, pc);
        return;
      case 0x2f:
        this.execAmo(insn, ilen);
        this.pc = pc + ilen;
        return;
      case 0x07:
      case 0x27:
      case 0x43:
      case 0x47:
      case 0x4b:
      case 0x4f:
      case 0x53:
        if ((this.mstatus & MSTATUS_FS) === 0) this.illegalInsn(insn, ilen);
        if (!executeFp(this, insn)) this.illegalInsn(insn, ilen);
        this.pc = pc + ilen;
        return;
      default:
        this.illegalInsn(insn, ilen);
    }
  }

  /** Mark the FP state dirty (mstatus.FS = 3, which also sets SD). */
  fpDirty(): void {
    this.mstatus |= MSTATUS_FS;
  }

  private execSystem(insn: number, ilen: number, pc: number): void {
    const f3 = (insn >> 12) & 7;
    if (f3 === 0) {
      switch (insn) {
        case 0x00000073: {
          const cause =
            this.priv === PRV_U ? CAUSE_USER_ECALL : this.priv === PRV_S ? CAUSE_SUPERVISOR_ECALL : CAUSE_MACHINE_ECALL;
          this.enterTrap(cause, false, 0n);
          this.exitRequest = true;
          return;
        }
        case 0x00100073:
          this.enterTrap(CAUSE_BREAKPOINT, false, 0n);
          this.exitRequest = true;
          return;
        case 0x30200073: {
          // mret
          if (this.priv !== PRV_M) this.illegalInsn(insn, ilen);
          let s = this.mstatus;
          const mpp = (s >> MSTATUS_MPP_SHIFT) & 3;
          s = (s & ~MSTATUS_MIE) | ((s & MSTATUS_MPIE) !== 0 ? MSTATUS_MIE : 0);
          s |= MSTATUS_MPIE;
          s &= ~MSTATUS_MPP;
          if (mpp !== PRV_M) s &= ~MSTATUS_MPRV;
          this.mstatus = s;
          this.priv = mpp;
          this.pc = Number(BigInt.asIntN(64, this.mepc));
          this.flushTlb();
          this.exitRequest = true;
          return;
        }
        case 0x10200073: {
          // sret
          if (this.priv === PRV_U || (this.priv === PRV_S && (this.mstatus & MSTATUS_TSR) !== 0))
            this.illegalInsn(insn, ilen);
          let s = this.mstatus;
          const spp = (s & MSTATUS_SPP) !== 0 ? PRV_S : PRV_U;
          s = (s & ~MSTATUS_SIE) | ((s & MSTATUS_SPIE) !== 0 ? MSTATUS_SIE : 0);
          s |= MSTATUS_SPIE;
          s &= ~MSTATUS_SPP;
          s &= ~MSTATUS_MPRV;
          this.mstatus = s;
          this.priv = spp;
          this.pc = Number(BigInt.asIntN(64, this.sepc));
          this.flushTlb();
          this.exitRequest = true;
          return;
        }
        case 0x10500073: {
          // wfi
          if (this.priv === PRV_U || (this.priv === PRV_S && (this.mstatus & MSTATUS_TW) !== 0))
            this.illegalInsn(insn, ilen);
          this.pc = pc + ilen;
          if ((this.readMip() & this.mie) === 0) {
            this._waiting = true;
            this.exitRequest = true;
          }
          return;
        }
        default:
          if ((insn & 0xfe007fff) === 0x12000073) {
            // sfence.vma
            if (this.priv === PRV_U || (this.priv === PRV_S && (this.mstatus & MSTATUS_TVM) !== 0))
              this.illegalInsn(insn, ilen);
            // Any form flushes everything: a superset of what each variant requires.
            this.flushTlb();
            this.pc = pc + ilen;
            return;
          }
          this.illegalInsn(insn, ilen);
      }
    }
    if (f3 === 4) this.illegalInsn(insn, ilen);
    const csr = insn >>> 20;
    const rd = (insn >> 7) & 31;
    const rs1 = (insn >> 15) & 31;
    const useImm = f3 >= 5;
    const src = useImm ? BigInt(rs1) : this.getX(rs1);
    const op = f3 & 3; // 1 rw, 2 rs, 3 rc
    const writes = op === 1 || rs1 !== 0;
    const readOnly = csr >>> 10 === 3;
    if (((csr >> 8) & 3) > this.priv) this.illegalInsn(insn, ilen);
    if (writes && readOnly) this.illegalInsn(insn, ilen);
    const old = this.csrRead(csr, insn, ilen);
    if (writes) {
      // CSRRS/CSRRC on mip modify the software-writable SEIP bit, not the OR with the PLIC line
      // (priv. spec 3.1.9), so a set of another bit does not latch a device's SEIP.
      const base = csr === 0x344 ? (old & ~BigInt(MIP_SEIP)) | BigInt(this.mipSw & MIP_SEIP) : old;
      const nv = op === 1 ? src : op === 2 ? base | src : base & ~src;
      this.csrWrite(csr, BigInt.asUintN(64, nv), insn, ilen);
    }
    if (rd !== 0) this.setX(rd, old);
    this.pc = pc + ilen;
    // CSR writes may enable interrupts or change translation: re-check before the next instruction.
    this.exitRequest = true;
  }

  // ------------------------------------------------------------------ CSRs

  private counterAllowed(index: number): boolean {
    if (this.priv === PRV_M) return true;
    const bit = 1 << index;
    if ((this.mcounteren & bit) === 0) return false;
    if (this.priv === PRV_U && (this.scounteren & bit) === 0) return false;
    return true;
  }

  private mstatusValue(): bigint {
    let v = BigInt(this.mstatus >>> 0) | (2n << 32n) | (2n << 34n);
    if ((this.mstatus & MSTATUS_FS) === MSTATUS_FS) v |= 1n << 63n;
    return v;
  }

  private requireFs(insn: number, ilen: number): void {
    if ((this.mstatus & MSTATUS_FS) === 0) this.illegalInsn(insn, ilen);
  }

  /** Read a CSR; absent or inaccessible CSRs raise illegal instruction. */
  csrRead(csr: number, insn: number, ilen: number): bigint {
    switch (csr) {
      case 0x001:
        this.requireFs(insn, ilen);
        return BigInt(this.fcsr & 0x1f);
      case 0x002:
        this.requireFs(insn, ilen);
        return BigInt((this.fcsr >> 5) & 7);
      case 0x003:
        this.requireFs(insn, ilen);
        return BigInt(this.fcsr & 0xff);
      case 0xc00:
      case 0xc02: {
        if (!this.counterAllowed(csr - 0xc00)) this.illegalInsn(insn, ilen);
        return csr === 0xc00 ? this.readCycle() : this.readInstret();
      }
      case 0xc01:
        if (!this.counterAllowed(1)) this.illegalInsn(insn, ilen);
        return u64(Math.floor(this.timeSource()));
      // supervisor
      case 0x100:
        return this.mstatusValue() & (BigInt(SSTATUS_MASK) | (3n << 32n) | (1n << 63n));
      case 0x104:
        return BigInt(this.mie & this.mideleg);
      case 0x105:
        return this.stvec;
      case 0x106:
        return BigInt(this.scounteren >>> 0);
      case 0x10a:
        return this.senvcfg;
      case 0x140:
        return this.sscratch;
      case 0x141:
        return this.sepc;
      case 0x142:
        return this.scause;
      case 0x143:
        return this.stval;
      case 0x144:
        return BigInt(this.readMip() & this.mideleg);
      case 0x14d:
        this.requireSstc(insn, ilen);
        return this.stimecmp;
      case 0x180:
        if (this.priv === PRV_S && (this.mstatus & MSTATUS_TVM) !== 0) this.illegalInsn(insn, ilen);
        return this.satp;
      // machine
      case 0xf11:
      case 0xf12:
      case 0xf13:
      case 0xf15:
        return 0n;
      case 0xf14:
        return BigInt(this.hartId);
      case 0x300:
        return this.mstatusValue();
      case 0x301:
        return this.misa;
      case 0x302:
        return BigInt(this.medeleg);
      case 0x303:
        return BigInt(this.mideleg);
      case 0x304:
        return BigInt(this.mie);
      case 0x305:
        return this.mtvec;
      case 0x306:
        return BigInt(this.mcounteren >>> 0);
      case 0x30a:
        return this.menvcfg;
      case 0x320:
        return BigInt(this.mcountinhibit);
      case 0x340:
        return this.mscratch;
      case 0x341:
        return this.mepc;
      case 0x342:
        return this.mcause;
      case 0x343:
        return this.mtval;
      case 0x344:
        return BigInt(this.readMip());
      case 0x3a0:
      case 0x3a2:
        return this.pmp.readCfg(csr - 0x3a0);
      case 0xb00:
        return this.readCycle();
      case 0xb02:
        return this.readInstret();
      default:
        break;
    }
    if (csr >= 0x3b0 && csr < 0x3b0 + this.pmp.count && csr < 0x3c0) return this.pmp.readAddr(csr - 0x3b0);
    if (csr >= 0x323 && csr <= 0x33f) return this.mhpmevent[csr - 0x320]!;
    if (csr >= 0xb03 && csr < 0xb03 + HPM_COUNTERS) return this.mhpmcounter[csr - 0xb00]!;
    if (csr >= 0xc03 && csr < 0xc03 + HPM_COUNTERS) {
      if (!this.counterAllowed(csr - 0xc00)) this.illegalInsn(insn, ilen);
      return this.mhpmcounter[csr - 0xc00]!;
    }
    if (csr >= 0x7a0 && csr <= 0x7a5) return this.triggers.read(csr) ?? this.illegalInsn(insn, ilen);
    return this.illegalInsn(insn, ilen);
  }

  private requireSstc(insn: number, ilen: number): void {
    if (!this.sstc) this.illegalInsn(insn, ilen);
    if (this.priv === PRV_M) return;
    if ((this.mcounteren & 2) === 0 || (this.menvcfg & MENVCFG_STCE) === 0n) this.illegalInsn(insn, ilen);
  }

  private readCycle(): bigint {
    if (this.mcountinhibit & 1) return this.cycleFrozen;
    return BigInt.asUintN(64, BigInt(this.steps) + this.cycleOffset);
  }
  private readInstret(): bigint {
    if (this.mcountinhibit & 4) return this.instretFrozen;
    return BigInt.asUintN(64, BigInt(this.instret) + this.instretOffset);
  }
  /** Values of mcycle/minstret while mcountinhibit.CY/IR hold them. */
  private cycleFrozen = 0n;
  private instretFrozen = 0n;

  private writeCountInhibit(v: number): void {
    const old = this.mcountinhibit;
    // Freeze or resume counting at the current value; the CSR instruction itself still counts.
    if ((v & 1) !== (old & 1)) {
      if (v & 1) this.cycleFrozen = this.readCycle();
      else this.cycleOffset = this.cycleFrozen - BigInt(this.steps) - 1n;
    }
    if ((v & 4) !== (old & 4)) {
      if (v & 4) this.instretFrozen = this.readInstret();
      else this.instretOffset = this.instretFrozen - BigInt(this.instret) - 1n;
    }
    this.mcountinhibit = v;
  }

  csrWrite(csr: number, v: bigint, insn: number, ilen: number): void {
    switch (csr) {
      case 0x001:
        this.fcsr = (this.fcsr & ~0x1f) | Number(v & 0x1fn);
        this.fpDirty();
        return;
      case 0x002:
        this.fcsr = (this.fcsr & 0x1f) | (Number(v & 7n) << 5);
        this.fpDirty();
        return;
      case 0x003:
        this.fcsr = Number(v & 0xffn);
        this.fpDirty();
        return;
      case 0x100: {
        const m = SSTATUS_MASK;
        this.mstatus = (this.mstatus & ~m) | (Number(v & 0xffffffffn) & m);
        this.flushTlb();
        return;
      }
      case 0x104: {
        const m = this.mideleg & S_INTERRUPTS;
        this.mie = (this.mie & ~m) | (Number(v & 0xffffn) & m);
        return;
      }
      case 0x105:
        if ((v & 3n) < 2n) this.stvec = v;
        return;
      case 0x106:
        this.scounteren = Number(v & 0xffffffffn) | 0;
        return;
      case 0x10a:
        this.senvcfg = v & 1n;
        return;
      case 0x140:
        this.sscratch = v;
        return;
      case 0x141:
        this.sepc = v & ~1n;
        return;
      case 0x142:
        this.scause = v;
        return;
      case 0x143:
        this.stval = v;
        return;
      case 0x144: {
        const m = this.mideleg & MIP_SSIP;
        this.mipSw = (this.mipSw & ~m) | (Number(v & 0xffffn) & m);
        return;
      }
      case 0x14d:
        this.stimecmp = v;
        this.stimecmpNum = v >= 1n << 53n ? Infinity : Number(v);
        return;
      case 0x180: {
        if (this.priv === PRV_S && (this.mstatus & MSTATUS_TVM) !== 0) this.illegalInsn(insn, ilen);
        const mode = Number(v >> 60n);
        if (mode !== 0 && mode !== 8 && mode !== 9) return; // unsupported modes: write ignored
        this.satp = mode === 0 ? 0n : v & ((0xfn << 60n) | (0xffffn << 44n) | ((1n << 44n) - 1n));
        this.satpMode = mode;
        this.satpPpnAddr = Number(this.satp & ((1n << 44n) - 1n)) * 4096;
        this.flushTlb();
        return;
      }
      case 0x300: {
        let nv = Number(v & 0xffffffffn) & MSTATUS_WMASK;
        if (((nv >> MSTATUS_MPP_SHIFT) & 3) === 2) nv &= ~MSTATUS_MPP; // reserved MPP -> U
        this.mstatus = (this.mstatus & ~MSTATUS_WMASK) | nv;
        this.flushTlb();
        return;
      }
      case 0x301:
        return; // misa is read-only here, as on QEMU's default CPUs
      case 0x302:
        this.medeleg = Number(v & BigInt(DELEGABLE_EXCEPTIONS));
        return;
      case 0x303:
        this.mideleg = Number(v & BigInt(S_INTERRUPTS));
        return;
      case 0x304:
        this.mie = Number(v & BigInt(ALL_INTERRUPTS));
        return;
      case 0x305:
        if ((v & 3n) < 2n) this.mtvec = v;
        return;
      case 0x306:
        this.mcounteren = Number(v & 0xffffffffn) | 0;
        return;
      case 0x30a:
        this.menvcfg = v & (MENVCFG_FIOM | (this.sstc ? MENVCFG_STCE : 0n));
        return;
      case 0x320:
        this.writeCountInhibit(Number(v & BigInt(0x5 | (((1 << HPM_COUNTERS) - 1) << 3))));
        return;
      case 0x340:
        this.mscratch = v;
        return;
      case 0x341:
        this.mepc = v & ~1n;
        return;
      case 0x342:
        this.mcause = v;
        return;
      case 0x343:
        this.mtval = v;
        return;
      case 0x344: {
        let m = MIP_SSIP | MIP_SEIP;
        if (!this.sstc || (this.menvcfg & MENVCFG_STCE) === 0n) m |= MIP_STIP;
        this.mipSw = (this.mipSw & ~m) | (Number(v & 0xffffn) & m);
        return;
      }
      case 0x3a0:
      case 0x3a2:
        this.pmp.writeCfg(csr - 0x3a0, v);
        this.flushTlb();
        return;
      case 0xb00:
        if (this.mcountinhibit & 1) this.cycleFrozen = v;
        this.cycleOffset = v - BigInt(this.steps) - 1n;
        return;
      case 0xb02:
        // The write replaces this instruction's own increment (already counted in steps): the
        // next instruction reads v.
        if (this.mcountinhibit & 4) this.instretFrozen = v;
        this.instretOffset = v - BigInt(this.instret) - 1n;
        return;
      case 0xf11:
      case 0xf12:
      case 0xf13:
      case 0xf14:
      case 0xf15:
        return this.illegalInsn(insn, ilen);
      default:
        break;
    }
    if (csr >= 0x3b0 && csr < 0x3b0 + this.pmp.count && csr < 0x3c0) {
      this.pmp.writeAddr(csr - 0x3b0, v);
      this.flushTlb();
      return;
    }
    if (csr >= 0x323 && csr <= 0x33f) {
      this.mhpmevent[csr - 0x320] = v;
      return;
    }
    if (csr >= 0xb03 && csr < 0xb03 + HPM_COUNTERS) {
      this.mhpmcounter[csr - 0xb00] = v;
      return;
    }
    if (csr >= 0x7a0 && csr <= 0x7a5 && this.triggers.write(csr, v)) return;
    this.illegalInsn(insn, ilen);
  }

  // ------------------------------------------------------------------ MMU

  /** Drop every cached translation (and the fetch page). */
  flushTlb(): void {
    this.rTagLo.fill(NO_PAGE);
    this.wTagLo.fill(NO_PAGE);
    this.xTagLo.fill(NO_PAGE);
    this.rioTagLo.fill(NO_PAGE);
    this.wioTagLo.fill(NO_PAGE);
    this.fetchBase = NaN;
    this.epoch = this.mem.epoch;
  }

  /** The window of `bytes`' buffer holding byte offset `at` of that buffer. */
  private viewsOf(bytes: Uint8Array, at: number): RamWindow {
    const buf = bytes.buffer;
    let ws = this.views.get(buf);
    if (ws === undefined) {
      ws = [];
      this.views.set(buf, ws);
    }
    const w = Math.floor(at / RAM_WINDOW);
    let v = ws[w];
    if (v === undefined) {
      const base = w * RAM_WINDOW;
      const len = Math.min(RAM_WINDOW, buf.byteLength - base);
      v = {
        base,
        dv: new DataView(buf, base, len),
        i32: new Int32Array(buf, base, Math.floor(len / 4)),
        i64: new BigInt64Array(buf, base, Math.floor(len / 8)),
      };
      ws[w] = v;
    }
    return v;
  }

  /** Privilege used for data accesses (MPRV). */
  private dataPriv(): number {
    if (this.priv === PRV_M && (this.mstatus & MSTATUS_MPRV) !== 0) return (this.mstatus >> MSTATUS_MPP_SHIFT) & 3;
    return this.priv;
  }

  private fault(acc: number, page: boolean, lo: number, hi: number): never {
    const cause = page
      ? acc === ACC_READ
        ? CAUSE_LOAD_PAGE_FAULT
        : acc === ACC_WRITE
          ? CAUSE_STORE_PAGE_FAULT
          : CAUSE_FETCH_PAGE_FAULT
      : acc === ACC_READ
        ? CAUSE_LOAD_ACCESS
        : acc === ACC_WRITE
          ? CAUSE_STORE_ACCESS
          : CAUSE_FETCH_ACCESS;
    return this.raise(cause, toU64(lo, hi));
  }

  /** Whether the last translate() result may be cached in a TLB (whole page uniformly allowed by PMP). */
  private lastCacheable = false;

  /**
   * Translate a virtual address (halves) for an access of kind `acc`; checks
   * page permissions and PMP for the first byte's page. Returns the physical
   * address; raises a page or access fault otherwise.
   */
  translate(lo: number, hi: number, acc: number, size = 1): number {
    const priv = acc === ACC_EXEC ? this.priv : this.dataPriv();
    let pa: number;
    if (priv === PRV_M || this.satpMode === 0) {
      if (hi < 0 || hi >= 0x200000) this.fault(acc, false, lo, hi);
      pa = hi * TWO32 + (lo >>> 0);
    } else {
      pa = this.walk(lo, hi, acc, priv);
    }
    if (!this.pmp.check(pa, size, priv, acc)) this.fault(acc, false, lo, hi);
    this.lastCacheable = this.pmp.pageAllowed(pa - (pa % 4096), priv, acc);
    return pa;
  }

  private physLoad64(pa: number): boolean {
    if (!this.pmp.check(pa, 8, PRV_S, ACC_READ)) return false;
    if (this.mem.load(pa, 8, this.attrs) !== MEMTX_OK) return false;
    this.tLo = this.mem.valLo | 0;
    this.tHi = this.mem.valHi | 0;
    return true;
  }

  private walk(lo: number, hi: number, acc: number, priv: number): number {
    const levels = this.satpMode === 8 ? 3 : 4;
    const vaBits = levels === 3 ? 39 : 48;
    const top = hi >> (vaBits - 1 - 32);
    if (top !== 0 && top !== -1) this.fault(acc, true, lo, hi);
    let a = this.satpPpnAddr;
    const mxr = (this.mstatus & MSTATUS_MXR) !== 0;
    const sum = (this.mstatus & MSTATUS_SUM) !== 0;
    for (let level = levels - 1; level >= 0; level--) {
      let vpn: number;
      if (level === 0) vpn = (lo >>> 12) & 511;
      else if (level === 1) vpn = (lo >>> 21) & 511;
      else if (level === 2) vpn = ((lo >>> 30) | (hi << 2)) & 511;
      else vpn = (hi >>> 7) & 511;
      const pteAddr = a + vpn * 8;
      if (!this.physLoad64(pteAddr)) this.fault(acc, false, lo, hi);
      let pLo = this.tLo;
      const pHi = this.tHi;
      if ((pLo & 1) === 0 || (pLo & 6) === 4) this.fault(acc, true, lo, hi);
      if (pHi >>> 22 !== 0) this.fault(acc, true, lo, hi); // N, PBMT, reserved bits: not implemented
      const ppn = (pHi & 0x3fffff) * 4194304 + (pLo >>> 10);
      if ((pLo & 0xa) === 0) {
        // pointer to the next level
        if ((pLo & 0xd0) !== 0) this.fault(acc, true, lo, hi); // D, A, U must be clear on non-leaf PTEs
        a = ppn * 4096;
        continue;
      }
      // leaf
      const pages = 2 ** (9 * level);
      if (ppn % pages !== 0) this.fault(acc, true, lo, hi);
      const u = (pLo & 0x10) !== 0;
      if (priv === PRV_U ? !u : u && (acc === ACC_EXEC || !sum)) this.fault(acc, true, lo, hi);
      const ok =
        acc === ACC_READ
          ? (pLo & 2) !== 0 || (mxr && (pLo & 8) !== 0)
          : acc === ACC_WRITE
            ? (pLo & 4) !== 0
            : (pLo & 8) !== 0;
      if (!ok) this.fault(acc, true, lo, hi);
      const need = acc === ACC_WRITE ? 0xc0 : 0x40;
      if ((pLo & need) !== need) {
        pLo |= need;
        if (!this.pmp.check(pteAddr, 8, PRV_S, ACC_WRITE)) this.fault(acc, false, lo, hi);
        if (this.mem.store(pteAddr, 4, pLo, 0, this.attrs) !== MEMTX_OK) this.fault(acc, false, lo, hi);
      }
      let offset: number;
      if (level === 0) offset = lo & 0xfff;
      else if (level === 1) offset = lo & 0x1fffff;
      else if (level === 2) offset = lo & 0x3fffffff;
      else offset = (hi & 0x7f) * TWO32 + (lo >>> 0);
      return ppn * 4096 + offset;
    }
    return this.fault(acc, true, lo, hi);
  }

  /** Fill the TLB of kind acc for the page of (lo, hi) -> pa if it is cacheable RAM. */
  private fill(lo: number, hi: number, pa: number, acc: number): boolean {
    if (!this.lastCacheable) return false;
    if (this.debug !== null && acc !== ACC_EXEC) return false; // data accesses must reach onDataAccess
    const page = pa - (pa % 4096);
    const rp = this.mem.ramPtr(page, 4096, acc === ACC_WRITE);
    if (rp === null) return false;
    const at = rp.bytes.byteOffset + rp.offset;
    const v = this.viewsOf(rp.bytes, at);
    // Pages never straddle a window (RAM blocks are page aligned in their buffers), so page offsets fit int32.
    if (at - v.base + 4096 > v.dv.byteLength) return false;
    const off = at - v.base;
    const idx = (lo >>> 12) & TLB_MASK;
    if (acc === ACC_WRITE) {
      this.wTagLo[idx] = lo >>> 12;
      this.wTagHi[idx] = hi;
      this.wOff[idx] = off;
      this.wDv[idx] = v.dv;
    } else if (acc === ACC_READ) {
      this.rTagLo[idx] = lo >>> 12;
      this.rTagHi[idx] = hi;
      this.rOff[idx] = off;
      this.rDv[idx] = v.dv;
    } else {
      this.xTagLo[idx] = lo >>> 12;
      this.xTagHi[idx] = hi;
      this.xOff[idx] = off;
      this.xDv[idx] = v.dv;
      this.fetchBase = hi * TWO32 + ((lo & ~0xfff) >>> 0);
      this.fetchOff = off;
      this.fetchDv = v.dv;
    }
    return true;
  }

  /** Fetch the (possibly compressed) instruction at pc when it is not in the current fetch page. */
  private fetchSlow(pc: number): number {
    const lo = pc | 0;
    const hi = Math.floor(pc / TWO32) | 0;
    const vpn = lo >>> 12;
    const idx = vpn & TLB_MASK;
    const po = lo & 0xfff;
    if (this.xTagLo[idx] === vpn && this.xTagHi[idx] === hi && po <= 4092) {
      this.fetchBase = hi * TWO32 + ((lo & ~0xfff) >>> 0);
      this.fetchOff = this.xOff[idx]!;
      this.fetchDv = this.xDv[idx]!;
      return this.fetchDv.getInt32(this.fetchOff + po, true);
    }
    const pa = this.translate(lo, hi, ACC_EXEC, 2);
    if (this.mem.epoch !== this.epoch) this.flushTlb();
    let low: number;
    if (this.fill(lo, hi, pa, ACC_EXEC)) {
      low = this.fetchDv.getUint16(this.fetchOff + (lo & 0xfff), true);
    } else {
      if (this.mem.load(pa, 2, this.attrs) !== MEMTX_OK) this.fault(ACC_EXEC, false, lo, hi);
      low = this.mem.valLo & 0xffff;
    }
    if ((low & 3) !== 3) return low;
    // A 32-bit instruction: its upper half may sit on the next page.
    const s2 = (lo >>> 0) + 2;
    const lo2 = s2 | 0;
    const hi2 = (hi + (s2 > 0xffffffff ? 1 : 0)) | 0;
    let pa2: number;
    if ((lo2 & 0xfff) !== 0) pa2 = pa + 2;
    else pa2 = this.translate(lo2, hi2, ACC_EXEC, 2);
    if (this.mem.load(pa2, 2, this.attrs) !== MEMTX_OK) this.fault(ACC_EXEC, false, lo2, hi2);
    return (low | (this.mem.valLo << 16)) | 0;
  }

  /** Load of 1 << (f3 & 3) bytes at (lo, hi), extended per f3, into tLo/tHi. */
  private loadSlow(lo: number, hi: number, f3: number): void {
    const size = LOAD_SIZE[f3]!;
    this.loadRaw(lo, hi, size);
    let vlo = this.tLo;
    let vhi = this.tHi;
    switch (f3) {
      case 0:
        vlo = (vlo << 24) >> 24;
        vhi = vlo >> 31;
        break;
      case 1:
        vlo = (vlo << 16) >> 16;
        vhi = vlo >> 31;
        break;
      case 2:
        vhi = vlo >> 31;
        break;
      case 3:
        break;
      default:
        vhi = 0;
        break;
    }
    this.tLo = vlo;
    this.tHi = vhi;
  }

  /** Raw little-endian load into tLo/tHi (unextended); handles page-crossing and MMIO. */
  loadRaw(lo: number, hi: number, size: number): void {
    if (this.debug !== null && this.debug.onDataAccess(toU64(lo, hi), size, false)) this.requestStop();
    if ((lo & 0xfff) + size > 4096) {
      // Crosses a page: byte by byte (misaligned accesses are emulated, as QEMU does).
      let vlo = 0;
      let vhi = 0;
      for (let i = size - 1; i >= 0; i--) {
        const s = (lo >>> 0) + i;
        this.loadRaw(s | 0, (hi + (s > 0xffffffff ? 1 : 0)) | 0, 1);
        const b = this.tLo & 0xff;
        if (i >= 4) vhi |= b << (8 * (i - 4));
        else vlo |= b << (8 * i);
      }
      this.tLo = vlo;
      this.tHi = vhi;
      return;
    }
    const vpn = lo >>> 12;
    const ii = vpn & TLB_MASK;
    let pa: number;
    let ram = this.rTagLo[ii] === vpn && this.rTagHi[ii] === hi;
    if (ram) pa = 0;
    else if (this.rioTagLo[ii] === vpn && this.rioTagHi[ii] === hi) pa = this.rioPa[ii]! + (lo & 0xfff);
    else {
      pa = this.translate(lo, hi, ACC_READ, size);
      ram = this.fill(lo, hi, pa, ACC_READ);
      if (!ram && this.lastCacheable) {
        this.rioTagLo[ii] = vpn;
        this.rioTagHi[ii] = hi;
        this.rioPa[ii] = pa - (lo & 0xfff);
      }
    }
    if (ram) {
      const dv = this.rDv[ii]!;
      const a = this.rOff[ii]! + (lo & 0xfff);
      this.tLo = size === 1 ? dv.getUint8(a) : size === 2 ? dv.getUint16(a, true) : dv.getInt32(a, true);
      this.tHi = size === 8 ? dv.getInt32(a + 4, true) : 0;
      return;
    }
    const r = this.mem.load(pa, size, this.attrs);
    if (this.mem.epoch !== this.epoch) this.flushTlb();
    if (r !== MEMTX_OK) this.fault(ACC_READ, false, lo, hi);
    this.tLo = this.mem.valLo | 0;
    this.tHi = size === 8 ? this.mem.valHi | 0 : 0;
  }

  /** Store of `size` bytes; handles page-crossing and MMIO. */
  storeSlow(lo: number, hi: number, size: number, vlo: number, vhi: number): void {
    if (this.debug !== null && this.debug.onDataAccess(toU64(lo, hi), size, true)) this.requestStop();
    if ((lo & 0xfff) + size > 4096) {
      // Check every byte's translation first so a fault leaves memory untouched.
      for (let i = 0; i < size; i++) {
        const s = (lo >>> 0) + i;
        this.translate(s | 0, (hi + (s > 0xffffffff ? 1 : 0)) | 0, ACC_WRITE, 1);
      }
      for (let i = 0; i < size; i++) {
        const s = (lo >>> 0) + i;
        const b = i >= 4 ? (vhi >>> (8 * (i - 4))) & 0xff : (vlo >>> (8 * i)) & 0xff;
        this.storeSlow(s | 0, (hi + (s > 0xffffffff ? 1 : 0)) | 0, 1, b, 0);
      }
      return;
    }
    const vpn = lo >>> 12;
    const ii = vpn & TLB_MASK;
    let pa: number;
    let ram = this.wTagLo[ii] === vpn && this.wTagHi[ii] === hi;
    if (ram) pa = 0;
    else if (this.wioTagLo[ii] === vpn && this.wioTagHi[ii] === hi) pa = this.wioPa[ii]! + (lo & 0xfff);
    else {
      pa = this.translate(lo, hi, ACC_WRITE, size);
      ram = this.fill(lo, hi, pa, ACC_WRITE);
      if (!ram && this.lastCacheable) {
        this.wioTagLo[ii] = vpn;
        this.wioTagHi[ii] = hi;
        this.wioPa[ii] = pa - (lo & 0xfff);
      }
    }
    if (ram) {
      const dv = this.wDv[ii]!;
      const a = this.wOff[ii]! + (lo & 0xfff);
      if (size === 1) dv.setUint8(a, vlo & 0xff);
      else if (size === 2) dv.setUint16(a, vlo & 0xffff, true);
      else {
        dv.setInt32(a, vlo, true);
        if (size === 8) dv.setInt32(a + 4, vhi, true);
      }
      return;
    }
    const r = this.mem.store(pa, size, vlo >>> 0, vhi >>> 0, this.attrs);
    if (this.mem.epoch !== this.epoch) this.flushTlb();
    if (r !== MEMTX_OK) this.fault(ACC_WRITE, false, lo, hi);
  }

  // ------------------------------------------------------------------ A extension

  private execAmo(insn: number, ilen: number): void {
    const f3 = (insn >> 12) & 7;
    const f5 = insn >>> 27;
    if (f3 !== 2 && f3 !== 3) this.illegalInsn(insn, ilen);
    const isD = f3 === 3;
    const size = isD ? 8 : 4;
    const rd = (insn >> 7) & 31;
    const rs1 = (insn >> 15) & 31;
    const rs2 = (insn >> 20) & 31;
    const lo = this.xlo[rs1]!;
    const hi = this.xhi[rs1]!;
    const misaligned = (lo & (size - 1)) !== 0;
    if (this.debug !== null && this.debug.onDataAccess(toU64(lo, hi), size, f5 !== 2)) this.requestStop();
    if (f5 === 2) {
      // LR
      if (rs2 !== 0) this.illegalInsn(insn, ilen);
      if (misaligned) this.raise(CAUSE_MISALIGNED_LOAD, toU64(lo, hi));
      const pa = this.translate(lo, hi, ACC_READ, size);
      this.physRead(pa, size, lo, hi, ACC_READ);
      this.resAddr = pa;
      this.resLo = this.tLo;
      this.resHi = this.tHi;
      this.setAmoResult(rd, isD);
      return;
    }
    const known = f5 === 3 || f5 === 1 || f5 === 0 || f5 === 4 || f5 === 0xc || f5 === 8 || f5 === 0x10 || f5 === 0x14 || f5 === 0x18 || f5 === 0x1c;
    if (!known) this.illegalInsn(insn, ilen);
    if (misaligned) this.raise(CAUSE_MISALIGNED_STORE, toU64(lo, hi));
    const pa = this.translate(lo, hi, ACC_WRITE, size);
    const blo = this.xlo[rs2]!;
    const bhi = this.xhi[rs2]!;
    if (f5 === 3) {
      // SC: succeeds if the reservation is ours and memory still holds the value LR saw.
      let ok = false;
      if (this.resAddr === pa) ok = this.physCas(pa, size, this.resLo, this.resHi, blo, bhi, lo, hi);
      this.resAddr = -1;
      if (rd !== 0) {
        this.xlo[rd] = ok ? 0 : 1;
        this.xhi[rd] = 0;
      }
      return;
    }
    // Read-modify-write as a compare-and-exchange loop, so it stays atomic on shared RAM.
    for (;;) {
      this.physRead(pa, size, lo, hi, ACC_WRITE);
      const olo = this.tLo;
      const ohi = isD ? this.tHi : olo >> 31;
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
      if (this.physCas(pa, size, olo, this.tHi, nlo, nhi, lo, hi)) {
        if (rd !== 0) {
          this.xlo[rd] = olo;
          this.xhi[rd] = ohi;
        }
        return;
      }
    }
  }

  private setAmoResult(rd: number, isD: boolean): void {
    if (rd === 0) return;
    this.xlo[rd] = this.tLo;
    this.xhi[rd] = isD ? this.tHi : this.tLo >> 31;
  }

  /** Physical read of an aligned 4/8-byte word into tLo/tHi (RAM directly, else dispatch). */
  private physRead(pa: number, size: number, lo: number, hi: number, acc: number): void {
    const rp = this.mem.ramPtr(pa, size, acc === ACC_WRITE);
    if (rp !== null) {
      const at = rp.bytes.byteOffset + rp.offset;
      const v = this.viewsOf(rp.bytes, at);
      const a = at - v.base;
      this.tLo = Atomics.load(v.i32, a >> 2);
      this.tHi = size === 8 ? Atomics.load(v.i32, (a >> 2) + 1) : 0;
      return;
    }
    if (this.mem.load(pa, size, this.attrs) !== MEMTX_OK) this.fault(acc, false, lo, hi);
    this.tLo = this.mem.valLo | 0;
    this.tHi = size === 8 ? this.mem.valHi | 0 : 0;
  }

  /** Compare-and-exchange on RAM (Atomics); plain read-check-write on MMIO. */
  private physCas(pa: number, size: number, elo: number, ehi: number, nlo: number, nhi: number, lo: number, hi: number): boolean {
    const rp = this.mem.ramPtr(pa, size, true);
    if (rp !== null) {
      const at = rp.bytes.byteOffset + rp.offset;
      const v = this.viewsOf(rp.bytes, at);
      const a = at - v.base;
      if (size === 4) return Atomics.compareExchange(v.i32, a >> 2, elo, nlo) === elo;
      const i64 = v.i64;
      const exp = BigInt.asIntN(64, toU64(elo, ehi));
      return Atomics.compareExchange(i64, a >> 3, exp, BigInt.asIntN(64, toU64(nlo, nhi))) === exp;
    }
    if (this.mem.load(pa, size, this.attrs) !== MEMTX_OK) this.fault(ACC_WRITE, false, lo, hi);
    if ((this.mem.valLo | 0) !== elo || (size === 8 && (this.mem.valHi | 0) !== ehi)) return false;
    if (this.mem.store(pa, size, nlo >>> 0, nhi >>> 0, this.attrs) !== MEMTX_OK) this.fault(ACC_WRITE, false, lo, hi);
    return true;
  }
}

/** A view of one window of a RAM buffer; TLB offsets and Atomics indices are relative to `base`. */
interface RamWindow {
  readonly base: number;
  readonly dv: DataView;
  readonly i32: Int32Array;
  readonly i64: BigInt64Array;
}

/** 1 GiB: offsets within a window (plus a page) stay below 2^31. */
const RAM_WINDOW = 2 ** 30;

/** High 32 bits of the unsigned product of two 32-bit values. */
function mulhu32(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const lo = a0 * b0;
  const mid1 = a1 * b0;
  const mid2 = a0 * b1;
  const carry = ((lo >>> 16) + (mid1 & 0xffff) + (mid2 & 0xffff)) >>> 16;
  return (a1 * b1 + (mid1 >>> 16) + (mid2 >>> 16) + carry) | 0;
}
