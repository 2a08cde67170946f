import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MEMTX_ACCESS_ERROR, MEMTX_OK, memTxAttrs } from '../../src/memory/types.js';
import { dmaMap, dmaRead, dmaUnmap, dmaWrite } from '../../src/dma/dma.js';
import {
  IOMMU_NOTIFIER_ALL,
  IOMMU_NOTIFIER_MAP,
  IOMMU_NONE,
  IOMMU_RO,
  IOMMU_RW,
  IOMMU_WO,
  type IOMMUTLBEvent,
} from '../../src/dma/iommu.js';
import { iommuMachine, RAM } from './iommu-setup.js';

const DEV = memTxAttrs({ requesterId: 0x0008 });

test('translate: pages, permissions and large pages', () => {
  const { iommu, pt, destroy } = iommuMachine();
  pt.map(0x1000, RAM + 0x5000, 0x2000, IOMMU_RW);
  pt.map(0x10_0000, RAM + 0x8000, 0x1000, IOMMU_RO);
  pt.map(0x20_0000 * 8, RAM, 0x20_0000, IOMMU_WO, 0x20_0000);
  const e = iommu.translate(0x1234, IOMMU_RO, 0);
  assert.equal(e.iova, 0x1000);
  assert.equal(e.translatedAddr, RAM + 0x5000);
  assert.equal(e.addrMask, 0xfff);
  assert.equal(e.perm, IOMMU_RW);
  assert.equal(iommu.translate(0x2000, IOMMU_RO, 0).translatedAddr, RAM + 0x6000);
  assert.equal(iommu.translate(0x10_0000, IOMMU_RO, 0).perm, IOMMU_RO);
  const big = iommu.translate(0x20_0000 * 8 + 0x12345, IOMMU_WO, 0);
  assert.equal(big.addrMask, 0x1f_ffff);
  assert.equal(big.iova, 0x100_0000);
  assert.equal(big.translatedAddr, RAM);
  assert.equal(big.perm, IOMMU_WO);
  assert.equal(iommu.translate(0x7000, IOMMU_NONE, 0).perm, IOMMU_NONE);
  assert.equal(iommu.faults().length, 0, 'a NONE lookup is not a fault');
  destroy();
});

test('DMA through the IOMMU: permission and not-present faults return ACCESS_ERROR and are logged with the requester', () => {
  const { devAs, iommu, pt, ram, log, destroy } = iommuMachine();
  pt.map(0x1000, RAM + 0x5000, 0x1000, IOMMU_RW);
  pt.map(0x2000, RAM + 0x9000, 0x1000, IOMMU_RO);
  const data = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
  assert.equal(dmaWrite(devAs, 0x1ff8, data, DEV), MEMTX_ACCESS_ERROR, 'spills into a read-only page');
  assert.deepEqual(ram.subarray(0x5ff8, 0x6000), data.subarray(0, 8), 'the permitted page was written');
  assert.ok(ram.subarray(0x9000, 0x9008).every((b) => b === 0), 'the read-only page was not');
  const f = iommu.faults();
  assert.equal(f.length, 1);
  assert.equal(f[0]!.reason, 'permission');
  assert.equal(f[0]!.iova, 0x2000);
  assert.equal(f[0]!.access, IOMMU_WO);
  assert.equal(f[0]!.requesterId, 8);
  const r = new Uint8Array(8);
  assert.equal(dmaRead(devAs, 0x3000, r, DEV), MEMTX_ACCESS_ERROR);
  assert.ok(r.every((b) => b === 0xff));
  assert.equal(iommu.faults()[1]!.reason, 'not-present');
  assert.equal(iommu.faultCount, 2);
  assert.ok(log.some((l) => l.includes('permission fault')));
  assert.ok(log.some((l) => l.includes('not-present fault')));
  // Maps fault the same way.
  const m = dmaMap(devAs, 0x2000, 8, true, DEV);
  assert.ok(!m.ok && m.result === MEMTX_ACCESS_ERROR && !m.retry);
  // The memory core's own dispatch through the region agrees.
  assert.equal(devAs.write(0x1000, Uint8Array.of(0x42)), MEMTX_OK);
  assert.equal(ram[0x5000], 0x42);
  assert.equal(devAs.write(0x2000, Uint8Array.of(0x42)), MEMTX_ACCESS_ERROR);
  // Block mode refuses everything; bypass is the identity.
  iommu.configure('block');
  assert.equal(dmaRead(devAs, 0x1000, r, DEV), MEMTX_ACCESS_ERROR);
  iommu.configure('bypass');
  assert.equal(dmaWrite(devAs, RAM + 0x100, Uint8Array.of(7), DEV), MEMTX_OK);
  assert.equal(ram[0x100], 7);
  destroy();
});

test('the IOTLB caches translations until invalidated, like hardware', () => {
  const { devAs, iommu, pt, ram, destroy } = iommuMachine();
  pt.map(0x1000, RAM + 0x5000, 0x1000, IOMMU_RW);
  assert.equal(dmaWrite(devAs, 0x1000, Uint8Array.of(1), DEV), MEMTX_OK);
  const misses = iommu.iotlbMisses;
  assert.equal(dmaWrite(devAs, 0x1004, Uint8Array.of(2), DEV), MEMTX_OK);
  assert.equal(iommu.iotlbMisses, misses, 'warm');
  // The guest retargets the page but has not invalidated yet: the cached translation is used.
  pt.unmap(0x1000, 0x1000);
  pt.map(0x1000, RAM + 0x7000, 0x1000, IOMMU_RW);
  dmaWrite(devAs, 0x1008, Uint8Array.of(3), DEV);
  assert.equal(ram[0x5008], 3);
  const inv = iommu.invalidate(0x1000, 0x1000);
  assert.equal(inv.status, 'complete', 'nothing mapped: completes at once');
  dmaWrite(devAs, 0x1008, Uint8Array.of(4), DEV);
  assert.equal(ram[0x7008], 4);
  assert.equal(ram[0x5008], 3);
  destroy();
});

test('MAP/UNMAP notifiers and replay', () => {
  const { iommu, pt, destroy } = iommuMachine();
  pt.map(0x1000, RAM + 0x5000, 0x2000, IOMMU_RW);
  pt.map(0x40_0000, RAM, 0x20_0000, IOMMU_RO, 0x20_0000);
  const events: string[] = [];
  const fmt = (e: IOMMUTLBEvent): string =>
    `${e.type} ${e.entry.iova.toString(16)}+${(e.entry.addrMask + 1).toString(16)}->${e.entry.translatedAddr.toString(16)} p${e.entry.perm}`;
  const n = { flags: IOMMU_NOTIFIER_ALL, start: 0, end: 0xff_ffff, notify: (e: IOMMUTLBEvent) => events.push(fmt(e)) };
  iommu.addNotifier(n);
  iommu.replay(n);
  assert.deepEqual(events, ['map 1000+1000->80005000 p3', 'map 2000+1000->80006000 p3', 'map 400000+200000->80000000 p1']);
  events.length = 0;
  pt.unmap(0x2000, 0x1000);
  pt.map(0x3000, RAM + 0x9000, 0x1000, IOMMU_WO);
  iommu.invalidate(0x2000, 0x2000);
  assert.deepEqual(events, ['unmap 2000+2000->0 p0', 'map 3000+1000->80009000 p2']);
  // A notifier outside the range hears nothing; MAP-only notifiers do not hear unmaps.
  const far: string[] = [];
  const mapOnly: string[] = [];
  iommu.addNotifier({ flags: IOMMU_NOTIFIER_ALL, start: 0x100_0000, end: 0x1ff_ffff, notify: (e) => far.push(fmt(e)) });
  iommu.addNotifier({ flags: IOMMU_NOTIFIER_MAP, start: 0, end: 0xffff, notify: (e) => mapOnly.push(fmt(e)) });
  iommu.invalidate(0x1000, 0x1000);
  assert.deepEqual(far, []);
  assert.deepEqual(mapOnly, ['map 1000+1000->80005000 p3']);
  iommu.removeNotifier(n);
  events.length = 0;
  iommu.invalidate(0x1000, 0x1000);
  assert.deepEqual(events, []);
  assert.throws(() => iommu.addNotifier({ flags: 0, start: 0, end: 1, notify: () => {} }), /notifier/);
  destroy();
});

test('hostile tables: a table outside memory or a misaligned large page is a walk-error fault, never a throw', () => {
  const { devAs, iommu, sysAs, pt, destroy } = iommuMachine();
  // Point a top-level entry at a table in unassigned space.
  sysAs.store(pt.root + 8 * 1, 8, 0x0000_1001 >>> 0, 0x10, memTxAttrs({}));
  iommu.invalidateAll();
  assert.equal(dmaRead(devAs, 0x4000_0000, new Uint8Array(4), DEV), MEMTX_ACCESS_ERROR);
  assert.equal(iommu.faults().at(-1)!.reason, 'walk-error');
  // A 2 MiB leaf whose address is not 2 MiB aligned, written straight into the middle table.
  pt.map(0x20_0000, RAM, 0x20_0000, IOMMU_RW, 0x20_0000);
  sysAs.load(pt.root, 8, memTxAttrs({}));
  const middle = (sysAs.valLo >>> 12) * 4096 + sysAs.valHi * 2 ** 32;
  sysAs.store(middle + 3 * 8, 8, (RAM + 0x1000 + 0b111) >>> 0, 0, memTxAttrs({}));
  iommu.invalidateAll();
  assert.equal(dmaRead(devAs, 0x20_0000, new Uint8Array(4), DEV), MEMTX_OK);
  assert.equal(dmaRead(devAs, 0x60_0000, new Uint8Array(4), DEV), MEMTX_ACCESS_ERROR);
  assert.equal(iommu.faults().at(-1)!.reason, 'walk-error');
  // Out-of-range IOVAs decode as unassigned in the device's address space.
  assert.notEqual(dmaRead(devAs, 2 ** 40, new Uint8Array(4), DEV), MEMTX_OK);
  const m = dmaMap(devAs, 0x20_0000, 16, false, DEV);
  assert.ok(m.ok && m.kind === 'shadow');
  dmaUnmap(devAs, m, 0);
  destroy();
});
