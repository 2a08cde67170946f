/**
 * The PCI domain lock under the schedule explorer: config reads, BAR and
 * command writes and removal, each parked at its lock acquisitions (the
 * preemptible runs of the bus's config operations), interleave in every way PCT tries. The validator
 * runs on the real lock paths; the map must always be a function of config
 * space, and a removed function's registers are never consulted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explore } from '../../../src/explore/explorer.js';
import type { Scenario } from '../../../src/explore/scenario.js';
import { PciBus } from '../../../src/hw/pci/bus.js';
import { PciDevice } from '../../../src/hw/pci/device.js';
import { AddressSpace } from '../../../src/memory/address-space.js';
import { MemoryRegion } from '../../../src/memory/region.js';
import { runOpPreemptible } from '../../../src/sync/task-op.js';

const BAR_SIZE = 0x1000;
const PROBES = [0x10000, 0x11000];

const scenario: Scenario = {
  name: 'pci-domain-async',
  description: 'async config accesses, BAR moves and removal on the real PCI bus',
  variants: ['shipped'],
  buggy: [],
  stepsHint: 30,
  maxSteps: 2000,
  setup(run) {
    const { env, sched } = run;
    const memory = MemoryRegion.container('pci-mem', 0x100000);
    const bus = new PciBus({ memory, io: MemoryRegion.container('pci-io', 0x10000), dmaRoot: MemoryRegion.container('dma', 0x1000), syncEnv: env });
    const as = new AddressSpace(memory, 'pci-mem', { log: () => {} });
    const tags = new Map<MemoryRegion, number>();
    const fns: PciDevice[] = [];
    for (const [i, devfn] of [0x08, 0x10, 0x18].entries()) {
      const d = new PciDevice({ name: `fn${i}`, vendorId: 0x1234, deviceId: i, classCode: 0 });
      // A device-specific register whose read hook must never run once the function is gone.
      d.config.add({
        name: 'probe',
        offset: 0x40,
        size: 4,
        read: (v) => {
          run.check(!d.removed, `${d.name}'s register read after removal`);
          return v;
        },
      });
      const region = MemoryRegion.io(`fn${i}.bar0`, BAR_SIZE, { read: () => 0xa0 + i });
      tags.set(region, 0xa0 + i);
      d.registerBar(0, { kind: 'mem32', region });
      bus.addDevice(d, devfn);
      fns.push(d);
    }
    const [a, b, c] = fns as [PciDevice, PciDevice, PciDevice];
    const removed = new Set<PciDevice>();

    const expectedAt = (addr: number): number | null => {
      for (const d of fns) {
        if (removed.has(d) || d.removed) continue;
        const cmd = d.config.stored(0x04);
        const bar = d.config.stored(0x10) & ~0xf;
        if (cmd & 2 && bar !== 0 && addr >= bar && addr < bar + BAR_SIZE) return 0xa0 + fns.indexOf(d);
      }
      return null;
    };

    sched.spawn('vcpu0', 'vcpu', async () => {
      await runOpPreemptible(bus.configWriteOp(bus.number, a.devfn, 0x10, 4, 0x10000));
      await runOpPreemptible(bus.configWriteOp(bus.number, a.devfn, 0x04, 2, 0x2));
      await runOpPreemptible(bus.configWriteOp(bus.number, a.devfn, 0x10, 4, 0x11000));
      await runOpPreemptible(bus.configWriteOp(bus.number, a.devfn, 0x04, 2, 0x0));
    });
    sched.spawn('vcpu1', 'vcpu', async () => {
      await runOpPreemptible(bus.configWriteOp(bus.number, b.devfn, 0x10, 4, 0x11000));
      await runOpPreemptible(bus.configWriteOp(bus.number, b.devfn, 0x04, 2, 0x2));
      await runOpPreemptible(bus.configWriteOp(bus.number, b.devfn, 0x3c, 1, 0x5));
    });
    sched.spawn('vcpu2', 'vcpu', async () => {
      await runOpPreemptible(bus.configWriteOp(bus.number, c.devfn, 0x10, 4, 0x10000));
      await runOpPreemptible(bus.configWriteOp(bus.number, c.devfn, 0x04, 2, 0x2));
      for (let i = 0; i < 3; i++) {
        const v = await runOpPreemptible(bus.configReadOp(bus.number, c.devfn, 0x40, 4));
        run.check(v === 0 || (v === 0xffffffff && c.removed), `config read of fn2 gave 0x${v.toString(16)}`);
      }
    });
    sched.spawn('hotplug', 'main', async () => {
      run.check((await runOpPreemptible(bus.unplugOp(c))) !== null, 'removeDevice failed');
      removed.add(c);
    });
    return {
      invariant() {
        for (const addr of PROBES) {
          const fr = as.flatView().lookup(addr);
          const got = fr ? (tags.get(fr.mr) ?? null) : null;
          run.check(got === expectedAt(addr), `at 0x${addr.toString(16)}: map ${String(got)}, config ${String(expectedAt(addr))}`);
        }
      },
      finish() {
        run.check(c.removed && bus.configRead(c.devfn, 0, 4) === 0xffffffff, 'removed function still answers');
      },
      dispose: () => as.destroy(),
    };
  },
};

test('async config accesses racing BAR moves and removal: PCT finds nothing', async () => {
  const r = await explore(scenario, 'shipped', { strategy: 'pct', depth: 3, runs: 300, seed: 1 });
  assert.equal(r.failure, null, r.failure ? `${r.failure.message}\n${r.failure.replay}` : '');
  assert.ok(r.totalSteps > r.runs * 10, 'runs have many interleaving points');
});

test('random schedules too', async () => {
  const r = await explore(scenario, 'shipped', { strategy: 'random', runs: 200, seed: 7 });
  assert.equal(r.failure, null, r.failure ? `${r.failure.message}\n${r.failure.replay}` : '');
});
