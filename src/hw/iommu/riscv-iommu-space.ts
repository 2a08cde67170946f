/**
 * One device's view through the RISC-V IOMMU (the spec's "device context" in
 * use): an IOMMU region keyed by the requester's device_id. Translation is
 * the spec's process: locate the device context in the device directory
 * table (1-3 levels, base format), check it, then walk the first-stage
 * (Sv39/Sv48) page table named by its fsc.iosatp. The generic Iommu base gives
 * it the IOTLB and the invalidation barrier of docs/dma.md; faults become
 * records in the guest's fault queue (see RiscvIommu.reportFault).
 */
import { AddressSpace } from '../../memory/address-space.js';
import { MEMTX_OK, memTxAttrs, type MemTxAttrs } from '../../memory/types.js';
import {
  IOMMU_NONE,
  IOMMU_RO,
  IOMMU_RW,
  IOMMU_WO,
  Iommu,
  type IOMMUAccessFlags,
  type IOMMUTLBEntry,
  type IommuFaultReason,
  type IommuOptions,
} from '../../dma/iommu.js';
import {
  ATP_MODE_BARE,
  ATP_MODE_SV39,
  ATP_MODE_SV48,
  CAUSE,
  DC_SIZE,
  DC_TC_SUPPORTED,
  DC_TC_V,
  DDTP_MODE_1LVL,
  DDTP_MODE_3LVL,
  DDTP_MODE_BARE,
  DDTP_MODE_OFF,
  PTE_A,
  PTE_D,
  PTE_R,
  PTE_U,
  PTE_V,
  PTE_W,
  PTE_X,
  atpPpn,
  ppnField,
} from './riscv-iommu-bits.js';

/** What a space needs from its IOMMU: the directory pointer and where faults go. */
export interface RiscvIommuHost {
  /** ddtp: mode and root table address (-1 when the pointer lies past 2^53). */
  readonly ddtMode: number;
  readonly ddtRoot: number;
  reportFault(devId: number, cause: number, iova: number, write: boolean): void;
}

/** A decoded, checked device context (cached until IODIR.INVAL_DDT). */
export interface DeviceContext {
  readonly pscid: number;
  readonly fscMode: number;
  readonly root: number;
}

const PAGE = 4096;
const GIB = 2 ** 30;
/** Input address space of every space: Sv48 (the widest mode offered). */
export const IOVA_SPACE = 2 ** 48;

/** Device-id bit split of the base-format directory: DDI[0] 7 bits, DDI[1] 9, DDI[2] 8. */
const DDI_SHIFT = [0, 7, 16];
const DDI_BITS = [7, 9, 8];

export class RiscvIommuSpace extends Iommu {
  private ctx: DeviceContext | null = null;
  /** RISC-V cause of the last walk that returned IOMMU_NONE. */
  private cause: number = CAUSE.readPageFault;
  private readonly attrs: MemTxAttrs = memTxAttrs({ memoryOnly: true });

  constructor(
    readonly devId: number,
    private readonly host: RiscvIommuHost,
    /** Where tables live and translated addresses go (the system address space). */
    private readonly sysAs: AddressSpace,
    opts: IommuOptions,
  ) {
    super(`riscv-iommu-dev${devId.toString(16)}`, sysAs, { ...opts, size: IOVA_SPACE });
  }

  /** The context cached for this device (for tests and the monitor). */
  get context(): DeviceContext | null {
    return this.ctx;
  }

  /** IODIR.INVAL_DDT: forget the cached context; translations are re-derived (and invalidated by the caller). */
  dropContext(): void {
    this.ctx = null;
  }

  override translate(addr: number, flag: IOMMUAccessFlags, iommuIdx: number): IOMMUTLBEntry {
    void iommuIdx;
    return this.translateFor(addr, flag, this.devId);
  }

  override recordFault(iova: number, access: IOMMUAccessFlags, reason: IommuFaultReason, requesterId: number): void {
    super.recordFault(iova, access, reason, requesterId);
    const write = (access & IOMMU_WO) !== 0;
    let cause: number;
    if (reason === 'permission') cause = write ? CAUSE.writePageFault : CAUSE.readPageFault;
    else if (reason === 'revoked') cause = CAUSE.writeAccessFault;
    else cause = this.cause;
    // Page and access faults name the access type; directory faults are the same for both.
    if (cause === CAUSE.readPageFault && write) cause = CAUSE.writePageFault;
    if (cause === CAUSE.readAccessFault && write) cause = CAUSE.writeAccessFault;
    this.host.reportFault(this.devId, cause, iova, write);
  }

  private fail(iova: number, cause: number): IOMMUTLBEntry {
    this.cause = cause;
    this.walkFault = cause >= 256 || cause === CAUSE.readAccessFault ? 'walk-error' : 'not-present';
    return this.noEntry(iova >= 0 && iova < 2 ** 53 ? iova : 0);
  }

  private load64(addr: number): boolean {
    return addr >= 0 && addr % 8 === 0 && this.sysAs.load(addr, 8, this.attrs) === MEMTX_OK;
  }

  /** Find and check the device context (spec 2.3 steps 1-8), or return a fault cause. */
  private loadContext(): DeviceContext | number {
    const mode = this.host.ddtMode;
    const levels = mode - DDTP_MODE_1LVL + 1; // 1..3
    const id = this.devId;
    // A device_id wider than the directory's levels cover is refused.
    let width = 0;
    for (let i = 0; i < levels; i++) width += DDI_BITS[i]!;
    if (id >= 2 ** width) return CAUSE.ttypBlocked;
    let table = this.host.ddtRoot;
    if (table < 0) return CAUSE.ddtLoadFault;
    for (let level = levels - 1; level > 0; level--) {
      const idx = Math.floor(id / 2 ** DDI_SHIFT[level]!) % 2 ** DDI_BITS[level]!;
      if (!this.load64(table + idx * 8)) return CAUSE.ddtLoadFault;
      const lo = this.sysAs.valLo;
      const hi = this.sysAs.valHi;
      if ((lo & 1) === 0) return CAUSE.ddtInvalid;
      // Reserved bits (9:1 and 63:54) must be zero.
      if ((lo & 0x3fe) !== 0 || hi >>> 22 !== 0) return CAUSE.ddtMisconfigured;
      table = ppnField(lo, hi);
      if (table < 0) return CAUSE.ddtLoadFault;
    }
    const dc = table + (id % 2 ** DDI_BITS[0]!) * DC_SIZE;
    if (!this.load64(dc)) return CAUSE.ddtLoadFault;
    const tcLo = this.sysAs.valLo;
    const tcHi = this.sysAs.valHi;
    if ((tcLo & DC_TC_V) === 0) return CAUSE.ddtInvalid;
    if ((tcLo & ~DC_TC_SUPPORTED) !== 0 || tcHi !== 0) return CAUSE.ddtMisconfigured;
    if (!this.load64(dc + 8)) return CAUSE.ddtLoadFault;
    // No second stage is offered: iohgatp must be Bare (all zero).
    if (this.sysAs.valLo !== 0 || this.sysAs.valHi !== 0) return CAUSE.ddtMisconfigured;
    if (!this.load64(dc + 16)) return CAUSE.ddtLoadFault;
    const taLo = this.sysAs.valLo;
    if ((taLo & 0xfff) !== 0 || this.sysAs.valHi !== 0) return CAUSE.ddtMisconfigured;
    const pscid = taLo >>> 12;
    if (!this.load64(dc + 24)) return CAUSE.ddtLoadFault;
    const fscLo = this.sysAs.valLo;
    const fscHi = this.sysAs.valHi;
    const fscMode = fscHi >>> 28;
    if (fscMode !== ATP_MODE_BARE && fscMode !== ATP_MODE_SV39 && fscMode !== ATP_MODE_SV48) return CAUSE.ddtMisconfigured;
    // Reserved bits 59:44 of iosatp.
    if ((fscHi & 0x0ffff000) !== 0) return CAUSE.ddtMisconfigured;
    const root = fscMode === ATP_MODE_BARE ? 0 : atpPpn(fscLo, fscHi);
    if (root < 0) return CAUSE.ddtMisconfigured;
    return { pscid, fscMode, root };
  }

  protected walk(iova: number): IOMMUTLBEntry {
    const mode = this.host.ddtMode;
    if (mode === DDTP_MODE_OFF) return this.fail(iova, CAUSE.dmaDisabled);
    if (mode === DDTP_MODE_BARE) return this.identity(iova);
    if (mode < DDTP_MODE_1LVL || mode > DDTP_MODE_3LVL) return this.fail(iova, CAUSE.dmaDisabled);
    let ctx = this.ctx;
    if (ctx === null) {
      const r = this.loadContext();
      if (typeof r === 'number') return this.fail(iova, r);
      ctx = this.ctx = r;
    }
    if (ctx.fscMode === ATP_MODE_BARE) return this.identity(iova);
    return this.walkFirstStage(iova, ctx);
  }

  private identity(iova: number): IOMMUTLBEntry {
    const base = iova - (iova % GIB);
    return { targetAs: this.targetAs, iova: base, translatedAddr: base, addrMask: GIB - 1, perm: IOMMU_RW };
  }

  /** Sv39/Sv48 as the privileged spec defines them, for a U-mode request without process_id. */
  private walkFirstStage(iova: number, ctx: DeviceContext): IOMMUTLBEntry {
    const levels = ctx.fscMode === ATP_MODE_SV39 ? 3 : 4;
    const vaBits = 12 + 9 * levels;
    // Addresses must be sign-extended from bit vaBits-1; the region only reaches 2^48, so the upper half never arrives.
    if (!(iova >= 0 && iova < 2 ** (vaBits - 1))) return this.fail(iova, CAUSE.readPageFault);
    let table = ctx.root;
    for (let level = levels - 1; level >= 0; level--) {
      const shift = 12 + 9 * level;
      const idx = Math.floor(iova / 2 ** shift) % 512;
      if (!this.load64(table + idx * 8)) return this.fail(iova, CAUSE.readAccessFault);
      const lo = this.sysAs.valLo;
      const hi = this.sysAs.valHi;
      if ((lo & PTE_V) === 0 || ((lo & PTE_R) === 0 && (lo & PTE_W) !== 0)) return this.fail(iova, CAUSE.readPageFault);
      // N, PBMT and reserved bits: no Svnapot/Svpbmt offered.
      if (hi >>> 22 !== 0) return this.fail(iova, CAUSE.readPageFault);
      const next = ppnField(lo, hi);
      if (next < 0) return this.fail(iova, CAUSE.readAccessFault);
      if ((lo & (PTE_R | PTE_X)) === 0) {
        if (level === 0 || (lo & (PTE_A | PTE_D | PTE_U)) !== 0) return this.fail(iova, CAUSE.readPageFault);
        table = next;
        continue;
      }
      const size = 2 ** shift;
      if (next % size !== 0) return this.fail(iova, CAUSE.readPageFault); // misaligned superpage
      // No hardware A/D update: A clear faults every access, D clear faults writes.
      if ((lo & PTE_U) === 0 || (lo & PTE_A) === 0) return this.fail(iova, CAUSE.readPageFault);
      const perm = ((lo & PTE_R) !== 0 ? IOMMU_RO : 0) | ((lo & PTE_W) !== 0 && (lo & PTE_D) !== 0 ? IOMMU_WO : 0);
      if (perm === IOMMU_NONE) return this.fail(iova, CAUSE.readPageFault);
      const base = iova - (iova % size);
      return { targetAs: this.targetAs, iova: base, translatedAddr: next, addrMask: size - 1, perm };
    }
    return this.fail(iova, CAUSE.readPageFault);
  }

  protected forEachMapping(start: number, end: number, fn: (e: IOMMUTLBEntry) => void): void {
    // Replay walks page by page over the range the notifier asks for, bounded to what is mapped.
    const last = Math.min(end, IOVA_SPACE - 1);
    const limit = 1 << 16; // pages: replay of a huge range is bounded, like a hardware walker's budget
    let n = 0;
    for (let a = start - (start % PAGE); a <= last && n < limit; n++) {
      const e = this.walk(a);
      if (e.perm !== IOMMU_NONE) {
        fn(e);
        a = e.iova + e.addrMask + 1;
      } else {
        a += PAGE;
      }
    }
  }
}
