import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressSpace } from '../../src/memory/address-space.js';
import { ownerLifetime, unrealize } from '../../src/memory/lifetime.js';
import { deviceOwner } from '../../src/memory/owner.js';
import { MemoryRegion } from '../../src/memory/region.js';
import { MEMTX_DECODE_ERROR, MEMTX_OK, MEMTXATTRS_UNSPECIFIED as U } from '../../src/memory/types.js';
import { DmaMapping, dmaMap, dmaStats, dmaUnmap } from '../../src/dma/dma.js';
import { explore } from '../../src/explore/explorer.js';
import type { Scenario } from '../../src/explore/scenario.js';

const quiet = { log: (): void => {} };
const RAM = 0x8000_0000;
const MMIO = 0x1000_0000;

/** System memory with a RAM block, and a device with one register window and its own DMA view of system memory. */
function rig() {
  const sys = MemoryRegion.container('system', 2 ** 33);
  const ram = MemoryRegion.ram('ram', 0x10000);
  sys.addSubregion(RAM, ram);
  const owner = deviceOwner('dma-dev');
  const regs = MemoryRegion.io('dma-dev.regs', 0x100, { read: () => 7, write: () => {} }, { owner });
  sys.addSubregion(MMIO, regs);
  const sysAs = new AddressSpace(sys, 'system', quiet);
  // The device's bus-master view: an alias of system memory, owned by the device.
  const dmaRoot = MemoryRegion.container('bus master container', 2 ** 33);
  dmaRoot.addSubregion(0, MemoryRegion.alias('bus master', sys, 0, 2 ** 33));
  const devAs = new AddressSpace(dmaRoot, 'dma-dev', { ...quiet, owner });
  const dispose = (): void => {
    devAs.destroy();
    sysAs.destroy();
  };
  return { sys, ram, owner, regs, sysAs, devAs, dispose };
}

test('device unrealize with a mapped DMA buffer completes only after unmap', () => {
  const { owner, regs, sysAs, devAs, dispose } = rig();
  const m = dmaMap(devAs, RAM + 0x100, 0x200, true, U);
  assert.ok(m instanceof DmaMapping);
  assert.equal(m.kind, 'direct');
  let freed = false;
  const c = unrealize(owner);
  c.onDone(() => {
    freed = true;
  });
  // The device's registers are gone at once...
  assert.equal(sysAs.load(MMIO, 4, U), MEMTX_DECODE_ERROR);
  assert.equal(regs.destroyed, true);
  // ...but its state lives while its DMA buffer is mapped: the transfer can finish.
  assert.equal(c.done, false);
  assert.equal(freed, false);
  assert.equal(ownerLifetime(owner).holds, 1);
  m.bytes.fill(0xab, 0, 4);
  const again = dmaMap(devAs, RAM, 16, false, U);
  assert.equal(again.ok, false, 'a device being unrealized starts no new DMA');
  assert.equal(dmaUnmap(devAs, m, 4), MEMTX_OK);
  assert.equal(c.done, true);
  assert.equal(freed, true);
  assert.equal(sysAs.ldl(RAM + 0x100), 0xabababab, 'the write made through the mapping landed');
  assert.equal(dmaStats(devAs).liveMappings, 0);
  dispose();
});

test('a DMA mapping holds its target region alive: RAM removal completes only after unmap, and new maps into it are refused', () => {
  const { ram, devAs, sysAs, dispose } = rig();
  const m = dmaMap(devAs, RAM, 64, true, U);
  assert.ok(m instanceof DmaMapping);
  const c = ram.destroy();
  assert.equal(c.done, false, 'the mapping still references the RAM block');
  assert.equal(ram.tracker.state, 'removing');
  assert.equal(sysAs.flatView().lookup(RAM), null, 'unmapped from the guest at once');
  const refused = dmaMap(devAs, RAM, 64, true, U);
  assert.equal(refused.ok, false);
  m.bytes[0] = 1; // still a valid view of the old block
  dmaUnmap(devAs, m, 1);
  assert.equal(c.done, true);
  assert.equal(ram.tracker.holds, 0);
  dispose();
});

test('a bounce mapping of MMIO holds the register window: its device unrealize waits for the unmap', () => {
  const { owner, sysAs, dispose } = rig();
  // Another device (no owner on its view) maps the first device's registers.
  const peer = dmaMap(sysAs, MMIO, 8, false, U);
  assert.ok(peer instanceof DmaMapping);
  assert.equal(peer.kind, 'bounce');
  const c = unrealize(owner);
  assert.equal(c.done, false);
  dmaUnmap(sysAs, peer, 0);
  assert.equal(c.done, true);
  dispose();
});

test('refused and failed maps leave no reference behind', () => {
  const { owner, ram, devAs, dispose } = rig();
  assert.equal(dmaMap(devAs, 0x4000_0000, 16, false, U).ok, false, 'unassigned');
  assert.equal(dmaMap(devAs, RAM, 0, false, U).ok, false, 'zero length');
  assert.equal(ownerLifetime(owner).holds, 0);
  assert.equal(ram.tracker.holds, 0);
  assert.equal(unrealize(owner).done, true);
  dispose();
});

/**
 * The same under the schedule explorer: an I/O thread has a DMA buffer of the
 * device mapped across sync points while the main task unplugs the device.
 * naive frees the device's state as soon as unrealize() returns; shipped
 * frees it when the completion is done (waiting with wait()).
 */
const unplugDuringDma: Scenario = {
  name: 'test-unplug-during-dma',
  description: 'device unrealize racing a DMA mapping held across sync points',
  variants: ['naive', 'shipped'],
  buggy: ['naive'],
  setup(run) {
    const { env, sched } = run;
    const sys = MemoryRegion.container('system', 2 ** 33);
    sys.addSubregion(RAM, MemoryRegion.ram('ram', 0x1000, { syncEnv: env }));
    const owner = { ...deviceOwner('blk0'), syncEnv: env };
    const state = { freed: false, completed: 0 };
    const regs = MemoryRegion.io('blk0.regs', 0x10, { read: () => (run.check(!state.freed, 'MMIO handler ran on freed state'), 1) }, { owner });
    sys.addSubregion(MMIO, regs);
    const sysAs = new AddressSpace(sys, 'system', quiet);
    const devAs = new AddressSpace(sys, 'blk0', { ...quiet, owner });
    sched.spawn('iothread', 'iothread', async () => {
      const m = dmaMap(devAs, RAM, 512, true, U);
      if (!m.ok) return; // unplugged before the request started
      await sched.yield('request in flight');
      run.check(!state.freed, 'request completed into a freed device');
      m.bytes.fill(0x5a);
      state.completed++;
      await sched.yield('completing');
      dmaUnmap(devAs, m, 512);
    });
    sched.spawn('vcpu0', 'vcpu', async () => {
      sysAs.load(MMIO, 4, U);
      await sched.yield('mmio');
      sysAs.load(MMIO, 4, U);
    });
    sched.spawn('main', 'main', async () => {
      await sched.yield('before unplug');
      const c = unrealize(owner);
      if (run.variant === 'shipped') await c.wait();
      state.freed = true;
    });
    return {
      finish() {
        run.check(state.freed, 'unplug did not complete');
        run.check(dmaStats(devAs).liveMappings === 0, 'a mapping was leaked');
      },
      dispose() {
        devAs.destroy();
        sysAs.destroy();
      },
    };
  },
};

test('explorer: unplug racing a mapped DMA request: naive frees under the request, shipped waits (DFS exhausts clean)', async () => {
  const bad = await explore(unplugDuringDma, 'naive', { strategy: 'dfs', preemptions: 2 });
  assert.equal(bad.failure?.kind, 'invariant');
  assert.match(bad.failure.message, /freed device/);
  const good = await explore(unplugDuringDma, 'shipped', { strategy: 'dfs', preemptions: 2, runs: 20000 });
  assert.equal(good.failure, null, good.failure?.message);
  assert.equal(good.exhausted, true);
});
