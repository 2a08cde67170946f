/**
 * A guest-side driver for the RISC-V IOMMU: it writes the in-memory
 * structures (device directory, Sv39 page tables, command queue) and the
 * registers the way Linux's riscv-iommu driver does, through an address
 * space like a hart would. Used by tests, the benchmark and the seed004
 * explorer scenario; the machine itself never uses it.
 */
import type { AddressSpace } from '../../memory/address-space.js';
import { MEMTX_OK, MEMTXATTRS_UNSPECIFIED } from '../../memory/types.js';
import * as B from './riscv-iommu-bits.js';

export interface RiscvIommuDriverOptions {
  /** Where the register file is mapped. */
  regs: number;
  /** Guest RAM the driver may use for its tables and queues: [pool, pool + poolSize), 4 KiB aligned. */
  pool: number;
  poolSize: number;
  /** Command queue entries: 2^(log2 + 1) (default log2 9: 1024 entries). */
  cqLog2?: number;
  /** Fault queue entries: 2^(log2 + 1) (default 7: 256 records). */
  fqLog2?: number;
  /** Device directory levels (default 1; Linux asks for 3 first). */
  ddtLevels?: 1 | 2 | 3;
}

/** Base-format device-id split: DDI[0] bits 6:0, DDI[1] 15:7, DDI[2] 23:16. */
const DDI_SHIFT = [0, 7, 16];
const DDI_BITS = [7, 9, 8];

const PAGE = 4096;
const A = MEMTXATTRS_UNSPECIFIED;

export class RiscvIommuDriver {
  private next: number;
  private readonly end: number;
  readonly cq: number;
  readonly fq: number;
  private readonly cqMask: number;
  readonly fqEntries: number;
  private tail = 0;
  private ddt = 0;
  /** Sv39 roots by device id. */
  private readonly roots = new Map<number, number>();

  constructor(
    private readonly as: AddressSpace,
    private readonly opts: RiscvIommuDriverOptions,
  ) {
    this.next = opts.pool;
    this.end = opts.pool + opts.poolSize;
    const cqLog2 = opts.cqLog2 ?? 9;
    const fqLog2 = opts.fqLog2 ?? 7;
    this.cqMask = 2 ** (cqLog2 + 1) - 1;
    this.fqEntries = 2 ** (fqLog2 + 1);
    this.cq = this.alloc(Math.max(PAGE, (this.cqMask + 1) * B.CQ_ENTRY_SIZE));
    this.fq = this.alloc(Math.max(PAGE, this.fqEntries * B.FQ_RECORD_SIZE));
  }

  private alloc(bytes: number): number {
    const at = this.next;
    const size = Math.ceil(bytes / PAGE) * PAGE;
    if (at + size > this.end) throw new Error('RiscvIommuDriver: table pool exhausted');
    this.next += size;
    for (let a = at; a < at + size; a += 8) this.w64(a, 0, 0);
    return at;
  }

  w64(addr: number, lo: number, hi: number): void {
    if (this.as.store(addr, 8, lo >>> 0, hi >>> 0, A) !== MEMTX_OK) throw new Error(`RiscvIommuDriver: store to 0x${addr.toString(16)} failed`);
  }

  r64(addr: number): [number, number] {
    if (this.as.load(addr, 8, A) !== MEMTX_OK) throw new Error(`RiscvIommuDriver: load from 0x${addr.toString(16)} failed`);
    return [this.as.valLo, this.as.valHi];
  }

  reg32(off: number): number {
    this.as.load(this.opts.regs + off, 4, A);
    return this.as.valLo;
  }

  wreg32(off: number, v: number): void {
    this.as.store(this.opts.regs + off, 4, v >>> 0, 0, A);
  }

  wreg64(off: number, lo: number, hi: number): void {
    this.as.store(this.opts.regs + off, 8, lo >>> 0, hi >>> 0, A);
  }

  /** PPN[53:10] doubleword fields for a page address. */
  private static ppn(addr: number): [number, number] {
    const ppn = addr / PAGE;
    return [((ppn % 2 ** 22) * 1024) >>> 0, Math.floor(ppn / 2 ** 22)];
  }

  /** Queues on, the directory (ddtLevels), wired interrupt vectors as Linux assigns them. */
  bringUp(): void {
    this.wreg64(B.REG_ICVEC, 0x2310, 0);
    const [cqLo, cqHi] = RiscvIommuDriver.ppn(this.cq);
    this.wreg64(B.REG_CQB, cqLo | Math.log2(this.cqMask + 1) - 1, cqHi);
    const [fqLo, fqHi] = RiscvIommuDriver.ppn(this.fq);
    this.wreg64(B.REG_FQB, fqLo | Math.log2(this.fqEntries) - 1, fqHi);
    this.wreg32(B.REG_CQCSR, B.QCSR_EN | B.QCSR_IE | B.QCSR_MF);
    this.wreg32(B.REG_FQCSR, B.QCSR_EN | B.QCSR_IE | B.QCSR_MF);
    this.ddt = this.alloc(PAGE);
    const [dLo, dHi] = RiscvIommuDriver.ppn(this.ddt);
    const levels = this.opts.ddtLevels ?? 1;
    this.wreg64(B.REG_DDTP, dLo | (B.DDTP_MODE_1LVL + levels - 1), dHi);
  }

  /** Give device `devId` an Sv39 domain tagged `pscid` (the context is written last, valid bit last of all). */
  attach(devId: number, pscid: number): void {
    const root = this.alloc(PAGE);
    this.roots.set(devId, root);
    let table = this.ddt;
    for (let level = (this.opts.ddtLevels ?? 1) - 1; level > 0; level--) {
      const at = table + (Math.floor(devId / 2 ** DDI_SHIFT[level]!) % 2 ** DDI_BITS[level]!) * 8;
      let [lo, hi] = this.r64(at);
      if ((lo & 1) === 0) {
        [lo, hi] = RiscvIommuDriver.ppn(this.alloc(PAGE));
        lo |= 1;
        this.w64(at, lo, hi);
      }
      table = B.ppnField(lo, hi);
    }
    const dc = table + (devId % 128) * B.DC_SIZE;
    this.w64(dc + 8, 0, 0);
    this.w64(dc + 16, pscid << 12, 0);
    const ppn = root / PAGE;
    this.w64(dc + 24, ppn % B.TWO32, (B.ATP_MODE_SV39 << 28) | Math.floor(ppn / B.TWO32));
    this.w64(dc, B.DC_TC_V, 0);
  }

  /** Leaf PTE for iova -> pa (4 KiB), read-write unless `readOnly`. */
  map(devId: number, iova: number, pa: number, readOnly = false): void {
    const slot = this.leafSlot(devId, iova, true);
    const [lo, hi] = RiscvIommuDriver.ppn(pa);
    const flags = B.PTE_V | B.PTE_R | B.PTE_A | B.PTE_U | (readOnly ? 0 : B.PTE_W | B.PTE_D);
    this.w64(slot, lo | flags, hi);
  }

  unmap(devId: number, iova: number): void {
    const slot = this.leafSlot(devId, iova, false);
    if (slot >= 0) this.w64(slot, 0, 0);
  }

  private leafSlot(devId: number, iova: number, create: boolean): number {
    let table = this.roots.get(devId);
    if (table === undefined) throw new Error(`RiscvIommuDriver: device ${devId} is not attached`);
    for (let level = 2; level > 0; level--) {
      const at = table + (Math.floor(iova / 2 ** (12 + 9 * level)) % 512) * 8;
      let [lo, hi] = this.r64(at);
      if ((lo & B.PTE_V) === 0) {
        if (!create) return -1;
        const t = this.alloc(PAGE);
        [lo, hi] = RiscvIommuDriver.ppn(t);
        lo |= B.PTE_V;
        this.w64(at, lo, hi);
      }
      table = B.ppnField(lo, hi);
    }
    return table + (Math.floor(iova / PAGE) % 512) * 8;
  }

  /** Append a command and ring the tail doorbell. */
  command(d0lo: number, d0hi: number, d1lo: number, d1hi: number): void {
    const at = this.cq + this.tail * B.CQ_ENTRY_SIZE;
    this.w64(at, d0lo, d0hi);
    this.w64(at + 8, d1lo, d1hi);
    this.tail = (this.tail + 1) & this.cqMask;
    this.wreg32(B.REG_CQT, this.tail);
  }

  /** IOTINVAL.VMA for `pscid`, one page when `iova` is given. */
  iotinvalVma(pscid: number, iova?: number): void {
    let d0lo = B.CMD_IOTINVAL | (pscid << 12);
    let d1lo = 0;
    let d1hi = 0;
    if (iova !== undefined) {
      d0lo |= B.IOTINVAL_AV;
      const pfn = iova / PAGE;
      d1lo = ((pfn % 2 ** 22) * 1024) >>> 0;
      d1hi = Math.floor(pfn / 2 ** 22);
    }
    this.command(d0lo >>> 0, B.IOTINVAL_HI_PSCV, d1lo, d1hi);
  }

  /** IOFENCE.C writing `data` to `addr` (4-byte aligned) on completion; `wsi` also asks for the wired interrupt. */
  iofence(data: number, addr: number, wsi = false): void {
    const q = addr / 4;
    const d0 = B.CMD_IOFENCE | B.IOFENCE_AV | B.IOFENCE_PR | B.IOFENCE_PW | (wsi ? B.IOFENCE_WSI : 0);
    this.command(d0, data, q % B.TWO32, Math.floor(q / B.TWO32));
  }

  /** Fault records the IOMMU has written and the driver not yet consumed: [cause, devId, iova]. */
  takeFaults(): { cause: number; devId: number; iova: number }[] {
    const out: { cause: number; devId: number; iova: number }[] = [];
    let h = this.reg32(B.REG_FQH);
    const t = this.reg32(B.REG_FQT);
    while (h !== t) {
      const at = this.fq + h * B.FQ_RECORD_SIZE;
      const [lo, hi] = this.r64(at);
      const [ivLo, ivHi] = this.r64(at + 16);
      out.push({ cause: lo & 0xfff, devId: hi >>> 8, iova: ivLo + ivHi * B.TWO32 });
      h = (h + 1) % this.fqEntries;
    }
    this.wreg32(B.REG_FQH, h);
    this.wreg32(B.REG_IPSR, B.IPSR_FIP);
    return out;
  }
}
