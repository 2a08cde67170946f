import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtMachine } from '../../../src/machine/virt/virt.js';
import { DeviceSpecError, plugDevices } from '../../../src/machine/virt/devices.js';
import { PciBridge } from '../../../src/hw/pci/bridge.js';
import { EduDevice } from '../../../src/hw/misc/edu.js';

function machine(): VirtMachine {
  return new VirtMachine({ ramSize: 16 * 1024 * 1024, smp: 1 });
}

const plug = (m: VirtMachine, ...specs: [string, Record<string, string>][]) =>
  plugDevices({ machine: m, drives: new Map() }, specs.map(([driver, props]) => ({ driver, props })));

test('-device edu goes to 00:01.0; bus= and addr= place devices behind a pci-bridge', () => {
  const m = machine();
  plug(m, ['edu', {}], ['pci-bridge', { id: 'br0', chassis_nr: '1' }], ['edu', { bus: 'br0', addr: '0x3' }], ['edu', { addr: '5.2', dma_mask: '0xffffffffffffffff' }]);
  const root = m.gpex.bus;
  assert.ok(root.device(0x08) instanceof EduDevice);
  const br = root.device(0x10);
  assert.ok(br instanceof PciBridge);
  assert.ok(br.secondary!.device(0x18) instanceof EduDevice);
  assert.ok(root.device(0x2a) instanceof EduDevice);
});

test('-device errors are one-line DeviceSpecErrors', () => {
  const m = machine();
  assert.throws(() => plug(m, ['edu', { foo: '1' }]), DeviceSpecError);
  assert.throws(() => plug(m, ['edu', { addr: '0x20' }]), DeviceSpecError);
  assert.throws(() => plug(m, ['edu', { addr: 'zz' }]), DeviceSpecError);
  assert.throws(() => plug(m, ['edu', { bus: 'nope' }]), DeviceSpecError);
  assert.throws(() => plug(m, ['edu', { dma_mask: '-1' }]), DeviceSpecError);
  assert.throws(() => plug(m, ['edu', { addr: '0' }]), /taken/, 'the host bridge sits at 00.0');
  assert.throws(() => plug(m, ['pci-bridge', {}]), DeviceSpecError);
  plug(m, ['pci-bridge', { id: 'b' }]);
  assert.throws(() => plug(m, ['pci-bridge', { id: 'b' }]), DeviceSpecError);
});
