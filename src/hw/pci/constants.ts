/** Config-space offsets and bits of the PCI Local Bus and PCI Express specifications. */

export const PCI_CONFIG_SPACE_SIZE = 0x100;
export const PCIE_CONFIG_SPACE_SIZE = 0x1000;

// Type 0 header.
export const PCI_VENDOR_ID = 0x00;
export const PCI_DEVICE_ID = 0x02;
export const PCI_COMMAND = 0x04;
export const PCI_STATUS = 0x06;
export const PCI_REVISION_ID = 0x08;
export const PCI_CLASS_PROG = 0x09;
export const PCI_CLASS_DEVICE = 0x0a;
export const PCI_CACHE_LINE_SIZE = 0x0c;
export const PCI_LATENCY_TIMER = 0x0d;
export const PCI_HEADER_TYPE = 0x0e;
export const PCI_BIST = 0x0f;
export const PCI_BASE_ADDRESS_0 = 0x10;
export const PCI_CARDBUS_CIS = 0x28;
export const PCI_SUBSYSTEM_VENDOR_ID = 0x2c;
export const PCI_SUBSYSTEM_ID = 0x2e;
export const PCI_ROM_ADDRESS = 0x30;
export const PCI_CAPABILITY_LIST = 0x34;
export const PCI_INTERRUPT_LINE = 0x3c;
export const PCI_INTERRUPT_PIN = 0x3d;
export const PCI_MIN_GNT = 0x3e;
export const PCI_MAX_LAT = 0x3f;
/** First byte after the standard header; capabilities live from here. */
export const PCI_CONFIG_HEADER_END = 0x40;

export const PCI_HEADER_TYPE_NORMAL = 0x00;
export const PCI_HEADER_TYPE_MULTI_FUNCTION = 0x80;

export const PCI_COMMAND_IO = 0x1;
export const PCI_COMMAND_MEMORY = 0x2;
export const PCI_COMMAND_MASTER = 0x4;
export const PCI_COMMAND_PARITY = 0x40;
export const PCI_COMMAND_SERR = 0x100;
export const PCI_COMMAND_INTX_DISABLE = 0x400;
/** Command bits a guest may change (QEMU's default wmask). */
export const PCI_COMMAND_WRITABLE =
  PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE;

export const PCI_STATUS_INTERRUPT = 0x8;
export const PCI_STATUS_CAP_LIST = 0x10;
export const PCI_STATUS_PARITY = 0x100;
export const PCI_STATUS_SIG_TARGET_ABORT = 0x800;
export const PCI_STATUS_REC_TARGET_ABORT = 0x1000;
export const PCI_STATUS_REC_MASTER_ABORT = 0x2000;
export const PCI_STATUS_SIG_SYSTEM_ERROR = 0x4000;
export const PCI_STATUS_DETECTED_PARITY = 0x8000;
/** Error bits the guest clears by writing 1 (QEMU's w1cmask). */
export const PCI_STATUS_RW1C =
  PCI_STATUS_PARITY |
  PCI_STATUS_SIG_TARGET_ABORT |
  PCI_STATUS_REC_TARGET_ABORT |
  PCI_STATUS_REC_MASTER_ABORT |
  PCI_STATUS_SIG_SYSTEM_ERROR |
  PCI_STATUS_DETECTED_PARITY;

export const PCI_BASE_ADDRESS_SPACE_IO = 0x1;
export const PCI_BASE_ADDRESS_MEM_TYPE_64 = 0x4;
export const PCI_BASE_ADDRESS_MEM_PREFETCH = 0x8;
export const PCI_ROM_ADDRESS_ENABLE = 0x1;
export const PCI_NUM_REGIONS = 6;

export const PCI_CAP_ID_PM = 0x01;
export const PCI_CAP_ID_MSI = 0x05;
export const PCI_CAP_ID_EXP = 0x10;
export const PCI_CAP_ID_MSIX = 0x11;

// MSI capability (offsets from the capability start).
export const PCI_MSI_FLAGS = 0x02;
export const PCI_MSI_FLAGS_ENABLE = 0x0001;
export const PCI_MSI_FLAGS_QMASK = 0x000e;
export const PCI_MSI_FLAGS_QSIZE = 0x0070;
export const PCI_MSI_FLAGS_64BIT = 0x0080;
export const PCI_MSI_FLAGS_MASKBIT = 0x0100;
export const PCI_MSI_ADDRESS_LO = 0x04;

// MSI-X capability.
export const PCI_MSIX_FLAGS = 0x02;
export const PCI_MSIX_FLAGS_QSIZE = 0x07ff;
export const PCI_MSIX_FLAGS_MASKALL = 0x4000;
export const PCI_MSIX_FLAGS_ENABLE = 0x8000;
export const PCI_MSIX_TABLE = 0x04;
export const PCI_MSIX_PBA = 0x08;
export const PCI_MSIX_ENTRY_SIZE = 16;
export const PCI_MSIX_ENTRY_CTRL_MASKBIT = 0x1;

// PCI Express capability.
export const PCI_EXP_TYPE_ENDPOINT = 0x0;
export const PCI_EXP_TYPE_RC_END = 0x9;

/** Bus/device/function helpers. */
export function pciDevfn(slot: number, fn: number): number {
  return ((slot & 0x1f) << 3) | (fn & 7);
}
export function pciSlot(devfn: number): number {
  return (devfn >> 3) & 0x1f;
}
export function pciFunc(devfn: number): number {
  return devfn & 7;
}
/** "bb:dd.f" as QEMU and Linux print it. */
export function formatBdf(bus: number, devfn: number): string {
  const h = (n: number, w: number) => n.toString(16).padStart(w, '0');
  return `${h(bus, 2)}:${h(pciSlot(devfn), 2)}.${pciFunc(devfn)}`;
}
