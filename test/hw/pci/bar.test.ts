import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeRig, type Rig } from './helpers.js';
import { PciDevice } from '../../../src/hw/pci/device.js';
import { MemoryRegion } from '../../../src/memory/region.js';
import { AddressSpace } from '../../../src/memory/address-space.js';
import type { MemoryRegionOps } from '../../../src/memory/types.js';

/** An I/O region that answers with a fixed tag, so a read shows which BAR decoded it. */
function tagged(name: string, size: number, tag: number): MemoryRegion {
  const ops: MemoryRegionOps = { read: () => tag, write: () => {} };
  return MemoryRegion.io(name, size, ops);
}

function sizingDevice(): PciDevice {
  const dev = new PciDevice({ name: 'sizing', vendorId: 0x1234, deviceId: 0x5678, classCode: 0xff0000 });
  dev.registerBar(0, { kind: 'io', region: tagged('io256', 256, 0xa0) });
  dev.registerBar(1, { kind: 'mem32', region: tagged('m4k', 4096, 0xa1) });
  dev.registerBar(2, { kind: 'mem64', prefetchable: true, region: tagged('m64', 16 * 1024, 0xa2) });
  dev.registerBar(4, { kind: 'mem32', prefetchable: true, region: tagged('m1m', 1 << 20, 0xa4) });
  dev.registerRom(MemoryRegion.rom('rom', 64 * 1024));
  return dev;
}

test('BAR sizing for I/O, 32-bit, 32-bit prefetchable, 64-bit prefetchable BARs and the ROM', () => {
  const r = makeRig();
  const dev = sizingDevice();
  const fn = r.host.addDevice(dev);
  const bar = (n: number) => 0x10 + 4 * n;
  assert.equal(r.cfgRead(fn, bar(0), 4), 0x1, 'I/O flag');
  assert.equal(r.cfgRead(fn, bar(1), 4), 0x0);
  assert.equal(r.cfgRead(fn, bar(2), 4), 0xc, '64-bit prefetchable flags');
  assert.equal(r.cfgRead(fn, bar(4), 4), 0x8);
  for (let n = 0; n < 6; n++) r.cfgWrite(fn, bar(n), 4, 0xffffffff);
  r.cfgWrite(fn, 0x30, 4, 0xfffff800);
  assert.equal(r.cfgRead(fn, bar(0), 4), 0xffffff01);
  assert.equal(r.cfgRead(fn, bar(1), 4), 0xfffff000);
  assert.equal(r.cfgRead(fn, bar(2), 4), 0xffffc00c);
  assert.equal(r.cfgRead(fn, bar(3), 4), 0xffffffff, 'upper half of a 64-bit BAR is all address');
  assert.equal(r.cfgRead(fn, bar(4), 4), 0xfff00008);
  assert.equal(r.cfgRead(fn, bar(5), 4), 0, 'unimplemented BAR');
  assert.equal(r.cfgRead(fn, 0x30, 4), 0xffff0000, 'ROM: size mask, enable bit not written');
  r.cfgWrite(fn, 0x30, 4, 0xffffffff);
  assert.equal(r.cfgRead(fn, 0x30, 4), 0xffff0001, 'ROM enable bit is writable');
  // Sizing with decode off maps nothing.
  assert.equal(r.host.bus.mappings().length, 0);
});

test('a 64-bit BAR larger than 4 GiB sizes through its upper half', () => {
  const r = makeRig();
  const dev = new PciDevice({ name: 'big', vendorId: 1, deviceId: 1, classCode: 0 });
  dev.registerBar(0, { kind: 'mem64', region: MemoryRegion.container('8g', 2 ** 33) });
  const fn = r.host.addDevice(dev);
  r.cfgWrite(fn, 0x10, 4, 0xffffffff);
  r.cfgWrite(fn, 0x14, 4, 0xffffffff);
  assert.equal(r.cfgRead(fn, 0x10, 4), 0x4);
  assert.equal(r.cfgRead(fn, 0x14, 4), 0xfffffffe);
  // Place it at 0x400000000 (the high window) and enable decode.
  r.cfgWrite(fn, 0x10, 4, 0);
  r.cfgWrite(fn, 0x14, 4, 0x4);
  r.cfgWrite(fn, 4, 2, 0x2);
  assert.deepEqual(r.host.bus.mappings().map((m) => m.address), [0x400000000]);
});

function place(r: Rig, fn: number) {
  r.cfgWrite(fn, 0x10, 4, 0x1000); // I/O 0x1000
  r.cfgWrite(fn, 0x14, 4, 0x40001000);
  r.cfgWrite(fn, 0x18, 4, 0x40010000);
  r.cfgWrite(fn, 0x1c, 4, 0);
  r.cfgWrite(fn, 0x20, 4, 0x40100000);
  r.cfgWrite(fn, 0x30, 4, 0x40200001);
}

test('decode enable maps every BAR where the guest put it; disable unmaps', () => {
  const r = makeRig();
  const dev = sizingDevice();
  const fn = r.host.addDevice(dev);
  place(r, fn);
  assert.equal(r.as.ldl(0x40001000), 0xffffffff, 'memory decode off');
  r.cfgWrite(fn, 4, 2, 0x3);
  assert.equal(r.as.ldl(0x40001000), 0xa1);
  assert.equal(r.as.ldl(0x40010000), 0xa2);
  assert.equal(r.as.ldl(0x40100000), 0xa4);
  assert.equal(r.as.ldub(0x3000000 + 0x1000), 0xa0, 'I/O BAR through the PIO window');
  assert.equal(r.host.bus.mappings().length, 5);
  r.cfgWrite(fn, 4, 2, 0x1); // memory off, I/O on
  assert.equal(r.as.ldl(0x40001000), 0xffffffff);
  assert.equal(r.as.ldub(0x3001000), 0xa0);
  r.cfgWrite(fn, 4, 2, 0x0);
  assert.equal(r.host.bus.mappings().length, 0);
});

test('a BAR write while decode is on moves the mapping, in one memory transaction', () => {
  const r = makeRig();
  const dev = sizingDevice();
  const fn = r.host.addDevice(dev);
  place(r, fn);
  r.cfgWrite(fn, 4, 2, 0x2);
  const pciMem = new AddressSpace(r.host.memory, 'pci-mem');
  let commits = 0;
  pciMem.addListener({ commit: () => void commits++ });
  commits = 0;
  r.cfgWrite(fn, 0x14, 4, 0x40005000);
  assert.equal(commits, 1);
  assert.equal(r.as.ldl(0x40001000), 0xffffffff);
  assert.equal(r.as.ldl(0x40005000), 0xa1);
  commits = 0;
  r.cfgWrite(fn, 4, 2, 0x0); // unmaps four memory BARs at once
  assert.equal(commits, 1);
  commits = 0;
  r.cfgWrite(fn, 4, 2, 0x2);
  assert.equal(commits, 1);
  pciMem.destroy();
});

test('BARs at 0, wrapping, or 32-bit BARs reaching 0xffffffff are not decoded', () => {
  const r = makeRig();
  const dev = sizingDevice();
  const fn = r.host.addDevice(dev);
  r.cfgWrite(fn, 4, 2, 0x3);
  assert.equal(r.host.bus.mappings().length, 0, 'all BARs at 0');
  r.cfgWrite(fn, 0x14, 4, 0xfffff000);
  assert.equal(r.host.bus.mappings().length, 0, 'last byte at 0xffffffff');
  r.cfgWrite(fn, 0x14, 4, 0xffffe000);
  assert.equal(r.host.bus.mappings().length, 1);
  // A 64-bit BAR above 2^53 cannot be decoded here.
  r.cfgWrite(fn, 0x18, 4, 0x10000);
  r.cfgWrite(fn, 0x1c, 4, 0xffff0000);
  assert.equal(r.host.bus.mappings().length, 1);
  // An I/O BAR beyond the 64 KiB I/O space.
  r.cfgWrite(fn, 0x10, 4, 0x12345600);
  assert.equal(r.host.bus.mappings().length, 1);
  // A BAR over RAM's address is a PCI address: RAM is untouched.
  r.as.stl(0x80000000, 0x11223344);
  r.cfgWrite(fn, 0x20, 4, 0x80000000);
  assert.equal(r.as.ldl(0x80000000), 0x11223344);
});

test('overlapping BARs of two functions: the lower devfn wins; the range stays mapped until both are off', () => {
  const r = makeRig();
  const a = new PciDevice({ name: 'a', vendorId: 1, deviceId: 1, classCode: 0 });
  a.registerBar(0, { kind: 'mem32', region: tagged('a0', 0x2000, 0xaaaa) });
  const b = new PciDevice({ name: 'b', vendorId: 1, deviceId: 2, classCode: 0 });
  b.registerBar(0, { kind: 'mem32', region: tagged('b0', 0x1000, 0xbbbb) });
  const fa = r.host.addDevice(a);
  const fb = r.host.addDevice(b);
  assert.ok(fa < fb);
  r.cfgWrite(fa, 0x10, 4, 0x40002000); // a: 0x40002000-0x40003fff
  r.cfgWrite(fb, 0x10, 4, 0x40003000); // b: 0x40003000-0x40003fff (inside a)
  r.cfgWrite(fb, 4, 2, 0x2);
  assert.equal(r.as.ldl(0x40003000), 0xbbbb);
  r.cfgWrite(fa, 4, 2, 0x2);
  assert.equal(r.as.ldl(0x40003000), 0xaaaa, 'lower devfn wins');
  assert.equal(r.as.ldl(0x40002000), 0xaaaa);
  assert.deepEqual(r.host.bus.lastOverlaps, [{ a: '00:01.0 BAR0', b: '00:02.0 BAR0' }]);
  r.cfgWrite(fa, 4, 2, 0x0);
  assert.equal(r.as.ldl(0x40003000), 0xbbbb, 'still mapped by b');
  assert.equal(r.as.ldl(0x40002000), 0xffffffff, 'the part only a covered is gone');
  r.cfgWrite(fa, 4, 2, 0x2);
  r.cfgWrite(fb, 4, 2, 0x0);
  assert.equal(r.as.ldl(0x40003000), 0xaaaa, 'still mapped by a');
  r.cfgWrite(fa, 4, 2, 0x0);
  assert.equal(r.as.ldl(0x40003000), 0xffffffff, 'unmapped when neither decodes');
});

test('overlapping BARs within one function: the lower BAR index wins', () => {
  const r = makeRig();
  const d = new PciDevice({ name: 'd', vendorId: 1, deviceId: 1, classCode: 0 });
  d.registerBar(0, { kind: 'mem32', region: tagged('d0', 0x1000, 0xd0) });
  d.registerBar(1, { kind: 'mem32', region: tagged('d1', 0x1000, 0xd1) });
  const fn = r.host.addDevice(d);
  r.cfgWrite(fn, 0x10, 4, 0x40008000);
  r.cfgWrite(fn, 0x14, 4, 0x40008000);
  r.cfgWrite(fn, 4, 2, 0x2);
  assert.equal(r.as.ldl(0x40008000), 0xd0);
  r.cfgWrite(fn, 0x10, 4, 0x40009000);
  assert.equal(r.as.ldl(0x40008000), 0xd1);
  assert.equal(r.as.ldl(0x40009000), 0xd0);
});
