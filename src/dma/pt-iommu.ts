/**
 * A simple page-table IOMMU for tests and the explorer (not a model of any
 * real IOMMU). Its tables live in guest memory:
 *
 * - 3 levels of 4 KiB tables, 512 little-endian 64-bit entries each; an IOVA
 *   below 2^39 indexes them with bits 38..30, 29..21 and 20..12.
 * - Entry bit 0 = valid, bit 1 = read, bit 2 = write. An entry with read or
 *   write set is a leaf (1 GiB at the top level, 2 MiB in the middle, 4 KiB at
 *   the bottom), otherwise it points to the next table. Bits 12..52 hold the
 *   physical address (of the next table or of the page), which a leaf must
 *   align to its page size.
 * - Modes: 'block' (every access faults; the reset state), 'bypass' (identity),
 *   'translate' (walk the tables at `root`).
 *
 * Like a hardware IOMMU it caches: after changing tables the guest (or test)
 * must call `invalidate`, whose completion is the barrier of iommu.ts.
 */
import type { AddressSpace } from '../memory/address-space.js';
import { MEMTX_OK, MEMTXATTRS_UNSPECIFIED, memTxAttrs, type MemTxAttrs } from '../memory/types.js';
import { MemoryRegion } from '../memory/region.js';
import type { DeviceOwner } from '../memory/owner.js';
import { DmaError } from './errors.js';
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
  type InvalidationCompletion,
} from './iommu.js';

/** The fault interrupt output (hw/irq.ts's PtIommuIrq has this shape; dma sits below hw). */
export interface PtIommuIrq {
  set(level: boolean): void;
}

export type PtIommuMode = 'block' | 'bypass' | 'translate';

export const PTE_V = 1;
export const PTE_R = 2;
export const PTE_W = 4;

const LEVELS = 3;
const TWO32 = 2 ** 32;
/** Page size at each level: level 0 is the bottom (4 KiB). */
const LEVEL_SIZE = [2 ** 12, 2 ** 21, 2 ** 30];
const IOVA_LIMIT = 2 ** 39;

/** Physical address held in an entry (bits 12..52). */
function pteAddr(lo: number, hi: number): number {
  return (lo >>> 12) * 4096 + (hi & 0x1fffff) * TWO32;
}

function indexAt(iova: number, level: number): number {
  return Math.floor(iova / LEVEL_SIZE[level]!) % 512;
}

/** Guest-visible registers (32-bit, little-endian) of `PtIommu.createRegisters`. */
export const PTI_REG_ID = 0x00;
export const PTI_REG_MODE = 0x04; // 0 block, 1 bypass, 2 translate; a write applies it (and invalidates all)
export const PTI_REG_ROOT_LO = 0x08;
export const PTI_REG_ROOT_HI = 0x0c;
export const PTI_REG_INV_ADDR_LO = 0x10;
export const PTI_REG_INV_ADDR_HI = 0x14;
export const PTI_REG_INV_LEN = 0x18; // bytes; 0 = everything
export const PTI_REG_INV_CMD = 0x1c; // write 1: invalidate [INV_ADDR, INV_ADDR + INV_LEN)
export const PTI_REG_INV_STATUS = 0x20; // 1 while any invalidation is pending; else 0 (complete) or 2 (last one revoked mappings)
export const PTI_REG_FAULT_COUNT = 0x24;
export const PTI_REG_FAULT_IOVA_LO = 0x28;
export const PTI_REG_FAULT_IOVA_HI = 0x2c;
export const PTI_REG_FAULT_INFO = 0x30; // reason | access << 8 | requester << 16 (last fault)
export const PTI_REG_FAULT_ACK = 0x34; // write anything: lower the fault interrupt
export const PTI_ID = 0x7074_0001;
export const PTI_REGS_SIZE = 0x100;

const MODES: readonly PtIommuMode[] = ['block', 'bypass', 'translate'];
const REASON_CODES: Readonly<Record<IommuFaultReason, number>> = { 'not-present': 1, permission: 2, 'walk-error': 3, revoked: 4 };

export class PtIommu extends Iommu {
  mode: PtIommuMode = 'block';
  /** Physical address of the top-level table. */
  root = 0;
  private readonly walkAttrs: MemTxAttrs;
  // Register state (createRegisters).
  private regRoot = 0;
  private invAddr = 0;
  private invLen = 0;
  private lastInv: InvalidationCompletion | null = null;
  private lastFaultIova = 0;
  private lastFaultInfo = 0;
  private faultIrq: PtIommuIrq | null = null;

  constructor(
    name: string,
    /** Where translated addresses go, and where the tables are read from. */
    targetAs: AddressSpace,
    opts: IommuOptions = {},
  ) {
    super(name, targetAs, { size: IOVA_LIMIT, ...opts });
    // Table walks are the IOMMU's own accesses, and may only read memory.
    this.walkAttrs = memTxAttrs({ memoryOnly: true });
  }

  /** Switch mode and/or root; everything cached is stale afterwards (returns the invalidation). */
  configure(mode: PtIommuMode, root = this.root): ReturnType<Iommu['invalidateAll']> {
    if (mode === 'translate' && (!Number.isInteger(root) || root < 0 || root % 4096 !== 0 || root >= 2 ** 53)) {
      throw new DmaError('bad-config', `IOMMU ${this.name}: root table address ${root} must be 4 KiB aligned`);
    }
    this.mode = mode;
    this.root = root;
    return this.invalidateAll();
  }

  override recordFault(iova: number, access: IOMMUAccessFlags, reason: IommuFaultReason, requesterId: number): void {
    super.recordFault(iova, access, reason, requesterId);
    this.lastFaultIova = iova;
    this.lastFaultInfo = (REASON_CODES[reason] | ((access & 3) << 8) | ((requesterId & 0xffff) << 16)) >>> 0;
    this.faultIrq?.set(true);
  }

  /**
   * The guest-visible register block (PTI_REG_*), for guests and tests that
   * drive the IOMMU through MMIO. The guest's invalidation protocol: write the
   * range, write INV_CMD, poll INV_STATUS until it is not 1. A non-1 status is
   * the barrier of iommu.ts: every mapping through an old translation is gone.
   * Faults raise `irq` (level) until FAULT_ACK is written.
   */
  createRegisters(opts: { owner?: DeviceOwner; irq?: PtIommuIrq } = {}): MemoryRegion {
    this.faultIrq = opts.irq ?? null;
    return MemoryRegion.io(
      `${this.name}-regs`,
      PTI_REGS_SIZE,
      {
        read: (off) => this.regRead(off),
        write: (off, v) => this.regWrite(off, v),
        valid: { min: 4, max: 4 },
      },
      { owner: opts.owner },
    );
  }

  private regRead(off: number): number {
    switch (off) {
      case PTI_REG_ID:
        return PTI_ID;
      case PTI_REG_MODE:
        return MODES.indexOf(this.mode);
      case PTI_REG_ROOT_LO:
        return this.regRoot % TWO32 >>> 0;
      case PTI_REG_ROOT_HI:
        return Math.floor(this.regRoot / TWO32) >>> 0;
      case PTI_REG_INV_ADDR_LO:
        return this.invAddr % TWO32 >>> 0;
      case PTI_REG_INV_ADDR_HI:
        return Math.floor(this.invAddr / TWO32) >>> 0;
      case PTI_REG_INV_LEN:
        return this.invLen;
      case PTI_REG_INV_STATUS:
        if (this.pendingInvalidations > 0) return 1;
        return this.lastInv?.status === 'revoked' ? 2 : 0;
      case PTI_REG_FAULT_COUNT:
        return this.faultCount >>> 0;
      case PTI_REG_FAULT_IOVA_LO:
        return this.lastFaultIova % TWO32 >>> 0;
      case PTI_REG_FAULT_IOVA_HI:
        return Math.floor(this.lastFaultIova / TWO32) >>> 0;
      case PTI_REG_FAULT_INFO:
        return this.lastFaultInfo;
      default:
        return 0;
    }
  }

  private regWrite(off: number, v: number): void {
    switch (off) {
      case PTI_REG_MODE: {
        const mode = MODES[v];
        // Guest values never throw: an unknown mode or a misaligned root blocks everything.
        const ok = mode !== undefined && (mode !== 'translate' || this.regRoot % 4096 === 0);
        this.lastInv = this.configure(ok ? mode : 'block', ok ? this.regRoot : 0);
        return;
      }
      case PTI_REG_ROOT_LO:
        this.regRoot = Math.floor(this.regRoot / TWO32) * TWO32 + v;
        return;
      case PTI_REG_ROOT_HI:
        this.regRoot = (v & 0x1fffff) * TWO32 + (this.regRoot % TWO32);
        return;
      case PTI_REG_INV_ADDR_LO:
        this.invAddr = Math.floor(this.invAddr / TWO32) * TWO32 + v;
        return;
      case PTI_REG_INV_ADDR_HI:
        this.invAddr = (v & 0x1fffff) * TWO32 + (this.invAddr % TWO32);
        return;
      case PTI_REG_INV_LEN:
        this.invLen = v;
        return;
      case PTI_REG_INV_CMD:
        if (v !== 1) return;
        this.lastInv =
          this.invLen === 0 || this.invAddr >= IOVA_LIMIT
            ? this.invalidateAll()
            : this.invalidate(this.invAddr, Math.min(this.invLen, IOVA_LIMIT - this.invAddr));
        return;
      case PTI_REG_FAULT_ACK:
        this.faultIrq?.set(false);
        return;
    }
  }

  private readPte(addr: number): boolean {
    return this.targetAs.load(addr, 8, this.walkAttrs) === MEMTX_OK;
  }

  protected walk(iova: number): IOMMUTLBEntry {
    if (this.mode === 'bypass') {
      const mask = LEVEL_SIZE[2]! - 1;
      const base = iova - (iova % (mask + 1));
      return { targetAs: this.targetAs, iova: base, translatedAddr: base, addrMask: mask, perm: IOMMU_RW };
    }
    if (this.mode === 'block' || !(iova >= 0 && iova < IOVA_LIMIT)) {
      this.walkFault = 'not-present';
      return this.noEntry(iova >= 0 && iova < 2 ** 53 ? iova : 0);
    }
    let table = this.root;
    for (let level = LEVELS - 1; level >= 0; level--) {
      const pteAt = table + indexAt(iova, level) * 8;
      if (!this.readPte(pteAt)) {
        this.walkFault = 'walk-error';
        return this.noEntry(iova);
      }
      const lo = this.targetAs.valLo;
      const hi = this.targetAs.valHi;
      if ((lo & PTE_V) === 0) {
        this.walkFault = 'not-present';
        return this.noEntry(iova);
      }
      const addr = pteAddr(lo, hi);
      const perm = ((lo & PTE_R) !== 0 ? IOMMU_RO : 0) | ((lo & PTE_W) !== 0 ? IOMMU_WO : 0);
      if (perm !== IOMMU_NONE) {
        const size = LEVEL_SIZE[level]!;
        if (addr % size !== 0) {
          this.walkFault = 'walk-error';
          return this.noEntry(iova);
        }
        const base = iova - (iova % size);
        return { targetAs: this.targetAs, iova: base, translatedAddr: addr, addrMask: size - 1, perm };
      }
      if (level === 0) {
        this.walkFault = 'walk-error';
        return this.noEntry(iova);
      }
      table = addr;
    }
    this.walkFault = 'walk-error';
    return this.noEntry(iova);
  }

  protected forEachMapping(start: number, end: number, fn: (e: IOMMUTLBEntry) => void): void {
    if (this.mode !== 'translate') return;
    const last = Math.min(end, IOVA_LIMIT - 1);
    const visit = (table: number, level: number, base: number): void => {
      const size = LEVEL_SIZE[level]!;
      for (let i = 0; i < 512; i++) {
        const iova = base + i * size;
        if (iova > last) return;
        if (iova + size - 1 < start) continue;
        if (!this.readPte(table + i * 8)) return;
        const lo = this.targetAs.valLo;
        const hi = this.targetAs.valHi;
        if ((lo & PTE_V) === 0) continue;
        const addr = pteAddr(lo, hi);
        const perm = ((lo & PTE_R) !== 0 ? IOMMU_RO : 0) | ((lo & PTE_W) !== 0 ? IOMMU_WO : 0);
        if (perm !== IOMMU_NONE) {
          if (addr % size === 0) fn({ targetAs: this.targetAs, iova, translatedAddr: addr, addrMask: size - 1, perm });
        } else if (level > 0) {
          visit(addr, level - 1, iova);
        }
      }
    };
    visit(this.root, LEVELS - 1, 0);
  }
}

/**
 * Writes page tables in guest memory the way a guest driver would (used by
 * tests, benchmarks and explorer scenarios). Tables come from a pool of guest
 * RAM given at construction. It does not invalidate: callers do, as a driver must.
 */
export class PageTableBuilder {
  readonly root: number;
  private next: number;

  constructor(
    private readonly as: AddressSpace,
    private readonly poolBase: number,
    private readonly poolSize: number,
    private readonly attrs: MemTxAttrs = MEMTXATTRS_UNSPECIFIED,
  ) {
    if (poolBase % 4096 !== 0 || poolSize < 4096) {
      throw new DmaError('bad-config', 'page-table pool must be 4 KiB aligned and hold at least one table');
    }
    this.next = poolBase;
    this.root = this.allocTable();
  }

  private allocTable(): number {
    if (this.next + 4096 > this.poolBase + this.poolSize) {
      throw new DmaError('bad-config', 'page-table pool exhausted');
    }
    const t = this.next;
    this.next += 4096;
    this.as.write(t, new Uint8Array(4096), this.attrs);
    return t;
  }

  private writePte(at: number, addr: number, flags: number): void {
    const lo = ((addr % TWO32) & 0xfffff000) | flags;
    const hi = Math.floor(addr / TWO32) & 0x1fffff;
    this.as.store(at, 8, lo >>> 0, hi, this.attrs);
  }

  private readPte(at: number): { lo: number; hi: number } {
    this.as.load(at, 8, this.attrs);
    return { lo: this.as.valLo, hi: this.as.valHi };
  }

  /** The table one level down for `iova` at `level` (creating it), or -1 if a leaf is in the way. */
  private descend(table: number, level: number, iova: number, create: boolean): number {
    const at = table + indexAt(iova, level) * 8;
    const { lo, hi } = this.readPte(at);
    if ((lo & PTE_V) !== 0) return (lo & (PTE_R | PTE_W)) !== 0 ? -1 : pteAddr(lo, hi);
    if (!create) return -1;
    const t = this.allocTable();
    this.writePte(at, t, PTE_V);
    return t;
  }

  /** Map [iova, iova + size) to [pa, pa + size) with `perm` (IOMMU_RO/WO/RW), in pages of `pageSize`. */
  map(iova: number, pa: number, size: number, perm: number, pageSize = 4096): void {
    const level = LEVEL_SIZE.indexOf(pageSize);
    if (level < 0 || iova % pageSize !== 0 || pa % pageSize !== 0 || size % pageSize !== 0 || iova + size > IOVA_LIMIT) {
      throw new DmaError('bad-config', `map 0x${iova.toString(16)} -> 0x${pa.toString(16)}: misaligned or out of range`);
    }
    const flags = PTE_V | ((perm & IOMMU_RO) !== 0 ? PTE_R : 0) | ((perm & IOMMU_WO) !== 0 ? PTE_W : 0);
    for (let off = 0; off < size; off += pageSize) {
      let table = this.root;
      for (let l = LEVELS - 1; l > level; l--) {
        table = this.descend(table, l, iova + off, true);
        if (table < 0) throw new DmaError('bad-config', `map 0x${(iova + off).toString(16)}: a large page is in the way`);
      }
      this.writePte(table + indexAt(iova + off, level) * 8, pa + off, flags);
    }
  }

  /** Clear the leaves covering [iova, iova + size) (a large leaf is cleared whole). */
  unmap(iova: number, size: number): void {
    for (let a = iova - (iova % 4096); a < iova + size; ) {
      let table = this.root;
      let level = LEVELS - 1;
      for (;;) {
        const at = table + indexAt(a, level) * 8;
        const { lo, hi } = this.readPte(at);
        if ((lo & PTE_V) === 0) break;
        if ((lo & (PTE_R | PTE_W)) !== 0 || level === 0) {
          this.writePte(at, 0, 0);
          break;
        }
        table = pteAddr(lo, hi);
        level--;
      }
      const step = LEVEL_SIZE[level]!;
      a = a - (a % step) + step;
    }
  }
}
