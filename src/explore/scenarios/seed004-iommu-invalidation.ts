/**
 * Seed 004 (QEMU, "iommu: Introduce IOMMU emulation infrastructure"): an IOMMU
 * invalidation must be a barrier. Once it completes, no DMA may still use the
 * old translation; QEMU does not wait for mappings taken before it.
 *
 * Built on the machine's own IOMMU: the RISC-V IOMMU that `tsvmm run -machine
 * virt,iommu-sys=on` builds (src/hw/iommu), its device directory, Sv39 tables
 * and command queue in guest RAM, programmed through its registers by the
 * guest-side driver model; the device's DMA goes through the real DMA layer
 * (dmaMap / dmaUnmap shadow mappings, dmaWrite).
 *
 * Tasks: the device (an I/O thread) maps the IOVA page for writing, fills the
 * buffer across a sync point, and unmaps (writing back); then starts a second,
 * synchronous DMA. The guest (a vCPU) retargets the IOVA to a new page, queues
 * IOTINVAL.VMA + IOFENCE.C, waits for the fence's completion write, and reuses
 * the old page as a guard page. The IOMMU's command-queue bottom half runs as
 * its own task.
 *
 * naive: an IOMMU whose IOFENCE.C does not wait for in-flight DMA (QEMU's
 * behaviour), injected from src/explore/policies/iommu-fence-no-wait.ts; the
 * device's write-back lands in the guard page after the fence completed.
 * shipped: the fence completes only after the mapping's unmap.
 */
import { AddressSpace } from '../../memory/address-space.js';
import { MemoryRegion } from '../../memory/region.js';
import { MEMTX_OK, memTxAttrs } from '../../memory/types.js';
import { configureDma, dmaMap, dmaUnmap, dmaWrite } from '../../dma/dma.js';
import type { BottomHalf, Scheduler, Timer } from '../../machine/event-loop-types.js';
import { RiscvIommu, type RiscvIommuOptions } from '../../hw/iommu/riscv-iommu.js';
import { RiscvIommuDriver } from '../../hw/iommu/riscv-iommu-driver.js';
import { FenceNoWaitIommu } from '../policies/iommu-fence-no-wait.js';
import type { Scenario, ScenarioScheduler } from '../scenario.js';

const RAM = 0x8000_0000;
const RAM_SIZE = 0x4_0000;
const REGS = 0x301_0000;
const POOL = RAM + 0x2_0000;
const IOVA = 0x1000;
const OLD = 0x5000; // offsets in RAM
const NEW = 0x7000;
const FENCE = 0x9000;
const GUARD = 0x47;
const LEN = 0x40;
const DEVID = 0x10;
const PSCID = 1;

/** The IOMMU's bottom halves run as explorer tasks; there are no timers (revokes are disabled). */
function explorerScheduler(sched: ScenarioScheduler): Scheduler {
  const noTimer: Timer = { mod() {}, del() {}, pending: false };
  return {
    clock: { now: () => 0 },
    newTimer: () => noTimer,
    newBottomHalf(cb): BottomHalf {
      let pending = false;
      return {
        schedule() {
          if (pending) return;
          pending = true;
          sched.spawn('iommu-cq', 'bh', async () => {
            pending = false;
            cb();
          });
        },
        cancel() {
          pending = false;
        },
      };
    },
  };
}

export const seed004IommuInvalidation: Scenario = {
  name: 'seed004-iommu-invalidation',
  description: 'DMA in flight against IOTINVAL.VMA + IOFENCE.C on the RISC-V IOMMU: no write through the old translation after the fence',
  variants: ['naive', 'shipped'],
  buggy: ['naive'],
  drives: ['hw/iommu/riscv-iommu.ts', 'dma/iommu.ts', 'dma/dma.ts', 'memory/address-space.ts'],
  stepsHint: 20,
  maxSteps: 2000,
  setup(run) {
    const { env, sched } = run;
    const sys = MemoryRegion.container('system', 2 ** 40);
    const ramMr = MemoryRegion.ram('ram', RAM_SIZE);
    sys.addSubregion(RAM, ramMr);
    const sysAs = new AddressSpace(sys, 'memory', { log: () => {} });
    const opts: RiscvIommuOptions = { sysAs, irqs: [], scheduler: explorerScheduler(sched), revokeTimeoutNs: Infinity, log: () => {} };
    const iommu = run.variant === 'naive' ? new FenceNoWaitIommu(opts) : new RiscvIommu(opts);
    sys.addSubregion(REGS, iommu.regs);
    const devAs = new AddressSpace(iommu.dmaRootFor(DEVID), 'dev-dma', { log: () => {} });
    configureDma(devAs, { log: () => {}, syncPoints: env.points });
    const drv = new RiscvIommuDriver(sysAs, { regs: REGS, pool: POOL, poolSize: 0x1_0000 });
    drv.bringUp();
    drv.attach(DEVID, PSCID);
    drv.map(DEVID, IOVA, RAM + OLD);
    const ram = ramMr.ramBytes();
    const attrs = memTxAttrs({ requesterId: DEVID });

    /** Set once the guest saw the fence complete and reused the old page. */
    let guardArmed = false;
    let invalidationStarted = false;
    let fenced = false;

    sched.spawn('device', 'iothread', async () => {
      const m = dmaMap(devAs, IOVA, LEN, true, attrs);
      if (!m.ok) return; // the guest already tore the page down: the device sees a fault
      await sched.yield('device: mapping held, DMA in flight');
      m.bytes.fill(0xd1);
      await sched.yield('device: buffer filled');
      dmaUnmap(devAs, m, LEN);
      await sched.yield('device: unmapped');
      // A second DMA: if it starts after the invalidation was processed, it must use the new tables.
      const started = invalidationStarted && iommu.stats.commands > 0;
      const r = dmaWrite(devAs, IOVA + LEN, new Uint8Array(LEN).fill(0xd2), attrs);
      if (started) {
        run.check(r === MEMTX_OK && ram[NEW + LEN] === 0xd2, 'a DMA started after the invalidation did not reach the new page');
      }
    });

    sched.spawn('guest', 'vcpu', async () => {
      await sched.yield('guest: about to retarget the IOVA');
      drv.unmap(DEVID, IOVA);
      drv.map(DEVID, IOVA, RAM + NEW);
      invalidationStarted = true;
      drv.iotinvalVma(PSCID, IOVA);
      drv.iofence(1, RAM + FENCE);
      // Polls the completion word (the explorer runs other tasks meanwhile).
      await env.tasks.waitUntil('IOFENCE.C completion write', () => ram[FENCE] === 1);
      fenced = true;
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
        if (guardArmed) run.check(guardIntact(), 'a DMA wrote through the old translation after IOFENCE.C completed');
      },
      finish() {
        run.check(fenced, 'the fence never completed');
        run.check(guardIntact(), 'the old page changed after the fence completed');
        run.check(iommu.spaceFor(DEVID).outstandingMappings === 0, 'a mapping was leaked');
      },
      dispose() {
        devAs.destroy();
        sysAs.destroy();
      },
    };
  },
};
