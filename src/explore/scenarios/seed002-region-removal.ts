/**
 * Seed 002 (QEMU, "fix create in place obj's life cycle problem"): a device is
 * unplugged while accesses that do not hold the big lock are on their way to
 * it. Everything here is the machine's own mechanism: the device's regions
 * are removed by `unrealize()` (src/memory/lifetime.ts: one commit, then each
 * region's in-flight tracker); dispatch (src/memory/dispatch.ts) enters that
 * tracker around handlers; a DMA mapping (src/dma/dma.ts) holds it; hart
 * realms reach the device through published snapshots and the home realm's
 * device table (src/machine/smp: publisher, snapshot views, grace periods,
 * HomeDevices, whose published ids hold the tracker until retired).
 *
 * Tasks: a hart realm (simulated: it resolves the register in its adopted
 * snapshot, posts the request, and the home realm serves it later, which is
 * where the threads split it); a main-realm vCPU reading the register; an
 * I/O-thread request DMA-ing into the device's buffer across a sync point;
 * and the main realm unplugging the device.
 *
 * naive (QEMU before the fix, as the device's unplug): the device frees its
 * state as soon as it is unparented, i.e. when `unrealize()` returns.
 * The DMA still in flight into its buffer then writes freed memory.
 * shipped: the device frees its state in the completion's onDone, which runs
 * once dispatches in flight exited, the DMA mapping was unmapped and every
 * hart realm acknowledged a snapshot without the device (its id retired).
 * A request resolved in an old snapshot reads all-ones once removal started;
 * nothing touches the device after removal completed.
 */
import { dmaMap, dmaUnmap } from '../../dma/dma.js';
import { AddressSpace } from '../../memory/address-space.js';
import { unrealize } from '../../memory/lifetime.js';
import { deviceOwner } from '../../memory/owner.js';
import { MemoryRegion } from '../../memory/region.js';
import { memoryTransaction } from '../../memory/transaction.js';
import { MEMTX_DECODE_ERROR, MEMTX_OK, MEMTXATTRS_UNSPECIFIED } from '../../memory/types.js';
import { ExplorerRealms } from '../realms.js';
import type { Scenario } from '../scenario.js';

const MMIO_ADDR = 0x1000;
const BUF_ADDR = 0x4000;
const SIZE = 0x100;
const REG = 0x1234_0000;

export const seed002RegionRemoval: Scenario = {
  name: 'seed002-region-removal',
  description: "unrealize() vs a hart realm's request, a main-realm MMIO read and an I/O thread's DMA into the device: free on unparent vs free when drained",
  variants: ['naive', 'shipped'],
  buggy: ['naive'],
  drives: ['memory/lifetime.ts', 'memory/dispatch.ts', 'memory/region.ts', 'dma/dma.ts', 'machine/smp/home-devices.ts', 'machine/smp/realm-memory.ts', 'machine/smp/publisher.ts', 'machine/smp/snapshot.ts', 'machine/smp/epoch.ts'],
  stepsHint: 24,
  maxSteps: 2000,
  setup(run) {
    const { env, sched } = run;
    const naive = run.variant === 'naive';
    const state = { freed: false };
    const owner = { ...deviceOwner('ide0'), syncEnv: env };
    const mmio = MemoryRegion.io(
      'ide0.mmio',
      SIZE,
      {
        read(offset: number): number {
          run.check(!state.freed, 'ide0.mmio handler ran on freed device state');
          return REG | offset;
        },
        valid: { min: 4, max: 4 },
      },
      { owner },
    );
    const buffer = MemoryRegion.ram('ide0.buffer', 0x1000, { owner });
    const root = MemoryRegion.container('system', 0x10000);
    memoryTransaction(() => {
      root.addSubregion(MMIO_ADDR, mmio);
      root.addSubregion(BUF_ADDR, buffer);
    });
    const as = new AddressSpace(root, 'system', { log: () => {} });

    // One hart realm and the main realm's device table and snapshot publisher.
    const realms = new ExplorerRealms(as, [1]);
    const { grace } = realms;
    let removedEpoch = Infinity;

    const hart = realms.hart(1);
    sched.spawn('hart0', 'vcpu', async () => {
      for (let n = 0; n < 2; n++) {
        // Quantum boundary: adopt the newest snapshot, acknowledge its epoch.
        await sched.yield('boundary');
        hart.boundary();
        // The access resolves in the adopted snapshot; the home realm serves it after a preemption.
        await sched.yield('request posted');
        const remote = hart.mem.remoteAccesses;
        const r = hart.mem.load(MMIO_ADDR, 4, MEMTXATTRS_UNSPECIFIED);
        const v = hart.mem.valLo;
        if (hart.mem.remoteAccesses === remote) {
          run.check(hart.view.epoch >= removedEpoch, 'device missing from a snapshot older than the removal');
          continue;
        }
        run.check(r === MEMTX_OK ? v === REG : r === MEMTX_DECODE_ERROR && v === 0xffffffff, `hart read returned 0x${v.toString(16)} (${r})`);
      }
      hart.exit();
    });

    sched.spawn('vcpu0', 'vcpu', async () => {
      for (let n = 0; n < 2; n++) {
        const r = as.load(MMIO_ADDR + 4, 4, MEMTXATTRS_UNSPECIFIED);
        run.check(r === MEMTX_OK ? as.valLo === (REG | 4) : as.valLo === 0xffffffff, `vcpu read returned 0x${as.valLo.toString(16)}`);
        await sched.yield('mmio read');
      }
    });

    sched.spawn('iothread', 'iothread', async () => {
      const m = dmaMap(as, BUF_ADDR, 16, true);
      if (!m.ok) return; // the buffer is already gone: the request fails cleanly
      await sched.yield('dma in flight');
      run.check(!state.freed, "DMA wrote into ide0's buffer after the device freed it");
      m.bytes.fill(0xab);
      dmaUnmap(as, m, 16);
    });

    sched.spawn('unplug', 'main', async () => {
      await sched.yield('before unplug');
      const done = unrealize(owner);
      removedEpoch = as.epoch;
      if (naive) {
        state.freed = true;
        return;
      }
      done.onDone(() => (state.freed = true));
      // The main realm's loop polls grace periods; here the task waits on them.
      await env.tasks.waitUntil('unplug drained', () => {
        grace.poll();
        return done.done;
      });
    });

    return {
      finish() {
        run.check(state.freed, 'the device was freed');
        run.check(as.flatView().lookup(MMIO_ADDR) === null, 'ide0.mmio still mapped after unplug');
      },
      dispose() {
        realms.dispose();
        as.destroy();
      },
    };
  },
};
