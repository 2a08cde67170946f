import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, truncateSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawFile, BlockError } from '../../../src/block/raw-file.js';
import { VirtioBlk, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_WRITE_ZEROES } from '../../../src/hw/virtio/virtio-blk.js';
import { VirtioRng } from '../../../src/hw/virtio/virtio-rng.js';
import { VIRTIO_STATUS_DEVICE_NEEDS_RESET } from '../../../src/hw/virtio/virtio-device.js';
import { makeRig, deps, initDevice, notify, settle, status, mmioRead, MMIO_BASE, RAM_BASE, type Rig, type DriverQueue } from './driver.js';

const dir = mkdtempSync(join(tmpdir(), 'tsvmm-vblk-'));
let n = 0;
function image(size: number, fill?: (b: Uint8Array) => void): string {
  const p = join(dir, `img${n++}.raw`);
  const b = new Uint8Array(size);
  fill?.(b);
  writeFileSync(p, b);
  return p;
}

const RING = RAM_BASE + 0x10000;
const HDR = RAM_BASE + 0x20000;
const DATA = RAM_BASE + 0x30000;
const STATUS = RAM_BASE + 0x40000;

function header(rig: Rig, at: number, type: number, sector: number): void {
  rig.as.stl(at, type);
  rig.as.stl(at + 4, 0);
  rig.as.stq(at + 8, BigInt(sector));
}

async function request(rig: Rig, q: DriverQueue, chain: Parameters<DriverQueue['add']>[0], slot = 0): Promise<[number, number]> {
  const before = q.usedIdx();
  q.add(chain);
  notify(rig, slot);
  await settle(rig, () => q.usedIdx() !== before);
  return q.takeUsed()[0]!;
}

for (const legacy of [false, true]) {
  const kind = legacy ? 'legacy' : 'modern';

  test(`virtio-mmio ${kind}: empty slot and identification registers`, () => {
    const rig = makeRig(2, legacy);
    const blk = new VirtioBlk(deps(rig), new RawFile(image(8192)));
    rig.transports[1]!.plug(blk);
    const b0 = MMIO_BASE;
    const b1 = MMIO_BASE + 0x1000;
    assert.equal(mmioRead(rig.as, b0, 0), 0x74726976);
    assert.equal(mmioRead(rig.as, b0, 4), legacy ? 1 : 2);
    assert.equal(mmioRead(rig.as, b0, 8), 0, 'empty slot has device id 0');
    assert.equal(mmioRead(rig.as, b0, 0xc), 0x554d4551);
    assert.equal(mmioRead(rig.as, b1, 8), 2, 'virtio-blk');
    // capacity in sectors at config offset 0
    assert.equal(mmioRead(rig.as, b1, 0x100), 16);
  });

  test(`virtio-blk ${kind}: write, flush and read back through the host file`, async () => {
    const rig = makeRig(1, legacy);
    const path = image(64 * 1024);
    const blk = new VirtioBlk(deps(rig), new RawFile(path));
    rig.transports[0]!.plug(blk);
    const q = initDevice(rig, 0, RING);
    const pattern = new Uint8Array(1024).map((_, i) => (i * 7 + 3) & 0xff);
    rig.as.write(DATA, pattern);
    header(rig, HDR, VIRTIO_BLK_T_OUT, 5);
    const [, wlen] = await request(rig, q, [
      { addr: HDR, len: 16 },
      { addr: DATA, len: 1024 },
      { addr: STATUS, len: 1, write: true },
    ]);
    assert.equal(wlen, 1);
    assert.equal(rig.as.ldub(STATUS), 0);
    header(rig, HDR, VIRTIO_BLK_T_FLUSH, 0);
    await request(rig, q, [{ addr: HDR, len: 16 }, { addr: STATUS, len: 1, write: true }]);
    assert.equal(rig.as.ldub(STATUS), 0);
    const host = readFileSync(path);
    assert.deepEqual(new Uint8Array(host.subarray(5 * 512, 5 * 512 + 1024)), pattern, 'flushed data is in the host file');

    // Read it back into a different buffer, split over two descriptors.
    header(rig, HDR, VIRTIO_BLK_T_IN, 5);
    const [, rlen] = await request(rig, q, [
      { addr: HDR, len: 16 },
      { addr: DATA + 0x2000, len: 512, write: true },
      { addr: DATA + 0x3000, len: 512, write: true },
      { addr: STATUS, len: 1, write: true },
    ]);
    assert.equal(rlen, 1025);
    const back = new Uint8Array(1024);
    rig.as.read(DATA + 0x2000, back.subarray(0, 512));
    rig.as.read(DATA + 0x3000, back.subarray(512));
    assert.deepEqual(back, pattern);
    assert.ok(rig.irqs[0]!.raised > 0, 'used-buffer interrupt raised');
  });
}

test('virtio-blk: GET_ID returns the serial; WRITE_ZEROES zeroes the host range', async () => {
  const rig = makeRig(1, false);
  const path = image(8192, (b) => b.fill(0xaa));
  const blk = new VirtioBlk(deps(rig), new RawFile(path), { serial: 'tsvmm-disk-1' });
  rig.transports[0]!.plug(blk);
  const q = initDevice(rig, 0, RING);
  header(rig, HDR, VIRTIO_BLK_T_GET_ID, 0);
  await request(rig, q, [{ addr: HDR, len: 16 }, { addr: DATA, len: 20, write: true }, { addr: STATUS, len: 1, write: true }]);
  const id = new Uint8Array(12);
  rig.as.read(DATA, id);
  assert.equal(new TextDecoder().decode(id), 'tsvmm-disk-1');

  header(rig, HDR, VIRTIO_BLK_T_WRITE_ZEROES, 0);
  rig.as.stq(DATA, 2n);
  rig.as.stl(DATA + 8, 3);
  rig.as.stl(DATA + 12, 0);
  await request(rig, q, [{ addr: HDR, len: 16 }, { addr: DATA, len: 16 }, { addr: STATUS, len: 1, write: true }]);
  assert.equal(rig.as.ldub(STATUS), 0);
  const host = readFileSync(path);
  assert.equal(host[2 * 512 - 1], 0xaa);
  assert.ok(host.subarray(2 * 512, 5 * 512).every((x) => x === 0));
  assert.equal(host[5 * 512], 0xaa);
});

test('virtio-blk: out-of-range sectors, read-only images and buffers outside RAM end in IOERR, and the device goes on', async () => {
  const rig = makeRig(1, false);
  const path = image(8192);
  const blk = new VirtioBlk(deps(rig), new RawFile(path, { readonly: true }));
  rig.transports[0]!.plug(blk);
  const q = initDevice(rig, 0, RING);
  assert.equal(mmioRead(rig.as, MMIO_BASE, 0x10) & (1 << 5), 1 << 5, 'VIRTIO_BLK_F_RO offered');

  header(rig, HDR, VIRTIO_BLK_T_IN, 16); // one past the end
  await request(rig, q, [{ addr: HDR, len: 16 }, { addr: DATA, len: 512, write: true }, { addr: STATUS, len: 1, write: true }]);
  assert.equal(rig.as.ldub(STATUS), 1);

  header(rig, HDR, VIRTIO_BLK_T_OUT, 0);
  await request(rig, q, [{ addr: HDR, len: 16 }, { addr: DATA, len: 512 }, { addr: STATUS, len: 1, write: true }]);
  assert.equal(rig.as.ldub(STATUS), 1, 'write to read-only image');

  header(rig, HDR, VIRTIO_BLK_T_IN, 0);
  await request(rig, q, [{ addr: HDR, len: 16 }, { addr: 0x50000000, len: 512, write: true }, { addr: STATUS, len: 1, write: true }]);
  assert.equal(rig.as.ldub(STATUS), 1, 'data buffer in unassigned space');

  header(rig, HDR, VIRTIO_BLK_T_IN, 0);
  await request(rig, q, [{ addr: HDR, len: 16 }, { addr: DATA, len: 512 }, { addr: STATUS, len: 1, write: true }]);
  assert.equal(rig.as.ldub(STATUS), 1, 'read into a device-readable buffer');

  header(rig, HDR, VIRTIO_BLK_T_IN, 0);
  rig.as.stb(STATUS, 0xff);
  await request(rig, q, [{ addr: HDR, len: 16 }, { addr: DATA, len: 512, write: true }, { addr: STATUS, len: 1, write: true }]);
  assert.equal(rig.as.ldub(STATUS), 0, 'a good request after the bad ones');
  assert.equal(status(rig, 0) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
  assert.deepEqual(blk.stats, { ok: 1, ioerr: 4, unsupp: 0 });
});

test('RawFile: missing and non-writable images give clear errors', () => {
  assert.throws(() => new RawFile(join(dir, 'nope.raw')), (e: unknown) => e instanceof BlockError && /No such file/.test(e.message));
  const p = image(512);
  // An immutable file refuses writers even to root.
  execFileSync('chattr', ['+i', p]);
  try {
    assert.throws(() => new RawFile(p), (e: unknown) => e instanceof BlockError && /readonly=on/.test(e.message));
    assert.equal(new RawFile(p, { readonly: true }).size, 512);
  } finally {
    execFileSync('chattr', ['-i', p]);
  }
});

test('virtio-rng fills the buffer; a broken blk queue does not stop it', async () => {
  const rig = makeRig(2, false);
  const blk = new VirtioBlk(deps(rig), new RawFile(image(8192)));
  const rng = new VirtioRng(deps(rig));
  rig.transports[0]!.plug(blk);
  rig.transports[1]!.plug(rng);
  const qb = initDevice(rig, 0, RING);
  const qr = initDevice(rig, 1, RING + 0x4000);
  // A descriptor loop on the blk queue: 0 -> 1 -> 0.
  qb.writeDesc(0, HDR, 16, 1, 1);
  qb.writeDesc(1, DATA, 16, 1, 0);
  qb.publish(0);
  notify(rig, 0);
  rig.loop.runBottomHalves();
  assert.ok(status(rig, 0) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 'loop sets DEVICE_NEEDS_RESET');
  assert.equal(rig.logs.filter((l) => /loop/.test(l)).length, 1, 'logged once');
  notify(rig, 0);
  rig.loop.runBottomHalves();
  assert.equal(rig.logs.filter((l) => /loop/.test(l)).length, 1, 'still logged once');

  rig.as.write(DATA + 0x8000, new Uint8Array(64));
  qr.add([{ addr: DATA + 0x8000, len: 64, write: true }]);
  notify(rig, 1);
  await settle(rig, () => qr.usedIdx() === 1);
  const got = new Uint8Array(64);
  rig.as.read(DATA + 0x8000, got);
  assert.ok(got.some((x) => x !== 0));
  assert.deepEqual(qr.takeUsed()[0], [0, 64]);
});

test('virtio-blk: images larger than 4 GiB (sparse) are addressed past the 32-bit sector boundary', async () => {
  const rig = makeRig(1, false);
  const path = join(dir, `big${n++}.raw`);
  writeFileSync(path, new Uint8Array(0));
  truncateSync(path, 5 * 2 ** 30);
  const blk = new VirtioBlk(deps(rig), new RawFile(path));
  rig.transports[0]!.plug(blk);
  assert.equal(mmioRead(rig.as, MMIO_BASE, 0x100), (5 * 2 ** 30 / 512) >>> 0, 'capacity low word');
  assert.equal(mmioRead(rig.as, MMIO_BASE, 0x104), 0, 'capacity high word');
  const q = initDevice(rig, 0, RING);
  const sector = 4.5 * 2 ** 30 / 512; // 4.5 GiB into the image
  rig.as.write(DATA, new Uint8Array(512).fill(0x77));
  header(rig, HDR, VIRTIO_BLK_T_OUT, sector);
  await request(rig, q, [{ addr: HDR, len: 16 }, { addr: DATA, len: 512 }, { addr: STATUS, len: 1, write: true }]);
  assert.equal(rig.as.ldub(STATUS), 0);
  const fd = openSync(path, 'r');
  const back = Buffer.alloc(512);
  readSync(fd, back, 0, 512, sector * 512);
  closeSync(fd);
  assert.ok(back.every((b) => b === 0x77), 'the bytes are 4.5 GiB into the host file');
});

test('virtio-blk: a host I/O error fails that request with IOERR and the device goes on', async () => {
  class FlakyFile extends RawFile {
    failNext = true;
    override readv(bufs: Uint8Array[], offset: number): Promise<void> {
      if (this.failNext) {
        this.failNext = false;
        return Promise.reject(Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' }));
      }
      return super.readv(bufs, offset);
    }
  }
  const rig = makeRig(1, false);
  const blk = new VirtioBlk(deps(rig), new FlakyFile(image(8192, (b) => b.fill(9))));
  rig.transports[0]!.plug(blk);
  const q = initDevice(rig, 0, RING);
  header(rig, HDR, VIRTIO_BLK_T_IN, 0);
  await request(rig, q, [{ addr: HDR, len: 16 }, { addr: DATA, len: 512, write: true }, { addr: STATUS, len: 1, write: true }]);
  assert.equal(rig.as.ldub(STATUS), 1, 'IOERR');
  await request(rig, q, [{ addr: HDR, len: 16 }, { addr: DATA, len: 512, write: true }, { addr: STATUS, len: 1, write: true }]);
  assert.equal(rig.as.ldub(STATUS), 0);
  assert.equal(rig.as.ldub(DATA), 9);
  assert.equal(status(rig, 0) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
});
