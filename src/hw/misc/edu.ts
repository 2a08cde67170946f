/**
 * QEMU's educational PCI device "edu" (docs/specs/edu.rst): 1234:11e8, a
 * 1 MiB MMIO BAR0, an identification register, a liveness check, a
 * factorial unit, an interrupt raise/acknowledge pair (INTx or MSI), and a
 * DMA engine between a 4 KiB buffer (device address 0x40000) and guest memory.
 *
 * Register map (BAR0): 0x00 id (0x010000ed), 0x04 liveness (reads back the
 * inverse of what was written), 0x08 factorial, 0x20 status (bit 0 computing,
 * RO; bit 7 raise interrupt 0x1 when done), 0x24 interrupt status, 0x60
 * raise, 0x64 acknowledge, 0x80 DMA source, 0x88 DMA destination, 0x90 DMA
 * count, 0x98 DMA command (bit 0 start, bit 1 direction 1 = buffer to RAM,
 * bit 2 raise interrupt 0x100 when done).
 *
 * Differences from QEMU, all on inputs QEMU mishandles or cannot see:
 * - The factorial is computed by a bottom half, not a thread; results are the
 *   same (products wrap at 32 bits, so n >= 34 gives 0 without looping).
 * - The memory core splits 8-byte accesses into two 4-byte ones, so the high
 *   halves of the DMA registers (0x84, 0x8c, 0x94) are individually
 *   addressable, and an 8-byte access below 0x80 acts as two 4-byte ones
 *   (QEMU ignores it).
 * - A DMA whose buffer range falls outside 0x40000..0x40fff does nothing
 *   (QEMU logs and copies out of bounds); a DMA whose guest side fails
 *   (bus mastering off, unassigned address) leaves the buffer or RAM
 *   untouched. Either way the transfer completes: the start bit clears and
 *   the interrupt is raised if asked for, and `dmaErrors` counts it.
 * - Clearing Bus Master Enable while a DMA is pending cancels it (no memory
 *   access, no interrupt, `dmaErrors` counts it): bus-master-off is a barrier.
 */
import { dmaRead, dmaWrite } from '../../dma/dma.js';
import { MemoryRegion } from '../../memory/region.js';
import { MEMTX_OK, type MemTxResult } from '../../memory/types.js';
import type { BottomHalf, Scheduler, Timer } from '../../machine/event-loop-types.js';
import { PciDevice } from '../pci/device.js';
import { MsiCapability } from '../pci/msi.js';

export const EDU_VENDOR_ID = 0x1234;
export const EDU_DEVICE_ID = 0x11e8;
export const EDU_ID = 0x010000ed;
export const EDU_BAR_SIZE = 1 << 20;
export const EDU_DMA_BASE = 0x40000;
export const EDU_DMA_SIZE = 4096;
export const EDU_FACT_IRQ = 0x1;
export const EDU_DMA_IRQ = 0x100;

const STATUS_COMPUTING = 0x01;
const STATUS_IRQFACT = 0x80;
const DMA_RUN = 0x1;
const DMA_TO_RAM = 0x2;
const DMA_IRQ = 0x4;
/** Virtual time a DMA takes (QEMU: 100 ms). */
const DMA_DELAY_NS = 100_000_000;

export interface EduOptions {
  readonly scheduler: Scheduler;
  /** Addresses the DMA engine can reach (default 28 bits, QEMU's dma_mask). */
  readonly dmaMask?: number;
  readonly name?: string;
  /** Guest-error log (default: none). */
  readonly log?: (line: string) => void;
}

/** 32-bit factorial with wrap-around (n! mod 2^32); 0 from n = 34 on. */
export function eduFactorial(n: number): number {
  if (n >= 34) return 0;
  let r = 1;
  for (let i = n; i > 0; i--) r = Math.imul(r, i) >>> 0;
  return r >>> 0;
}

export class EduDevice extends PciDevice {
  readonly mmio: MemoryRegion;
  readonly msi: MsiCapability;
  readonly dmaBuf = new Uint8Array(EDU_DMA_SIZE);
  /** Transfers that did not complete (range outside the buffer, or a failed guest access). */
  dmaErrors = 0;
  /** MemTxResult of the last transfer's guest access. */
  lastDmaResult: MemTxResult = MEMTX_OK;

  private readonly scheduler: Scheduler;
  private readonly dmaMask: number;
  private readonly log: (line: string) => void;
  private addr4 = 0;
  private fact = 0;
  private status = 0;
  private irqStatus = 0;
  // DMA registers as 32-bit halves: src lo/hi, dst lo/hi, cnt lo/hi, cmd lo/hi.
  private readonly dma = new Uint32Array(8);
  private readonly dmaTimer: Timer;
  private readonly factBh: BottomHalf;
  private readonly scratch = new Uint8Array(EDU_DMA_SIZE);

  constructor(opts: EduOptions) {
    super({
      name: opts.name ?? 'edu',
      vendorId: EDU_VENDOR_ID,
      deviceId: EDU_DEVICE_ID,
      revision: 0x10,
      classCode: 0x00ff00,
      interruptPin: 1,
    });
    this.scheduler = opts.scheduler;
    this.dmaMask = opts.dmaMask ?? 2 ** 28 - 1;
    this.log = opts.log ?? (() => {});
    this.mmio = MemoryRegion.io(
      'edu-mmio',
      EDU_BAR_SIZE,
      {
        read: (off) => this.mmioRead(off),
        write: (off, val) => this.mmioWrite(off, val),
        valid: { min: 4, max: 8 },
        impl: { min: 4, max: 4 },
      },
      { owner: this },
    );
    this.registerBar(0, { kind: 'mem32', region: this.mmio });
    this.msi = new MsiCapability(this, { vectors: 1, is64bit: true });
    this.dmaTimer = opts.scheduler.newTimer(() => this.dmaDone(), this);
    this.factBh = opts.scheduler.newBottomHalf(() => this.factDone(), this);
  }

  // ---- interrupts ------------------------------------------------------------

  private raiseIrq(val: number): void {
    this.irqStatus = (this.irqStatus | val) >>> 0;
    if (this.irqStatus === 0) return;
    if (this.msi.enabled) this.msi.notify(0);
    else this.setIntx(true);
  }

  private lowerIrq(val: number): void {
    this.irqStatus = (this.irqStatus & ~val) >>> 0;
    if (this.irqStatus === 0 && !this.msi.enabled) this.setIntx(false);
  }

  // ---- MMIO ------------------------------------------------------------------

  private mmioRead(off: number): number {
    switch (off) {
      case 0x00:
        return EDU_ID;
      case 0x04:
        return this.addr4;
      case 0x08:
        return this.fact;
      case 0x20:
        return this.status;
      case 0x24:
        return this.irqStatus;
      default:
        if (off >= 0x80 && off < 0xa0) return this.dma[(off - 0x80) >>> 2]!;
        return 0xffffffff;
    }
  }

  private mmioWrite(off: number, val: number): void {
    switch (off) {
      case 0x04:
        this.addr4 = ~val >>> 0;
        return;
      case 0x08:
        if (this.status & STATUS_COMPUTING) return;
        this.fact = val >>> 0;
        this.status |= STATUS_COMPUTING;
        this.factBh.schedule();
        return;
      case 0x20:
        this.status = (this.status & ~STATUS_IRQFACT) | (val & STATUS_IRQFACT);
        return;
      case 0x60:
        this.raiseIrq(val);
        return;
      case 0x64:
        this.lowerIrq(val);
        return;
      case 0x98:
        if (!(val & DMA_RUN) || this.dma[6]! & DMA_RUN) return;
        this.dma[6] = val >>> 0;
        this.dmaTimer.mod(this.scheduler.clock.now() + DMA_DELAY_NS);
        return;
      default:
        if (off >= 0x80 && off < 0x98) {
          if (this.dma[6]! & DMA_RUN) return; // registers are frozen while a transfer runs
          const i = (off - 0x80) >>> 2;
          this.dma[i] = val >>> 0;
          // A 4-byte write to the low half sets the whole 64-bit register (QEMU zero-extends);
          // an 8-byte write's high half follows and overwrites it.
          if ((i & 1) === 0) this.dma[i + 1] = 0;
        }
    }
  }

  // ---- factorial ------------------------------------------------------------

  private factDone(): void {
    if (this.removed || !(this.status & STATUS_COMPUTING)) return;
    this.fact = eduFactorial(this.fact);
    this.status &= ~STATUS_COMPUTING;
    if (this.status & STATUS_IRQFACT) this.raiseIrq(EDU_FACT_IRQ);
  }

  // ---- DMA --------------------------------------------------------------------

  private reg64(i: number): number {
    return this.dma[i + 1]! * 2 ** 32 + this.dma[i]!;
  }

  private clamp(addr: number): number {
    const hi = Math.floor(addr / 2 ** 32);
    const lo = addr >>> 0;
    const mhi = Math.floor(this.dmaMask / 2 ** 32);
    const mlo = this.dmaMask >>> 0;
    const res = ((hi & mhi) >>> 0) * 2 ** 32 + ((lo & mlo) >>> 0);
    if (res !== addr) this.log(`edu: clamping DMA address 0x${addr.toString(16)} to 0x${res.toString(16)}`);
    return res;
  }

  private dmaDone(): void {
    const cmd = this.dma[6]!;
    if (this.removed || !(cmd & DMA_RUN)) return;
    const src = this.reg64(0);
    const dst = this.reg64(2);
    const cnt = this.reg64(4);
    const toRam = (cmd & DMA_TO_RAM) !== 0;
    const bufAddr = toRam ? src : dst;
    const ok = cnt <= EDU_DMA_SIZE && bufAddr >= EDU_DMA_BASE && bufAddr + cnt <= EDU_DMA_BASE + EDU_DMA_SIZE;
    if (!ok) {
      this.dmaErrors++;
      this.log(`edu: DMA buffer range 0x${bufAddr.toString(16)}+0x${cnt.toString(16)} outside 0x40000..0x40fff`);
    } else if (this.dmaAs && cnt > 0) {
      const off = bufAddr - EDU_DMA_BASE;
      if (toRam) {
        this.lastDmaResult = dmaWrite(this.dmaAs, this.clamp(dst), this.dmaBuf.subarray(off, off + cnt), this.dmaAttrs);
      } else {
        const tmp = this.scratch.subarray(0, cnt);
        this.lastDmaResult = dmaRead(this.dmaAs, this.clamp(src), tmp, this.dmaAttrs);
        if (this.lastDmaResult === MEMTX_OK) this.dmaBuf.set(tmp, off);
      }
      if (this.lastDmaResult !== MEMTX_OK) {
        this.dmaErrors++;
        this.log(`edu: DMA ${toRam ? 'write to' : 'read from'} guest address failed (MemTxResult ${this.lastDmaResult})`);
      }
    }
    this.dma[6] = cmd & ~DMA_RUN;
    if (cmd & DMA_IRQ) this.raiseIrq(EDU_DMA_IRQ);
  }

  /** Whether a DMA transfer is pending (its start bit is set). */
  get dmaRunning(): boolean {
    return (this.dma[6]! & DMA_RUN) !== 0;
  }

  /**
   * Bus mastering off is a DMA barrier: a transfer started before it never
   * reaches memory, even if the bit is set again before the transfer's time
   * has come. The transfer ends (start bit clear) without its interrupt.
   */
  protected override onBusMasterChanged(enabled: boolean): void {
    if (enabled || !(this.dma[6]! & DMA_RUN)) return;
    this.dmaTimer.del();
    this.dma[6] = this.dma[6]! & ~DMA_RUN;
    this.dmaErrors++;
    this.log('edu: DMA in flight cancelled: bus mastering disabled');
  }

  protected override onReset(): void {
    this.dmaTimer.del();
    this.factBh.cancel();
    this.addr4 = 0;
    this.fact = 0;
    this.status = 0;
    this.irqStatus = 0;
    this.dma.fill(0);
  }

  protected override onRemoved(): void {
    this.dmaTimer.del();
    this.factBh.cancel();
  }
}

/** Build an edu device; `-device edu[,dma_mask=N]` plugs one of these into the PCIe host. */
export function createEdu(opts: EduOptions): EduDevice {
  return new EduDevice(opts);
}
