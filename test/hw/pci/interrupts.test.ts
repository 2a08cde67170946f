import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeRig } from './helpers.js';
import { PciDevice } from '../../../src/hw/pci/device.js';
import { MsiCapability } from '../../../src/hw/pci/msi.js';
import { MsixCapability } from '../../../src/hw/pci/msix.js';
import { pciDevfn } from '../../../src/hw/pci/constants.js';

function fnWithPin(name: string, pin: 1 | 2 | 3 | 4): PciDevice {
  return new PciDevice({ name, vendorId: 1, deviceId: 1, classCode: 0, interruptPin: pin });
}

test('INTx follows QEMU virt\'s swizzle (slot + pin) % 4 onto the host\'s four lines', () => {
  const r = makeRig();
  const cases: [slot: number, pin: 1 | 2 | 3 | 4, line: number][] = [
    [1, 1, 1],
    [1, 4, 0],
    [2, 2, 3],
    [3, 1, 3],
    [4, 3, 2],
  ];
  for (const [slot, pin, line] of cases) {
    const d = fnWithPin(`s${slot}p${pin}`, pin);
    r.host.addDevice(d, pciDevfn(slot, slot === 1 && pin === 4 ? 1 : 0));
    d.setIntx(true);
    assert.deepEqual(r.irqLevels, [0, 1, 2, 3].map((i) => i === line), `slot ${slot} pin ${pin}`);
    assert.equal(r.cfgRead(d.devfn, 0x3d, 1), pin);
    d.setIntx(false);
    assert.deepEqual(r.irqLevels, [false, false, false, false]);
  }
});

test('INTx disable gates the line but not the status bit; shared lines stay up while any source is', () => {
  const r = makeRig();
  const a = fnWithPin('a', 1); // slot 1 INTA -> line 1
  const b = fnWithPin('b', 4); // slot 2 INTD -> line 1
  r.host.addDevice(a, pciDevfn(1, 0));
  r.host.addDevice(b, pciDevfn(2, 0));
  a.setIntx(true);
  assert.equal(r.irqLevels[1], true);
  assert.equal(r.cfgRead(a.devfn, 6, 2) & 0x8, 0x8, 'status.INTERRUPT');
  r.cfgWrite(a.devfn, 4, 2, 0x400);
  assert.equal(r.irqLevels[1], false, 'INTx disabled');
  assert.equal(r.cfgRead(a.devfn, 6, 2) & 0x8, 0x8, 'status still shows the pending interrupt');
  b.setIntx(true);
  assert.equal(r.irqLevels[1], true);
  r.cfgWrite(a.devfn, 4, 2, 0x0);
  b.setIntx(false);
  assert.equal(r.irqLevels[1], true, 'a re-asserted when INTx was re-enabled');
  a.setIntx(false);
  assert.equal(r.irqLevels[1], false);
  assert.equal(r.cfgRead(a.devfn, 6, 2) & 0x8, 0);
});

test('MSI: enable, 64-bit address, multiple messages, per-vector mask and pending bits, bus master gating', () => {
  const r = makeRig();
  const d = new PciDevice({ name: 'msi', vendorId: 1, deviceId: 1, classCode: 0 });
  const msi = new MsiCapability(d, { vectors: 4, is64bit: true, perVectorMask: true });
  const fn = r.host.addDevice(d);
  const c = msi.offset;
  assert.equal(r.cfgRead(fn, 0x34, 1), c);
  assert.equal(r.cfgRead(fn, c, 1), 0x05);
  assert.equal(r.cfgRead(fn, c + 2, 2), 0x0184, '64-bit, per-vector masking, MMC = 4 vectors');
  r.cfgWrite(fn, c + 4, 4, 0x2800_0003);
  r.cfgWrite(fn, c + 8, 4, 0x1);
  r.cfgWrite(fn, c + 12, 2, 0x4440);
  assert.equal(r.cfgRead(fn, c + 4, 4), 0x2800_0000, 'address bits 1:0 are reserved zero');
  msi.notify(0);
  assert.equal(r.sink.messages.length, 0, 'MSI disabled');
  r.cfgWrite(fn, c + 2, 2, 0x0071); // enable, ask for 128 vectors: clamped to 4
  assert.equal(r.cfgRead(fn, c + 2, 2), 0x01a5);
  msi.notify(3);
  assert.equal(r.sink.messages.length, 0, 'bus mastering off: MSI write dropped');
  assert.equal(d.msiDropped, 1);
  r.cfgWrite(fn, 4, 2, 0x4);
  msi.notify(3);
  assert.deepEqual(r.sink.messages, [{ address: 0x1_2800_0000, data: 0x4443, requesterId: fn }]);
  r.cfgWrite(fn, c + 0x10, 4, 0xffffffff);
  assert.equal(r.cfgRead(fn, c + 0x10, 4), 0xf, 'only 4 mask bits exist');
  msi.notify(2);
  assert.equal(r.sink.messages.length, 1);
  assert.equal(r.cfgRead(fn, c + 0x14, 4), 0x4, 'vector 2 pending');
  r.cfgWrite(fn, c + 0x14, 4, 0); // read-only
  assert.equal(r.cfgRead(fn, c + 0x14, 4), 0x4);
  r.cfgWrite(fn, c + 0x10, 4, 0xb); // unmask vector 2
  assert.equal(r.sink.messages.length, 2);
  assert.equal(r.sink.messages[1]!.data, 0x4442);
  assert.equal(r.cfgRead(fn, c + 0x14, 4), 0);
});

test('MSI-X: table and PBA in a BAR, function mask, vector masks, pending bits', () => {
  const r = makeRig();
  const d = new PciDevice({ name: 'msix', vendorId: 1, deviceId: 1, classCode: 0 });
  const msix = MsixCapability.exclusiveBar(d, 4, 1);
  const fn = r.host.addDevice(d);
  const c = msix.offset;
  assert.equal(r.cfgRead(fn, c, 1), 0x11);
  assert.equal(r.cfgRead(fn, c + 2, 2), 3, 'table size - 1');
  assert.equal(r.cfgRead(fn, c + 4, 4), 0x1, 'table at offset 0 of BAR1');
  assert.equal(r.cfgRead(fn, c + 8, 4), 0x801, 'PBA at 0x800 of BAR1');
  r.cfgWrite(fn, 0x14, 4, 0x40050000);
  r.cfgWrite(fn, 4, 2, 0x6);
  const t = 0x40050000;
  assert.equal(r.as.ldl(t + 12), 1, 'vectors start masked');
  r.as.stl(t + 16, 0xfee00004); // vector 1 address lo
  r.as.stl(t + 20, 0);
  r.as.stl(t + 24, 0x51);
  assert.equal(r.as.ldl(t + 16), 0xfee00004);
  msix.notify(1);
  assert.equal(r.sink.messages.length, 0, 'MSI-X disabled');
  r.cfgWrite(fn, c + 2, 2, 0xc000); // enable + function mask
  msix.notify(1);
  assert.equal(r.as.ldl(t + 0x800), 0x2, 'pending while masked');
  r.as.stl(t + 28, 0); // unmask vector 1: function still masked
  assert.equal(r.sink.messages.length, 0);
  r.cfgWrite(fn, c + 2, 2, 0x8000); // clear function mask
  assert.deepEqual(r.sink.messages, [{ address: 0xfee00004, data: 0x51, requesterId: fn }]);
  assert.equal(r.as.ldl(t + 0x800), 0);
  msix.notify(1);
  assert.equal(r.sink.messages.length, 2);
  msix.notify(0); // vector 0 still masked
  assert.equal(r.as.ldl(t + 0x800), 0x1);
  r.as.stl(t + 0x800, 0); // PBA is read-only
  assert.equal(r.as.ldl(t + 0x800), 0x1);
  r.as.stl(t + 12, 0xfffffffe); // only the mask bit is writable: this unmasks
  assert.equal(r.as.ldl(t + 12), 0);
  assert.equal(r.sink.messages.length, 3);
  msix.notify(99); // out of range: ignored
  assert.equal(r.sink.messages.length, 3);
});
