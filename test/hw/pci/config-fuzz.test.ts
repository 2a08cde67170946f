/**
 * Random config writes (and removals) against three functions with BARs of
 * every kind: nothing throws, and after every step the memory map equals the
 * one a checker recomputes from config space alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { disposeRig, makeRig, type Rig } from './helpers.js';
import { PciDevice } from '../../../src/hw/pci/device.js';
import { MsiCapability } from '../../../src/hw/pci/msi.js';
import { addPcieCapability } from '../../../src/hw/pci/pcie-cap.js';
import { MemoryRegion } from '../../../src/memory/region.js';
import { AddressSpace } from '../../../src/memory/address-space.js';
import type { BarKind } from '../../../src/hw/pci/bar.js';

interface BarDef {
  slot: number; // 0..5, 6 = ROM
  kind: BarKind;
  size: number;
  pf?: boolean;
}

const FUNCS: { devfn: number; express?: boolean; bars: BarDef[] }[] = [
  {
    devfn: 8,
    bars: [
      { slot: 0, kind: 'io', size: 256 },
      { slot: 1, kind: 'mem32', size: 0x1000 },
      { slot: 2, kind: 'mem64', size: 0x4000, pf: true },
      { slot: 4, kind: 'mem32', size: 0x10000, pf: true },
      { slot: 6, kind: 'mem32', size: 0x800 },
    ],
  },
  {
    devfn: 16,
    bars: [
      { slot: 0, kind: 'mem32', size: 0x1000 },
      { slot: 1, kind: 'mem32', size: 0x2000 },
      { slot: 2, kind: 'io', size: 16 },
      { slot: 6, kind: 'mem32', size: 0x1000 },
    ],
  },
  { devfn: 24, express: true, bars: [{ slot: 0, kind: 'mem64', size: 0x1000 }, { slot: 3, kind: 'io', size: 4 }] },
];

const regionName = (devfn: number, slot: number): string => `f${devfn}s${slot}`;
const tagOf = (devfn: number, slot: number): number => (devfn << 8) | (0xa0 + slot);

function build(r: Rig): void {
  for (const f of FUNCS) {
    const d = new PciDevice({ name: `fn${f.devfn}`, vendorId: 0x1234, deviceId: f.devfn, classCode: 0, interruptPin: 1, express: f.express });
    for (const b of f.bars) {
      const name = regionName(f.devfn, b.slot);
      if (b.slot === 6) {
        d.registerRom(MemoryRegion.io(name, b.size, { read: () => tagOf(f.devfn, 6), write: () => {} }));
      } else {
        d.registerBar(b.slot, { kind: b.kind, prefetchable: b.pf, region: MemoryRegion.io(name, b.size, { read: () => tagOf(f.devfn, b.slot), write: () => {} }) });
      }
    }
    if (f.express) addPcieCapability(d);
    new MsiCapability(d, { vectors: 2, perVectorMask: true });
    r.host.addDevice(d, f.devfn);
  }
}

interface Expected {
  io: boolean;
  start: number;
  size: number;
  name: string;
  rank: number;
}

/** The checker: decode every present function's BARs from what config space reads back. */
function expectedMap(r: Rig): Expected[] {
  const out: Expected[] = [];
  for (const f of FUNCS) {
    if (r.cfgRead(f.devfn, 0, 2) === 0xffff) continue; // removed
    const cmd = r.cfgRead(f.devfn, 4, 2);
    for (const b of f.bars) {
      let addr: number;
      if (b.slot === 6) {
        const v = r.cfgRead(f.devfn, 0x30, 4);
        if (!(cmd & 2) || !(v & 1)) continue;
        addr = (v & ~0x7ff & ~(b.size - 1)) >>> 0;
      } else {
        const lo = r.cfgRead(f.devfn, 0x10 + 4 * b.slot, 4);
        if (b.kind === 'io') {
          if (!(cmd & 1)) continue;
          addr = (lo & ~3 & ~(b.size - 1)) >>> 0;
        } else {
          if (!(cmd & 2)) continue;
          addr = (lo & ~0xf & ~(b.size - 1)) >>> 0;
          if (b.kind === 'mem64') addr += r.cfgRead(f.devfn, 0x14 + 4 * b.slot, 4) * 2 ** 32;
        }
      }
      if (addr === 0) continue;
      if (b.kind === 'io' && addr + b.size > 0x10000) continue;
      if (b.kind !== 'mem64' && addr + b.size - 1 >= 0xffffffff) continue;
      if (addr + b.size > 2 ** 53) continue;
      out.push({ io: b.kind === 'io', start: addr, size: b.size, name: regionName(f.devfn, b.slot), rank: f.devfn * 8 + b.slot });
    }
  }
  return out;
}

type Seg = { start: number; end: number; name: string };

/** Paint BARs best-first: lower (devfn, slot) wins where they overlap. */
function paint(bars: Expected[]): Seg[] {
  const segs: Seg[] = [];
  for (const b of [...bars].sort((x, y) => x.rank - y.rank)) {
    let pieces: Seg[] = [{ start: b.start, end: b.start + b.size, name: b.name }];
    for (const s of segs) {
      const next: Seg[] = [];
      for (const p of pieces) {
        if (p.end <= s.start || s.end <= p.start) {
          next.push(p);
          continue;
        }
        if (p.start < s.start) next.push({ start: p.start, end: s.start, name: p.name });
        if (s.end < p.end) next.push({ start: s.end, end: p.end, name: p.name });
      }
      pieces = next;
    }
    segs.push(...pieces);
  }
  return segs.sort((a, b) => a.start - b.start);
}

function actual(as: AddressSpace, names: Set<string>): Seg[] {
  const segs: Seg[] = [];
  for (const fr of as.flatView().ranges) {
    if (!names.has(fr.mr.name)) continue;
    const last = segs[segs.length - 1];
    if (last && last.name === fr.mr.name && last.end === fr.start) last.end = fr.end;
    else segs.push({ start: fr.start, end: fr.end, name: fr.mr.name });
  }
  return segs;
}

const barNames = new Set(FUNCS.flatMap((f) => f.bars.map((b) => regionName(f.devfn, b.slot))));

type Op = { kind: 'write'; devfn: number; offset: number; size: 1 | 2 | 4; value: number } | { kind: 'remove'; devfn: number };

const interestingOffset = fc.oneof(
  fc.constantFrom(0x04, 0x10, 0x14, 0x18, 0x1c, 0x20, 0x24, 0x30, 0x3c),
  fc.integer({ min: 0, max: 0x3f }),
  fc.integer({ min: 0x40, max: 0xff }),
  fc.integer({ min: 0, max: 0xfff }),
);
const interestingValue = fc.oneof(
  fc.constantFrom(0, 0xffffffff, 0x3, 0x2, 0x1, 0x7, 0x406, 0xfffff800, 0x80000000, 0xfffff000, 0x1001),
  fc.integer({ min: 0, max: 3 }).map((k) => 0x40000000 + k * 0x1000),
  fc.integer({ min: 0, max: 3 }).map((k) => 0x40000000 + k * 0x1000),
  fc.integer({ min: 0, max: 3 }).map((k) => 0x1000 + k * 0x40),
  fc.integer({ min: 0, max: 15 }).map((k) => (0x40000000 + k * 0x800) | 1),
  fc.nat({ max: 0xffffffff }),
);
const devfn = fc.constantFrom(8, 16, 24);
const write = (d: fc.Arbitrary<number>, off: fc.Arbitrary<number>, size: fc.Arbitrary<1 | 2 | 4>, value: fc.Arbitrary<number>): fc.Arbitrary<Op> =>
  fc.record({ kind: fc.constant('write' as const), devfn: d, offset: off, size, value });
const op: fc.Arbitrary<Op> = fc.oneof(
  // Command register: mostly values that turn decoding on.
  { weight: 6, arbitrary: write(devfn, fc.constant(0x04), fc.constant(2 as const), fc.oneof(fc.constantFrom(0x3, 0x2, 0x1, 0x7, 0x406, 0x0), fc.nat({ max: 0xffff }))) },
  // BARs and the ROM BAR, sizing and placing.
  { weight: 10, arbitrary: write(devfn, fc.constantFrom(0x10, 0x14, 0x18, 0x1c, 0x20, 0x24, 0x30), fc.constant(4 as const), interestingValue) },
  // Anything anywhere, including absent functions and the host bridge.
  { weight: 6, arbitrary: write(fc.constantFrom(0, 8, 16, 24, 32), interestingOffset, fc.constantFrom(1 as const, 2 as const, 4 as const), interestingValue) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), devfn }) },
);

test('random config writes never throw and leave the memory map consistent with BAR/command state', () => {
  let mappedSteps = 0;
  let overlapSteps = 0;
  fc.assert(
    fc.property(fc.array(op, { minLength: 5, maxLength: 60, size: 'max' }), (ops) => {
      const r = makeRig();
      build(r);
      const mem = new AddressSpace(r.host.memory, 'pci-mem');
      const io = new AddressSpace(r.host.io, 'pci-io');
      try {
        for (const o of ops) {
          if (o.kind === 'remove') {
            const d = r.host.bus.device(o.devfn);
            if (d) r.host.removeDevice(d);
          } else {
            const off = o.offset - (o.offset % o.size);
            r.cfgWrite(o.devfn, off, o.size, o.value);
          }
          const exp = expectedMap(r);
          if (exp.length) mappedSteps++;
          if (exp.some((a, i) => exp.some((b, j) => i < j && a.io === b.io && a.start < b.start + b.size && b.start < a.start + a.size))) overlapSteps++;
          const fromBus = r.host.bus
            .mappings()
            .map((m) => `${m.dev.devfn}/${m.slot}@${m.address}`)
            .sort();
          const fromChecker = exp.map((e) => `${Number(e.name.slice(1, e.name.indexOf('s')))}/${e.name.slice(e.name.indexOf('s') + 1)}@${e.start}`).sort();
          assert.deepEqual(fromBus, fromChecker);
          assert.deepEqual(actual(mem, barNames), paint(exp.filter((e) => !e.io)));
          assert.deepEqual(actual(io, barNames), paint(exp.filter((e) => e.io)));
          // And the CPU sees the winner through the 32-bit window.
          for (const s of paint(exp.filter((e) => !e.io))) {
            if (s.start >= 0x40000000 && s.end <= 0x80000000) {
              const devfn = Number(s.name.slice(1, s.name.indexOf('s')));
              const slot = Number(s.name.slice(s.name.indexOf('s') + 1));
              assert.equal(r.as.ldl(s.start), tagOf(devfn, slot));
            }
          }
        }
      } finally {
        mem.destroy();
        io.destroy();
        disposeRig(r);
      }
    }),
    { numRuns: 100 },
  );
  // The generator must actually reach the interesting states.
  if (process.env.PCI_FUZZ_STATS) console.log({ mappedSteps, overlapSteps });
  assert.ok(mappedSteps > 300, `only ${mappedSteps} steps had a BAR mapped`);
  assert.ok(overlapSteps > 20, `only ${overlapSteps} steps had overlapping BARs`);
});
