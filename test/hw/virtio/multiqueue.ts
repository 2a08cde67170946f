/** Bring up extra queues of a modern virtio-mmio device (queue 0 comes from initDevice). */
import { DriverQueue, MMIO_BASE, mmioWrite, type Rig } from './driver.js';

export function addQueue(rig: Rig, slot: number, index: number, ring: number, num = 8): DriverQueue {
  const base = MMIO_BASE + slot * 0x1000;
  mmioWrite(rig.as, base, 0x30, index);
  mmioWrite(rig.as, base, 0x38, num);
  const q = new DriverQueue(rig.as, num, ring, ring + 16 * num, ring + 0x800);
  mmioWrite(rig.as, base, 0x80, q.desc);
  mmioWrite(rig.as, base, 0x84, 0);
  mmioWrite(rig.as, base, 0x90, q.avail);
  mmioWrite(rig.as, base, 0x94, 0);
  mmioWrite(rig.as, base, 0xa0, q.used);
  mmioWrite(rig.as, base, 0xa4, 0);
  mmioWrite(rig.as, base, 0x44, 1);
  return q;
}

export function readBytes(rig: Rig, addr: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  rig.as.read(addr, b);
  return b;
}
