// A small DMA-capable device for the DMA tests (edu-like): registers SRC, DST,
// LEN, CMD (1 = copy now from the MMIO handler, 2 = copy from a bottom half),
// STATUS (the last copy's MemTxResult) and SCRATCH (a plain register).
import { MemoryRegion } from '../../src/memory/region.js';
import type { AddressSpace } from '../../src/memory/address-space.js';
import { deviceOwner, type DeviceOwner } from '../../src/memory/owner.js';
import { memTxAttrs, type MemTxAttrs } from '../../src/memory/types.js';
import { dmaRead, dmaWrite } from '../../src/dma/dma.js';
import type { Scheduler, BottomHalf } from '../../src/sync/work.js';

export const REG_SRC = 0x00;
export const REG_DST = 0x04;
export const REG_LEN = 0x08;
export const REG_CMD = 0x0c;
export const REG_STATUS = 0x10;
export const REG_SCRATCH = 0x14;

export class TestDmaDevice {
  readonly owner: DeviceOwner;
  readonly mmio: MemoryRegion;
  readonly attrs: MemTxAttrs;
  src = 0;
  dst = 0;
  len = 0;
  status = -1;
  scratch = 0;
  copies = 0;
  dma: AddressSpace | null = null;
  private bh: BottomHalf | null = null;

  constructor(name: string, requesterId: number, scheduler?: Scheduler) {
    this.owner = deviceOwner(name);
    this.attrs = memTxAttrs({ requesterId });
    this.mmio = MemoryRegion.io(
      `${name}-mmio`,
      0x100,
      {
        read: (off) => {
          switch (off) {
            case REG_SRC:
              return this.src;
            case REG_DST:
              return this.dst;
            case REG_LEN:
              return this.len;
            case REG_STATUS:
              return this.status >>> 0;
            case REG_SCRATCH:
              return this.scratch;
            default:
              return 0;
          }
        },
        write: (off, v) => {
          switch (off) {
            case REG_SRC:
              this.src = v;
              break;
            case REG_DST:
              this.dst = v;
              break;
            case REG_LEN:
              this.len = Math.min(v, 4096);
              break;
            case REG_CMD:
              if (v === 1) this.copy();
              else if (v === 2) this.bh?.schedule();
              break;
            case REG_SCRATCH:
              this.scratch = v;
              break;
          }
        },
      },
      { owner: this.owner },
    );
    if (scheduler) this.bh = scheduler.newBottomHalf(() => this.copy(), this.owner);
  }

  /** The device's DMA engine: read LEN bytes at SRC, write them at DST. */
  copy(): void {
    const buf = new Uint8Array(this.len);
    this.copies++;
    this.status = dmaRead(this.dma!, this.src, buf, this.attrs) | dmaWrite(this.dma!, this.dst, buf, this.attrs);
  }
}
