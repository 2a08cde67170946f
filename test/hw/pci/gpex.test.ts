import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeRig } from './helpers.js';
import { PciDevice } from '../../../src/hw/pci/device.js';
import { MemoryRegion } from '../../../src/memory/region.js';
import { AddressSpace } from '../../../src/memory/address-space.js';
import { MEMTX_OK } from '../../../src/memory/types.js';
import { dmaRead, dmaWrite } from '../../../src/dma/dma.js';
import { addPcieCapability } from '../../../src/hw/pci/pcie-cap.js';
import { PciError } from '../../../src/hw/pci/bar.js';

test('host bridge 00:00.0 reads like QEMU gpex-root and U-Boot sees what QEMU shows', () => {
  const r = makeRig();
  assert.equal(r.cfgRead(0, 0x00, 4), 0x00081b36);
  assert.equal(r.cfgRead(0, 0x08, 4), 0x06000000, 'class 0x0600, rev 0');
  assert.equal(r.cfgRead(0, 0x0e, 1), 0x00, 'header type 0, single function');
  assert.equal(r.cfgRead(0, 0x2c, 4), 0x11001af4, 'subsystem 1af4:1100');
  assert.equal(r.cfgRead(0, 0x06, 2), 0x0000, 'status: no capabilities');
  assert.equal(r.cfgRead(0, 0x34, 1), 0x00);
  // What U-Boot's auto-configuration writes, and what its `pci long` then prints.
  r.cfgWrite(0, 0x04, 2, 0x0004);
  r.cfgWrite(0, 0x0c, 1, 0x08);
  r.cfgWrite(0, 0x0d, 1, 0x80);
  assert.equal(r.cfgRead(0, 0x04, 2), 0x0004);
  assert.equal(r.cfgRead(0, 0x0c, 1), 0x08);
  assert.equal(r.cfgRead(0, 0x0d, 1), 0x00, 'latency timer is read-only 0');
  for (let b = 0; b < 6; b++) {
    r.cfgWrite(0, 0x10 + 4 * b, 4, 0xffffffff);
    assert.equal(r.cfgRead(0, 0x10 + 4 * b, 4), 0, `unimplemented BAR${b} reads 0`);
  }
  assert.equal(r.cfgRead(0, 0x3d, 1), 0, 'no interrupt pin');
});

test('absent functions, other buses and bytes past the config space read all-ones', () => {
  const r = makeRig();
  assert.equal(r.cfgRead(8, 0, 4), 0xffffffff);
  assert.equal(r.cfgRead(8, 0, 2), 0xffff);
  assert.equal(r.cfgRead(1, 0, 1), 0xff, '00:00.1 absent');
  r.cfgWrite(8, 4, 2, 7); // dropped
  assert.equal(r.cfgRead(8, 4, 2), 0xffff);
  // bus 1 (offset 1 << 20) has nothing.
  r.as.load(0x30000000 + (1 << 20), 4, { requesterId: 0, secure: false, user: false, memoryOnly: false });
  assert.equal(r.as.valLo, 0xffffffff);
  assert.equal(r.cfgRead(0, 0x100, 4), 0xffffffff, 'conventional function has 256 bytes');
  assert.equal(r.cfgRead(0, 0x40, 4), 0xffffffff, 'gap after the header');
});

test('unmapped MMIO and PIO window accesses read all-ones without a bus error', () => {
  const r = makeRig();
  const attrs = { requesterId: 0, secure: false, user: false, memoryOnly: false };
  assert.equal(r.as.load(0x40000000, 4, attrs), MEMTX_OK);
  assert.equal(r.as.valLo, 0xffffffff);
  assert.equal(r.as.load(0x3000000, 2, attrs), MEMTX_OK);
  assert.equal(r.as.valLo, 0xffff);
  assert.equal(r.as.load(0x400000000, 4, attrs), MEMTX_OK);
});

test('a PCI Express function carries the PCIe capability and a terminated extended space', () => {
  const r = makeRig();
  const dev = new PciDevice({ name: 'pcie-fn', vendorId: 0x1af4, deviceId: 0x1041, classCode: 0x010000, express: true });
  addPcieCapability(dev);
  r.host.addDevice(dev);
  const devfn = dev.devfn;
  assert.equal(devfn, 8);
  assert.equal(r.cfgRead(devfn, 0x06, 2) & 0x10, 0x10, 'status.CAP_LIST');
  const cap = r.cfgRead(devfn, 0x34, 1);
  assert.equal(cap, 0x40);
  assert.equal(r.cfgRead(devfn, cap, 1), 0x10, 'PCI Express capability id');
  assert.equal(r.cfgRead(devfn, cap + 1, 1), 0, 'end of list');
  assert.equal(r.cfgRead(devfn, cap + 2, 2), 0x0092, 'version 2, root complex integrated endpoint');
  // devsta error bits are RW1C; devctl is writable but FLR reads 0.
  r.cfgWrite(devfn, cap + 8, 2, 0xffff);
  assert.equal(r.cfgRead(devfn, cap + 8, 2), 0x7fff);
  assert.equal(r.cfgRead(devfn, 0x100, 4), 0, 'extended capability list is empty, not absent');
  assert.equal(r.cfgRead(devfn, 0x200, 4), 0xffffffff);
});

test('bus mastering gates the function\'s DMA address space', () => {
  const r = makeRig();
  const dev = new PciDevice({ name: 'dma-fn', vendorId: 0x1234, deviceId: 1, classCode: 0xff0000 });
  r.host.addDevice(dev);
  const buf = new Uint8Array([1, 2, 3, 4]);
  assert.notEqual(dmaWrite(dev.dmaAs!, 0x80000100, buf, dev.dmaAttrs), MEMTX_OK, 'no DMA before bus master enable');
  assert.equal(r.as.ldl(0x80000100), 0);
  r.cfgWrite(dev.devfn, 4, 2, 0x4);
  assert.equal(dmaWrite(dev.dmaAs!, 0x80000100, buf, dev.dmaAttrs), MEMTX_OK);
  assert.equal(r.as.ldl(0x80000100), 0x04030201);
  const back = new Uint8Array(4);
  assert.equal(dmaRead(dev.dmaAs!, 0x80000100, back, dev.dmaAttrs), MEMTX_OK);
  assert.deepEqual([...back], [1, 2, 3, 4]);
  r.cfgWrite(dev.devfn, 4, 2, 0x0);
  assert.notEqual(dmaRead(dev.dmaAs!, 0x80000100, back, dev.dmaAttrs), MEMTX_OK);
  assert.equal(dev.dmaAttrs.requesterId, 8);
});

test('setup errors are typed', () => {
  const dev = new PciDevice({ name: 'bad', vendorId: 1, deviceId: 2, classCode: 0 });
  assert.throws(() => dev.registerBar(0, { kind: 'mem32', region: MemoryRegion.container('x', 24) }), PciError);
  assert.throws(() => dev.registerBar(0, { kind: 'mem32', region: MemoryRegion.container('x', 8) }), PciError);
  assert.throws(() => dev.registerBar(5, { kind: 'mem64', region: MemoryRegion.container('x', 4096) }), PciError);
  dev.registerBar(2, { kind: 'mem64', region: MemoryRegion.container('y', 4096) });
  assert.throws(() => dev.registerBar(3, { kind: 'mem32', region: MemoryRegion.container('z', 4096) }), PciError);
  assert.throws(() => addPcieCapability(dev), PciError);
  const r = makeRig();
  r.host.addDevice(dev, 8);
  const other = new PciDevice({ name: 'other', vendorId: 1, deviceId: 2, classCode: 0 });
  assert.throws(() => r.host.addDevice(other, 8), PciError);
  void AddressSpace;
});

test('system reset returns every function to its reset state and unmaps everything in one go', async () => {
  const { MsiCapability } = await import('../../../src/hw/pci/msi.js');
  const r = makeRig();
  const dev = new PciDevice({ name: 'rst', vendorId: 0x1234, deviceId: 9, classCode: 0, interruptPin: 1 });
  dev.registerBar(2, { kind: 'mem64', prefetchable: true, region: MemoryRegion.io('rst-bar', 0x1000, { read: () => 7 }) });
  const msi = new MsiCapability(dev, { vectors: 2, perVectorMask: true });
  const fn = r.host.addDevice(dev);
  r.cfgWrite(fn, 0x18, 4, 0x40004000);
  r.cfgWrite(fn, 4, 2, 0x6);
  r.cfgWrite(fn, 0x3c, 1, 0x21);
  r.cfgWrite(fn, msi.offset + 2, 2, 1);
  r.cfgWrite(fn, msi.offset + 0x10, 4, 1);
  msi.notify(0);
  assert.equal(msi.isPending(0), true);
  dev.setIntx(true);
  assert.equal(r.as.ldl(0x40004000), 7);
  assert.equal(r.irqLevels[1], true);
  r.host.reset();
  assert.equal(r.cfgRead(fn, 4, 2), 0);
  assert.equal(r.cfgRead(fn, 0x18, 4), 0xc, 'BAR back to its type bits');
  assert.equal(r.cfgRead(fn, 0x3c, 1), 0);
  assert.equal(r.cfgRead(fn, msi.offset + 2, 2) & 1, 0, 'MSI disabled');
  assert.equal(msi.isPending(0), false);
  assert.equal(r.cfgRead(fn, 0x34, 1), msi.offset, 'capability list survives');
  assert.equal(r.as.ldl(0x40004000), 0xffffffff);
  assert.equal(r.irqLevels[1], false);
  assert.equal(r.host.bus.mappings().length, 0);
  assert.equal(r.cfgRead(0, 0, 4), 0x00081b36);
});
