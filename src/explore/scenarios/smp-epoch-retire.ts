/**
 * `smp-epoch-retire`: hart realms simulated in one thread by the schedule
 * explorer, running the real SMP components — the memory core's map and
 * commits, the snapshot publisher, snapshot views, the grace-period tracker
 * and the home realm's device table (with its Lifetimes on the explorer's
 * env) — while the main realm unplugs a device the harts are reading.
 *
 * Each hart reads through the real RealmPhysMemory on its adopted snapshot
 * (src/explore/realms.ts); it adopts the newest snapshot and acknowledges its
 * epoch only at quantum boundaries, so an access after a preemption still
 * resolves in the snapshot adopted before it.
 *
 * naive: the main realm frees the device as soon as the new map is published
 *   (an old snapshot is retired at once): a request resolved in the old
 *   snapshot is served on the freed device (stale dispatch).
 * shipped: the device is freed only after HomeDevices retired its id, i.e.
 *   after the grace period of the removing epoch (every hart acknowledged it)
 *   and once no request is in flight; a hart that acknowledged the removal
 *   reads all-ones.
 */
import { AddressSpace } from '../../memory/address-space.js';
import { MemoryRegion } from '../../memory/region.js';
import { deviceOwner } from '../../memory/owner.js';
import { MEMTX_DECODE_ERROR, MEMTX_OK, MEMTXATTRS_UNSPECIFIED } from '../../memory/types.js';
import { ExplorerRealms } from '../realms.js';
import type { Scenario } from '../scenario.js';

const DEV = 0x1000;
const READS = 3;

export const smpEpochRetire: Scenario = {
  name: 'smp-epoch-retire',
  description: 'hart realms (simulated) read a device while the main realm unplugs it: retire only after the grace period',
  variants: ['naive', 'shipped'],
  buggy: ['naive'],
  drives: ['memory/flatview.ts', 'memory/dispatch.ts', 'memory/ram-path.ts', 'machine/smp/realm-memory.ts', 'machine/smp/publisher.ts', 'machine/smp/snapshot.ts', 'machine/smp/epoch.ts', 'machine/smp/home-devices.ts'],
  stepsHint: 30,
  maxSteps: 3000,
  setup(run) {
    const { env, sched } = run;
    const naive = run.variant === 'naive';
    let freed = false;
    let removedEpoch = Infinity;
    const root = MemoryRegion.container('sys', 0x10000);
    const dev = MemoryRegion.io(
      'dev',
      0x100,
      {
        read: () => {
          run.check(!freed, 'device handler ran after the device was freed (stale dispatch through a retired snapshot)');
          return 0x1234;
        },
        valid: { min: 4, max: 4 },
      },
      { owner: deviceOwner('dev') },
    );
    root.addSubregion(DEV, dev);
    const as = new AddressSpace(root, 'smp-explore', { log: () => {} });
    const realms = new ExplorerRealms(as, [1, 2]);
    const { grace, home } = realms;

    for (const realm of realms.harts) {
      const hart = realms.hart(realm);
      sched.spawn(`hart${realm - 1}`, 'vcpu', async () => {
        for (let n = 0; n < READS; n++) {
          // Quantum boundary: adopt the newest snapshot, acknowledge its epoch.
          await sched.yield('boundary');
          hart.boundary();
          // The access resolves in the adopted snapshot; the home realm serves it after a preemption.
          await sched.yield('request posted');
          const remote = hart.mem.remoteAccesses;
          const r = hart.mem.load(DEV, 4, MEMTXATTRS_UNSPECIFIED);
          if (hart.mem.remoteAccesses === remote) {
            // Unassigned in this snapshot: all-ones, no request.
            run.check(hart.view.epoch >= removedEpoch, 'device missing from a snapshot older than the removal');
            continue;
          }
          const v = hart.mem.valLo;
          run.check(r === MEMTX_OK ? v === 0x1234 : r === MEMTX_DECODE_ERROR && v === 0xffffffff, 'a read returns the register or all-ones');
        }
        hart.exit();
      });
    }

    sched.spawn('main', 'main', async () => {
      await sched.yield('before unplug');
      root.removeSubregion(dev);
      removedEpoch = as.epoch;
      if (naive) {
        freed = true;
        return;
      }
      // The main realm polls grace periods from its loop; here it blocks until the device is retired.
      await env.tasks.waitUntil('grace period of the unplug', () => {
        grace.poll();
        return !home.reachable(dev);
      });
      freed = true;
    });

    return {
      finish() {
        run.check(freed, 'the device was freed');
      },
      dispose() {
        realms.dispose();
        as.destroy();
      },
    };
  },
};
