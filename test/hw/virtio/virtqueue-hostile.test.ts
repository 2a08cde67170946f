import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtioRng } from '../../../src/hw/virtio/virtio-rng.js';
import { VIRTIO_STATUS_DEVICE_NEEDS_RESET } from '../../../src/hw/virtio/virtio-device.js';
import { VRING_DESC_F_INDIRECT, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE } from '../../../src/hw/virtio/virtqueue.js';
import { makeRig, deps, initDevice, notify, settle, status, mmioRead, mmioWrite, MMIO_BASE, RAM_BASE, type DriverQueue, type Rig } from './driver.js';

const RING = RAM_BASE + 0x10000;
const BUF = RAM_BASE + 0x30000;
const TABLE = RAM_BASE + 0x50000;

function rngRig(): { rig: Rig; rng: VirtioRng; q: DriverQueue } {
  const rig = makeRig(1, false);
  const rng = new VirtioRng(deps(rig));
  rig.transports[0]!.plug(rng);
  const q = initDevice(rig, 0, RING, 8);
  return { rig, rng, q };
}

/** Drive one hostile ring state and check the documented end state: DEVICE_NEEDS_RESET, one log line, a config interrupt. */
function expectNeedsReset(rig: Rig, rng: VirtioRng, pattern: RegExp): void {
  notify(rig, 0);
  rig.loop.runBottomHalves();
  assert.ok(status(rig, 0) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 'DEVICE_NEEDS_RESET set');
  assert.equal(mmioRead(rig.as, MMIO_BASE, 0x60) & 2, 2, 'config-change interrupt pending');
  assert.equal(rig.logs.length, 1, `one log line: ${rig.logs.join(' | ')}`);
  assert.match(rig.logs[0]!, pattern);
  assert.equal(rng.bytesServed, 0);
}

test('hostile queue: a descriptor loop', () => {
  const { rig, rng, q } = rngRig();
  q.writeDesc(0, BUF, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
  q.writeDesc(1, BUF + 8, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
  q.writeDesc(2, BUF + 16, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0);
  q.publish(0);
  expectNeedsReset(rig, rng, /loop/);
});

test('hostile queue: head index out of range', () => {
  const { rig, rng, q } = rngRig();
  q.publish(200);
  expectNeedsReset(rig, rng, /head 200 out of range/);
});

test('hostile queue: next index out of range', () => {
  const { rig, rng, q } = rngRig();
  q.writeDesc(0, BUF, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 9);
  q.publish(0);
  expectNeedsReset(rig, rng, /next index 9 out of range/);
});

test('hostile queue: avail idx moved by more than the queue size', () => {
  const { rig, rng, q } = rngRig();
  rig.as.stw(q.avail + 2, 1000);
  expectNeedsReset(rig, rng, /more than the queue size/);
});

test('hostile queue: readable descriptor after a writable one', () => {
  const { rig, rng, q } = rngRig();
  q.add([
    { addr: BUF, len: 8, write: true },
    { addr: BUF + 8, len: 8 },
  ]);
  expectNeedsReset(rig, rng, /device-readable descriptor after a device-writable/);
});

test('hostile queue: indirect tables that are nested, misaligned or loop', () => {
  for (const [setup, pattern] of [
    [
      (q: DriverQueue) => {
        q.writeDesc(0, TABLE, 16, VRING_DESC_F_INDIRECT, 0);
        // entry 0 of the table is itself indirect
        q.as.stq(TABLE, BigInt(TABLE));
        q.as.stl(TABLE + 8, 16);
        q.as.stw(TABLE + 12, VRING_DESC_F_INDIRECT);
        q.publish(0);
      },
      /nested indirect/,
    ],
    [
      (q: DriverQueue) => {
        q.writeDesc(0, TABLE, 24, VRING_DESC_F_INDIRECT, 0);
        q.publish(0);
      },
      /not a non-zero multiple of 16/,
    ],
    [
      (q: DriverQueue) => {
        q.writeDesc(0, TABLE, 32, VRING_DESC_F_INDIRECT, 0);
        for (let i = 0; i < 2; i++) {
          q.as.stq(TABLE + 16 * i, BigInt(BUF));
          q.as.stl(TABLE + 16 * i + 8, 4);
          q.as.stw(TABLE + 16 * i + 12, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT);
          q.as.stw(TABLE + 16 * i + 14, 1 - i);
        }
        q.publish(0);
      },
      /loop/,
    ],
  ] as const) {
    const { rig, rng, q } = rngRig();
    setup(q);
    expectNeedsReset(rig, rng, pattern);
  }
});

test('indirect descriptors and zero-length buffers are served', async () => {
  const { rig, rng, q } = rngRig();
  q.writeDesc(0, TABLE, 48, VRING_DESC_F_INDIRECT, 0);
  const entries = [
    [BUF, 0],
    [BUF, 16],
    [BUF + 16, 16],
  ] as const;
  entries.forEach(([addr, len], i) => {
    q.as.stq(TABLE + 16 * i, BigInt(addr));
    q.as.stl(TABLE + 16 * i + 8, len);
    q.as.stw(TABLE + 16 * i + 12, VRING_DESC_F_WRITE | (i < 2 ? VRING_DESC_F_NEXT : 0));
    q.as.stw(TABLE + 16 * i + 14, i + 1);
  });
  q.publish(0);
  notify(rig, 0);
  await settle(rig, () => q.usedIdx() === 1);
  assert.deepEqual(q.takeUsed(), [[0, 32]]);
  assert.equal(rng.bytesServed, 32);
  assert.equal(status(rig, 0) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
});

test('rings outside RAM break the queue instead of crashing', () => {
  const rig = makeRig(1, false);
  const rng = new VirtioRng(deps(rig));
  rig.transports[0]!.plug(rng);
  initDevice(rig, 0, 0x50000000, 8); // unassigned
  expectNeedsReset(rig, rng, /not in memory/);
});

test('work per notification is bounded and resumes from a later bottom half', async () => {
  const rig = makeRig(1, false);
  const rng = new VirtioRng(deps(rig));
  rng.batchLimit = 4;
  rig.transports[0]!.plug(rng);
  const q = initDevice(rig, 0, RING, 64);
  for (let i = 0; i < 40; i++) q.add([{ addr: BUF + 16 * i, len: 16, write: true }]);
  notify(rig, 0);
  rig.loop.runBottomHalves();
  assert.ok(q.usedIdx() <= 8, `one turn handled at most two batches, got ${q.usedIdx()}`);
  await settle(rig, () => q.usedIdx() === 40);
  assert.equal(rng.bytesServed, 640);
});

test('reset clears DEVICE_NEEDS_RESET and the device works again', async () => {
  const { rig, rng, q } = rngRig();
  q.publish(200);
  notify(rig, 0);
  rig.loop.runBottomHalves();
  assert.ok(status(rig, 0) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
  mmioWrite(rig.as, MMIO_BASE, 0x70, 0);
  assert.equal(status(rig, 0), 0);
  const q2 = initDevice(rig, 0, RING + 0x8000, 8);
  q2.add([{ addr: BUF, len: 8, write: true }]);
  notify(rig, 0);
  await settle(rig, () => q2.usedIdx() === 1);
  assert.equal(rng.bytesServed, 8);
});

test('EVENT_IDX: the device interrupts only when used_event is crossed', async () => {
  const rig = makeRig(1, false);
  const rng = new VirtioRng(deps(rig));
  rig.transports[0]!.plug(rng);
  const q = initDevice(rig, 0, RING, 8, 1 << 29);
  // used_event = 2: interrupt when the used idx passes 2, i.e. after the third buffer.
  rig.as.stw(q.avail + 4 + 2 * 8, 2);
  const irq = rig.irqs[0]!;
  for (let i = 0; i < 3; i++) {
    q.add([{ addr: BUF + 8 * i, len: 8, write: true }]);
    notify(rig, 0);
    await settle(rig, () => q.usedIdx() === i + 1);
    mmioWrite(rig.as, MMIO_BASE, 0x64, 1);
  }
  // first completion always signals (no previous signal), then only the crossing of 2
  assert.equal(irq.raised, 2);
  // avail_event published for driver->device suppression
  assert.equal(rig.as.lduw(q.used + 4 + 8 * 8), 3);
});
