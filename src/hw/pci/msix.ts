/**
 * The MSI-X capability (PCI Local Bus 3.0, 6.8.2): a vector table and a
 * pending-bit array (PBA) in memory BARs, a function mask and per-vector
 * masks.
 *
 * The table and PBA are I/O regions placed inside the BAR regions the device
 * registered (those must be containers, or I/O regions that fill the holes
 * themselves), above anything else there. Delivery: while MSI-X is disabled
 * notify() does nothing; while the function or the vector is masked the
 * vector's pending bit is set instead; when a pending vector becomes
 * unmasked (vector control, function mask or enable written) it is sent and
 * its pending bit cleared. Messages go through PciDevice.sendMsi.
 *
 * Table accesses come through MMIO dispatch, not config space, so they are
 * not under the PCI domain lock (Roger Pau Monné's remark in seed 001: MSI-X
 * mask handling is the performance-sensitive path). They touch only this
 * capability's state.
 */
import { MemoryRegion } from '../../memory/region.js';
import { PciError } from './bar.js';
import {
  PCI_CAP_ID_MSIX,
  PCI_MSIX_ENTRY_CTRL_MASKBIT,
  PCI_MSIX_ENTRY_SIZE,
  PCI_MSIX_FLAGS,
  PCI_MSIX_FLAGS_ENABLE,
  PCI_MSIX_FLAGS_MASKALL,
  PCI_MSIX_PBA,
  PCI_MSIX_TABLE,
} from './constants.js';
import type { PciDevice } from './device.js';

export interface MsixLocation {
  /** BAR index (0..5) whose region holds the structure. */
  readonly bar: number;
  /** Offset in the BAR, 8-byte aligned. */
  readonly offset: number;
}

export interface MsixOptions {
  /** 1..2048 vectors. */
  readonly vectors: number;
  readonly table: MsixLocation;
  readonly pba: MsixLocation;
}

export class MsixCapability {
  readonly offset: number;
  readonly vectors: number;
  readonly tableRegion: MemoryRegion;
  readonly pbaRegion: MemoryRegion;
  private readonly dev: PciDevice;
  /** Four dwords per entry: address lo, address hi, data, vector control. */
  private readonly table: Uint32Array;
  private readonly pending: Uint8Array;
  /** Messages sent (for tests and diagnostics). */
  sent = 0;

  /** Add the capability; the BARs named in `opts` must already be registered with memory regions large enough. */
  constructor(dev: PciDevice, opts: MsixOptions) {
    const n = opts.vectors;
    if (!Number.isInteger(n) || n < 1 || n > 2048) throw new PciError(`${dev.name}: MSI-X vector count ${n} out of range`);
    const tableSize = n * PCI_MSIX_ENTRY_SIZE;
    const pbaSize = Math.ceil(n / 64) * 8;
    const check = (what: string, loc: MsixLocation, size: number): MemoryRegion => {
      const bar = dev.bars[loc.bar];
      if (!bar || bar.kind === 'io' || loc.bar > 5) throw new PciError(`${dev.name}: MSI-X ${what} in BAR${loc.bar}, which is not a memory BAR`);
      if (loc.offset % 8 !== 0 || loc.offset + size > bar.size) throw new PciError(`${dev.name}: MSI-X ${what} does not fit BAR${loc.bar}`);
      return bar.region;
    };
    const tableBar = check('table', opts.table, tableSize);
    const pbaBar = check('PBA', opts.pba, pbaSize);
    if (opts.table.bar === opts.pba.bar && opts.table.offset < opts.pba.offset + pbaSize && opts.pba.offset < opts.table.offset + tableSize) {
      throw new PciError(`${dev.name}: MSI-X table and PBA overlap`);
    }
    this.dev = dev;
    this.vectors = n;
    this.table = new Uint32Array(n * 4);
    for (let i = 0; i < n; i++) this.table[i * 4 + 3] = PCI_MSIX_ENTRY_CTRL_MASKBIT;
    this.pending = new Uint8Array(n);
    dev.addResetHook(() => {
      this.table.fill(0);
      for (let i = 0; i < n; i++) this.table[i * 4 + 3] = PCI_MSIX_ENTRY_CTRL_MASKBIT;
      this.pending.fill(0);
    });

    this.tableRegion = MemoryRegion.io(
      'msix-table',
      tableSize,
      {
        read: (off) => this.tableRead(off),
        write: (off, val) => this.tableWrite(off, val),
        valid: { min: 4, max: 8 },
        impl: { min: 4, max: 4 },
      },
      { owner: dev },
    );
    this.pbaRegion = MemoryRegion.io(
      'msix-pba',
      pbaSize,
      {
        read: (off, size) => this.pbaRead(off, size),
        write: () => {},
        valid: { min: 4, max: 8 },
        impl: { min: 4, max: 4 },
      },
      { owner: dev },
    );
    tableBar.addSubregion(opts.table.offset, this.tableRegion, 1);
    pbaBar.addSubregion(opts.pba.offset, this.pbaRegion, 1);

    this.offset = dev.addCapability(PCI_CAP_ID_MSIX, 12, (base) => {
      const c = dev.config;
      c.add({
        name: 'msix-flags',
        offset: base + PCI_MSIX_FLAGS,
        size: 2,
        reset: n - 1,
        ro: 0x07ff,
        rsvdz: 0x3800,
        changed: () => this.flushPending(),
      });
      c.add({ name: 'msix-table', offset: base + PCI_MSIX_TABLE, size: 4, reset: (opts.table.offset | opts.table.bar) >>> 0, ro: 0xffffffff });
      c.add({ name: 'msix-pba', offset: base + PCI_MSIX_PBA, size: 4, reset: (opts.pba.offset | opts.pba.bar) >>> 0, ro: 0xffffffff });
    });
  }

  /**
   * The common layout (QEMU's msix_init_exclusive_bar): a memory BAR of its
   * own holding the table at 0 and the PBA in the upper half. Registers BAR
   * `bar` and adds the capability.
   */
  static exclusiveBar(dev: PciDevice, vectors: number, bar: number): MsixCapability {
    const tableSize = vectors * PCI_MSIX_ENTRY_SIZE;
    let size = 4096;
    while (size < tableSize * 2) size *= 2;
    const region = MemoryRegion.container(`${dev.name}-msix`, size);
    dev.registerBar(bar, { kind: 'mem32', region });
    return new MsixCapability(dev, { vectors, table: { bar, offset: 0 }, pba: { bar, offset: size / 2 } });
  }

  private get flags(): number {
    return this.dev.config.stored(this.offset + PCI_MSIX_FLAGS);
  }

  get enabled(): boolean {
    return (this.flags & PCI_MSIX_FLAGS_ENABLE) !== 0;
  }

  get functionMasked(): boolean {
    return (this.flags & PCI_MSIX_FLAGS_MASKALL) !== 0;
  }

  isMasked(vector: number): boolean {
    return this.functionMasked || (this.table[vector * 4 + 3]! & PCI_MSIX_ENTRY_CTRL_MASKBIT) !== 0;
  }

  isPending(vector: number): boolean {
    return this.pending[vector] === 1;
  }

  /** Drop every pending message (the device was reset: what it signalled before is void). */
  clearPending(): void {
    this.pending.fill(0);
  }

  /** Signal `vector`; out-of-range vectors are ignored. */
  notify(vector: number): void {
    if (!this.enabled || !Number.isInteger(vector) || vector < 0 || vector >= this.vectors) return;
    if (this.isMasked(vector)) {
      this.pending[vector] = 1;
      return;
    }
    this.send(vector);
  }

  private send(vector: number): void {
    const t = this.table;
    const address = t[vector * 4 + 1]! * 2 ** 32 + t[vector * 4]!;
    this.sent++;
    this.dev.sendMsi(address, t[vector * 4 + 2]!);
  }

  private flushPending(): void {
    if (!this.enabled || this.functionMasked) return;
    for (let v = 0; v < this.vectors; v++) {
      if (this.pending[v] === 1 && !this.isMasked(v)) {
        this.pending[v] = 0;
        this.send(v);
      }
    }
  }

  private tableRead(off: number): number {
    const i = off >>> 2;
    return i < this.table.length ? this.table[i]! : 0xffffffff;
  }

  private tableWrite(off: number, val: number): void {
    const i = off >>> 2;
    if (i >= this.table.length) return;
    if ((i & 3) === 3) {
      // Only the mask bit of vector control is writable.
      this.table[i] = val & PCI_MSIX_ENTRY_CTRL_MASKBIT;
      const v = i >>> 2;
      if (this.pending[v] === 1 && !this.isMasked(v) && this.enabled) {
        this.pending[v] = 0;
        this.send(v);
      }
      return;
    }
    if ((i & 3) === 0) val &= ~0x3; // message address is dword aligned
    this.table[i] = val >>> 0;
  }

  private pbaRead(off: number, size: number): number {
    let v = 0;
    for (let b = 0; b < size * 8; b++) {
      const vec = off * 8 + b;
      if (vec < this.vectors && this.pending[vec] === 1) v |= 1 << b;
    }
    return v >>> 0;
  }
}
