import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressSpace } from '../../src/memory/address-space.js';
import { dispatchRead, type DispatchSink } from '../../src/memory/dispatch.js';
import { MemoryError } from '../../src/memory/errors.js';
import { ownerLifetime, unrealize } from '../../src/memory/lifetime.js';
import { deviceOwner, type DeviceOwner } from '../../src/memory/owner.js';
import { MemoryRegion } from '../../src/memory/region.js';
import { MEMTX_DECODE_ERROR, MEMTX_OK, MEMTXATTRS_UNSPECIFIED as U } from '../../src/memory/types.js';
import { SelfWaitError } from '../../src/sync/errors.js';
import { createRealmSyncEnv } from '../../src/sync/env.js';
import { makeEnv } from '../sync/helpers.js';

const quiet = { log: (): void => {} };
const DEV = 0x1000;
const OTHER = 0x2000;

/** A device with a state object its register callbacks use; `freed` is set only from onDone. */
function device(opts: { owner?: DeviceOwner; syncEnv?: ReturnType<typeof createRealmSyncEnv> } = {}) {
  const state = { freed: false, reads: 0, duringRead: null as null | (() => void), duringWrite: null as null | (() => void) };
  const mr = MemoryRegion.io(
    'dev.regs',
    0x100,
    {
      read(off) {
        assert.equal(state.freed, false, 'callback ran on freed state');
        state.reads++;
        state.duringRead?.();
        assert.equal(state.freed, false, 'state freed while the callback was still running');
        return 0x5000 + off;
      },
      write() {
        assert.equal(state.freed, false, 'callback ran on freed state');
        state.duringWrite?.();
        assert.equal(state.freed, false, 'state freed while the callback was still running');
      },
    },
    { owner: opts.owner, syncEnv: opts.syncEnv },
  );
  const sys = MemoryRegion.container('system', 0x10000);
  sys.addSubregion(DEV, mr);
  const as = new AddressSpace(sys, 'lifetime-test', quiet);
  return { state, mr, sys, as };
}

test('region removal by another task while an access is in flight: the access finishes against the old region, removal completes after it, the next access is unassigned', () => {
  const { env, t, hazards } = makeEnv(2, true);
  const { state, mr, as, sys } = device({ syncEnv: env });
  let removal: ReturnType<MemoryRegion['destroy']> | null = null;
  const order: string[] = [];
  state.duringRead = () => {
    if (removal) return;
    // Task 1 unplugs the region while task 0's read is inside the callback.
    removal = t.as(1, () => mr.destroy());
    removal.onDone(() => {
      order.push('drained');
      state.freed = true;
    });
    assert.equal(removal.deferred, false, 'task 1 is not inside the region');
    assert.equal(removal.done, false, 'task 0 is still in flight');
    assert.equal(sys.subregions.includes(mr), false, 'the new map was committed first');
    assert.equal(as.flatView().lookup(DEV), null);
    // Meanwhile task 1's own accesses already decode as unassigned.
    t.as(1, () => {
      assert.equal(as.load(DEV + 4, 4, U), MEMTX_DECODE_ERROR);
      assert.equal(as.valLo, 0xffffffff);
    });
    order.push('callback returns');
  };
  assert.equal(as.load(DEV + 8, 4, U), MEMTX_OK);
  assert.equal(as.valLo, 0x5008, 'the in-flight access completed against the old region');
  assert.deepEqual(order, ['callback returns', 'drained']);
  assert.ok(removal!.done);
  assert.equal(mr.tracker.state, 'removed');
  assert.equal(as.load(DEV + 8, 4, U), MEMTX_DECODE_ERROR);
  assert.equal(as.valLo, 0xffffffff);
  assert.equal(state.reads, 1);
  assert.deepEqual(hazards, [], 'nothing touched the region after its removal completed');
  assert.equal(mr.destroy(), removal, 'destroy is idempotent');
  as.destroy();
});

test('removal requested from inside the region\'s own callback is deferred, not deadlocked', async () => {
  const { state, mr, as } = device();
  let removal: ReturnType<MemoryRegion['destroy']> | null = null;
  let selfWait: Promise<void> | null = null;
  const order: string[] = [];
  // The guest writes an "eject" register: the device unplugs itself from its own handler.
  state.duringWrite = () => {
    removal = mr.destroy();
    assert.equal(removal.deferred, true);
    assert.equal(removal.done, false);
    selfWait = removal.wait();
    removal.onDone(() => {
      order.push('freed');
      state.freed = true;
    });
    order.push('handler returns');
  };
  assert.equal(as.store(DEV, 4, 1, 0, U), MEMTX_OK);
  await assert.rejects(selfWait!, SelfWaitError);
  assert.deepEqual(order, ['handler returns', 'freed']);
  assert.equal(removal!.done, true);
  await removal!.wait();
  assert.equal(as.load(DEV, 4, U), MEMTX_DECODE_ERROR);
  as.destroy();
});

test('a removal from a nested access (MMIO -> DMA -> other device removes the first) waits for the outer access', () => {
  const { state, mr, as, sys } = device();
  let removal: ReturnType<MemoryRegion['destroy']> | null = null;
  const other = MemoryRegion.io('hotplug-ctl', 0x10, {
    read: () => 0,
    write: () => {
      removal = mr.destroy();
    },
  });
  sys.addSubregion(OTHER, other);
  state.duringRead = () => {
    // dev's handler writes to the hotplug controller, which unplugs dev.
    as.store(OTHER, 4, 1, 0, U);
    assert.ok(removal);
    assert.equal(removal.deferred, true, 'the running task is inside dev');
    assert.equal(removal.done, false);
  };
  assert.equal(as.load(DEV, 4, U), MEMTX_OK);
  assert.equal(as.valLo, 0x5000);
  assert.equal(removal!.done, true);
  assert.equal(as.load(DEV, 4, U), MEMTX_DECODE_ERROR);
  as.destroy();
});

test('use after removal: a dispatch through a stale range is refused, and reported in debug mode only', () => {
  for (const debug of [true, false]) {
    const { env, hazards } = makeEnv(1, debug);
    const { state, mr, as } = device({ syncEnv: env });
    const stale = as.flatView().lookup(DEV)!;
    const c = mr.destroy();
    c.onDone(() => {
      state.freed = true;
    });
    assert.equal(c.done, true);
    const sink: DispatchSink = { valLo: 0, valHi: 0, log: () => {} };
    assert.equal(dispatchRead(sink, stale.mr, 0, 4, U), MEMTX_DECODE_ERROR, 'the handler is never reached');
    assert.equal(sink.valLo, 0xffffffff);
    assert.equal(state.reads, 0);
    if (debug) {
      assert.equal(hazards.length, 1);
      assert.match(hazards[0]!, /use after removal: region 'dev\.regs' touched at dispatch/);
    } else assert.deepEqual(hazards, []);
    as.destroy();
  }
});

test('use after removal of a device: a late timer calling check() is reported in debug mode', () => {
  const { env, hazards } = makeEnv(1, true);
  const owner: DeviceOwner = { ...deviceOwner('late-timer-dev'), syncEnv: env };
  const { as } = device({ owner });
  const c = unrealize(owner);
  assert.equal(c.done, true);
  // A timer the device forgot to cancel fires after the device was freed.
  assert.equal(ownerLifetime(owner).check('timer callback'), false);
  assert.equal(hazards.length, 1);
  assert.match(hazards[0]!, /device 'late-timer-dev' touched at timer callback/);
  as.destroy();
});

test('unrealize(owner): every region unmapped in one commit; completes when the device\'s own accesses exit', () => {
  const owner = deviceOwner('two-bar-dev');
  const bar0 = MemoryRegion.io('bar0', 0x100, { read: () => 1 }, { owner });
  const bar1 = MemoryRegion.io('bar1', 0x100, { read: () => 2 }, { owner });
  const sys = MemoryRegion.container('system', 0x10000);
  sys.addSubregion(0x1000, bar0);
  sys.addSubregion(0x2000, bar1);
  const as = new AddressSpace(sys, 'unrealize', quiet);
  const epoch = as.epoch;
  // A config-space access (not through a region) is in flight on the device.
  const life = ownerLifetime(owner);
  assert.equal(life.tryEnter(), true);
  const c = unrealize(owner);
  assert.equal(as.epoch, epoch + 1, 'one commit for both regions');
  assert.equal(as.flatView().ranges.length, 0);
  assert.equal(bar0.destroyed && bar1.destroyed, true);
  assert.equal(c.done, false);
  assert.equal(life.tryEnter(), false, 'later device accesses are refused');
  life.exit();
  assert.equal(c.done, true);
  assert.equal(unrealize(owner), c, 'idempotent');
  assert.throws(() => sys.addSubregion(0x1000, bar0), MemoryError, 'a destroyed region cannot be mapped again');
  as.destroy();
});

test('removeSubregion alone is not a removal: the region can be mapped again and keeps working', () => {
  const { mr, sys, as } = device();
  sys.removeSubregion(mr);
  assert.equal(as.load(DEV, 4, U), MEMTX_DECODE_ERROR);
  sys.addSubregion(OTHER, mr);
  assert.equal(as.load(OTHER + 4, 4, U), MEMTX_OK);
  assert.equal(as.valLo, 0x5004);
  assert.equal(mr.tracker.state, 'live');
  as.destroy();
});

test('a callback that throws still exits the region (removal is not blocked forever)', () => {
  const mr = MemoryRegion.io('thrower', 0x10, {
    read: () => {
      throw new Error('device bug');
    },
  });
  const sys = MemoryRegion.container('system', 0x10000);
  sys.addSubregion(DEV, mr);
  const as = new AddressSpace(sys, 'thrower', quiet);
  assert.throws(() => as.load(DEV, 4, U), /device bug/);
  assert.equal(mr.tracker.inFlight, 0);
  assert.equal(mr.destroy().done, true);
  as.destroy();
});
