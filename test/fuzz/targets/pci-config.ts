/**
 * pci-config: config-space writes of every width at any offset to a
 * virtio-blk-pci function and an edu function (BARs, command, capabilities,
 * MSI-X), with edu DMAs started between them and function resets.
 *
 * Invariants: nothing throws; identity registers never change; a config read
 * fits its width; the edu DMA started before Bus Master Enable was cleared
 * never reaches memory, even once the bit is set again; after a reset the
 * virtio device's status is 0 and nothing is in flight.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AddressSpace } from '../../../src/memory/address-space.js';
import { MemoryRegion } from '../../../src/memory/region.js';
import { MEMTXATTRS_UNSPECIFIED as A } from '../../../src/memory/types.js';
import { EventLoop } from '../../../src/machine/event-loop.js';
import { createGpexHost, VIRT_GPEX_LAYOUT } from '../../../src/hw/pci/gpex.js';
import { createEdu } from '../../../src/hw/misc/edu.js';
import { VirtioPci } from '../../../src/hw/virtio/virtio-pci.js';
import { VirtioRng } from '../../../src/hw/virtio/virtio-rng.js';
import { FakeScheduler } from '../../hw/misc/helpers.js';
import { RamWatch, hex, target } from '../target.js';

const RAM = 0x80000000;
const RAM_SIZE = 0x10000;
const EDU_BAR = 0x40000000;

type Op =
  | { kind: 'cfg'; fn: number; off: number; size: 1 | 2 | 4; value: number }
  | { kind: 'read'; fn: number; off: number; size: 1 | 2 | 4 }
  | { kind: 'eduDma'; dst: number; cnt: number }
  | { kind: 'time'; ns: number }
  | { kind: 'reset' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('cfg' as const),
      fn: fc.nat({ max: 1 }),
      off: fc.oneof(fc.constantFrom(0, 4, 4, 4, 6, 0x10, 0x14, 0x20, 0x24, 0x30, 0x3c, 0x40, 0x44, 0x48, 0x50, 0x60, 0x70, 0x80), fc.nat({ max: 0xfff })),
      size: fc.constantFrom<1 | 2 | 4>(1, 2, 4, 4),
      value: fc.oneof(fc.constantFrom(0, 2, 4, 6, 7, 0xffffffff, 0x8000, 0xc000, EDU_BAR), fc.nat({ max: 0xffffffff })),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('read' as const), fn: fc.nat({ max: 1 }), off: fc.nat({ max: 0xfff }), size: fc.constantFrom<1 | 2 | 4>(1, 2, 4) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('eduDma' as const), dst: fc.nat({ max: RAM_SIZE - 0x1000 }).map((o) => RAM + o), cnt: fc.integer({ min: 1, max: 0x1000 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('time' as const), ns: fc.constantFrom(1_000_000, 60_000_000, 200_000_000) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reset' as const }) },
);

async function run(ops: Op[]): Promise<void> {
  const sys = MemoryRegion.container('system', 2 ** 40);
  const ramMr = MemoryRegion.ram('ram', RAM_SIZE);
  sys.addSubregion(RAM, ramMr);
  const as = new AddressSpace(sys, 'memory');
  const loop = new EventLoop({ clock: { kind: 'virtual', nsPerInsn: 1 } });
  const host = createGpexHost({ dmaRoot: sys, sysmem: sys, irqs: [0, 1, 2, 3].map(() => ({ set: () => {} })), msiSink: { deliver: () => {} } });
  const rng = new VirtioRng({ scheduler: loop, log: () => {} });
  const vfn = new VirtioPci(rng, { transitional: true });
  const sched = new FakeScheduler();
  const edu = createEdu({ scheduler: sched });
  const fns = [host.addDevice(vfn), host.addDevice(edu)];
  const cfg = (fn: number, off: number): number => VIRT_GPEX_LAYOUT.ecam.base + (fns[fn]! << 12) + off;
  const ident = [0, 1].map((fn) => [as.ldl(cfg(fn, 0)), as.ldl(cfg(fn, 8)), as.ldl(cfg(fn, 0x2c))]);
  const watch = new RamWatch(ramMr.ramBytes(), RAM);
  // The edu DMA in flight, and whether bus mastering was switched off since it started.
  let pending: { dst: number; cnt: number; revoked: boolean } | null = null;
  try {
    for (const op of ops) {
      switch (op.kind) {
        case 'cfg': {
          const wasMaster = edu.busMasterEnabled;
          as.store(cfg(op.fn, op.off), op.size, op.value, 0, A);
          if (wasMaster && !edu.busMasterEnabled && pending) pending.revoked = true;
          break;
        }
        case 'read': {
          as.load(cfg(op.fn, op.off), op.size, A);
          assert.ok(op.size === 4 || as.valLo >>> 0 < 2 ** (8 * op.size), 'a config read fits its width');
          break;
        }
        case 'eduDma': {
          // Program edu's DMA through BAR 0 (wherever the guest left it decoding, if at all).
          as.stl(cfg(1, 0x10), EDU_BAR);
          const cmd = as.lduw(cfg(1, 4));
          as.stw(cfg(1, 4), cmd | 6);
          as.stl(EDU_BAR + 0x80, 0x40000);
          as.stl(EDU_BAR + 0x84, 0);
          as.stl(EDU_BAR + 0x88, op.dst);
          as.stl(EDU_BAR + 0x8c, 0);
          as.stl(EDU_BAR + 0x90, op.cnt);
          as.stl(EDU_BAR + 0x94, 0);
          if (!edu.dmaRunning) {
            as.stl(EDU_BAR + 0x98, 1 | 2);
            if (edu.dmaRunning) pending = { dst: op.dst, cnt: op.cnt, revoked: false };
          }
          break;
        }
        case 'time':
          sched.advance(op.ns);
          loop.runBottomHalves();
          break;
        case 'reset':
          host.reset();
          if (pending) pending.revoked = true;
          assert.equal(rng.status, 0);
          assert.equal(rng.requestsInFlight, 0);
          break;
      }
      // Only a DMA started with bus mastering on, and not switched off since, may write (its own range).
      const allowed: [number, number][] = pending && !pending.revoked ? [[pending.dst, pending.dst + pending.cnt]] : [];
      const bad = watch.changedOutside(allowed);
      assert.deepEqual(bad, [], `guest memory written outside a live edu DMA: ${hex(bad)}`);
      watch.snapshot();
      if (pending && !edu.dmaRunning) pending = null;
    }
    for (const fn of [0, 1]) assert.deepEqual([as.ldl(cfg(fn, 0)), as.ldl(cfg(fn, 8)), as.ldl(cfg(fn, 0x2c))], ident[fn], 'identity registers are read-only');
  } finally {
    as.destroy();
  }
}

export default target<Op[]>({
  name: 'pci-config',
  summary: 'PCI config space of virtio-pci and edu functions: BARs, command/BME, capabilities, resets',
  arbitrary: fc.array(opArb, { minLength: 1, maxLength: 30 }),
  check: run,
  // Each step rebuilds flat views of a PCI host (about 100 ms a run): few in CI.
  ciRuns: 12,
});
