// The interrupt controllers and board devices behind a real AddressSpace: access sizes as the guest
// issues them (8-byte CLINT accesses split by the core, invalid sizes refused before the device).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Clint, MIP_MTIP_BIT } from '../../../src/hw/intc/clint.js';
import { Plic, MIP_MEIP_BIT } from '../../../src/hw/intc/plic.js';
import { Serial } from '../../../src/hw/char/serial.js';
import { PipeBackend } from '../../../src/hw/char/chardev.js';
import { SifiveTest } from '../../../src/hw/misc/sifive-test.js';
import { MemoryRegion } from '../../../src/memory/region.js';
import { AddressSpace } from '../../../src/memory/address-space.js';
import { MEMTX_OK, MEMTXATTRS_UNSPECIFIED } from '../../../src/memory/types.js';
import { FakeScheduler, RecordingHart } from '../misc/helpers.js';

function board() {
  const sched = new FakeScheduler();
  const harts = [new RecordingHart(), new RecordingHart()];
  const root = MemoryRegion.container('system', 2 ** 40);
  const clint = new Clint(harts, sched);
  const plic = new Plic(harts);
  const be = new PipeBackend();
  const serial = new Serial(plic.input(10), be);
  const shutdowns: string[] = [];
  const finisher = new SifiveTest((k, c) => shutdowns.push(`${k}:${c}`));
  clint.mapInto(root, 0x2000000);
  root.addSubregion(0xc000000, plic.mr);
  root.addSubregion(0x10000000, serial.mr);
  root.addSubregion(0x100000, finisher.mr);
  const as = new AddressSpace(root, 'memory');
  return { sched, harts, clint, plic, be, serial, shutdowns, as };
}

test('dispatch: CLINT 8-byte mtime/mtimecmp accesses through the core', () => {
  const { sched, harts, as } = board();
  sched.advanceTo(0x1_0000_0005 * 100);
  assert.equal(as.ldq(0x200bff8), 0x1_0000_0005n);
  assert.equal(as.stq(0x2004008, 0x1_0000_0010n), MEMTX_OK);
  assert.equal(as.ldq(0x2004008), 0x1_0000_0010n);
  assert.ok(!harts[1]!.has(MIP_MTIP_BIT));
  sched.advanceTo(0x1_0000_0010 * 100);
  assert.ok(harts[1]!.has(MIP_MTIP_BIT));
  // Byte accesses are not valid on the ACLINT: refused before the device sees them.
  assert.notEqual(as.load(0x200bff8, 1, MEMTXATTRS_UNSPECIFIED), MEMTX_OK);
});

test('dispatch: UART interrupt reaches the hart through the PLIC', () => {
  const { harts, be, as } = board();
  as.stl(0xc000000 + 4 * 10, 1); // priority
  as.stl(0xc002000, 1 << 10); // enable for hart 0 M
  as.stb(0x10000001, 0x01); // IER: RX data
  be.feed('k');
  assert.ok(harts[0]!.has(MIP_MEIP_BIT));
  assert.equal(as.ldl(0xc200004), 10);
  assert.equal(as.ldub(0x10000000), 0x6b);
  as.stl(0xc200004, 10);
  assert.ok(!harts[0]!.has(MIP_MEIP_BIT));
  for (const c of 'ok') as.stb(0x10000000, c.charCodeAt(0));
  assert.equal(be.outputText(), 'ok');
});

test('dispatch: finisher accepts 2- and 4-byte writes only', () => {
  const { as, shutdowns } = board();
  assert.notEqual(as.store(0x100000, 1, 0x55, 0, MEMTXATTRS_UNSPECIFIED), MEMTX_OK);
  as.stw(0x100000, 0x5555);
  as.stl(0x100000, 0x00023333);
  assert.deepEqual(shutdowns, ['poweroff:0', 'fail:2']);
});
