/**
 * `smp-epoch-retire`: hart realms simulated in one thread by the schedule
 * explorer, running the real SMP components — the memory core's map and
 * commits, the snapshot publisher, snapshot views, the grace-period tracker
 * and the home realm's device table (with its Lifetimes on the explorer's
 * env) — while the main realm unplugs a device the harts are reading.
 *
 * A hart access is split where the threads split it: the hart resolves the
 * address in its adopted snapshot (and posts the request), then the home
 * realm serves it; a hart adopts the newest snapshot and acknowledges its
 * epoch only between accesses.
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
import type { Scenario } from '../scenario.js';
import { GracePeriods } from '../../machine/smp/epoch.js';
import { HomeDevices } from '../../machine/smp/home-devices.js';
import { SnapshotPublisher } from '../../machine/smp/publisher.js';
import { MAIN_REALM, OP_DEV_READ, REALM_EXITED, REALM_RUNNING, SmpShared, W_ACK, W_ALIVE } from '../../machine/smp/shared.js';
import { SnapshotView, SNAP_IO, type SnapshotData } from '../../machine/smp/snapshot.js';

const DEV = 0x1000;
const READS = 3;

export const smpEpochRetire: Scenario = {
  name: 'smp-epoch-retire',
  description: 'hart realms (simulated) read a device while the main realm unplugs it: retire only after the grace period',
  variants: ['naive', 'shipped'],
  buggy: ['naive'],
  drives: ['memory/flatview.ts', 'memory/dispatch.ts', 'machine/smp/publisher.ts', 'machine/smp/snapshot.ts', 'machine/smp/epoch.ts', 'machine/smp/home-devices.ts'],
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
    const harts = 2;
    const shared = SmpShared.create(1 + harts);
    const readers = [1, 2];
    const grace = new GracePeriods(shared, readers);
    const home = new HomeDevices({ realm: MAIN_REALM, log: () => {} });
    const pub = new SnapshotPublisher(as, home, grace, shared);
    let latest: SnapshotData = pub.current;
    pub.sinks.push((s) => (latest = s));
    const listener = { commit: () => void pub.maybePublish() };
    as.addListener(listener);
    const out = { valLo: 0, valHi: 0 };

    for (let h = 0; h < harts; h++) {
      const realm = 1 + h;
      let view = new SnapshotView(latest);
      shared.store(realm, W_ACK, view.epoch);
      shared.store(realm, W_ALIVE, REALM_RUNNING);
      sched.spawn(`hart${h}`, 'vcpu', async () => {
        for (let n = 0; n < READS; n++) {
          // Quantum boundary: adopt the newest snapshot, acknowledge its epoch.
          await sched.yield('boundary');
          if (latest.epoch > view.epoch) view = new SnapshotView(latest);
          shared.store(realm, W_ACK, view.epoch);
          const i = view.findIndex(DEV);
          if (i < 0 || view.kinds[i] !== SNAP_IO) {
            run.check(view.epoch >= removedEpoch, 'device missing from a snapshot older than the removal');
            continue; // unassigned: all-ones, no request
          }
          // The request is posted; the home realm serves it later.
          await sched.yield('request posted');
          const r = home.serve(OP_DEV_READ, view.data.dev[i]!, DEV - view.starts[i]! + view.data.devOff[i]!, 4, 0, 0, MEMTXATTRS_UNSPECIFIED, realm, out);
          run.check(r === MEMTX_OK ? out.valLo === 0x1234 : r === MEMTX_DECODE_ERROR && out.valLo === 0xffffffff, 'a read returns the register or all-ones');
        }
        shared.store(realm, W_ALIVE, REALM_EXITED);
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
        as.removeListener(listener);
        as.destroy();
      },
    };
  },
};
