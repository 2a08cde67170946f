import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { MEMTX_ACCESS_ERROR, MEMTX_OK, memTxAttrs } from '../../src/memory/types.js';
import { DMA_DIRECTION_FROM_DEVICE, dmaMap, dmaStats, dmaUnmap, dmaWrite } from '../../src/dma/dma.js';
import { IOMMU_RW } from '../../src/dma/iommu.js';
import { SgList } from '../../src/dma/sglist.js';
import { dmaBlkIo } from '../../src/dma/block-io.js';
import { iommuMachine, RAM } from './iommu-setup.js';

// The IOMMU's revoke timer is unref'd (it must not keep a finished VMM alive), so a test that awaits
// it needs something else to keep the event loop running; without this the runner may see an empty
// loop with the test's promise still pending.
const keepAlive = setInterval(() => {}, 60_000);
after(() => clearInterval(keepAlive));

const DEV = memTxAttrs({ requesterId: 0x0010 });
const IOVA = 0x1000;
/** The page the device's IOVA pointed at before the guest retargeted it (and then reused it). */
const OLD = 0x5000;
const NEW = 0x7000;

test('with a mapping held, invalidate does not complete until it is unmapped; the write-back lands before completion', async () => {
  const { devAs, iommu, pt, ram, destroy } = iommuMachine();
  pt.map(IOVA, RAM + OLD, 0x1000, IOMMU_RW);
  const m = dmaMap(devAs, IOVA, 0x100, true, DEV);
  assert.ok(m.ok && m.kind === 'shadow');
  assert.equal(iommu.outstandingMappings, 1);
  // The guest revokes the page and invalidates.
  pt.unmap(IOVA, 0x1000);
  const inv = iommu.invalidate(IOVA, 0x1000);
  assert.equal(inv.status, 'pending');
  assert.equal(inv.waitingOn, 1);
  let resolved = false;
  void inv.done.then(() => (resolved = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(resolved, false, 'still waiting for the mapping');
  m.bytes.fill(0x11, 0, 0x10);
  assert.equal(dmaUnmap(devAs, m, 0x10), MEMTX_OK);
  assert.equal(inv.status, 'complete');
  assert.equal(await inv.done, 'complete');
  assert.ok(ram.subarray(OLD, OLD + 0x10).every((b) => b === 0x11), 'written back before completion');
  assert.equal(iommu.outstandingMappings, 0);
  assert.equal(iommu.pendingInvalidations, 0);
  destroy();
});

test('a DMA started after the invalidation began uses the new tables, while the old mapping is still held', () => {
  const { devAs, iommu, pt, ram, destroy } = iommuMachine();
  pt.map(IOVA, RAM + OLD, 0x1000, IOMMU_RW);
  const held = dmaMap(devAs, IOVA, 0x1000, true, DEV);
  assert.ok(held.ok);
  pt.unmap(IOVA, 0x1000);
  pt.map(IOVA, RAM + NEW, 0x1000, IOMMU_RW);
  const inv = iommu.invalidate(IOVA, 0x1000);
  assert.equal(inv.status, 'pending');
  assert.equal(dmaWrite(devAs, IOVA + 8, Uint8Array.of(0xee, 0xee), DEV), MEMTX_OK);
  assert.equal(ram[NEW + 8], 0xee);
  assert.equal(ram[OLD + 8], 0);
  const fresh = dmaMap(devAs, IOVA, 0x10, true, DEV);
  assert.ok(fresh.ok);
  fresh.bytes.fill(0x22);
  dmaUnmap(devAs, fresh, 0x10);
  assert.equal(ram[NEW], 0x22);
  assert.equal(inv.status, 'pending', 'the fresh mapping is not waited for');
  dmaUnmap(devAs, held, 0);
  assert.equal(inv.status, 'complete');
  destroy();
});

test('guard page: after completion no write reaches the old page, even from a mapping held forever (revoked)', async () => {
  const { devAs, iommu, pt, ram, destroy } = iommuMachine({ revokeTimeoutNs: 2e6 });
  pt.map(IOVA, RAM + OLD, 0x1000, IOMMU_RW);
  const forever = dmaMap(devAs, IOVA, 0x1000, true, DEV);
  assert.ok(forever.ok);
  pt.unmap(IOVA, 0x1000);
  const inv = iommu.invalidate(IOVA, 0x1000);
  assert.equal(await inv.done, 'revoked', 'the 2 ms revoke timeout ended the wait');
  // The guest reuses the old page as a guard page: it must never change from now on.
  ram.fill(0x47, OLD, OLD + 0x1000);
  forever.bytes.fill(0xbd);
  assert.equal(dmaUnmap(devAs, forever, 0x1000), MEMTX_ACCESS_ERROR, 'the write is dropped');
  assert.ok(ram.subarray(OLD, OLD + 0x1000).every((b) => b === 0x47));
  const f = iommu.faults().at(-1)!;
  assert.equal(f.reason, 'revoked');
  assert.equal(f.requesterId, 0x10);
  assert.equal(iommu.revokedWrites, 1);
  // A read mapping held past the timeout is revoked without a fault (nothing to write).
  pt.map(IOVA, RAM + NEW, 0x1000, IOMMU_RW);
  iommu.invalidate(IOVA, 0x1000);
  const rd = dmaMap(devAs, IOVA, 0x10, false, DEV);
  assert.ok(rd.ok);
  const inv2 = iommu.invalidate(IOVA, 0x1000);
  inv2.revokeNow();
  assert.equal(inv2.status, 'revoked');
  const faults = iommu.faultCount;
  assert.equal(dmaUnmap(devAs, rd, 0x10), MEMTX_OK);
  assert.equal(iommu.faultCount, faults);
  assert.equal(dmaStats(devAs).liveMappings, 0);
  destroy();
});

test('in-flight async DMA drains: an invalidation during a block transfer completes after the chunk is written back', async () => {
  const { devAs, iommu, pt, ram, destroy } = iommuMachine();
  pt.map(IOVA, RAM + OLD, 0x2000, IOMMU_RW);
  const sg = new SgList(devAs, DEV);
  sg.add(IOVA, 0x2000);
  let releaseIo: () => void = () => {};
  let started = 0;
  const t = dmaBlkIo(
    sg,
    0,
    DMA_DIRECTION_FROM_DEVICE,
    (iov) => {
      started++;
      for (const v of iov) v.fill(0x60 + started);
      return new Promise<void>((r) => (releaseIo = r));
    },
    { maxChunk: 0x1000 },
  );
  await new Promise((r) => setImmediate(r));
  assert.equal(started, 1);
  // The guest tears down both pages while the first chunk is in flight.
  pt.unmap(IOVA, 0x2000);
  const inv = iommu.invalidate(IOVA, 0x2000);
  assert.equal(inv.status, 'pending');
  let completedAt = -1;
  void inv.done.then(() => (completedAt = ram[OLD]!));
  releaseIo();
  const r = await t.done;
  await inv.done;
  assert.equal(completedAt, 0x61, 'the in-flight chunk landed before the completion');
  assert.equal(r.status, 'error', 'the next chunk is translated with the new tables and faults');
  assert.equal(r.result, MEMTX_ACCESS_ERROR);
  assert.ok(ram.subarray(OLD + 0x1000, OLD + 0x2000).every((b) => b === 0), 'nothing through the old translation afterwards');
  destroy();
});
