/**
 * MemoryListener: told how an address space's flat view changes (QEMU's
 * MemoryListener). On each commit that changes the view: begin(), then
 * regionDel for every old range that is gone (listeners in reverse priority
 * order), then regionAdd for every new range and regionNop for every range
 * that stayed (listeners in priority order), then commit(). Applying the
 * calls to the old view gives exactly the new one. A listener registered late
 * is replayed the current view as regionAdd calls.
 */
import type { AddressSpace } from './address-space.js';
import type { MemoryRegion } from './region.js';

/** One flat range as a listener sees it (QEMU's MemoryRegionSection). */
export interface MemoryRegionSection {
  readonly addressSpace: AddressSpace;
  readonly mr: MemoryRegion;
  readonly offsetWithinAddressSpace: number;
  readonly offsetWithinRegion: number;
  readonly size: number;
  readonly readonly: boolean;
  readonly romd: boolean;
}

export interface MemoryListener {
  /** Lower numbers hear about additions first and removals last. Default 0. */
  readonly priority?: number;
  begin?(): void;
  commit?(): void;
  regionAdd?(section: MemoryRegionSection): void;
  regionDel?(section: MemoryRegionSection): void;
  regionNop?(section: MemoryRegionSection): void;
}
