/**
 * virtqueue: split rings, descriptor chains and indirect tables as a hostile
 * guest writes them (loops, out-of-range heads and nexts, nested or
 * misaligned indirect tables, buffers outside RAM, 64-bit addresses), popped
 * and pushed by the device side.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AddressSpace } from '../../../src/memory/address-space.js';
import { MemoryRegion } from '../../../src/memory/region.js';
import { MEMTXATTRS_UNSPECIFIED } from '../../../src/memory/types.js';
import { Virtqueue, VIRTQUEUE_MAX_SIZE, VRING_DESC_F_INDIRECT } from '../../../src/hw/virtio/virtqueue.js';
import { RamWatch, hex, target } from '../target.js';

const RAM = 0x80000000;
const RAM_SIZE = 0x10000;
const DESC = RAM;
const AVAIL = RAM + 0x400;
const USED = RAM + 0x800;
const TABLES = RAM + 0x1000;
const TABLE_STRIDE = 0x400;
const MMIO = 0x10000000;

interface RawDesc {
  lo: number;
  hi: number;
  len: number;
  flags: number;
  next: number;
}

const addrArb = fc.oneof(
  fc.record({ lo: fc.integer({ min: 0, max: 0xbfff }).map((o) => RAM + 0x4000 + o), hi: fc.constant(0) }),
  fc.record({ lo: fc.constantFrom(0, 0x1000, MMIO, MMIO + 0xffc, RAM + RAM_SIZE - 4, RAM + RAM_SIZE, 0xffffffff), hi: fc.constant(0) }),
  fc.record({ lo: fc.nat({ max: 0xffffffff }), hi: fc.constantFrom(0, 1, 0x1fffff, 0x200000, 0xffffffff) }),
);
const descArb = (tables: number): fc.Arbitrary<RawDesc & { table: number }> =>
  fc.record({
    addr: addrArb,
    len: fc.oneof(fc.nat({ max: 0x300 }), fc.constantFrom(0, 1, 16, 0xffffffff, 0x80000000)),
    flags: fc.nat({ max: 7 }),
    next: fc.nat({ max: 20 }),
    table: fc.nat({ max: Math.max(0, tables - 1) }),
    fixTable: fc.boolean(),
    tableLen: fc.nat({ max: 40 }),
  }).map((d) => {
    // Well-formed first (an indirect descriptor points at a table of the size it claims), then mutated.
    const ind = (d.flags & VRING_DESC_F_INDIRECT) !== 0 && d.fixTable;
    return {
      lo: ind ? TABLES + d.table * TABLE_STRIDE : d.addr.lo,
      hi: ind ? 0 : d.addr.hi,
      len: ind ? 16 * d.tableLen : d.len,
      flags: d.flags,
      next: d.next,
      table: d.table,
    };
  });

interface Input {
  num: number;
  desc: RawDesc[];
  tables: RawDesc[][];
  availIdx: number;
  heads: number[];
  eventIdx: boolean;
  availFlags: number;
  ringsOutside: boolean;
}

const arbitrary = fc.integer({ min: 1, max: 16 }).chain((num) =>
  fc.record({
    num: fc.constant(num),
    desc: fc.array(descArb(4), { minLength: num, maxLength: num }),
    tables: fc.array(fc.array(descArb(4), { maxLength: 40 }), { maxLength: 4 }),
    availIdx: fc.oneof(fc.nat({ max: num + 2 }), fc.nat({ max: 0xffff })),
    heads: fc.array(fc.oneof(fc.nat({ max: num - 1 }), fc.nat({ max: 0xffff })), { minLength: num, maxLength: num }),
    eventIdx: fc.boolean(),
    availFlags: fc.nat({ max: 3 }),
    ringsOutside: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
  }),
);

function writeDesc(dv: DataView, off: number, d: RawDesc): void {
  dv.setUint32(off, d.lo >>> 0, true);
  dv.setUint32(off + 4, d.hi >>> 0, true);
  dv.setUint32(off + 8, d.len >>> 0, true);
  dv.setUint16(off + 12, d.flags, true);
  dv.setUint16(off + 14, d.next, true);
}

function run(input: Input): void {
  const sys = MemoryRegion.container('system', 2 ** 40);
  const ram = MemoryRegion.ram('ram', RAM_SIZE);
  sys.addSubregion(RAM, ram);
  sys.addSubregion(MMIO, MemoryRegion.io('dev', 0x1000, { read: () => 0x5a5a5a5a, write: () => {} }));
  const as = new AddressSpace(sys, 'memory');
  try {
    const bytes = ram.ramBytes();
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    input.desc.forEach((d, i) => writeDesc(dv, DESC - RAM + 16 * i, d));
    input.tables.forEach((t, ti) => t.slice(0, TABLE_STRIDE / 16).forEach((d, i) => writeDesc(dv, TABLES - RAM + ti * TABLE_STRIDE + 16 * i, d)));
    // A segment must be a descriptor the guest wrote somewhere in RAM (an indirect table may start at any byte).
    let keys: Set<string> | null = null;
    const isDescriptor = (addr: number, len: number): boolean => {
      if (!keys) {
        keys = new Set();
        for (let o = 0; o + 12 <= bytes.length; o++) keys.add(`${dv.getUint32(o + 4, true) * 2 ** 32 + dv.getUint32(o, true)}:${dv.getUint32(o + 8, true)}`);
      }
      return keys.has(`${addr}:${len}`);
    };
    dv.setUint16(AVAIL - RAM, input.availFlags, true);
    dv.setUint16(AVAIL - RAM + 2, input.availIdx, true);
    input.heads.forEach((h, i) => dv.setUint16(AVAIL - RAM + 4 + 2 * i, h, true));

    const errors: string[] = [];
    const q = new Virtqueue(0, 16, as, MEMTXATTRS_UNSPECIFIED, (_q, m) => errors.push(m));
    if (input.ringsOutside) q.setRings(input.num, MMIO, 0x2000, USED);
    else q.setRings(input.num, DESC, AVAIL, USED);
    q.eventIdx = input.eventIdx;
    q.ready = true;
    const watch = new RamWatch(bytes, RAM);
    const usedArea: [number, number] = [USED, USED + 6 + 8 * input.num + 2];

    const popped = [];
    for (let i = 0; i < input.num + 2; i++) {
      const e = q.pop();
      if (!e) break;
      popped.push(e);
      assert.ok(e.in.length + e.out.length <= input.num + VIRTQUEUE_MAX_SIZE, 'chain longer than its tables');
      for (const s of [...e.out, ...e.in]) {
        assert.ok(isDescriptor(s.addr, s.len), `segment ${s.addr}+${s.len} is not a descriptor the guest wrote`);
        assert.ok(Number.isSafeInteger(s.addr) && s.addr + s.len <= Number.MAX_SAFE_INTEGER);
      }
    }
    // Bounded: never more chains than the driver made available (at most the queue size).
    assert.ok(popped.length <= input.num, `${popped.length} chains from a queue of ${input.num}`);
    assert.ok(errors.length <= 1, 'one error per broken queue');
    assert.equal(q.broken, errors.length === 1);
    for (const e of popped) {
      q.push(e, 0);
      q.shouldNotify();
    }
    const bad = watch.changedOutside([usedArea]);
    assert.deepEqual(bad, [], `guest memory written outside the used ring: ${hex(bad)}`);
  } finally {
    as.destroy();
  }
}

export default target<Input>({
  name: 'virtqueue',
  summary: 'split-ring descriptor chains and indirect tables (pop/push)',
  arbitrary,
  check: run,
  ciRuns: 100,
});
