/**
 * One of the virt board's eight virtio-mmio slots (0x10001000 + n * 0x1000,
 * PLIC source n + 1). QEMU 7.2 always creates the eight transports; with no
 * backend plugged a transport answers as an empty slot (magic "virt",
 * version 1 because the board forces legacy mode, device id 0, vendor "QEMU")
 * and ignores writes, which is how U-Boot and Linux skip it.
 *
 * The seam for the virtio code: `plug(region)` puts a device transport's
 * 0x200-byte register region where the empty one was, in one memory
 * transaction, so an address never decodes to nothing in between.
 */
import { MemoryRegion } from '../../memory/region.js';
import { deviceOwner, type DeviceOwner } from '../../memory/owner.js';
import { memoryTransaction } from '../../memory/transaction.js';
import type { MemoryRegionOps } from '../../memory/types.js';

export const VIRTIO_MMIO_SLOT_MAGIC = 0x74726976;
export const VIRTIO_MMIO_SLOT_VENDOR = 0x554d4551;
export const VIRTIO_MMIO_REGION_SIZE = 0x200;
/** virtio-mmio version register: 1 = legacy (QEMU 7.2 virt's default), 2 = virtio 1.x. */
export const VIRTIO_MMIO_LEGACY_VERSION = 1;

export class VirtioMmioSlotError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VirtioMmioSlotError';
  }
}

export class VirtioMmioSlot {
  readonly owner: DeviceOwner;
  /** The region currently mapped at `base` (the empty one until something is plugged). */
  mr: MemoryRegion;
  private readonly empty: MemoryRegion;
  private plugged = false;

  constructor(
    /** Slot number 0..7. */
    readonly index: number,
    /** Guest physical address of the slot. */
    readonly base: number,
    /** PLIC source the slot's transport raises. */
    readonly irq: number,
    private readonly container: MemoryRegion,
  ) {
    this.owner = deviceOwner(`virtio-mmio.${index}`);
    const ops: MemoryRegionOps = {
      read: (off) => emptySlotRead(off),
      write: () => {},
      valid: { min: 1, max: 4 },
      impl: { min: 4, max: 4 },
    };
    this.empty = MemoryRegion.io('virtio-mmio', VIRTIO_MMIO_REGION_SIZE, ops, { owner: this.owner });
    this.mr = this.empty;
    container.addSubregion(base, this.empty);
  }

  get occupied(): boolean {
    return this.plugged;
  }

  /** Replace the empty slot with a device transport's register region. */
  plug(region: MemoryRegion): void {
    if (this.plugged) throw new VirtioMmioSlotError(`virtio-mmio slot ${this.index} at 0x${this.base.toString(16)} is already occupied`);
    memoryTransaction(() => {
      this.container.removeSubregion(this.empty);
      this.container.addSubregion(this.base, region);
    });
    this.mr = region;
    this.plugged = true;
  }
}

function emptySlotRead(off: number): number {
  switch (off & ~3) {
    case 0x000:
      return VIRTIO_MMIO_SLOT_MAGIC;
    case 0x004:
      return VIRTIO_MMIO_LEGACY_VERSION;
    case 0x00c:
      return VIRTIO_MMIO_SLOT_VENDOR;
    default:
      return 0; // device id 0 and every other register read as zero
  }
}
