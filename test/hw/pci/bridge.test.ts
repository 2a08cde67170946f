import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeRig } from './helpers.js';
import { PciBridge } from '../../../src/hw/pci/bridge.js';
import { createEdu, EDU_ID } from '../../../src/hw/misc/edu.js';
import { dmaWrite } from '../../../src/dma/dma.js';
import { MEMTX_OK } from '../../../src/memory/types.js';
import { pciDevfn } from '../../../src/hw/pci/constants.js';

const ecam = (bus: number, devfn: number, off: number) => 0x30000000 + ((bus << 20) | (devfn << 12) | off);

function rigWithBridge() {
  const r = makeRig();
  const br = new PciBridge();
  const bfn = r.host.addDevice(br, pciDevfn(2, 0));
  const edu = createEdu({ scheduler: r.sched, dmaMask: 2 ** 40 - 1 });
  br.addDevice(edu, 0);
  const rd = (bus: number, devfn: number, off: number, size = 4) => {
    r.as.load(ecam(bus, devfn, off), size, { requesterId: 0, secure: false, user: false, memoryOnly: false });
    return r.as.valLo;
  };
  const wr = (bus: number, devfn: number, off: number, size: number, v: number) =>
    r.as.store(ecam(bus, devfn, off), size, v >>> 0, 0, { requesterId: 0, secure: false, user: false, memoryOnly: false });
  return { r, br, bfn, edu, rd, wr };
}

test('a bridge has a type 1 header and forwards config cycles for its bus range', () => {
  const { bfn, rd, wr } = rigWithBridge();
  assert.equal(rd(0, bfn, 0), 0x00011b36);
  assert.equal(rd(0, bfn, 0x08) >>> 8, 0x060400);
  assert.equal(rd(0, bfn, 0x0e, 1), 0x01);
  assert.equal(rd(0, bfn, 0x24, 2), 0x0001, '64-bit prefetchable window');
  assert.equal(rd(1, 0, 0), 0xffffffff, 'bus 1 not assigned yet');
  wr(0, bfn, 0x18, 4, 0x00020100); // primary 0, secondary 1, subordinate 2
  assert.equal(rd(0, bfn, 0x18), 0x00020100);
  assert.equal(rd(1, 0, 0), 0x11e81234, 'edu behind the bridge at 01:00.0');
  assert.equal(rd(2, 0, 0), 0xffffffff, 'bus 2 is in range but has nothing');
  assert.equal(rd(3, 0, 0), 0xffffffff);
  wr(0, bfn, 0x19, 1, 5);
  assert.equal(rd(1, 0, 0), 0xffffffff, 'renumbered: bus 1 is gone');
});

test('memory window: a BAR behind the bridge is visible only through an enabled window', () => {
  const { r, bfn, edu, rd, wr } = rigWithBridge();
  wr(0, bfn, 0x18, 4, 0x00010100);
  wr(1, 0, 0x10, 4, 0x40100000);
  wr(1, 0, 0x04, 2, 0x2);
  assert.equal(rd(1, 0, 0x10), 0x40100000);
  assert.equal(r.as.ldl(0x40100000), 0xffffffff, 'bridge forwards nothing yet');
  wr(0, bfn, 0x20, 4, 0x40104010); // memory base 0x40100000, limit 0x401fffff
  assert.equal(r.as.ldl(0x40100000), 0xffffffff, 'bridge memory decode off');
  wr(0, bfn, 0x04, 2, 0x2);
  assert.equal(r.as.ldl(0x40100000), EDU_ID);
  assert.equal(r.as.ldl(0x40200000), 0xffffffff, 'outside the window');
  wr(0, bfn, 0x20, 4, 0x40304030); // window moved away
  assert.equal(r.as.ldl(0x40100000), 0xffffffff);
  wr(0, bfn, 0x20, 4, 0x40104030); // base 0x40300000 > limit 0x401fffff: closed
  assert.equal(r.host.bus.mappings().filter((m) => m.slot === 8).length, 0);
  wr(0, bfn, 0x20, 4, 0x40104010);
  assert.equal(r.as.ldl(0x40100000), EDU_ID, 'reopened window');
  // Prefetchable window above 4 GiB.
  wr(1, 0, 0x10, 4, 0x40000000);
  wr(0, bfn, 0x20, 4, 0x0000fff0); // close the 32-bit window
  wr(0, bfn, 0x24, 4, 0x40014001);
  wr(0, bfn, 0x28, 4, 0);
  wr(0, bfn, 0x2c, 4, 0);
  assert.equal(r.as.ldl(0x40000000), EDU_ID, 'through the prefetchable window');
  void edu;
});

test('INTx behind the bridge is swizzled twice; DMA needs bus mastering on the bridge too', () => {
  const { r, bfn, edu, wr } = rigWithBridge();
  wr(0, bfn, 0x18, 4, 0x00010100);
  edu.setIntx(true); // 01:00.0 INTA -> bridge pin (0+0)%4 = A -> host line (2+0)%4 = 2
  assert.deepEqual(r.irqLevels, [false, false, true, false]);
  edu.setIntx(false);
  assert.deepEqual(r.irqLevels, [false, false, false, false]);
  wr(1, 0, 0x04, 2, 0x4);
  const buf = new Uint8Array([9, 8, 7, 6]);
  assert.notEqual(dmaWrite(edu.dmaAs!, 0x80000000, buf, edu.dmaAttrs), MEMTX_OK, 'bridge bus mastering off');
  wr(0, bfn, 0x04, 2, 0x4);
  assert.equal(dmaWrite(edu.dmaAs!, 0x80000000, buf, edu.dmaAttrs), MEMTX_OK);
  assert.equal(r.as.ldl(0x80000000), 0x06070809);
  assert.equal(edu.dmaAttrs.requesterId, 0x100, 'requester id carries the secondary bus number');
});

test('removing the bridge removes everything behind it', () => {
  const { r, br, bfn, edu, rd, wr } = rigWithBridge();
  wr(0, bfn, 0x18, 4, 0x00010100);
  wr(1, 0, 0x10, 4, 0x40100000);
  wr(1, 0, 0x04, 2, 0x2);
  wr(0, bfn, 0x20, 4, 0x40104010);
  wr(0, bfn, 0x04, 2, 0x2);
  edu.setIntx(true);
  assert.equal(r.as.ldl(0x40100000), EDU_ID);
  assert.equal(r.host.removeDevice(br), true);
  assert.equal(edu.removed, true);
  assert.equal(rd(1, 0, 0), 0xffffffff);
  assert.equal(rd(0, bfn, 0), 0xffffffff);
  assert.equal(r.as.ldl(0x40100000), 0xffffffff);
  assert.deepEqual(r.irqLevels, [false, false, false, false]);
});

test('system reset closes the windows and resets functions behind the bridge', () => {
  const { r, bfn, rd, wr } = rigWithBridge();
  wr(0, bfn, 0x18, 4, 0x00010100);
  wr(1, 0, 0x10, 4, 0x40100000);
  wr(1, 0, 0x04, 2, 0x2);
  wr(0, bfn, 0x20, 4, 0x40104010);
  wr(0, bfn, 0x04, 2, 0x2);
  r.host.reset();
  assert.equal(rd(0, bfn, 0x18), 0);
  assert.equal(r.as.ldl(0x40100000), 0xffffffff);
  wr(0, bfn, 0x18, 4, 0x00010100);
  assert.equal(rd(1, 0, 0x04, 2), 0, 'edu command cleared');
  assert.equal(rd(1, 0, 0x10), 0);
});
