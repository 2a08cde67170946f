// Group `virtio`: sequential reads of a 64 MiB raw image through the real
// virtqueue path (driver-side rings in guest RAM, virtio-mmio notify, the
// device's bottom half, async fs, copy into guest buffers, used ring), against
// plain fs reads of the same file with the same request size and the same
// queue depth (DEPTH reads in flight, each resubmitted as it completes) as
// baseline: the device's cost, not the benefit of concurrency.
import { mkdtempSync, openSync, read, closeSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomFillSync } from 'node:crypto';
import type { Report } from './harness.js';
import { round } from './harness.js';
import { RawFile } from '../src/block/raw-file.js';
import { VirtioBlk, VIRTIO_BLK_T_IN } from '../src/hw/virtio/virtio-blk.js';
import { makeRig, deps, initDevice, notify, RAM_BASE } from '../test/hw/virtio/driver.js';

export const group = 'virtio';

const IMAGE = 64 << 20;
const REQ = 128 << 10;
const DEPTH = 16;

async function plainRead(path: string): Promise<number> {
  const fd = openSync(path, 'r');
  const bufs = Array.from({ length: DEPTH }, () => new Uint8Array(REQ));
  let next = 0;
  const t0 = process.hrtime.bigint();
  // DEPTH workers, each issuing the next request when its last one completed.
  const worker = async (buf: Uint8Array): Promise<void> => {
    while (next < IMAGE) {
      const off = next;
      next += REQ;
      await new Promise<void>((res, rej) => read(fd, buf, 0, REQ, off, (e) => (e ? rej(e) : res())));
    }
  };
  await Promise.all(bufs.map(worker));
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  closeSync(fd);
  return IMAGE / (1 << 20) / s;
}

async function virtioRead(path: string): Promise<number> {
  const rig = makeRig(1, false);
  const blk = new VirtioBlk(deps(rig), new RawFile(path, { readonly: true }));
  rig.transports[0]!.plug(blk);
  const num = 64;
  const q = initDevice(rig, 0, RAM_BASE + 0x10000, num);
  const hdr = RAM_BASE + 0x20000;
  const data = RAM_BASE + 0x100000; // DEPTH buffers of REQ bytes
  const status = RAM_BASE + 0x30000;
  for (let i = 0; i < DEPTH; i++) {
    rig.as.stl(hdr + 16 * i, VIRTIO_BLK_T_IN);
    rig.as.stl(hdr + 16 * i + 4, 0);
  }
  let next = 0; // next byte offset to request
  let done = 0;
  const slotOf = new Map<number, number>();
  const submit = (slot: number): void => {
    rig.as.stq(hdr + 16 * slot + 8, BigInt(next / 512));
    const head = q.add([
      { addr: hdr + 16 * slot, len: 16 },
      { addr: data + REQ * slot, len: REQ, write: true },
      { addr: status + slot, len: 1, write: true },
    ]);
    slotOf.set(head, slot);
    next += REQ;
  };
  const t0 = process.hrtime.bigint();
  for (let s = 0; s < DEPTH && next < IMAGE; s++) submit(s);
  notify(rig, 0);
  while (done < IMAGE) {
    rig.loop.runBottomHalves();
    const used = q.takeUsed();
    if (used.length === 0) {
      await new Promise((r) => setImmediate(r));
      continue;
    }
    for (const [head] of used) {
      const slot = slotOf.get(head)!;
      done += REQ;
      if (next < IMAGE) submit(slot);
    }
    notify(rig, 0);
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (blk.stats.ioerr) throw new Error('I/O errors during the benchmark');
  return IMAGE / (1 << 20) / s;
}

export async function run(report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-bench-virtio-'));
  const path = join(dir, 'disk.raw');
  const img = new Uint8Array(IMAGE);
  randomFillSync(img);
  writeFileSync(path, img);
  try {
    // Warm the page cache, then take the best of three for each.
    await plainRead(path);
    let base = 0;
    let value = 0;
    for (let i = 0; i < 3; i++) {
      base = Math.max(base, await plainRead(path));
      value = Math.max(value, await virtioRead(path));
    }
    report({ name: 'virtio.blk_seqread_mibps', value: round(value, 1), unit: 'MiB/s', baseline: round(base, 1), ratio: round(value / base, 3) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
