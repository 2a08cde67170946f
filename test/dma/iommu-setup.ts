// A system address space with 1 MiB of RAM at 0x80000000 (page tables in its
// last 64 KiB) and a device DMA address space behind a PtIommu.
import { MemoryRegion } from '../../src/memory/region.js';
import { AddressSpace } from '../../src/memory/address-space.js';
import { configureDma } from '../../src/dma/dma.js';
import { PtIommu, PageTableBuilder } from '../../src/dma/pt-iommu.js';
import type { IommuOptions } from '../../src/dma/iommu.js';

export const RAM = 0x8000_0000;
export const RAM_SIZE = 0x10_0000;
export const PT_POOL = RAM + RAM_SIZE - 0x10000;

export function iommuMachine(opts: IommuOptions = {}) {
  const log: string[] = [];
  const sys = MemoryRegion.container('system', 2 ** 40);
  const ramMr = MemoryRegion.ram('ram', RAM_SIZE);
  sys.addSubregion(RAM, ramMr);
  const sysAs = new AddressSpace(sys, 'memory', { log: (m) => log.push(m) });
  const iommu = new PtIommu('iommu0', sysAs, { log: (m) => log.push(m), ...opts });
  const devRoot = MemoryRegion.container('dev-dma', 2 ** 39);
  devRoot.addSubregion(0, iommu.region);
  const devAs = new AddressSpace(devRoot, 'dev-dma', { log: (m) => log.push(m) });
  configureDma(devAs, { log: (m) => log.push(m) });
  const pt = new PageTableBuilder(sysAs, PT_POOL, 0x10000);
  iommu.configure('translate', pt.root);
  const ram = ramMr.ramBytes();
  const destroy = (): void => {
    devAs.destroy();
    sysAs.destroy();
  };
  return { sysAs, devAs, iommu, pt, ram, log, destroy };
}
