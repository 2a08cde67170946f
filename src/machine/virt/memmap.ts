/**
 * QEMU 7.2's `virt` memory map for riscv64 (hw/riscv/virt.c's table, recorded
 * from a running QEMU in shared/reference), and the PLIC interrupt numbers.
 */

export interface MemMapEntry {
  readonly base: number;
  readonly size: number;
}

export const VIRT_MEMMAP = {
  mrom: { base: 0x1000, size: 0xf000 },
  test: { base: 0x100000, size: 0x1000 },
  rtc: { base: 0x101000, size: 0x1000 },
  clint: { base: 0x2000000, size: 0x10000 },
  pciePio: { base: 0x3000000, size: 0x10000 },
  /** The platform RISC-V IOMMU (present only with -machine virt,iommu-sys=on). */
  iommuSys: { base: 0x3010000, size: 0x1000 },
  platformBus: { base: 0x4000000, size: 0x2000000 },
  plic: { base: 0xc000000, size: 0x600000 },
  uart0: { base: 0x10000000, size: 0x100 },
  virtio: { base: 0x10001000, size: 0x1000 },
  fwCfg: { base: 0x10100000, size: 0x18 },
  flash: { base: 0x20000000, size: 0x4000000 },
  pcieEcam: { base: 0x30000000, size: 0x10000000 },
  pcieMmio: { base: 0x40000000, size: 0x40000000 },
  dram: { base: 0x80000000, size: 0 },
  pcieMmioHigh: { base: 0x400000000, size: 0x400000000 },
} as const satisfies Record<string, MemMapEntry>;

export const VIRTIO_COUNT = 8;
export const FLASH_BANK_SIZE = 0x2000000;
export const PLIC_NUM_SOURCES = 96;
export const PLIC_NUM_PRIORITIES = 7;
export const UART0_IRQ = 10;
export const RTC_IRQ = 11;
/** virtio-mmio slot n (0-based) raises PLIC source VIRTIO_IRQ + n. */
export const VIRTIO_IRQ = 1;
/** PCIe INTA..INTD. */
export const PCIE_IRQ = 0x20;
/** The platform IOMMU's four wired interrupts: PLIC sources 36..39 (cq, fq, pm, pq vectors). */
export const IOMMU_SYS_IRQ = 0x24;
export const PCI_NUM_PINS = 4;
export const UART_CLOCK_HZ = 0x384000;
export const TIMEBASE_HZ = 10_000_000;

/** The PLIC's per-hart M and S contexts and the CLINT's per-hart sections (QEMU's layout). */
export const PLIC_LAYOUT = {
  priorityBase: 0x4,
  pendingBase: 0x1000,
  enableBase: 0x2000,
  enableStride: 0x80,
  contextBase: 0x200000,
  contextStride: 0x1000,
} as const;

export const CLINT_LAYOUT = {
  swiSize: 0x4000,
  mtimerOffset: 0x4000,
  mtimerSize: 0x8000,
  timecmpBase: 0,
  timeOffset: 0x7ff8,
} as const;

/** Firmware load addresses on rv64 (hw/riscv/boot.c). */
export const FW_BASE = 0x80000000;
export const KERNEL_BASE_RV64 = 0x80200000;
/** QEMU builds the tree in a 1 MiB buffer; the placement rule uses that size. */
export const FDT_MAX_SIZE = 0x100000;

