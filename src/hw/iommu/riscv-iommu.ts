/**
 * The RISC-V IOMMU (spec 1.0) as a platform device: QEMU's `riscv-iommu-sys`
 * on `-machine virt,iommu-sys=on`. Register file, device directory, first
 * stage translation (riscv-iommu-space.ts), the command queue and the fault
 * queue, wired interrupts.
 *
 * The barrier: IOTINVAL and IODIR invalidations flush the IOTLB at once and
 * return completions (src/dma/iommu.ts) that resolve only when every DMA
 * mapping obtained through the old translations is unmapped. IOFENCE.C does
 * not complete — the command-queue head does not move past it, its completion
 * write is not made and its interrupt is not raised — until every
 * invalidation queued before it has completed. A mapping held past the revoke
 * timeout is revoked (its write-back is dropped and reported as a fault), so a
 * fence always completes.
 *
 * Work per event-loop turn is bounded: commands are processed from a bottom
 * half, at most CMDS_PER_TURN at a time.
 */
import { hostLog } from '../../host/log.js';
import type { AddressSpace } from '../../memory/address-space.js';
import { MemoryRegion } from '../../memory/region.js';
import { MEMTX_OK, memTxAttrs, type MemTxAttrs } from '../../memory/types.js';
import { ReentrancyGuard, type DeviceOwner } from '../../memory/owner.js';
import type { InvalidationCompletion } from '../../dma/iommu.js';
import type { BottomHalf, Scheduler } from '../../sync/work.js';
import type { IrqLine } from '../irq.js';
import * as B from './riscv-iommu-bits.js';
import { IOVA_SPACE, RiscvIommuSpace, type RiscvIommuHost } from './riscv-iommu-space.js';

export interface RiscvIommuOptions {
  name?: string;
  /** System address space: tables and queues live here, translated DMA goes here. */
  sysAs: AddressSpace;
  /** Wired interrupt lines, vectors 0..3 (civ, fiv, pmiv, piv are mapped onto them by icvec). */
  irqs: readonly IrqLine[];
  scheduler: Scheduler;
  /** How long an invalidation waits for in-flight DMA before revoking it (ns; default 1 s). */
  revokeTimeoutNs?: number;
  log?: (line: string) => void;
}

/** Commands processed per event-loop turn before yielding. */
export const CMDS_PER_TURN = 256;
/** Largest queue: 2^(LOG2SZ+1) entries with LOG2SZ <= 19 (1 Mi commands, 32 MiB of faults). */
const MAX_LOG2SZ = 19;

/** Counters the monitor and tests read. */
export interface RiscvIommuStats {
  commands: number;
  fences: number;
  fencesWaited: number;
  faultsRecorded: number;
  faultsDropped: number;
  illegalCommands: number;
}

export class RiscvIommu implements DeviceOwner, RiscvIommuHost {
  readonly name: string;
  readonly reentrancyGuard = new ReentrancyGuard();
  readonly regs: MemoryRegion;
  readonly stats: RiscvIommuStats = { commands: 0, fences: 0, fencesWaited: 0, faultsRecorded: 0, faultsDropped: 0, illegalCommands: 0 };
  private readonly sysAs: AddressSpace;
  private readonly irqs: readonly IrqLine[];
  private readonly irqLevel: boolean[] = [false, false, false, false];
  private readonly attrs: MemTxAttrs = memTxAttrs({ memoryOnly: true });
  private readonly bh: BottomHalf;
  private readonly log: (line: string) => void;
  private readonly spaces = new Map<number, RiscvIommuSpace>();
  private readonly revokeTimeoutNs: number;
  private readonly scheduler: Scheduler;

  // Register state; 64-bit registers as (lo, hi).
  private fctl = B.FCTL_WSI;
  private ddtpLo = 0;
  private ddtpHi = 0;
  private cqbLo = 0;
  private cqbHi = 0;
  private cqh = 0;
  private cqt = 0;
  private cqcsr = 0;
  private fqbLo = 0;
  private fqbHi = 0;
  private fqh = 0;
  private fqt = 0;
  private fqcsr = 0;
  private ipsr = 0;
  private icvec = 0;
  /** Invalidations issued since the last completed fence. */
  private outstanding: InvalidationCompletion[] = [];
  private fenceWaiting = false;

  constructor(opts: RiscvIommuOptions) {
    this.name = opts.name ?? 'riscv-iommu';
    this.sysAs = opts.sysAs;
    this.irqs = opts.irqs;
    this.scheduler = opts.scheduler;
    this.revokeTimeoutNs = opts.revokeTimeoutNs ?? 1e9;
    this.log = opts.log ?? hostLog;
    this.bh = opts.scheduler.newBottomHalf(() => this.processCommands(), this);
    this.regs = MemoryRegion.io(
      `${this.name}-regs`,
      B.REGS_SIZE,
      {
        read: (off) => this.read(off),
        write: (off, v) => this.write(off, v >>> 0),
        valid: { min: 4, max: 8 },
        impl: { min: 4, max: 4 },
      },
      { owner: this },
    );
  }

  // ---- what spaces see ----

  get ddtMode(): number {
    return this.ddtpLo & 0xf;
  }

  get ddtRoot(): number {
    return B.ppnField(this.ddtpLo, this.ddtpHi);
  }

  /**
   * The IOMMU region translating DMA of the requester `devId` (PCI: bus << 8 | devfn).
   * One space per requester, created on first use and kept for the machine's life.
   */
  spaceFor(devId: number): RiscvIommuSpace {
    let s = this.spaces.get(devId);
    if (!s) {
      s = new RiscvIommuSpace(devId, this, this.sysAs, {
        owner: this,
        scheduler: this.scheduler,
        revokeTimeoutNs: this.revokeTimeoutNs,
        log: this.log,
      });
      this.spaces.set(devId, s);
    }
    return s;
  }

  /** A DMA root for a bus-mastering function: a container holding its space's IOMMU region. */
  dmaRootFor(devId: number): MemoryRegion {
    const root = MemoryRegion.container(`riscv-iommu-dma-${devId.toString(16)}`, IOVA_SPACE);
    root.addSubregion(0, this.spaceFor(devId).region);
    return root;
  }

  // ---- registers ----

  private caps(hi: boolean): number {
    if (hi) return 56; // PAS = 56 bits
    return B.CAP_VERSION_1_0 | B.CAP_SV39 | B.CAP_SV48 | B.CAP_IGS_WSI;
  }

  private read(off: number): number {
    switch (off) {
      case B.REG_CAPABILITIES:
        return this.caps(false);
      case B.REG_CAPABILITIES + 4:
        return this.caps(true);
      case B.REG_FCTL:
        return this.fctl;
      case B.REG_DDTP:
        return this.ddtpLo >>> 0;
      case B.REG_DDTP + 4:
        return this.ddtpHi;
      case B.REG_CQB:
        return this.cqbLo >>> 0;
      case B.REG_CQB + 4:
        return this.cqbHi;
      case B.REG_CQH:
        return this.cqh;
      case B.REG_CQT:
        return this.cqt;
      case B.REG_FQB:
        return this.fqbLo >>> 0;
      case B.REG_FQB + 4:
        return this.fqbHi;
      case B.REG_FQH:
        return this.fqh;
      case B.REG_FQT:
        return this.fqt;
      case B.REG_CQCSR:
        return this.cqcsr >>> 0;
      case B.REG_FQCSR:
        return this.fqcsr >>> 0;
      case B.REG_IPSR:
        return this.ipsr;
      case B.REG_ICVEC:
        return this.icvec;
      default:
        // Page-request queue, performance counters, debug and MSI registers: not implemented, read zero.
        return 0;
    }
  }

  private write(off: number, v: number): void {
    switch (off) {
      case B.REG_FCTL:
        // BE is fixed (no END capability); WSI is the only interrupt mode (IGS = WSI); GXL needs a second stage.
        // Changing fctl is allowed only while the IOMMU is off and both queues are off (spec 5.4); otherwise ignored.
        return;
      case B.REG_DDTP:
        this.setDdtp(v, this.ddtpHi);
        return;
      case B.REG_DDTP + 4:
        this.setDdtp(this.ddtpLo, v);
        return;
      case B.REG_CQB:
        if ((this.cqcsr & B.QCSR_ON) === 0) [this.cqbLo, this.cqbHi] = queueBase(v, this.cqbHi);
        return;
      case B.REG_CQB + 4:
        if ((this.cqcsr & B.QCSR_ON) === 0) [this.cqbLo, this.cqbHi] = queueBase(this.cqbLo, v);
        return;
      case B.REG_CQT:
        this.cqt = v & this.mask(this.cqbLo);
        this.kick();
        return;
      case B.REG_FQB:
        if ((this.fqcsr & B.QCSR_ON) === 0) [this.fqbLo, this.fqbHi] = queueBase(v, this.fqbHi);
        return;
      case B.REG_FQB + 4:
        if ((this.fqcsr & B.QCSR_ON) === 0) [this.fqbLo, this.fqbHi] = queueBase(this.fqbLo, v);
        return;
      case B.REG_FQH:
        this.fqh = v & this.mask(this.fqbLo);
        return;
      case B.REG_CQCSR:
        this.writeCqcsr(v);
        return;
      case B.REG_FQCSR:
        this.writeFqcsr(v);
        return;
      case B.REG_IPSR:
        this.ipsr &= ~(v & (B.IPSR_CIP | B.IPSR_FIP));
        this.updateIrqs();
        return;
      case B.REG_ICVEC:
        // Four vectors are wired: each cause's vector field keeps its low two bits.
        this.icvec = v & 0x3333;
        this.updateIrqs();
        return;
      default:
        return;
    }
  }

  private setDdtp(lo: number, hi: number): void {
    const mode = lo & 0xf;
    // WARL: an unknown mode leaves the register unchanged; PPN is bits 53:10.
    if (mode > B.DDTP_MODE_3LVL) return;
    const prevMode = this.ddtpLo & 0xf;
    const prevRoot = this.ddtRoot;
    this.ddtpLo = (lo & 0xfffffc0f) >>> 0;
    this.ddtpHi = hi & 0x3fffff;
    if (mode !== prevMode || this.ddtRoot !== prevRoot) {
      // The directory changed under every device: nothing cached stays valid.
      for (const s of this.spaces.values()) {
        s.dropContext();
        this.outstanding.push(s.invalidateAll());
      }
    }
  }

  private mask(baseLo: number): number {
    const log2 = baseLo & 0x1f;
    return log2 >= 31 ? 0xffffffff : 2 ** (log2 + 1) - 1;
  }

  private writeCqcsr(v: number): void {
    const { csr, started, stopped } = queueCsrWrite(this.cqcsr, v, B.QCSR_MF | B.CQCSR_CMD_TO | B.CQCSR_CMD_ILL | B.CQCSR_FENCE_W_IP);
    if (started) this.cqh = 0;
    if (stopped) this.fenceWaiting = false;
    this.cqcsr = csr;
    this.updateIrqs();
    this.kick();
  }

  private writeFqcsr(v: number): void {
    const { csr, started } = queueCsrWrite(this.fqcsr, v, B.QCSR_MF | B.FQCSR_OF);
    if (started) this.fqt = 0;
    this.fqcsr = csr;
    this.updateIrqs();
  }

  private updateIrqs(): void {
    const want = [false, false, false, false];
    if ((this.ipsr & B.IPSR_CIP) !== 0 && (this.cqcsr & B.QCSR_IE) !== 0) want[this.icvec & 3] = true;
    if ((this.ipsr & B.IPSR_FIP) !== 0 && (this.fqcsr & B.QCSR_IE) !== 0) want[(this.icvec >>> 4) & 3] = true;
    for (let i = 0; i < 4; i++) {
      if (want[i] !== this.irqLevel[i]) {
        this.irqLevel[i] = want[i]!;
        this.irqs[i]?.set(want[i]!);
      }
    }
  }

  // ---- command queue ----

  private kick(): void {
    if (this.cqRunnable()) this.bh.schedule();
  }

  private cqRunnable(): boolean {
    const errs = B.QCSR_MF | B.CQCSR_CMD_ILL | B.CQCSR_CMD_TO;
    return (this.cqcsr & B.QCSR_ON) !== 0 && (this.cqcsr & errs) === 0 && this.cqh !== this.cqt && !this.fenceWaiting;
  }

  /** Process queued commands, at most CMDS_PER_TURN, then yield to the event loop. */
  private processCommands(): void {
    const base = B.ppnField(this.cqbLo, this.cqbHi);
    const mask = this.mask(this.cqbLo);
    for (let n = 0; n < CMDS_PER_TURN && this.cqRunnable(); n++) {
      const at = base + this.cqh * B.CQ_ENTRY_SIZE;
      if (base < 0 || !this.load(at)) {
        this.cqError(B.QCSR_MF, 'command queue read outside memory');
        return;
      }
      const d0lo = this.sysAs.valLo;
      const d0hi = this.sysAs.valHi;
      if (!this.load(at + 8)) {
        this.cqError(B.QCSR_MF, 'command queue read outside memory');
        return;
      }
      const d1lo = this.sysAs.valLo;
      const d1hi = this.sysAs.valHi;
      const r = this.execute(d0lo, d0hi, d1lo, d1hi);
      if (r === 'illegal') {
        this.stats.illegalCommands++;
        this.cqError(B.CQCSR_CMD_ILL, `illegal command 0x${d0hi.toString(16)}_${(d0lo >>> 0).toString(16)} at index ${this.cqh}`);
        return;
      }
      if (r === 'wait') return; // the fence resumes processing when its invalidations complete
      this.stats.commands++;
      this.cqh = (this.cqh + 1) & mask;
    }
    if (this.cqRunnable()) this.bh.schedule();
  }

  private cqError(bit: number, why: string): void {
    if ((this.cqcsr & bit) === 0) this.log(`${this.name}: ${why}; command processing stops until the guest clears the error`);
    this.cqcsr = (this.cqcsr | bit) >>> 0;
    this.ipsr |= B.IPSR_CIP;
    this.updateIrqs();
  }

  private load(addr: number): boolean {
    return addr >= 0 && addr < 2 ** 53 && this.sysAs.load(addr, 8, this.attrs) === MEMTX_OK;
  }

  private execute(d0lo: number, d0hi: number, d1lo: number, d1hi: number): 'done' | 'wait' | 'illegal' {
    const opcode = d0lo & 0x7f;
    const func = (d0lo >>> 7) & 7;
    switch (opcode) {
      case B.CMD_IOTINVAL: {
        if (func !== B.IOTINVAL_FUNC_VMA && func !== B.IOTINVAL_FUNC_GVMA) return 'illegal';
        // Reserved bits: dword0 11 and 63:60 (beyond GSCID), dword1 63:62 and 9:0.
        if ((d0lo & 0x800) !== 0 || (d1lo & 0x3ff) !== 0 || (d1hi & 0xc0000000) !== 0) return 'illegal';
        const av = (d0lo & B.IOTINVAL_AV) !== 0;
        const pscv = func === B.IOTINVAL_FUNC_VMA && (d0hi & B.IOTINVAL_HI_PSCV) !== 0;
        const gv = (d0hi & B.IOTINVAL_HI_GV) !== 0;
        const gscid = (d0hi >>> 12) & 0xffff;
        const pscid = d0lo >>> 12;
        // ADDR is dword1[61:10] = address[63:12].
        const addr = ((d1lo >>> 10) + (d1hi & 0x3fffffff) * 2 ** 22) * 4096;
        for (const s of this.spaces.values()) {
          // Without a second stage every context has GSCID 0.
          if (gv && gscid !== 0) continue;
          const ctx = s.context;
          if (pscv && ctx !== null && ctx.pscid !== pscid) continue;
          this.outstanding.push(av && addr < IOVA_SPACE ? s.invalidate(addr, 4096) : s.invalidateAll());
        }
        return 'done';
      }
      case B.CMD_IOFENCE: {
        if (func !== B.IOFENCE_FUNC_C) return 'illegal';
        if ((d0lo & 0xffffc000) !== 0) return 'illegal'; // dword0 bits 31:14 are reserved
        if (!this.fenceReady()) {
          this.waitForFence();
          return 'wait';
        }
        this.stats.fences++;
        this.outstanding = [];
        if ((d0lo & B.IOFENCE_AV) !== 0) {
          // dword1 holds ADDR[55:2] (the address shifted right by two).
          const addr = (d1lo >>> 0) * 4 + (d1hi & 0x3fffff) * 2 ** 34;
          if (!(addr < 2 ** 53) || this.sysAs.store(addr, 4, d0hi >>> 0, 0, this.attrs) !== MEMTX_OK) {
            this.cqError(B.QCSR_MF, `IOFENCE.C completion write to 0x${addr.toString(16)} failed`);
            return 'wait';
          }
        }
        if ((d0lo & B.IOFENCE_WSI) !== 0) {
          this.cqcsr = (this.cqcsr | B.CQCSR_FENCE_W_IP) >>> 0;
          this.ipsr |= B.IPSR_CIP;
          this.updateIrqs();
        }
        return 'done';
      }
      case B.CMD_IODIR: {
        if (func !== B.IODIR_FUNC_INVAL_DDT && func !== B.IODIR_FUNC_INVAL_PDT) return 'illegal';
        if (func === B.IODIR_FUNC_INVAL_PDT) return 'done'; // no process directories (PD8/17/20 not offered): nothing cached
        const dv = (d0hi & B.IODIR_HI_DV) !== 0;
        const did = d0hi >>> 8;
        for (const s of this.spaces.values()) {
          if (dv && s.devId !== did) continue;
          s.dropContext();
          this.outstanding.push(s.invalidateAll());
        }
        return 'done';
      }
      default:
        // ATS (no ATS capability) and unknown opcodes.
        return 'illegal';
    }
  }

  /** Whether every invalidation queued before the fence has completed (the barrier). */
  protected fenceReady(): boolean {
    return this.outstanding.every((c) => c.status !== 'pending');
  }

  private waitForFence(): void {
    if (this.fenceWaiting) return;
    this.fenceWaiting = true;
    this.stats.fencesWaited++;
    const pending = this.outstanding.filter((c) => c.status === 'pending').map((c) => c.done);
    void Promise.all(pending).then(() => {
      if (!this.fenceWaiting) return; // the queue was turned off meanwhile
      this.fenceWaiting = false;
      this.kick();
    });
  }

  // ---- fault queue ----

  reportFault(devId: number, cause: number, iova: number, write: boolean): void {
    if ((this.fqcsr & B.QCSR_ON) === 0 || (this.fqcsr & (B.QCSR_MF | B.FQCSR_OF)) !== 0) {
      this.stats.faultsDropped++;
      return;
    }
    const mask = this.mask(this.fqbLo);
    const next = (this.fqt + 1) & mask;
    if (next === this.fqh) {
      this.fqcsr = (this.fqcsr | B.FQCSR_OF) >>> 0;
      this.stats.faultsDropped++;
      this.ipsr |= B.IPSR_FIP;
      this.updateIrqs();
      return;
    }
    const base = B.ppnField(this.fqbLo, this.fqbHi);
    const at = base + this.fqt * B.FQ_RECORD_SIZE;
    const ttyp = write ? B.TTYP_UNTRANSLATED_WRITE : B.TTYP_UNTRANSLATED_READ;
    // hdr: CAUSE[11:0] PID[31:12]=0 | PV=0 PRIV=0 TTYP[39:34] DID[63:40].
    const hdrLo = cause & 0xfff;
    const hdrHi = ((ttyp & 0x3f) << 2) | ((devId & 0xffffff) << 8);
    const ivLo = iova % B.TWO32 >>> 0;
    const ivHi = Math.floor(iova / B.TWO32) >>> 0;
    const ok =
      base >= 0 &&
      this.store(at, hdrLo, hdrHi) &&
      this.store(at + 8, 0, 0) &&
      this.store(at + 16, ivLo, ivHi) &&
      this.store(at + 24, 0, 0);
    if (!ok) {
      this.fqcsr = (this.fqcsr | B.QCSR_MF) >>> 0;
      this.stats.faultsDropped++;
    } else {
      this.fqt = next;
      this.stats.faultsRecorded++;
    }
    this.ipsr |= B.IPSR_FIP;
    this.updateIrqs();
  }

  private store(addr: number, lo: number, hi: number): boolean {
    return addr < 2 ** 53 && this.sysAs.store(addr, 8, lo >>> 0, hi >>> 0, this.attrs) === MEMTX_OK;
  }

  /** Power-on state (machine reset): everything off, nothing cached. */
  reset(): void {
    this.ddtpLo = this.ddtpHi = 0;
    this.cqbLo = this.cqbHi = this.fqbLo = this.fqbHi = 0;
    this.cqh = this.cqt = this.fqh = this.fqt = 0;
    this.cqcsr = this.fqcsr = this.ipsr = this.icvec = 0;
    this.fctl = B.FCTL_WSI;
    this.fenceWaiting = false;
    this.outstanding = [];
    for (const s of this.spaces.values()) {
      s.dropContext();
      s.invalidateAll();
    }
    this.updateIrqs();
  }
}

/**
 * A write to cqcsr or fqcsr (the fields sit at the same places): `rw1c` bits
 * written as 1 are cleared, EN and IE are taken as written, and ON follows EN.
 * `started`: EN went 0 -> 1 (the queue's index resets); `stopped`: EN is 0.
 */
function queueCsrWrite(old: number, v: number, rw1c: number): { csr: number; started: boolean; stopped: boolean } {
  let csr = old & ~(v & rw1c);
  const wasOn = (csr & B.QCSR_EN) !== 0;
  const en = (v & B.QCSR_EN) !== 0;
  csr = (csr & ~(B.QCSR_EN | B.QCSR_IE)) | (v & (B.QCSR_EN | B.QCSR_IE));
  if (en && !wasOn) csr |= B.QCSR_ON;
  else if (!en) csr &= ~B.QCSR_ON;
  return { csr: csr >>> 0, started: en && !wasOn, stopped: !en };
}

/** A queue base write: LOG2SZ is WARL (clamped to the largest supported), PPN bits 53:10. */
function queueBase(lo: number, hi: number): [number, number] {
  let log2 = lo & 0x1f;
  if (log2 > MAX_LOG2SZ) log2 = MAX_LOG2SZ;
  return [((lo & 0xfffffc00) | log2) >>> 0, hi & 0x3fffff];
}
