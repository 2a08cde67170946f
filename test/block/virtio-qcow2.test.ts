// virtio-blk over the block layer: a qcow2 image served to the guest's
// queue, and a corrupt part of it reported in-band (IOERR, and to the
// error listeners) while the rest keeps working.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { VirtioBlk, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_FLUSH } from '../../src/hw/virtio/virtio-blk.js';
import { VIRTIO_STATUS_DEVICE_NEEDS_RESET } from '../../src/hw/virtio/virtio-device.js';
import type { BlockIoErrorEvent } from '../../src/block/backend.js';
import { makeRig, deps, initDevice, notify, settle, status, RAM_BASE, type Rig, type DriverQueue } from '../hw/virtio/driver.js';
import { check, open, pattern, qemuImg, tmp } from './helpers.js';

const RING = RAM_BASE + 0x10000;
const HDR = RAM_BASE + 0x20000;
const DATA = RAM_BASE + 0x30000;
const STATUS = RAM_BASE + 0x40000;

function header(rig: Rig, type: number, sector: number): void {
  rig.as.stl(HDR, type);
  rig.as.stl(HDR + 4, 0);
  rig.as.stq(HDR + 8, BigInt(sector));
}

async function request(rig: Rig, q: DriverQueue, chain: Parameters<DriverQueue['add']>[0]): Promise<number> {
  const before = q.usedIdx();
  q.add(chain);
  notify(rig, 0);
  await settle(rig, () => q.usedIdx() !== before);
  q.takeUsed();
  return rig.as.ldub(STATUS);
}

test('virtio-blk on qcow2: writes, flush, reads; a corrupt L2 entry fails just its requests with IOERR and an error event; the image is not damaged further', async () => {
  const p = tmp('vq.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', p, String(4 << 20));
  const d = await open(p);
  const events: BlockIoErrorEvent[] = [];
  d.onError.add((e) => events.push(e));
  const rig = makeRig(1, false);
  const blk = new VirtioBlk(deps(rig), d);
  rig.transports[0]!.plug(blk);
  const q = initDevice(rig, 0, RING);
  const data = pattern(0x10000, 4);
  rig.as.write(DATA, data);
  header(rig, VIRTIO_BLK_T_OUT, 0x100); // 128 KiB into the disk: the third cluster
  assert.equal(await request(rig, q, [{ addr: HDR, len: 16 }, { addr: DATA, len: 0x10000 }, { addr: STATUS, len: 1, write: true }]), 0);
  header(rig, VIRTIO_BLK_T_FLUSH, 0);
  assert.equal(await request(rig, q, [{ addr: HDR, len: 16 }, { addr: STATUS, len: 1, write: true }]), 0);
  rig.as.write(DATA, new Uint8Array(0x10000));
  header(rig, VIRTIO_BLK_T_IN, 0x100);
  assert.equal(await request(rig, q, [{ addr: HDR, len: 16 }, { addr: DATA, len: 0x10000, write: true }, { addr: STATUS, len: 1, write: true }]), 0);
  const back = new Uint8Array(0x10000);
  rig.as.read(DATA, back);
  assert.ok(Buffer.from(back).equals(Buffer.from(data)));
  await blk.drain();
  assert.equal(check(p).code, 0, check(p).out);

  // Point the L2 entry of that cluster past the end of the file (as a broken or hostile image would).
  const img = readFileSync(p);
  const dv = new DataView(img.buffer, img.byteOffset);
  const l1 = dv.getUint32(44);
  const l2 = dv.getUint32(l1 + 4) & ~0x1ff;
  const fd = openSync(p, 'r+');
  writeSync(fd, Uint8Array.from([0x80, 0, 0, 0, 0x40, 0, 0, 0]), 0, 8, l2 + 2 * 8);
  closeSync(fd);
  const before = createHash('sha256').update(readFileSync(p)).digest('hex');
  const d2 = await open(p);
  d2.onError.add((e) => events.push(e));
  const rig2 = makeRig(1, false);
  const blk2 = new VirtioBlk(deps(rig2), d2);
  rig2.transports[0]!.plug(blk2);
  const q2 = initDevice(rig2, 0, RING);
  header(rig2, VIRTIO_BLK_T_IN, 0x100);
  assert.equal(await request(rig2, q2, [{ addr: HDR, len: 16 }, { addr: DATA, len: 0x10000, write: true }, { addr: STATUS, len: 1, write: true }]), 1, 'IOERR');
  header(rig2, VIRTIO_BLK_T_OUT, 0x100);
  assert.equal(await request(rig2, q2, [{ addr: HDR, len: 16 }, { addr: DATA, len: 0x10000 }, { addr: STATUS, len: 1, write: true }]), 1, 'IOERR');
  header(rig2, VIRTIO_BLK_T_IN, 0);
  assert.equal(await request(rig2, q2, [{ addr: HDR, len: 16 }, { addr: DATA, len: 512, write: true }, { addr: STATUS, len: 1, write: true }]), 0, 'the rest of the disk reads');
  assert.equal(status(rig2, 0) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
  await blk2.drain();
  await d2.close();
  assert.equal(createHash('sha256').update(readFileSync(p)).digest('hex'), before, 'the image is unchanged');
  assert.deepEqual(events.map((e) => [e.operation, e.nospace]), [['read', false], ['write', false]]);
  assert.match(events[0]!.reason, /corrupt/);
});
