import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryRegion } from '../../src/memory/region.js';
import { AddressSpace } from '../../src/memory/address-space.js';
import { MemoryError } from '../../src/memory/errors.js';
import { memoryTransaction } from '../../src/memory/transaction.js';
import { deviceOwner } from '../../src/memory/owner.js';
import {
  MEMTX_ACCESS_ERROR,
  MEMTX_DECODE_ERROR,
  MEMTX_OK,
  memTxAttrs,
  MEMTXATTRS_UNSPECIFIED as U,
  type MemoryRegionOps,
} from '../../src/memory/types.js';

function ranges(as: AddressSpace): string[] {
  return as.flatView().ranges.map((r) => `${r.start.toString(16)}+${r.size.toString(16)}:${r.mr.name}@${r.offsetInRegion.toString(16)}`);
}

test('RAM, ROM and I/O leaves render and dispatch', () => {
  const sys = MemoryRegion.container('system', 2 ** 32);
  const ram = MemoryRegion.ram('ram', 0x1000);
  const rom = MemoryRegion.rom('rom', 0x100);
  const log: string[] = [];
  const io = MemoryRegion.io('dev', 0x10, {
    read: (o, s) => {
      log.push(`r${o}/${s}`);
      return 0x11223344;
    },
    write: (o, v, s) => log.push(`w${o}/${s}=${v.toString(16)}`),
  });
  sys.addSubregion(0x8000_0000, ram);
  sys.addSubregion(0x1000, rom);
  sys.addSubregion(0x1000_0000, io);
  const as = new AddressSpace(sys, 'memory', { log: () => {} });
  assert.deepEqual(ranges(as), ['1000+100:rom@0', '10000000+10:dev@0', '80000000+1000:ram@0']);
  assert.equal(as.stl(0x8000_0010, 0xdeadbeef), MEMTX_OK);
  assert.equal(as.ldl(0x8000_0010), 0xdeadbeef);
  assert.equal(as.ldq(0x8000_0010), 0xdeadbeefn);
  rom.ramBytes()[0] = 0x5a;
  assert.equal(as.stb(0x1000, 1), MEMTX_OK);
  assert.equal(as.ldub(0x1000), 0x5a);
  assert.equal(rom.ignoredWrites, 1);
  assert.equal(as.load(0x1000_0000, 4, U), MEMTX_OK);
  assert.equal(as.valLo, 0x11223344);
  assert.equal(as.load(0x2000_0000, 4, U), MEMTX_DECODE_ERROR);
  assert.equal(as.valLo, 0xffffffff);
  assert.equal(as.load(0x1000_0000, 4, memTxAttrs({ memoryOnly: true })), MEMTX_ACCESS_ERROR);
  // 8-byte access to a 4-byte device with valid.max default 4 is invalid.
  log.length = 0;
  assert.equal(as.load(0x1000_0000, 8, U), MEMTX_DECODE_ERROR);
  assert.deepEqual(log, []);
  assert.equal(as.load(2 ** 53, 4, U), MEMTX_DECODE_ERROR);
  assert.equal(as.load(-4, 4, U), MEMTX_DECODE_ERROR);
  assert.equal(as.load(NaN, 4, U), MEMTX_DECODE_ERROR);
  as.destroy();
});

test('8-byte accesses to a 4-byte device are split into two pieces', () => {
  const calls: string[] = [];
  const ops: MemoryRegionOps = {
    valid: { min: 4, max: 8 },
    impl: { min: 4, max: 4 },
    read: (o) => {
      calls.push(`r${o}`);
      return o === 0 ? 0x03020100 : 0x07060504;
    },
    write: (o, v) => calls.push(`w${o}=${v.toString(16)}`),
  };
  const sys = MemoryRegion.container('system', 0x10000);
  sys.addSubregion(0x100, MemoryRegion.io('d', 8, ops));
  const as = new AddressSpace(sys, 'memory', { log: () => {} });
  assert.equal(as.load(0x100, 8, U), MEMTX_OK);
  assert.equal(as.valLo, 0x03020100);
  assert.equal(as.valHi, 0x07060504);
  assert.equal(as.store(0x100, 8, 0xaabbccdd, 0x11223344, U), MEMTX_OK);
  assert.deepEqual(calls, ['r0', 'r4', 'w0=aabbccdd', 'w4=11223344']);
  as.destroy();
});

test('priorities, aliases and transactions', () => {
  const sys = MemoryRegion.container('system', 0x10000);
  const a = MemoryRegion.ram('a', 0x1000);
  const b = MemoryRegion.ram('b', 0x100);
  const as = new AddressSpace(sys, 'memory', { log: () => {} });
  const e0 = as.epoch;
  memoryTransaction(() => {
    sys.addSubregion(0, a);
    sys.addSubregion(0x800, b, 1);
    assert.equal(as.epoch, e0, 'nothing published inside the transaction');
  });
  assert.ok(as.epoch > e0);
  assert.deepEqual(ranges(as), ['0+800:a@0', '800+100:b@0', '900+700:a@900']);
  const al = MemoryRegion.alias('al', a, 0x10, 0x20);
  sys.addSubregion(0x2000, al);
  assert.deepEqual(ranges(as).at(-1), '2000+20:a@10');
  b.setEnabled(false);
  assert.deepEqual(ranges(as).slice(0, 1), ['0+1000:a@0']);
  assert.throws(() => sys.addSubregion(0, a), MemoryError);
  assert.throws(() => MemoryRegion.ram('z', 0), MemoryError);
  const c = MemoryRegion.container('c', 0x100);
  const ca = MemoryRegion.alias('ca', c, 0, 0x100);
  assert.throws(() => c.addSubregion(0, ca), MemoryError);
  as.destroy();
});

test('reentrancy guard refuses an access to the same device from its own callback', () => {
  const owner = deviceOwner('edu');
  const sys = MemoryRegion.container('system', 0x10000);
  let inner = -1;
  let as!: AddressSpace;
  const io = MemoryRegion.io(
    'edu-mmio',
    0x100,
    {
      read: () => 7,
      write: () => {
        inner = as.load(0x1000, 4, U);
      },
    },
    { owner },
  );
  sys.addSubregion(0x1000, io);
  const logs: string[] = [];
  as = new AddressSpace(sys, 'memory', { log: (m) => logs.push(m) });
  assert.equal(as.store(0x1000, 4, 1, 0, U), MEMTX_OK);
  assert.equal(inner, MEMTX_ACCESS_ERROR);
  assert.equal(as.store(0x1000, 4, 1, 0, U), MEMTX_OK);
  assert.equal(io.reentrancyRefusals, 2);
  assert.equal(logs.length, 1);
  assert.equal(as.ldl(0x1000), 7);
  io.disableReentrancyGuard('test: device tolerates nested access');
  as.store(0x1000, 4, 1, 0, U);
  assert.equal(inner, MEMTX_OK);
  as.destroy();
});
