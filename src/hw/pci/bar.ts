/**
 * Base address registers: their kinds, sizing, and the rule that says where
 * (if anywhere) a BAR is decoded. The rule is a pure function of the BAR's
 * registers and the command register so that a checker can recompute the
 * expected memory map from config space alone.
 */
import type { MemoryRegion } from '../../memory/region.js';
import {
  PCI_BASE_ADDRESS_MEM_PREFETCH,
  PCI_BASE_ADDRESS_MEM_TYPE_64,
  PCI_BASE_ADDRESS_SPACE_IO,
  PCI_COMMAND_IO,
  PCI_COMMAND_MEMORY,
  PCI_ROM_ADDRESS_ENABLE,
} from './constants.js';

export type BarKind = 'io' | 'mem32' | 'mem64';

export interface BarSpec {
  readonly kind: BarKind;
  /** Memory BARs only. */
  readonly prefetchable?: boolean;
  /** What the BAR decodes to. Its size is the BAR size: a power of two, >= 16 (memory) or >= 4 (I/O). */
  readonly region: MemoryRegion;
}

/** A setup error in a PCI device model (never raised by guest accesses). */
export class PciError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PciError';
  }
}

/** "Not decoded" (QEMU's PCI_BAR_UNMAPPED). */
export const BAR_UNMAPPED = -1;

/** Size of the PCI I/O space behind the host bridge (64 KiB, as on QEMU's gpex). */
export const PCI_IO_SPACE_SIZE = 0x10000;
/** BARs are decoded only below this PCI address: nothing above 2^53 is addressable here. */
export const PCI_MEM_DECODE_LIMIT = 2 ** 53;

export function isPow2(n: number): boolean {
  return Number.isInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}

/** The low flag bits a BAR of this kind reads back with. */
export function barFlags(kind: BarKind, prefetchable: boolean): number {
  if (kind === 'io') return PCI_BASE_ADDRESS_SPACE_IO;
  return (kind === 'mem64' ? PCI_BASE_ADDRESS_MEM_TYPE_64 : 0) | (prefetchable ? PCI_BASE_ADDRESS_MEM_PREFETCH : 0);
}

/** The writable address bits of the BAR's low dword. */
export function barLowMask(kind: BarKind, size: number): number {
  const flagBits = kind === 'io' ? 0x3 : 0xf;
  if (size >= 2 ** 32) return 0;
  return (~(size - 1) & ~flagBits) >>> 0;
}

/** The writable address bits of a 64-bit BAR's high dword. */
export function barHighMask(size: number): number {
  if (size <= 2 ** 32) return 0xffffffff;
  return (~(size / 2 ** 32 - 1)) >>> 0;
}

/**
 * Where a BAR is decoded, or BAR_UNMAPPED (QEMU's pci_bar_address):
 * - its decode bit (I/O or memory) must be set in the command register;
 * - address 0 is never decoded (firmware leaves unassigned BARs at 0);
 * - the BAR must not wrap; a 32-bit BAR (or an I/O BAR) must end below
 *   0xffffffff (QEMU treats the top page specially the same way);
 * - it must fit its space: I/O BARs the 64 KiB I/O space, memory BARs below 2^53.
 */
export function barAddress(kind: BarKind, size: number, command: number, lo: number, hi: number): number {
  if (kind === 'io') {
    if (!(command & PCI_COMMAND_IO)) return BAR_UNMAPPED;
    const addr = (lo & ~(size - 1) & ~0x3) >>> 0;
    const last = addr + size - 1;
    if (addr === 0 || last >= 0xffffffff || last >= PCI_IO_SPACE_SIZE) return BAR_UNMAPPED;
    return addr;
  }
  if (!(command & PCI_COMMAND_MEMORY)) return BAR_UNMAPPED;
  const low = size >= 2 ** 32 ? 0 : (lo & ~(size - 1) & ~0xf) >>> 0;
  let addr: number;
  if (kind === 'mem64') {
    const high = size > 2 ** 32 ? (hi & barHighMask(size)) >>> 0 : hi >>> 0;
    addr = high * 2 ** 32 + low;
  } else {
    addr = low;
  }
  if (addr === 0) return BAR_UNMAPPED;
  const last = addr + size - 1;
  if (kind === 'mem32' && last >= 0xffffffff) return BAR_UNMAPPED;
  if (addr + size > PCI_MEM_DECODE_LIMIT) return BAR_UNMAPPED;
  return addr;
}

/** Where an expansion ROM BAR is decoded: enable bit and memory decode both set, same rules as a 32-bit BAR. */
export function romAddress(size: number, command: number, value: number): number {
  if (!(value & PCI_ROM_ADDRESS_ENABLE)) return BAR_UNMAPPED;
  return barAddress('mem32', size, command, value & ~0x7ff, 0);
}
