import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressSpace } from '../../../src/memory/address-space.js';
import { MemoryRegion, REGION_SIZE_MAX } from '../../../src/memory/region.js';
import { VirtioMmioSlot, VirtioMmioSlotError } from '../../../src/machine/virt/virtio-mmio-slot.js';

test('an empty slot answers like QEMU 7.2: magic, legacy version 1, device id 0, vendor QEMU; writes ignored', () => {
  const sys = MemoryRegion.container('system', REGION_SIZE_MAX);
  const slot = new VirtioMmioSlot(0, 0x10001000, 1, sys);
  const as = new AddressSpace(sys, 'memory');
  try {
    assert.equal(as.ldl(0x10001000), 0x74726976);
    assert.equal(as.ldl(0x10001004), 1);
    assert.equal(as.ldl(0x10001008), 0);
    assert.equal(as.ldl(0x1000100c), 0x554d4551);
    assert.equal(as.ldub(0x10001000), 0x76); // 'v', sub-word reads work
    as.stl(0x10001070, 0xf);
    assert.equal(as.ldl(0x10001070), 0);
    assert.equal(as.ldl(0x100011fc), 0);
    assert.equal(slot.mr.size, 0x200);
    assert.equal(slot.occupied, false);
  } finally {
    as.destroy();
  }
});

test('plug swaps the transport in atomically; a second plug is refused', () => {
  const sys = MemoryRegion.container('system', REGION_SIZE_MAX);
  const slot = new VirtioMmioSlot(7, 0x10008000, 8, sys);
  const as = new AddressSpace(sys, 'memory');
  try {
    const dev = MemoryRegion.io('virtio-mmio', 0x200, { read: (off) => (off === 8 ? 2 : 0x74726976), write: () => {} });
    const epoch = as.epoch;
    slot.plug(dev);
    assert.equal(as.epoch, epoch + 1, 'one commit for remove + add');
    assert.equal(as.ldl(0x10008008), 2);
    assert.equal(slot.mr, dev);
    assert.throws(() => slot.plug(MemoryRegion.io('x', 0x200, {})), VirtioMmioSlotError);
  } finally {
    as.destroy();
  }
});
