/**
 * The IOMMU region kind: an interface only here; the DMA layer (src/dma)
 * provides concrete IOMMUs, IOTLBs, notifiers and the invalidation barrier.
 * Dispatch through an IOMMU region translates every access (see dispatch in
 * address-space.ts) and forwards it to the target address space.
 */
import type { AddressSpace } from './address-space.js';

/** Access permissions (QEMU's IOMMUAccessFlags). */
export const IOMMU_NONE = 0;
export const IOMMU_RO = 1;
export const IOMMU_WO = 2;
export const IOMMU_RW = 3;
export type IOMMUAccessFlags = number;

/** One translation (QEMU's IOMMUTLBEntry). */
export interface IOMMUTLBEntry {
  /** Where the translated address is looked up. */
  readonly targetAs: AddressSpace;
  /** Input address, aligned down to the translation's page (iova & ~addrMask). */
  readonly iova: number;
  /** Output address of the page (aligned the same way). */
  readonly translatedAddr: number;
  /** Page size - 1 (e.g. 0xfff for 4 KiB). */
  readonly addrMask: number;
  readonly perm: IOMMUAccessFlags;
}

export interface IOMMUMemoryRegionOps {
  /**
   * Translate `addr` (an offset within the IOMMU region) for an access needing
   * `flag`. Must not throw for any guest-chosen address: return perm IOMMU_NONE.
   */
  translate(addr: number, flag: IOMMUAccessFlags, iommuIdx: number): IOMMUTLBEntry;
  /** Smallest page size the IOMMU maps (for replay); default 4096. */
  minPageSize?(): number;
}
