/**
 * Seed 004 (QEMU, "iommu: Introduce IOMMU emulation infrastructure"): an IOMMU
 * invalidation must be a barrier. Once it completes, no DMA may still use the
 * old translation; QEMU does not wait for mappings taken before it.
 *
 * Built on the real DMA layer (src/dma): a system address space, a PtIommu
 * with its tables in guest RAM, a device DMA address space behind it, dmaMap /
 * dmaUnmap (shadow mappings through the IOMMU) and dmaWrite.
 *
 * Tasks: the device (an I/O thread) maps the IOVA page for writing, fills the
 * buffer across a sync point, and unmaps (writing back); then starts a second,
 * synchronous DMA. The guest (a vCPU) retargets the IOVA to a new page,
 * invalidates, waits for the completion, and reuses the old page as a guard page.
 *
 * naive (QEMU's behaviour): the invalidation completes at once; the device's
 * write-back lands in the guard page afterwards: violation.
 * shipped: the completion waits for the mapping's unmap; every DMA started
 * after the invalidation began reaches the new page.
 */
import { AddressSpace } from '../../memory/address-space.js';
import { MemoryRegion } from '../../memory/region.js';
import { MEMTX_OK, memTxAttrs } from '../../memory/types.js';
import { configureDma, dmaMap, dmaUnmap, dmaWrite } from '../../dma/dma.js';
import { IOMMU_RW, type InvalidationCompletion } from '../../dma/iommu.js';
import { PageTableBuilder, PtIommu } from '../../dma/pt-iommu.js';
import type { Scenario } from '../scenario.js';

const RAM = 0x8000_0000;
const RAM_SIZE = 0x4_0000;
const PT_POOL = RAM + 0x3_0000;
const IOVA = 0x1000;
const OLD = 0x5000; // offsets in RAM
const NEW = 0x7000;
const GUARD = 0x47;
const LEN = 0x40;

export const seed004IommuInvalidation: Scenario = {
  name: 'seed004-iommu-invalidation',
  description: 'DMA in flight against an IOMMU invalidation: no write through the old translation after completion',
  variants: ['naive', 'shipped'],
  buggy: ['naive'],
  stepsHint: 20,
  maxSteps: 2000,
  setup(run) {
    const { env, sched } = run;
    const naive = run.variant === 'naive';
    const sys = MemoryRegion.container('system', 2 ** 40);
    const ramMr = MemoryRegion.ram('ram', RAM_SIZE);
    sys.addSubregion(RAM, ramMr);
    const sysAs = new AddressSpace(sys, 'memory', { log: () => {} });
    const iommu = new PtIommu('iommu', sysAs, { naive, revokeTimeoutNs: Infinity, log: () => {}, syncPoints: env.points });
    const devRoot = MemoryRegion.container('dev-dma', 2 ** 39);
    devRoot.addSubregion(0, iommu.region);
    const devAs = new AddressSpace(devRoot, 'dev-dma', { log: () => {} });
    configureDma(devAs, { log: () => {}, syncPoints: env.points });
    const pt = new PageTableBuilder(sysAs, PT_POOL, 0x1_0000);
    pt.map(IOVA, RAM + OLD, 0x1000, IOMMU_RW);
    iommu.configure('translate', pt.root);
    const ram = ramMr.ramBytes();
    const attrs = memTxAttrs({ requesterId: 0x10 });

    /** Set once the guest's invalidation completed and it reused the old page. */
    let guardArmed = false;
    let invalidationStarted = false;
    let completion: InvalidationCompletion | null = null;

    sched.spawn('device', 'iothread', async () => {
      const m = dmaMap(devAs, IOVA, LEN, true, attrs);
      if (!m.ok) return; // the guest already tore the page down: the device sees a fault
      await sched.yield('device: mapping held, DMA in flight');
      m.bytes.fill(0xd1);
      await sched.yield('device: buffer filled');
      dmaUnmap(devAs, m, LEN);
      await sched.yield('device: unmapped');
      // A second DMA: if it starts after the invalidation began, it must use the new tables.
      const started = invalidationStarted;
      const r = dmaWrite(devAs, IOVA + LEN, new Uint8Array(LEN).fill(0xd2), attrs);
      if (started) {
        run.check(r === MEMTX_OK && ram[NEW + LEN] === 0xd2, 'a DMA started after the invalidation did not reach the new page');
      }
    });

    sched.spawn('guest', 'vcpu', async () => {
      await sched.yield('guest: about to retarget the IOVA');
      pt.unmap(IOVA, 0x1000);
      pt.map(IOVA, RAM + NEW, 0x1000, IOMMU_RW);
      invalidationStarted = true;
      const c = iommu.invalidate(IOVA, 0x1000);
      completion = c;
      // Blocks (the explorer runs other tasks) until the barrier completes.
      await env.tasks.waitUntil('IOMMU invalidation completion', () => c.status !== 'pending');
      // The old page is free: the guest reuses it; nothing may write it any more.
      ram.fill(GUARD, OLD, OLD + 0x1000);
      guardArmed = true;
      await sched.yield('guest: old page reused');
    });

    const guardIntact = (): boolean => {
      for (let i = OLD; i < OLD + 0x1000; i++) if (ram[i] !== GUARD) return false;
      return true;
    };

    return {
      invariant() {
        if (guardArmed) run.check(guardIntact(), 'a DMA wrote through the old translation after the invalidation completed');
      },
      finish() {
        run.check(completion !== null && completion.status === 'complete', 'the invalidation never completed');
        run.check(guardIntact(), 'the old page changed after the invalidation completed');
        run.check(iommu.outstandingMappings === 0, 'a mapping was leaked');
      },
      dispose() {
        devAs.destroy();
        sysAs.destroy();
      },
    };
  },
};
