/**
 * Random config writes through ECAM to a bridge, the function behind it and
 * bus numbers: nothing throws, the bridge's windows decode exactly where its
 * registers say, and the CPU reaches the function behind it only through a
 * window that covers its BAR.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { disposeRig, makeRig } from './helpers.js';
import { PciBridge } from '../../../src/hw/pci/bridge.js';
import { PciDevice } from '../../../src/hw/pci/device.js';
import { MemoryRegion } from '../../../src/memory/region.js';

const TAG = 0x5eed;

test('random writes to a bridge and the function behind it keep windows and reachability consistent', () => {
  let reached = 0;
  let windowSteps = 0;
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          bus: fc.constantFrom(0, 1, 2),
          devfn: fc.constantFrom(0, 0x10),
          offset: fc.oneof(fc.constantFrom(0x04, 0x10, 0x18, 0x19, 0x1a, 0x1c, 0x20, 0x22, 0x24, 0x26, 0x28, 0x2c, 0x3e), fc.integer({ min: 0, max: 0xff })),
          size: fc.constantFrom(1 as const, 2 as const, 4 as const),
          value: fc.oneof(
            fc.constantFrom(0x7, 0x2, 0, 0xffffffff, 0x00010100, 0x40104010, 0x40004000, 0x40000000, 0x40100000, 0x4001fff1, 0xfff0),
            fc.nat({ max: 0xffffffff }),
          ),
        }),
        { minLength: 5, maxLength: 50, size: 'max' },
      ),
      fc.boolean(),
      (random, configured) => {
        // Half the runs start from what firmware would program: bus 1, the BAR, decode on, a window over it.
        const setup = [
          { bus: 0, devfn: 0x10, offset: 0x18, size: 4 as const, value: 0x00010100 },
          { bus: 1, devfn: 0, offset: 0x10, size: 4 as const, value: 0x40100000 },
          { bus: 1, devfn: 0, offset: 0x04, size: 2 as const, value: 0x2 },
          { bus: 0, devfn: 0x10, offset: 0x20, size: 4 as const, value: 0x40104010 },
          { bus: 0, devfn: 0x10, offset: 0x04, size: 2 as const, value: 0x2 },
        ];
        const ops = configured ? [...setup, ...random] : random;
        const r = makeRig();
        const br = new PciBridge();
        r.host.addDevice(br, 0x10);
        const d = new PciDevice({ name: 'behind', vendorId: 0x1234, deviceId: 1, classCode: 0, interruptPin: 1 });
        d.registerBar(0, { kind: 'mem32', region: MemoryRegion.io('behind.bar0', 0x1000, { read: () => TAG }) });
        br.addDevice(d, 0);
        try {
          for (const o of ops) {
            const off = o.offset - (o.offset % o.size);
            r.host.bus.configWriteBdf(o.bus, o.devfn, off, o.size, o.value);
            // Independent decode of the bridge's memory windows from its config registers.
            const cmd = r.host.bus.configRead(0x10, 4, 2);
            const memBase = (r.host.bus.configRead(0x10, 0x20, 2) & 0xfff0) * 0x10000;
            const memLimit = (r.host.bus.configRead(0x10, 0x22, 2) & 0xfff0) * 0x10000 + 0xfffff;
            const pBase = r.host.bus.configRead(0x10, 0x28, 4) * 2 ** 32 + (r.host.bus.configRead(0x10, 0x24, 2) & 0xfff0) * 0x10000;
            const pLimit = r.host.bus.configRead(0x10, 0x2c, 4) * 2 ** 32 + (r.host.bus.configRead(0x10, 0x26, 2) & 0xfff0) * 0x10000 + 0xfffff;
            const windows: [number, number][] = [];
            if (cmd & 2 && memBase <= memLimit) windows.push([memBase, memLimit]);
            if (cmd & 2 && pBase <= pLimit && pLimit < 2 ** 53) windows.push([pBase, pLimit]);
            const got = r.host.bus
              .mappings()
              .filter((m) => m.dev === br && m.slot >= 8)
              .map((m) => [m.address, m.address + m.size - 1] as [number, number]);
            assert.deepEqual(got.sort((a, b) => a[0] - b[0]), windows.sort((a, b) => a[0] - b[0]));
            if (windows.length) windowSteps++;
            // The function behind the bridge: decoded BAR, and whether the CPU reaches it.
            const sec = r.host.bus.configRead(0x10, 0x19, 1);
            const bar = d.removed ? 0 : d.config.stored(0x10) & ~0xfff;
            const decodes = !d.removed && (d.command & 2) !== 0 && bar !== 0 && bar < 0xfffff000;
            const inWindow = decodes && windows.some(([b, l]) => bar >= b && bar + 0xfff <= l);
            if (decodes && bar >= 0x40000000 && bar < 0x80000000) {
              // The window's priority loses only to root-bus functions at lower devfn (none decode here but the host bridge, which has no BARs).
              assert.equal(r.as.ldl(bar) === TAG, inWindow, `BAR at 0x${bar.toString(16)}, windows ${JSON.stringify(windows)}`);
              if (inWindow) reached++;
            }
            if (sec !== 0 && sec <= r.host.bus.configRead(0x10, 0x1a, 1)) {
              assert.equal(r.host.bus.configReadBdf(sec, 0, 0, 4), 0x00011234);
            }
          }
        } finally {
          disposeRig(r);
        }
      },
    ),
    { numRuns: 100 },
  );
  if (process.env.PCI_FUZZ_STATS) console.log({ reached, windowSteps });
  assert.ok(windowSteps > 300 && reached > 100, `coverage: ${windowSteps} steps with a window, ${reached} with the function reached`);
});
