/**
 * The PCIe host's windows as QEMU 7.2's virt maps them, before the PCI code
 * gives them behaviour: the ECAM ("pcie-mmcfg-mmio", 256 buses), the I/O port
 * window ("gpex_ioport" seen through the alias "gpex_ioport_window" at
 * 0x3000000) and the memory window ("gpex_mmio", seen through
 * "gpex_mmio_window" and the two aliases "pcie-mmio" at 0x40000000 and
 * "pcie-mmio-high" at 0x400000000, identity-mapped).
 *
 * QEMU's gpex has allow-unmapped-accesses=true: accesses that hit no BAR read
 * all-ones and drop writes instead of faulting; an ECAM read of an absent
 * function reads all-ones too (that is how software sees "no device"). The
 * PCI code adds BARs as subregions of `ioport` / `mmio` and replaces the ECAM
 * ops by mapping its own region over `ecam` (higher priority).
 */
import { MemoryRegion, REGION_SIZE_MAX } from '../../memory/region.js';
import { deviceOwner, type DeviceOwner } from '../../memory/owner.js';
import type { MemoryRegionOps } from '../../memory/types.js';
import { VIRT_MEMMAP as M } from './memmap.js';

const allOnes: MemoryRegionOps = {
  read: (_off, size) => (size >= 4 ? 0xffffffff : (1 << (size * 8)) - 1),
  write: () => {},
  valid: { min: 1, max: 8, unaligned: false },
  impl: { min: 1, max: 4 },
};

export class PcieWindows {
  readonly owner: DeviceOwner = deviceOwner('gpex-pcihost');
  /** The ECAM region (0x10000000 bytes). */
  readonly ecam: MemoryRegion;
  /** PCI I/O space (64 KiB), the target of the PIO window. */
  readonly ioport: MemoryRegion;
  /** PCI memory space (2^64), the target of the MMIO windows. */
  readonly mmio: MemoryRegion;
  readonly ioportWindow: MemoryRegion;
  readonly mmioWindow: MemoryRegion;
  readonly ecamAlias: MemoryRegion;
  readonly mmioAlias: MemoryRegion;
  readonly mmioHighAlias: MemoryRegion;

  constructor(system: MemoryRegion) {
    const o = { owner: this.owner };
    this.ecam = MemoryRegion.io('pcie-mmcfg-mmio', M.pcieEcam.size, allOnes, o);
    this.ioport = MemoryRegion.io('gpex_ioport', M.pciePio.size, allOnes, o);
    this.mmio = MemoryRegion.io('gpex_mmio', REGION_SIZE_MAX, allOnes, o);
    this.ioportWindow = MemoryRegion.alias('gpex_ioport_window', this.ioport, 0, M.pciePio.size);
    this.mmioWindow = MemoryRegion.alias('gpex_mmio_window', this.mmio, 0, REGION_SIZE_MAX);
    this.ecamAlias = MemoryRegion.alias('pcie-ecam', this.ecam, 0, M.pcieEcam.size);
    this.mmioAlias = MemoryRegion.alias('pcie-mmio', this.mmioWindow, M.pcieMmio.base, M.pcieMmio.size);
    this.mmioHighAlias = MemoryRegion.alias('pcie-mmio-high', this.mmioWindow, M.pcieMmioHigh.base, M.pcieMmioHigh.size);
    system.addSubregion(M.pcieEcam.base, this.ecamAlias);
    system.addSubregion(M.pcieMmio.base, this.mmioAlias);
    system.addSubregion(M.pcieMmioHigh.base, this.mmioHighAlias);
    system.addSubregion(M.pciePio.base, this.ioportWindow);
  }
}
