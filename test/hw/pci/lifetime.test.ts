import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PciBus } from '../../../src/hw/pci/bus.js';
import { PciDevice } from '../../../src/hw/pci/device.js';
import { PCI_BASE_ADDRESS_0, PCI_COMMAND, PCI_COMMAND_MASTER, PCI_COMMAND_MEMORY, PCI_VENDOR_ID } from '../../../src/hw/pci/constants.js';
import { AddressSpace } from '../../../src/memory/address-space.js';
import { ownerLifetime } from '../../../src/memory/lifetime.js';
import { MemoryRegion } from '../../../src/memory/region.js';
import { MEMTX_OK, MEMTXATTRS_UNSPECIFIED as U } from '../../../src/memory/types.js';
import { DmaMapping, dmaMap, dmaUnmap } from '../../../src/dma/dma.js';
import { explore } from '../../../src/explore/explorer.js';
import type { Scenario } from '../../../src/explore/scenario.js';
import { createRealmSyncEnv } from '../../../src/sync/env.js';
import { disposeRig, makeRig, RAM_BASE } from './helpers.js';
import { runOpPreemptible } from '../../../src/sync/task-op.js';

const BAR = 0x40001000;

/** A function whose registers and BAR handler use a state object freed only when its removal drained. */
class StatefulFn extends PciDevice {
  state: { freed: boolean; value: number } = { freed: false, value: 0x5a5a };
  finalized = 0;
  /** Called from inside the BAR read handler (e.g. the device ejects itself). */
  onBarRead: (() => void) | null = null;

  constructor(name: string, check: (cond: boolean, msg: string) => void = (c, m) => assert.ok(c, m)) {
    super({ name, vendorId: 0x1234, deviceId: 0x11e8, classCode: 0 });
    const bar = MemoryRegion.io(
      `${name}.bar0`,
      0x1000,
      {
        read: () => {
          check(!this.state.freed, `${name}: BAR handler ran on freed state`);
          this.onBarRead?.();
          check(!this.state.freed, `${name}: state freed under a running BAR handler`);
          return this.state.value;
        },
        write: () => {},
      },
      { owner: this },
    );
    this.registerBar(0, { kind: 'mem32', region: bar });
  }

  protected override onUnrealized(): void {
    this.finalized++;
    this.state.freed = true;
  }
}

test('PCI unplug from inside the device\'s own BAR access is deferred: the access finishes, then the state is freed; later accesses read all-ones', () => {
  const r = makeRig();
  const d = new StatefulFn('ejector');
  const fn = r.host.addDevice(d);
  r.cfgWrite(fn, PCI_BASE_ADDRESS_0, 4, BAR);
  r.cfgWrite(fn, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
  let deferred: boolean | null = null;
  d.onBarRead = () => {
    d.onBarRead = null;
    const c = r.host.unplug(d);
    assert.ok(c);
    deferred = c.deferred;
    assert.equal(c.done, false);
    assert.equal(d.finalized, 0);
  };
  assert.equal(r.as.ldl(BAR), 0x5a5a, 'the in-flight access completed against the device');
  assert.equal(deferred, true);
  assert.equal(d.removal?.done, true);
  assert.equal(d.finalized, 1);
  assert.equal(r.as.ldl(BAR), 0xffffffff);
  assert.equal(r.cfgRead(fn, PCI_VENDOR_ID, 2), 0xffff);
  assert.equal(r.host.unplug(d), d.removal, 'unplugging twice returns the same completion');
  disposeRig(r);
  r.as.destroy();
});

test('PCI unplug with a mapped DMA buffer: config space reads all-ones at once, the state is freed only after unmap', () => {
  const r = makeRig();
  const d = new StatefulFn('dma-fn');
  const fn = r.host.addDevice(d);
  r.cfgWrite(fn, PCI_COMMAND, 2, PCI_COMMAND_MASTER);
  const m = dmaMap(d.dmaAs!, RAM_BASE + 0x100, 64, true, d.dmaAttrs);
  assert.ok(m instanceof DmaMapping);
  const dmaAs = d.dmaAs!;
  const c = r.host.unplug(d);
  assert.ok(c);
  assert.equal(r.cfgRead(fn, PCI_VENDOR_ID, 4), 0xffffffff);
  assert.equal(c.done, false);
  assert.equal(d.finalized, 0);
  assert.ok(d.dmaAs, 'the DMA view lives while a mapping uses it');
  m.bytes.fill(0xcd);
  assert.equal(dmaUnmap(dmaAs, m, 64), MEMTX_OK);
  assert.equal(c.done, true);
  assert.equal(d.finalized, 1);
  assert.equal(d.dmaAs, null, 'the DMA view is released once drained');
  assert.equal(r.as.ldl(RAM_BASE + 0x100), 0xcdcdcdcd);
  disposeRig(r);
});

test('use after removal: a stale reference to a removed function reads all-ones and is reported in debug mode', () => {
  const hazards: string[] = [];
  const env = createRealmSyncEnv({ debugLocks: true, log: (l) => hazards.push(l) });
  const bus = new PciBus({
    memory: MemoryRegion.container('pci-mem', 0x100000),
    io: MemoryRegion.container('pci-io', 0x10000),
    dmaRoot: MemoryRegion.container('dma', 0x100000),
    syncEnv: env,
  });
  const d = new StatefulFn('stale');
  bus.addDevice(d, 0x08);
  const c = bus.unplug(d);
  assert.equal(c?.done, true);
  assert.equal(d.configRead(PCI_VENDOR_ID, 4), 0xffffffff);
  assert.equal(hazards.length, 1, hazards.join('\n'));
  assert.match(hazards[0]!, /use after removal: device 'stale' touched at config read/);
  assert.equal(ownerLifetime(d).state, 'removed');
});

/**
 * The explorer runs vCPUs doing config reads and BAR reads, an I/O thread
 * holding a DMA mapping across sync points, and a hot-unplug that waits for
 * the completion and then checks what the device saw.
 */
const pciUnplugRace: Scenario = {
  name: 'test-pci-unplug-race',
  description: 'PCI unplug racing config accesses, BAR accesses and a mapped DMA buffer',
  variants: ['naive', 'shipped'],
  buggy: ['naive'],
  setup(run) {
    const { env, sched } = run;
    const memory = MemoryRegion.container('pci-mem', 0x100000);
    const ram = MemoryRegion.ram('ram', 0x1000);
    const dmaRoot = MemoryRegion.container('dma', 0x100000);
    dmaRoot.addSubregion(0x80000, ram);
    const bus = new PciBus({ memory, io: MemoryRegion.container('pci-io', 0x10000), dmaRoot, syncEnv: env });
    const as = new AddressSpace(memory, 'pci-mem', { log: () => {} });
    const d = new StatefulFn('victim', (c, m) => run.check(c, m));
    bus.addDevice(d, 0x08);
    bus.configWrite(0x08, PCI_BASE_ADDRESS_0, 4, 0x10000);
    bus.configWrite(0x08, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    const dmaAs = d.dmaAs!;
    let unplugged = false;
    let drained = false;
    let unmapped = false;
    sched.spawn('vcpu0', 'vcpu', async () => {
      for (let i = 0; i < 2; i++) {
        const after = unplugged;
        const vid = await runOpPreemptible(bus.configReadOp(bus.number, 0x08, PCI_VENDOR_ID, 2));
        run.check(vid === (after ? 0xffff : 0x1234) || (!after && vid === 0xffff), `config read returned 0x${vid.toString(16)}`);
      }
    });
    sched.spawn('vcpu1', 'vcpu', async () => {
      for (let i = 0; i < 2; i++) {
        const after = unplugged;
        as.load(0x10000, 4, U);
        run.check(as.valLo === (after ? 0xffffffff : 0x5a5a) || (!after && as.valLo === 0xffffffff), `BAR read returned 0x${as.valLo.toString(16)}`);
        await sched.yield('bar read');
      }
    });
    sched.spawn('iothread', 'iothread', async () => {
      const m = dmaMap(dmaAs, 0x80000, 16, true, d.dmaAttrs);
      if (!m.ok) return;
      await sched.yield('request in flight');
      run.check(!d.state.freed, 'DMA completion ran on freed state');
      m.bytes[0] = 1;
      unmapped = true;
      dmaUnmap(dmaAs, m, 1);
    });
    sched.spawn('hotplug', 'main', async () => {
      const c = await runOpPreemptible(bus.unplugOp(d));
      unplugged = true;
      run.check(c !== null, 'unplug failed');
      if (run.variant === 'naive') {
        // Free the device as soon as it is off the bus, without waiting for what is in flight.
        d.state.freed = true;
        return;
      }
      await c!.wait();
      drained = true;
      run.check(d.finalized === 1, 'state not freed after the removal drained');
    });
    return {
      invariant() {
        if (d.state.freed && run.variant === 'shipped') run.check(drained || d.removal?.done === true, 'state freed before the removal completed');
        if (d.removal?.done) run.check(unmapped || d.dmaAs === null, 'removal completed with a DMA mapping live');
      },
      finish() {
        run.check(drained || run.variant === 'naive', 'unplug did not drain');
      },
      dispose() {
        dmaAs.destroy();
        as.destroy();
      },
    };
  },
};

test('explorer: PCI unplug racing config, BAR and DMA accesses: freeing at unplug is caught, waiting for the completion survives PCT and bounded DFS', async () => {
  const bad = await explore(pciUnplugRace, 'naive', { strategy: 'pct', depth: 3, runs: 300, seed: 11 });
  assert.equal(bad.failure?.kind, 'invariant');
  assert.match(bad.failure.message, /freed state/);
  const pct = await explore(pciUnplugRace, 'shipped', { strategy: 'pct', depth: 3, runs: 200, seed: 11 });
  assert.equal(pct.failure, null, pct.failure?.message);
  const dfs = await explore(pciUnplugRace, 'shipped', { strategy: 'dfs', preemptions: 1, runs: 5000 });
  assert.equal(dfs.failure, null, dfs.failure?.message);
});
