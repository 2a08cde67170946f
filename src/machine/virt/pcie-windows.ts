/**
 * The PCIe host's windows as QEMU 7.2's virt maps them. With the gpex
 * property allow-unmapped-accesses=true (the virt default), QEMU's windows
 * are I/O regions of their own that read all-ones and drop writes, holding
 * the PCI address spaces as subregions:
 *
 *   gpex_ioport_window (i/o, 64 KiB)  ⊃ gpex_ioport (container: I/O BARs)   mapped at 0x3000000
 *   gpex_mmio_window   (i/o, 2^64)    ⊃ gpex_mmio   (container: memory BARs)
 *     seen through the aliases pcie-mmio (0x40000000, 1 GiB) and
 *     pcie-mmio-high (0x400000000, 16 GiB), identity-mapped
 *   pcie-ecam (alias, 0x30000000, 256 MiB) → the host's "pcie-mmcfg-mmio"
 *
 * So an access that hits no BAR reads all-ones instead of faulting, and the
 * flat view shows the same ranges, names and kinds as QEMU's `info mtree -f`.
 */
import { MemoryRegion, REGION_SIZE_MAX } from '../../memory/region.js';
import { deviceOwner, type DeviceOwner } from '../../memory/owner.js';
import type { MemoryRegionOps } from '../../memory/types.js';
import { VIRT_MEMMAP as M } from './memmap.js';

const allOnes: MemoryRegionOps = {
  read: (_off, size) => (size >= 4 ? 0xffffffff : (1 << (size * 8)) - 1),
  write: () => {},
  valid: { min: 1, max: 8 },
  impl: { min: 1, max: 4 },
};

export class PcieWindows {
  readonly owner: DeviceOwner = deviceOwner('gpex-pcihost');
  /** PCI I/O space (64 KiB): I/O BARs go here. */
  readonly ioport: MemoryRegion;
  /** PCI memory space (2^64): memory BARs go here. */
  readonly mmio: MemoryRegion;
  readonly ioportWindow: MemoryRegion;
  readonly mmioWindow: MemoryRegion;
  readonly mmioAlias: MemoryRegion;
  readonly mmioHighAlias: MemoryRegion;
  ecamAlias: MemoryRegion | null = null;

  constructor(private readonly system: MemoryRegion) {
    const o = { owner: this.owner };
    this.ioport = MemoryRegion.container('gpex_ioport', M.pciePio.size);
    this.mmio = MemoryRegion.container('gpex_mmio', REGION_SIZE_MAX);
    this.ioportWindow = MemoryRegion.io('gpex_ioport_window', M.pciePio.size, allOnes, o);
    this.mmioWindow = MemoryRegion.io('gpex_mmio_window', REGION_SIZE_MAX, allOnes, o);
    this.ioportWindow.addSubregion(0, this.ioport);
    this.mmioWindow.addSubregion(0, this.mmio);
    this.mmioAlias = MemoryRegion.alias('pcie-mmio', this.mmioWindow, M.pcieMmio.base, M.pcieMmio.size);
    this.mmioHighAlias = MemoryRegion.alias('pcie-mmio-high', this.mmioWindow, M.pcieMmioHigh.base, M.pcieMmioHigh.size);
    system.addSubregion(M.pcieMmio.base, this.mmioAlias);
    system.addSubregion(M.pcieMmioHigh.base, this.mmioHighAlias);
    system.addSubregion(M.pciePio.base, this.ioportWindow);
  }

  /** Map the host's ECAM region (QEMU's "pcie-mmcfg-mmio") through the alias "pcie-ecam". */
  mapEcam(ecam: MemoryRegion): void {
    this.ecamAlias = MemoryRegion.alias('pcie-ecam', ecam, 0, M.pcieEcam.size);
    this.system.addSubregion(M.pcieEcam.base, this.ecamAlias);
  }
}
