/**
 * The MSI capability (PCI Local Bus 3.0, 6.8.1): a message address and data
 * the function writes to signal one of up to 32 vectors; optional per-vector
 * masking with pending bits.
 *
 * Delivery: while MSI is disabled, notify() does nothing. A masked vector
 * sets its pending bit instead of sending; unmasking a pending vector sends
 * it then. The message is sent through PciDevice.sendMsi (dropped while bus
 * mastering is off, like QEMU's write through the bus-master address space).
 */
import { PciError } from './bar.js';
import {
  PCI_CAP_ID_MSI,
  PCI_MSI_FLAGS,
  PCI_MSI_FLAGS_64BIT,
  PCI_MSI_FLAGS_ENABLE,
  PCI_MSI_FLAGS_MASKBIT,
  PCI_MSI_FLAGS_QSIZE,
} from './constants.js';
import type { PciDevice } from './device.js';

export interface MsiOptions {
  /** 1, 2, 4, 8, 16 or 32 vectors. */
  readonly vectors: number;
  readonly is64bit?: boolean;
  readonly perVectorMask?: boolean;
}

export class MsiCapability {
  readonly offset: number;
  readonly vectors: number;
  readonly is64bit: boolean;
  readonly perVectorMask: boolean;
  private readonly dev: PciDevice;
  private readonly dataOffset: number;
  private readonly maskOffset: number;
  private pending = 0;
  /** Messages sent (for tests and diagnostics). */
  sent = 0;

  constructor(dev: PciDevice, opts: MsiOptions) {
    const v = opts.vectors;
    if (![1, 2, 4, 8, 16, 32].includes(v)) throw new PciError(`${dev.name}: MSI vector count ${v} is not a power of two <= 32`);
    this.dev = dev;
    this.vectors = v;
    this.is64bit = opts.is64bit ?? true;
    this.perVectorMask = opts.perVectorMask ?? false;
    const mmc = Math.log2(v);
    const size = (this.is64bit ? 0x10 : 0x0c) + (this.perVectorMask ? 8 : 0);
    this.dataOffset = this.is64bit ? 0x0c : 0x08;
    this.maskOffset = this.dataOffset + 4;
    this.offset = dev.addCapability(PCI_CAP_ID_MSI, size, (base) => {
      const c = dev.config;
      const flags = (mmc << 1) | (this.is64bit ? PCI_MSI_FLAGS_64BIT : 0) | (this.perVectorMask ? PCI_MSI_FLAGS_MASKBIT : 0);
      c.add({
        name: 'msi-flags',
        offset: base + PCI_MSI_FLAGS,
        size: 2,
        reset: flags,
        ro: 0x018e,
        rsvdz: 0xfe00,
        // Multiple Message Enable may not exceed Multiple Message Capable.
        write: (val) => (((val & PCI_MSI_FLAGS_QSIZE) >> 4) > mmc ? (val & ~PCI_MSI_FLAGS_QSIZE) | (mmc << 4) : val),
        changed: (val, old) => {
          if (val & ~old & PCI_MSI_FLAGS_ENABLE) this.flushPending();
        },
      });
      c.add({ name: 'msi-address-lo', offset: base + 4, size: 4, rsvdz: 0x3 });
      if (this.is64bit) c.add({ name: 'msi-address-hi', offset: base + 8, size: 4 });
      c.add({ name: 'msi-data', offset: base + this.dataOffset, size: 2 });
      c.add({ name: 'msi-data-ext', offset: base + this.dataOffset + 2, size: 2, ro: 0xffff });
      if (this.perVectorMask) {
        const valid = v === 32 ? 0xffffffff : (1 << v) - 1;
        c.add({
          name: 'msi-mask',
          offset: base + this.maskOffset,
          size: 4,
          ro: ~valid >>> 0,
          changed: () => this.flushPending(),
        });
        c.add({ name: 'msi-pending', offset: base + this.maskOffset + 4, size: 4, ro: 0xffffffff, read: () => this.pending >>> 0 });
      }
    });
    dev.addResetHook(() => {
      this.pending = 0;
    });
  }

  private get flags(): number {
    return this.dev.config.stored(this.offset + PCI_MSI_FLAGS);
  }

  get enabled(): boolean {
    return (this.flags & PCI_MSI_FLAGS_ENABLE) !== 0;
  }

  /** Vectors the guest enabled (Multiple Message Enable). */
  get enabledVectors(): number {
    return 1 << ((this.flags & PCI_MSI_FLAGS_QSIZE) >> 4);
  }

  get address(): number {
    const lo = this.dev.config.stored(this.offset + 4);
    const hi = this.is64bit ? this.dev.config.stored(this.offset + 8) : 0;
    return hi * 2 ** 32 + lo;
  }

  get data(): number {
    return this.dev.config.stored(this.offset + this.dataOffset);
  }

  isMasked(vector: number): boolean {
    if (!this.perVectorMask) return false;
    return ((this.dev.config.stored(this.offset + this.maskOffset) >>> vector) & 1) === 1;
  }

  isPending(vector: number): boolean {
    return ((this.pending >>> vector) & 1) === 1;
  }

  /** Signal `vector` (0-based). Out-of-range vectors are ignored. */
  notify(vector: number): void {
    if (!this.enabled || !Number.isInteger(vector) || vector < 0 || vector >= this.enabledVectors) return;
    if (this.isMasked(vector)) {
      this.pending = (this.pending | (1 << vector)) >>> 0;
      return;
    }
    this.send(vector);
  }

  private send(vector: number): void {
    const n = this.enabledVectors;
    const data = ((this.data & ~(n - 1)) | vector) & 0xffff;
    this.sent++;
    this.dev.sendMsi(this.address, data);
  }

  private flushPending(): void {
    if (!this.enabled || this.pending === 0) return;
    for (let v = 0; v < this.vectors; v++) {
      if (this.isPending(v) && !this.isMasked(v)) {
        this.pending = (this.pending & ~(1 << v)) >>> 0;
        if (v < this.enabledVectors) this.send(v);
      }
    }
  }
}
