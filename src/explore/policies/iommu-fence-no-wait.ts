/**
 * Seed 004's naive design as a RISC-V IOMMU the explorer injects: QEMU's
 * invalidation, whose IOFENCE.C completes without waiting for DMA still in
 * flight through the old translation, so a write-back can land after the
 * guest saw the fence complete.
 *
 * Lives in src/explore: the shipped IOMMU (src/hw/iommu/riscv-iommu.ts) waits
 * for the mappings an invalidation covers and knows nothing of this class.
 */
import { RiscvIommu, type RiscvIommuOptions } from '../../hw/iommu/riscv-iommu.js';
import { notePolicy } from './registry.js';

export class FenceNoWaitIommu extends RiscvIommu {
  constructor(opts: RiscvIommuOptions) {
    super(opts);
    notePolicy();
  }

  protected override fenceReady(): boolean {
    return true;
  }
}
