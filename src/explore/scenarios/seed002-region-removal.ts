/**
 * Seed 002 (QEMU, "fix create in place obj's life cycle problem"): MMIO
 * dispatch without the big lock races the removal of the region and the
 * unplug of its device; and a region moved by two separate mutations shows an
 * intermediate memory map to a concurrent access.
 *
 * Built on the real memory core (src/memory): a root container, an
 * AddressSpace, two I/O regions of one device, real transactions and real
 * dispatch (dispatchRead on the range a lookup found, and AddressSpace.load).
 *
 * naive:
 * - dispatch looks the range up in the current flat view and later calls the
 *   region's handler, holding nothing; unplug removes the region (one commit)
 *   and frees the device state at once: the handler runs on freed state (the
 *   Lifetime detector reports a use after removal);
 * - relocating the BAR region (the guest moves it and turns decode off in one
 *   register write) is done as setAddress then setEnabled, each its own
 *   transaction: a vCPU can dispatch to the region at the new address while
 *   the device says it is not decoded (a dispatch at a stale address).
 * shipped:
 * - dispatch takes an in-flight reference (Lifetime.tryEnter) in the same
 *   step as the lookup; unplug removes the region, then waits for in-flight
 *   dispatches to drain before freeing; a dispatch that finds the device
 *   removing behaves as unassigned (all-ones);
 * - both mutations happen in one memoryTransaction, so no view shows the
 *   intermediate state.
 */
import { AddressSpace } from '../../memory/address-space.js';
import { dispatchRead, type DispatchSink } from '../../memory/dispatch.js';
import { MemoryRegion } from '../../memory/region.js';
import { memoryTransaction } from '../../memory/transaction.js';
import { MEMTXATTRS_UNSPECIFIED, MEMTX_DECODE_ERROR, MEMTX_OK } from '../../memory/types.js';
import { Lifetime } from '../../sync/lifetime.js';
import type { Scenario } from '../scenario.js';

const MMIO_ADDR = 0x1000;
const BAR_OLD = 0x2000;
const BAR_NEW = 0x3000;
const SIZE = 0x100;

interface DeviceState {
  freed: boolean;
  reads: number;
  /** What the device's registers say about the BAR (the guest's view). */
  barAddr: number;
  barDecode: boolean;
}

export const seed002RegionRemoval: Scenario = {
  name: 'seed002-region-removal',
  description: 'MMIO dispatch vs region removal and device unplug; a region moved by two separate commits',
  variants: ['naive', 'shipped'],
  buggy: ['naive'],
  stepsHint: 24,
  maxSteps: 2000,
  setup(run) {
    const { env, sched } = run;
    const naive = run.variant === 'naive';
    const state: DeviceState = { freed: false, reads: 0, barAddr: BAR_OLD, barDecode: true };
    const life = new Lifetime(env, 'ide0');

    const mmio = MemoryRegion.io('ide0.mmio', SIZE, {
      read(offset: number): number {
        life.check('ide0.mmio read handler');
        run.check(!state.freed, 'ide0.mmio handler ran on freed device state');
        state.reads++;
        return 0x1234_0000 | offset;
      },
    });
    let barHits = 0;
    const bar = MemoryRegion.io('ide0.bar', SIZE, {
      read(): number {
        barHits++;
        return 0xb0;
      },
    });
    const root = MemoryRegion.container('system', 0x10000);
    memoryTransaction(() => {
      root.addSubregion(MMIO_ADDR, mmio);
      root.addSubregion(BAR_OLD, bar);
    });
    const as = new AddressSpace(root, 'system');
    const sink: DispatchSink = { valLo: 0, valHi: 0, log: () => {} };

    /** One MMIO read of the device's register window, dispatched without the big lock. */
    async function mmioRead(addr: number): Promise<number> {
      const fr = as.flatView().lookup(addr);
      sched.note('dispatch-begin', `lookup 0x${addr.toString(16)} -> ${fr?.mr.name ?? 'unassigned'}`);
      if (!fr || fr.mr !== mmio) return 0xffffffff;
      if (naive) {
        await sched.yield('dispatch: looked up ide0.mmio');
        dispatchRead(sink, fr.mr, addr - fr.start + fr.offsetInRegion, 4, MEMTXATTRS_UNSPECIFIED);
        return sink.valLo;
      }
      if (!life.tryEnter()) return 0xffffffff;
      try {
        await sched.yield('dispatch: ide0.mmio in flight');
        dispatchRead(sink, fr.mr, addr - fr.start + fr.offsetInRegion, 4, MEMTXATTRS_UNSPECIFIED);
        return sink.valLo;
      } finally {
        life.exit();
        sched.note('dispatch-end', 'ide0.mmio');
      }
    }

    /** An access to the BAR's addresses: whatever it reaches must agree with the device's registers. */
    function barRead(addr: number): void {
      const before = barHits;
      const r = as.load(addr, 4, MEMTXATTRS_UNSPECIFIED);
      const hit = barHits !== before;
      run.check(r === MEMTX_OK || r === MEMTX_DECODE_ERROR, `unexpected MemTxResult ${r}`);
      if (hit) run.check(state.barDecode && state.barAddr === addr, `dispatch at a stale address: 0x${addr.toString(16)} reached ide0.bar while its registers say ${state.barDecode ? 'decoded at 0x' + state.barAddr.toString(16) : 'not decoded'}`);
      else run.check(!(state.barDecode && state.barAddr === addr), `0x${addr.toString(16)} should reach ide0.bar`);
    }

    sched.spawn('vcpu0', 'vcpu', async () => {
      for (let i = 0; i < 2; i++) {
        const v = await mmioRead(MMIO_ADDR + 4 * i);
        run.check(v === 0xffffffff || v === (0x1234_0000 | (4 * i)), `mmio read returned 0x${v.toString(16)}`);
      }
    });
    sched.spawn('vcpu1', 'vcpu', async () => {
      for (let i = 0; i < 2; i++) {
        barRead(BAR_NEW);
        await sched.yield('bar access');
        barRead(BAR_OLD);
        await sched.yield('bar access');
      }
    });
    sched.spawn('main', 'main', async () => {
      // The guest moves the BAR to BAR_NEW and turns decode off, in one register write.
      state.barAddr = BAR_NEW;
      state.barDecode = false;
      if (naive) {
        bar.setAddress(BAR_NEW);
        await sched.yield('moved ide0.bar (commit 1 of 2)');
        bar.setEnabled(false);
      } else {
        memoryTransaction(() => {
          bar.setAddress(BAR_NEW);
          bar.setEnabled(false);
        });
      }
      await sched.yield('region commit');
      // Unplug: remove the register window, then free the device.
      root.removeSubregion(mmio);
      sched.note('region-commit', 'removed ide0.mmio');
      const done = life.remove();
      if (!naive) await done.wait();
      state.freed = true;
    });
    return {
      finish() {
        run.check(state.freed, 'unplug did not complete');
        run.check(as.flatView().lookup(MMIO_ADDR) === null, 'ide0.mmio still mapped after unplug');
      },
      dispose: () => as.destroy(),
    };
  },
};
