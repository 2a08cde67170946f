// The edu device (src/hw/misc/edu.ts) on a gpex host: its DMA engine (run from
// a timer, on behalf of the device) aimed at its own BAR is refused by the
// reentrancy guard; behind a PtIommu its DMA is translated, and faults are
// recorded with its requester id.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressSpace } from '../../src/memory/address-space.js';
import { MemoryRegion, REGION_SIZE_MAX } from '../../src/memory/region.js';
import { MEMTX_ACCESS_ERROR, MEMTX_OK, memTxAttrs } from '../../src/memory/types.js';
import { irqLine } from '../../src/hw/irq.js';
import { GpexHost, VIRT_GPEX_LAYOUT } from '../../src/hw/pci/gpex.js';
import { DroppingMsiSink } from '../../src/hw/pci/bus.js';
import { EduDevice, EDU_DMA_BASE } from '../../src/hw/misc/edu.js';
import { PageTableBuilder, PtIommu } from '../../src/dma/pt-iommu.js';
import { IOMMU_RO, IOMMU_RW } from '../../src/dma/iommu.js';
import { ManualScheduler } from '../hw/pci/helpers.js';

const RAM = 0x8000_0000;
const BAR0 = VIRT_GPEX_LAYOUT.mmio32.base;
const DMA_NS = 100_000_000;
const A = memTxAttrs({ requesterId: 0 });

function rig(withIommu: boolean) {
  const log: string[] = [];
  const system = MemoryRegion.container('system', REGION_SIZE_MAX);
  const ramMr = MemoryRegion.ram('ram', 0x10_0000);
  system.addSubregion(RAM, ramMr);
  const sysAs = new AddressSpace(system, 'memory', { log: (m) => log.push(m) });
  let iommu: PtIommu | null = null;
  let pt: PageTableBuilder | null = null;
  let dmaRoot = system;
  if (withIommu) {
    iommu = new PtIommu('pt-iommu', sysAs, { log: (m) => log.push(m) });
    dmaRoot = MemoryRegion.container('iommu-dma-root', 2 ** 39);
    dmaRoot.addSubregion(0, iommu.region);
    pt = new PageTableBuilder(sysAs, RAM + 0xf_0000, 0x1_0000);
    iommu.configure('translate', pt.root);
  }
  const host = new GpexHost({ dmaRoot, sysmem: system, msiSink: new DroppingMsiSink(), irqs: [0, 1, 2, 3].map(() => irqLine(() => {})) });
  const sched = new ManualScheduler();
  const edu = new EduDevice({ scheduler: sched, dmaMask: 2 ** 40 - 1, log: (m) => log.push(m) });
  const devfn = host.addDevice(edu, 8);
  const cfg = (off: number, size: number, v: number): void => {
    sysAs.store(VIRT_GPEX_LAYOUT.ecam.base + ((devfn << 12) | off), size, v >>> 0, 0, A);
  };
  cfg(0x10, 4, BAR0);
  cfg(0x04, 2, 0x6); // memory decode + bus master
  const mmio = {
    rd: (off: number): number => {
      sysAs.load(BAR0 + off, 4, A);
      return sysAs.valLo;
    },
    wr: (off: number, v: number): void => void sysAs.store(BAR0 + off, 4, v >>> 0, 0, A),
  };
  /** Start a transfer the way a driver does and let its 100 ms elapse. */
  const dma = (src: number, dst: number, cnt: number, toRam: boolean): void => {
    mmio.wr(0x80, src);
    mmio.wr(0x84, Math.floor(src / 2 ** 32));
    mmio.wr(0x88, dst);
    mmio.wr(0x8c, Math.floor(dst / 2 ** 32));
    mmio.wr(0x90, cnt);
    mmio.wr(0x98, toRam ? 0x3 : 0x1);
    sched.advance(DMA_NS);
  };
  return { sysAs, ram: ramMr.ramBytes(), edu, iommu, pt, mmio, dma, log, destroy: () => sysAs.destroy() };
}

test('edu DMA into its own BAR is refused by the guard, logged once, and the device stays usable', () => {
  const { ram, edu, mmio, dma, destroy } = rig(false);
  assert.equal(mmio.rd(0x00), 0x010000ed);
  edu.dmaBuf.set([0x11, 0x22, 0x33, 0x44]);
  dma(EDU_DMA_BASE, RAM + 0x100, 4, true);
  assert.equal(edu.lastDmaResult, MEMTX_OK);
  assert.deepEqual(Array.from(ram.subarray(0x100, 0x104)), [0x11, 0x22, 0x33, 0x44]);
  // Buffer -> its own liveness register (BAR0 + 4): the timer runs on the device's behalf.
  mmio.wr(0x04, 0);
  dma(EDU_DMA_BASE, BAR0 + 0x04, 4, true);
  assert.equal(edu.lastDmaResult, MEMTX_ACCESS_ERROR);
  assert.equal(mmio.rd(0x04), 0xffffffff, 'the register kept ~0: the DMA never reached it');
  assert.equal(edu.mmio.reentrancyRefusals, 1);
  assert.equal(edu.mmio.reentrancyLogged, true);
  // Its own BAR as a DMA source is refused as well; still one log line per region (the flag stays set).
  dma(BAR0 + 0x00, EDU_DMA_BASE, 4, false);
  assert.equal(edu.lastDmaResult, MEMTX_ACCESS_ERROR);
  assert.equal(edu.mmio.reentrancyRefusals, 2);
  // Usable afterwards.
  assert.equal(edu.dmaErrors, 2);
  dma(RAM + 0x100, EDU_DMA_BASE + 8, 4, false);
  assert.equal(edu.lastDmaResult, MEMTX_OK);
  assert.deepEqual(Array.from(edu.dmaBuf.subarray(8, 12)), [0x11, 0x22, 0x33, 0x44]);
  mmio.wr(0x04, 0x0f0f0f0f);
  assert.equal(mmio.rd(0x04), 0xf0f0f0f0);
  destroy();
});

test('edu behind the page-table IOMMU: translated DMA, permission faults with its requester id, and the guard still applies', () => {
  const { ram, edu, iommu, pt, dma, destroy } = rig(true);
  pt!.map(0x1000, RAM + 0x3000, 0x1000, IOMMU_RW);
  pt!.map(0x2000, RAM + 0x4000, 0x1000, IOMMU_RO);
  pt!.map(0x9000, BAR0, 0x1000, IOMMU_RW);
  iommu!.invalidateAll();
  edu.dmaBuf.set([1, 2, 3, 4, 5, 6, 7, 8]);
  dma(EDU_DMA_BASE, 0x1010, 8, true);
  assert.equal(edu.lastDmaResult, MEMTX_OK);
  assert.deepEqual(Array.from(ram.subarray(0x3010, 0x3018)), [1, 2, 3, 4, 5, 6, 7, 8]);
  dma(EDU_DMA_BASE, 0x2000, 8, true);
  assert.equal(edu.lastDmaResult, MEMTX_ACCESS_ERROR);
  const f = iommu!.faults().at(-1)!;
  assert.equal(f.reason, 'permission');
  assert.equal(f.requesterId, edu.requesterId);
  assert.ok(ram.subarray(0x4000, 0x4008).every((b) => b === 0));
  // Reading through the read-only page works.
  ram.set([9, 9, 9, 9], 0x4000);
  dma(0x2000, EDU_DMA_BASE + 0x100, 4, false);
  assert.equal(edu.lastDmaResult, MEMTX_OK);
  assert.deepEqual(Array.from(edu.dmaBuf.subarray(0x100, 0x104)), [9, 9, 9, 9]);
  // An IOVA the guest mapped onto the device's own BAR: translated, then refused by the guard.
  dma(EDU_DMA_BASE, 0x9004, 4, true);
  assert.equal(edu.lastDmaResult, MEMTX_ACCESS_ERROR);
  assert.equal(edu.mmio.reentrancyRefusals, 1);
  destroy();
});
