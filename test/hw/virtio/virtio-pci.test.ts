import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AddressSpace } from '../../../src/memory/address-space.js';
import { MemoryRegion } from '../../../src/memory/region.js';
import { MEMTXATTRS_UNSPECIFIED } from '../../../src/memory/types.js';
import { EventLoop } from '../../../src/machine/event-loop.js';
import { createGpexHost, VIRT_GPEX_LAYOUT } from '../../../src/hw/pci/gpex.js';
import type { MsiSink } from '../../../src/hw/pci/bus.js';
import type { IrqLine } from '../../../src/hw/irq.js';
import { RawFile } from '../../../src/block/raw-file.js';
import { VirtioBlk, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT } from '../../../src/hw/virtio/virtio-blk.js';
import { VirtioPci } from '../../../src/hw/virtio/virtio-pci.js';
import { DriverQueue, settle } from './driver.js';

const RAM = 0x80000000;
const L = VIRT_GPEX_LAYOUT;
const a = MEMTXATTRS_UNSPECIFIED;

function rig(transitional: boolean) {
  const sys = MemoryRegion.container('system', 2 ** 40);
  const ram = MemoryRegion.ram('ram', 16 << 20);
  sys.addSubregion(RAM, ram);
  const as = new AddressSpace(sys, 'memory');
  const levels = [false, false, false, false];
  const irqs: IrqLine[] = levels.map((_, i) => ({ set: (l: boolean) => (levels[i] = l) }));
  const msis: Array<[number, number]> = [];
  const msiSink: MsiSink = { deliver: (addr: number, data: number) => void msis.push([addr, data]) };
  const host = createGpexHost({ dmaRoot: sys, sysmem: sys, irqs, msiSink });
  const loop = new EventLoop({ clock: { kind: 'virtual', nsPerInsn: 1 } });
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-vpci-'));
  const path = join(dir, 'd.raw');
  writeFileSync(path, new Uint8Array(64 * 1024).map((_, i) => i & 0xff));
  const blk = new VirtioBlk({ scheduler: loop, log: () => {} }, new RawFile(path));
  const fn = new VirtioPci(blk, { transitional });
  const devfn = host.addDevice(fn);
  const cfg = (off: number) => L.ecam.base + (devfn << 12) + off;
  return { sys, as, host, fn, blk, loop, path, levels, msis, cfg };
}

test('virtio-blk-pci (transitional): identity and BARs as QEMU lays them out', () => {
  const r = rig(true);
  const rd = (off: number, size = 4) => (r.as.load(r.cfg(off), size, a), r.as.valLo >>> 0);
  assert.equal(rd(0), 0x10011af4, 'vendor 1af4 device 1001');
  assert.equal(rd(0x2c), 0x00021af4, 'subsystem 1af4:0002');
  assert.equal(rd(0x08) >>> 8, 0x010000, 'class: SCSI storage');
  assert.equal(rd(0x3d, 1), 1, 'INTA');
  // BAR sizing: I/O 0x80, 32-bit 4 KiB, 64-bit prefetchable 16 KiB
  const size = (bar: number) => {
    r.as.store(r.cfg(0x10 + 4 * bar), 4, 0xffffffff, 0, a);
    return rd(0x10 + 4 * bar);
  };
  assert.equal(size(0), 0xffffff81);
  assert.equal(size(1), 0xfffff000);
  assert.equal(size(4), 0xffffc00c);
  // the vendor capabilities chain: common(1), isr(3), device(4), notify(2)
  const types: number[] = [];
  for (let p = rd(0x34, 1); p; p = rd(p + 1, 1)) if (rd(p, 1) === 9) types.push(rd(p + 3, 1));
  assert.deepEqual(types, [1, 3, 4, 2]);
});

test('virtio-blk-pci: a legacy driver over the I/O BAR reads and writes the disk, with INTx', async () => {
  const r = rig(true);
  const io = L.pio.base + 0x100;
  r.as.store(r.cfg(0x10), 4, 0x100, 0, a);
  r.as.store(r.cfg(0x04), 2, 0x5, 0, a); // I/O decode + bus master
  const out = (off: number, v: number, size: number) => r.as.store(io + off, size, v, 0, a);
  const inp = (off: number, size: number) => (r.as.load(io + off, size, a), r.as.valLo >>> 0);
  out(0x12, 0, 1);
  out(0x12, 3, 1);
  assert.equal(inp(0x14, 4), 128, 'capacity in sectors in the legacy config at 0x14');
  out(0x04, 0, 4);
  out(0x0e, 0, 2);
  const num = inp(0x0c, 2);
  assert.equal(num, 256);
  const ring = RAM + 0x10000;
  out(0x08, ring / 4096, 4);
  out(0x12, 7, 1);
  const avail = ring + 16 * num;
  const used = Math.ceil((avail + 6 + 2 * num) / 4096) * 4096;
  const q = new DriverQueue(r.as, num, ring, avail, used);
  const hdr = RAM + 0x40000;
  const data = RAM + 0x41000;
  const st = RAM + 0x42000;
  r.as.stl(hdr, VIRTIO_BLK_T_IN);
  r.as.stq(hdr + 8, 2n);
  q.add([{ addr: hdr, len: 16 }, { addr: data, len: 512, write: true }, { addr: st, len: 1, write: true }]);
  out(0x10, 0, 2);
  await settle(r, () => q.usedIdx() === 1);
  assert.equal(r.as.ldub(st), 0);
  assert.equal(r.as.ldub(data + 5), (2 * 512 + 5) & 0xff);
  assert.ok(r.levels.some((l) => l), 'INTx asserted');
  assert.equal(inp(0x13, 1), 1, 'ISR: queue interrupt; reading clears');
  assert.ok(!r.levels.some((l) => l), 'INTx deasserted after the ISR read');

  r.as.write(data, new Uint8Array(512).fill(0x5a));
  r.as.stl(hdr, VIRTIO_BLK_T_OUT);
  r.as.stq(hdr + 8, 3n);
  q.add([{ addr: hdr, len: 16 }, { addr: data, len: 512 }, { addr: st, len: 1, write: true }]);
  out(0x10, 0, 2);
  await settle(r, () => q.usedIdx() === 2);
  await r.blk.drain();
  assert.ok(readFileSync(r.path).subarray(3 * 512, 4 * 512).every((b) => b === 0x5a));
});

test('virtio-blk-pci: with bus mastering off the device cannot reach guest memory', async () => {
  const r = rig(true);
  const io = L.pio.base + 0x100;
  r.as.store(r.cfg(0x10), 4, 0x100, 0, a);
  r.as.store(r.cfg(0x04), 2, 0x1, 0, a); // I/O decode only
  const out = (off: number, v: number, size: number) => r.as.store(io + off, size, v, 0, a);
  out(0x12, 3, 1);
  const ring = RAM + 0x10000;
  out(0x08, ring / 4096, 4);
  out(0x12, 7, 1);
  const q = new DriverQueue(r.as, 256, ring, ring + 16 * 256, Math.ceil((ring + 16 * 256 + 6 + 512) / 4096) * 4096);
  q.add([{ addr: RAM + 0x40000, len: 16 }, { addr: RAM + 0x42000, len: 1, write: true }]);
  out(0x10, 0, 2);
  r.loop.runBottomHalves();
  assert.equal(q.usedIdx(), 0, 'nothing used');
  assert.ok(r.blk.status & 64, 'the ring is unreachable: DEVICE_NEEDS_RESET');
});

test('virtio-blk-pci (modern): common config, notify capability and MSI-X', async () => {
  const r = rig(false);
  const rd = (off: number, size = 4) => (r.as.load(r.cfg(off), size, a), r.as.valLo >>> 0);
  assert.equal(rd(0) >>> 16, 0x1042, 'modern device id');
  const bar4 = 0x400000000;
  const bar1 = 0x40000000;
  r.as.store(r.cfg(0x10 + 16), 4, bar4 % 2 ** 32, 0, a);
  r.as.store(r.cfg(0x10 + 20), 4, Math.floor(bar4 / 2 ** 32), 0, a);
  r.as.store(r.cfg(0x14), 4, bar1, 0, a);
  r.as.store(r.cfg(0x04), 2, 0x6, 0, a);
  // MSI-X: enable, program vector 1 for the queue
  let msix = 0;
  for (let p = rd(0x34, 1); p; p = rd(p + 1, 1)) if (rd(p, 1) === 0x11) msix = p;
  assert.ok(msix);
  r.as.store(r.cfg(msix + 2), 2, 0x8000, 0, a);
  r.as.store(bar1 + 16, 4, 0xfee01000, 0, a);
  r.as.store(bar1 + 20, 4, 0, 0, a);
  r.as.store(bar1 + 24, 4, 0x41, 0, a);
  r.as.store(bar1 + 28, 4, 0, 0, a); // unmask
  const c = (off: number, v: number, size: number) => r.as.store(bar4 + off, size, v, 0, a);
  c(0x14, 0, 1);
  c(0x14, 3, 1);
  c(0x08, 1, 4);
  c(0x0c, 1, 4); // VERSION_1
  c(0x14, 0xb, 1);
  r.as.load(bar4 + 0x14, 1, a);
  assert.equal(r.as.valLo & 8, 8, 'FEATURES_OK accepted');
  c(0x16, 0, 2);
  c(0x18, 8, 2);
  c(0x1a, 1, 2);
  const desc = RAM + 0x10000;
  const avail = RAM + 0x11000;
  const used = RAM + 0x12000;
  c(0x20, desc, 4);
  c(0x28, avail, 4);
  c(0x30, used, 4);
  c(0x1c, 1, 2);
  c(0x14, 0xf, 1);
  r.as.load(bar4 + 0x1e, 2, a);
  const notifyOff = r.as.valLo;
  const q = new DriverQueue(r.as, 8, desc, avail, used);
  const hdr = RAM + 0x40000;
  r.as.stl(hdr, VIRTIO_BLK_T_IN);
  r.as.stq(hdr + 8, 0n);
  q.add([{ addr: hdr, len: 16 }, { addr: RAM + 0x41000, len: 512, write: true }, { addr: RAM + 0x42000, len: 1, write: true }]);
  r.as.store(bar4 + 0x3000 + notifyOff * 4, 2, 0, 0, a);
  await settle(r, () => q.usedIdx() === 1);
  assert.deepEqual(r.msis, [[0xfee01000, 0x41]]);
  assert.ok(!r.levels.some((l) => l), 'no INTx while MSI-X is on');
});
