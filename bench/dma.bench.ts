// npm run bench -- --filter dma
// dma.write64k_gbps: dmaWrite of 64 KiB into RAM through an identity address space.
// dma.iommu_write64k_gbps: the same through a page-table IOMMU with a warm IOTLB.
// Each with a TypedArray.set of the same 64 KiB into the same RAM as baseline.
// The IOVA window maps contiguously (a driver's DMA buffer), so consecutive
// pages coalesce into one copy; dma.iommu_write64k_scattered_gbps (no goal)
// maps every 4 KiB page to a non-adjacent one and shows the per-page cost.
import { MemoryRegion } from '../src/memory/region.js';
import { AddressSpace } from '../src/memory/address-space.js';
import { memTxAttrs } from '../src/memory/types.js';
import { dmaWrite } from '../src/dma/dma.js';
import { IOMMU_RW } from '../src/dma/iommu.js';
import { PageTableBuilder, PtIommu } from '../src/dma/pt-iommu.js';
import { round, timeNs, type Report } from './harness.js';

export const group = 'dma';

const SIZE = 64 * 1024;
const RAM = 0x8000_0000;
const RAM_SIZE = 16 * 1024 * 1024;
const SLOTS = 64; // rotate destinations through 4 MiB so the copy is not a cache-resident toy

function gbps(nsPerOp: number): number {
  return SIZE / nsPerOp; // bytes per ns = GB/s
}

export async function run(report: Report): Promise<void> {
  const sys = MemoryRegion.container('system', 2 ** 40);
  const ramMr = MemoryRegion.ram('ram', RAM_SIZE);
  sys.addSubregion(RAM, ramMr);
  const sysAs = new AddressSpace(sys, 'bench-memory', { log: () => {} });
  const ram = ramMr.ramBytes();
  const src = new Uint8Array(SIZE);
  for (let i = 0; i < SIZE; i++) src[i] = i & 0xff;
  const attrs = memTxAttrs({ requesterId: 8 });

  const iommu = new PtIommu('bench-iommu', sysAs, { log: () => {} });
  const pt = new PageTableBuilder(sysAs, RAM + RAM_SIZE - 0x100000, 0x100000);
  pt.map(0, RAM, SLOTS * SIZE, IOMMU_RW);
  iommu.configure('translate', pt.root);
  // A second window at 1 GiB whose pages land in reverse order (nothing coalesces).
  const SCAT = 2 ** 30;
  const PAGES = (SLOTS * SIZE) / 4096;
  for (let p = 0; p < PAGES; p++) pt.map(SCAT + p * 4096, RAM + (PAGES - 1 - p) * 4096, 4096, IOMMU_RW);
  iommu.invalidateAll();
  const devRoot = MemoryRegion.container('bench-dev-dma', 2 ** 39);
  devRoot.addSubregion(0, iommu.region);
  const devAs = new AddressSpace(devRoot, 'bench-dev-dma', { log: () => {} });

  const iters = 2000;
  const setFn = (i: number): void => ram.set(src, (i % SLOTS) * SIZE);
  const idFn = (i: number): void => void dmaWrite(sysAs, RAM + (i % SLOTS) * SIZE, src, attrs);
  const mmuFn = (i: number): void => void dmaWrite(devAs, (i % SLOTS) * SIZE, src, attrs);
  const scatFn = (i: number): void => void dmaWrite(devAs, SCAT + (i % SLOTS) * SIZE, src, attrs);
  // Warm up the JIT and the IOTLB.
  for (let i = 0; i < 500; i++) {
    setFn(i);
    idFn(i);
    mmuFn(i);
    scatFn(i);
  }
  // Paired rounds: each round times the baseline and the DMA back to back, so
  // both see the same machine load; report the medians.
  const pair = (fn: (i: number) => void): { value: number; baseline: number; ratio: number } => {
    const vals: number[] = [];
    const bases: number[] = [];
    const ratios: number[] = [];
    for (let r = 0; r < 15; r++) {
      const b = timeNs(setFn, iters / 10, 1);
      const v = timeNs(fn, iters / 10, 1);
      bases.push(gbps(b));
      vals.push(gbps(v));
      ratios.push(b / v);
    }
    const med = (a: number[]): number => a.sort((x, y) => x - y)[a.length >> 1]!;
    return { value: round(med(vals)), baseline: round(med(bases)), ratio: round(med(ratios)) };
  };
  report({ name: 'dma.write64k_gbps', unit: 'GB/s', ...pair(idFn) });
  report({ name: 'dma.iommu_write64k_gbps', unit: 'GB/s', ...pair(mmuFn) });
  report({ name: 'dma.iommu_write64k_scattered_gbps', unit: 'GB/s', ...pair(scatFn) });
  devAs.destroy();
  sysAs.destroy();
}
