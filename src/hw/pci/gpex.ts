/**
 * QEMU's generic PCI Express host ("gpex-pcihost", DT "pci-host-ecam-generic"):
 * an ECAM config window, a PCI I/O space and a PCI memory space behind the
 * machine's windows, four INTx outputs, and the host bridge function at
 * 00:00.0 (1b36:0008, class 0x0600, subsystem 1af4:1100).
 *
 * ECAM: offset = bus << 20 | devfn << 12 | register; 1-, 2- and 4-byte
 * naturally aligned accesses. Bus 0 is the root bus; other buses are reached
 * through PCI-to-PCI bridges (bridge.ts) by their secondary..subordinate
 * ranges. Buses no bridge forwards to, absent functions, and registers past a
 * function's config space read all-ones and drop writes, without a bus error.
 *
 * Accesses to the I/O and memory windows that hit no BAR read all-ones and
 * drop writes (QEMU's allow-unmapped-accesses=true, the virt default).
 */
import type { IrqLine } from '../irq.js';
import { MemoryRegion, REGION_SIZE_MAX } from '../../memory/region.js';
import { memoryTransaction } from '../../memory/transaction.js';
import type { MemoryRegionOps } from '../../memory/types.js';
import type { Completion } from '../../memory/lifetime.js';
import type { SyncEnv } from '../../sync/env.js';
import { PCI_IO_SPACE_SIZE } from './bar.js';
import { PciBus, type MsiSink, type PciDomainLock, type PciFunctionLock } from './bus.js';
import { PciDevice } from './device.js';

/** QEMU 7.2 virt's layout of the host's windows. */
export const VIRT_GPEX_LAYOUT = Object.freeze({
  ecam: { base: 0x30000000, size: 0x10000000 },
  pio: { base: 0x3000000, size: 0x10000 },
  mmio32: { base: 0x40000000, size: 0x40000000 },
  mmio64: { base: 0x400000000, size: 0x400000000 },
  /** PLIC sources of INTA..INTD. */
  irqBase: 32,
});

export const GPEX_ROOT_VENDOR_ID = 0x1b36;
export const GPEX_ROOT_DEVICE_ID = 0x0008;

/** The host bridge's PCI-facing function at 00:00.0 (QEMU's gpex-root). */
export class GpexRootFunction extends PciDevice {
  constructor() {
    super({ name: 'gpex-root', vendorId: GPEX_ROOT_VENDOR_ID, deviceId: GPEX_ROOT_DEVICE_ID, classCode: 0x060000, revision: 0 });
  }
}

const unassignedOps: MemoryRegionOps = {
  read: (_o, size) => (size >= 4 ? 0xffffffff : (1 << (size * 8)) - 1),
  write: () => {},
  valid: { min: 1, max: 8 },
  impl: { min: 1, max: 4 },
};

export interface GpexHostOptions {
  /** What bus-master DMA reaches: the system memory root (or an IOMMU region). */
  readonly dmaRoot: MemoryRegion;
  /** Per-requester DMA roots (an IOMMU's regions); see PciBusOptions.dmaRootFor. */
  readonly dmaRootFor?: (requesterId: number) => MemoryRegion;
  /**
   * The machine's ECAM region (an I/O or container region of ecamSize bytes):
   * the host lays its ECAM handler over it. Created when absent.
   */
  readonly ecam?: MemoryRegion;
  /** Size of the ECAM window (default 256 MiB: 256 buses). */
  readonly ecamSize?: number;
  /** The machine's PCI memory space (BARs become its subregions). Created (2^64, unassigned reads all-ones) when absent. */
  readonly memory?: MemoryRegion;
  /** The machine's PCI I/O space (64 KiB). Created when absent. */
  readonly io?: MemoryRegion;
  /**
   * When the host creates its own regions, map them here at `layout`'s bases
   * (ECAM, PIO window, the two MMIO windows), as QEMU's virt does.
   */
  readonly sysmem?: MemoryRegion;
  readonly layout?: typeof VIRT_GPEX_LAYOUT;
  /** INTA..INTD outputs (virt: PLIC inputs 32..35). */
  readonly irqs?: readonly IrqLine[];
  readonly msiSink?: MsiSink;
  readonly syncEnv?: SyncEnv;
  readonly lock?: PciDomainLock;
  readonly functionLock?: (dev: PciDevice) => PciFunctionLock;
}

export class GpexHost {
  readonly bus: PciBus;
  readonly root: GpexRootFunction;
  /** The ECAM handler region (laid over the machine's ECAM region at priority 1, or mapped by the host). */
  readonly ecam: MemoryRegion;
  /** PCI memory and I/O spaces (the machine's, or the host's own). */
  readonly memory: MemoryRegion;
  readonly io: MemoryRegion;
  /** Regions the host mapped into `sysmem` itself (empty when the machine supplied its windows). */
  readonly mapped: readonly MemoryRegion[];
  /** ECAM accesses that were not 1, 2 or 4 bytes naturally aligned (dropped / all-ones). */
  badEcamAccesses = 0;

  constructor(opts: GpexHostOptions) {
    const layout = opts.layout ?? VIRT_GPEX_LAYOUT;
    const ecamSize = opts.ecamSize ?? opts.ecam?.size ?? layout.ecam.size;
    this.memory = opts.memory ?? MemoryRegion.io('gpex_mmio', REGION_SIZE_MAX, unassignedOps);
    this.io = opts.io ?? MemoryRegion.io('gpex_ioport', PCI_IO_SPACE_SIZE, unassignedOps);
    this.bus = new PciBus({
      name: 'pcie.0',
      number: 0,
      memory: this.memory,
      io: this.io,
      dmaRoot: opts.dmaRoot,
      dmaRootFor: opts.dmaRootFor,
      intx: opts.irqs,
      msiSink: opts.msiSink,
      syncEnv: opts.syncEnv,
      lock: opts.lock,
      functionLock: opts.functionLock,
    });
    this.ecam = MemoryRegion.io('pcie-mmcfg-mmio', ecamSize, {
      read: (off, size) => this.ecamRead(off, size),
      write: (off, val, size) => this.ecamWrite(off, val, size),
      valid: { min: 1, max: 4 },
      impl: { min: 1, max: 4 },
    });
    const mapped: MemoryRegion[] = [];
    memoryTransaction(() => {
      if (opts.ecam) {
        opts.ecam.addSubregion(0, this.ecam, 1);
      } else if (opts.sysmem) {
        opts.sysmem.addSubregion(layout.ecam.base, this.ecam);
        mapped.push(this.ecam);
      }
      if (opts.sysmem && !opts.memory) {
        const lo = MemoryRegion.alias('pcie-mmio', this.memory, layout.mmio32.base, layout.mmio32.size);
        const hi = MemoryRegion.alias('pcie-mmio-high', this.memory, layout.mmio64.base, layout.mmio64.size);
        opts.sysmem.addSubregion(layout.mmio32.base, lo);
        opts.sysmem.addSubregion(layout.mmio64.base, hi);
        mapped.push(lo, hi);
      }
      if (opts.sysmem && !opts.io) {
        const pio = MemoryRegion.alias('gpex_ioport_window', this.io, 0, Math.min(layout.pio.size, PCI_IO_SPACE_SIZE));
        opts.sysmem.addSubregion(layout.pio.base, pio);
        mapped.push(pio);
      }
    });
    this.mapped = mapped;
    this.root = new GpexRootFunction();
    this.bus.addDevice(this.root, 0);
  }

  /** Plug a function (at function 0 of the first free slot unless `devfn` is given); returns its devfn. */
  addDevice(dev: PciDevice, devfn?: number): number {
    return this.bus.addDevice(dev, devfn);
  }

  removeDevice(dev: PciDevice): boolean {
    return this.bus.removeDevice(dev);
  }

  /** Hot-unplug `dev`; see PciBus.unplug. */
  unplug(dev: PciDevice): Completion | null {
    return this.bus.unplug(dev);
  }

  /** System reset (the machine calls this on reboot): every function to its reset state. */
  reset(): void {
    this.bus.reset();
  }

  private ecamRead(off: number, size: number): number {
    if (off % size !== 0 || !(size === 1 || size === 2 || size === 4)) {
      this.badEcamAccesses++;
      return size >= 4 ? 0xffffffff : (1 << (size * 8)) - 1;
    }
    return this.bus.configReadBdf(off >>> 20, (off >>> 12) & 0xff, off & 0xfff, size);
  }

  private ecamWrite(off: number, val: number, size: number): void {
    if (off % size !== 0 || !(size === 1 || size === 2 || size === 4)) {
      this.badEcamAccesses++;
      return;
    }
    this.bus.configWriteBdf(off >>> 20, (off >>> 12) & 0xff, off & 0xfff, size, val);
  }
}

/** Build a gpex host (see GpexHostOptions); the machine wires `irqs` to its interrupt controller. */
export function createGpexHost(opts: GpexHostOptions): GpexHost {
  return new GpexHost(opts);
}
