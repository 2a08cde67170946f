/**
 * A minimal virtio driver for tests: lays out split rings in guest RAM by
 * hand and talks to a virtio-mmio transport through the AddressSpace, the way
 * a guest would. Hostile tests poke the rings directly.
 */
import { AddressSpace } from '../../../src/memory/address-space.js';
import { MemoryRegion } from '../../../src/memory/region.js';
import { MEMTXATTRS_UNSPECIFIED } from '../../../src/memory/types.js';
import { EventLoop } from '../../../src/machine/event-loop.js';
import { VirtioMmio } from '../../../src/hw/virtio/virtio-mmio.js';
import type { VirtioDevice } from '../../../src/hw/virtio/virtio-device.js';

export const RAM_BASE = 0x80000000;
export const RAM_SIZE = 16 << 20;
export const MMIO_BASE = 0x10001000;

export class Irq {
  level = false;
  raised = 0;
  set(l: boolean): void {
    if (l && !this.level) this.raised++;
    this.level = l;
  }
}

export interface Rig {
  as: AddressSpace;
  ram: Uint8Array;
  loop: EventLoop;
  transports: VirtioMmio[];
  irqs: Irq[];
  logs: string[];
}

/** System memory with 16 MiB of RAM and `n` virtio-mmio slots. */
export function makeRig(n: number, legacy: boolean): Rig {
  const sys = MemoryRegion.container('system', 2 ** 40);
  const ramMr = MemoryRegion.ram('ram', RAM_SIZE);
  sys.addSubregion(RAM_BASE, ramMr);
  const as = new AddressSpace(sys, 'memory');
  const loop = new EventLoop({ clock: { kind: 'virtual', nsPerInsn: 1 } });
  const transports: VirtioMmio[] = [];
  const irqs: Irq[] = [];
  for (let i = 0; i < n; i++) {
    const irq = new Irq();
    const t = new VirtioMmio(irq, as, legacy);
    sys.addSubregion(MMIO_BASE + i * 0x1000, t.mr);
    transports.push(t);
    irqs.push(irq);
  }
  return { as, ram: ramMr.ramBytes(), loop, transports, irqs, logs: [] };
}

export function deps(rig: Rig) {
  return { scheduler: rig.loop, log: (m: string) => rig.logs.push(m) };
}

/** Let bottom halves and fs callbacks run until `cond` holds (or give up after `ms`). */
export async function settle(rig: { loop: EventLoop }, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    rig.loop.runBottomHalves();
    if (cond()) return;
    if (Date.now() > end) throw new Error('timed out waiting for the device');
    await new Promise((r) => setImmediate(r));
  }
}

export interface Desc {
  addr: number;
  len: number;
  write?: boolean;
}

/** One virtqueue as a driver sees it. */
export class DriverQueue {
  private freeHead = 0;
  availIdx = 0;
  lastUsed = 0;
  constructor(
    readonly as: AddressSpace,
    readonly num: number,
    readonly desc: number,
    readonly avail: number,
    readonly used: number,
  ) {}

  writeDesc(i: number, addr: number, len: number, flags: number, next: number): void {
    const b = this.desc + 16 * i;
    this.as.stq(b, BigInt(addr));
    this.as.stl(b + 8, len);
    this.as.stw(b + 12, flags);
    this.as.stw(b + 14, next);
  }

  /** Add a chain; returns its head. */
  add(chain: Desc[]): number {
    const head = this.freeHead;
    for (let k = 0; k < chain.length; k++) {
      const i = (head + k) % this.num;
      const d = chain[k]!;
      const last = k === chain.length - 1;
      this.writeDesc(i, d.addr, d.len, (d.write ? 2 : 0) | (last ? 0 : 1), (i + 1) % this.num);
    }
    this.freeHead = (head + chain.length) % this.num;
    this.publish(head);
    return head;
  }

  publish(head: number): void {
    this.as.stw(this.avail + 4 + 2 * (this.availIdx % this.num), head);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    this.as.stw(this.avail + 2, this.availIdx);
  }

  usedIdx(): number {
    return this.as.lduw(this.used + 2);
  }

  /** Pop used entries: [id, len]. */
  takeUsed(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    const idx = this.usedIdx();
    while (this.lastUsed !== idx) {
      const b = this.used + 4 + 8 * (this.lastUsed % this.num);
      out.push([this.as.ldl(b), this.as.ldl(b + 4)]);
      this.lastUsed = (this.lastUsed + 1) & 0xffff;
    }
    return out;
  }
}

const attrs = MEMTXATTRS_UNSPECIFIED;

export function mmioRead(as: AddressSpace, base: number, off: number): number {
  as.load(base + off, 4, attrs);
  return as.valLo >>> 0;
}

export function mmioWrite(as: AddressSpace, base: number, off: number, v: number): void {
  as.store(base + off, 4, v >>> 0, 0, attrs);
}

/**
 * Bring a device up through virtio-mmio (modern or legacy) with one queue at
 * `ringBase`, as Linux/U-Boot would. Returns the driver's view of queue 0.
 */
export function initDevice(rig: Rig, slot: number, ringBase: number, num = 16, features = 0): DriverQueue {
  const t = rig.transports[slot]!;
  const base = MMIO_BASE + slot * 0x1000;
  const as = rig.as;
  mmioWrite(as, base, 0x70, 0);
  mmioWrite(as, base, 0x70, 1);
  mmioWrite(as, base, 0x70, 3);
  mmioWrite(as, base, 0x24, 0);
  mmioWrite(as, base, 0x20, features);
  if (!t.legacy) {
    mmioWrite(as, base, 0x24, 1);
    mmioWrite(as, base, 0x20, 1); // VIRTIO_F_VERSION_1
    mmioWrite(as, base, 0x70, 0xb);
  }
  mmioWrite(as, base, 0x30, 0);
  mmioWrite(as, base, 0x38, num);
  let q: DriverQueue;
  if (t.legacy) {
    mmioWrite(as, base, 0x28, 4096);
    mmioWrite(as, base, 0x3c, 4096);
    const avail = ringBase + 16 * num;
    const used = Math.ceil((avail + 6 + 2 * num) / 4096) * 4096;
    q = new DriverQueue(as, num, ringBase, avail, used);
    mmioWrite(as, base, 0x40, ringBase / 4096);
  } else {
    const desc = ringBase;
    const avail = ringBase + 16 * num;
    const used = ringBase + 0x1000;
    q = new DriverQueue(as, num, desc, avail, used);
    mmioWrite(as, base, 0x80, desc);
    mmioWrite(as, base, 0x84, 0);
    mmioWrite(as, base, 0x90, avail);
    mmioWrite(as, base, 0x94, 0);
    mmioWrite(as, base, 0xa0, used);
    mmioWrite(as, base, 0xa4, 0);
    mmioWrite(as, base, 0x44, 1);
  }
  mmioWrite(as, base, 0x70, t.legacy ? 7 : 0xf);
  return q;
}

export function notify(rig: Rig, slot: number, queue = 0): void {
  mmioWrite(rig.as, MMIO_BASE + slot * 0x1000, 0x50, queue);
}

export function status(rig: Rig, slot: number): number {
  return mmioRead(rig.as, MMIO_BASE + slot * 0x1000, 0x70);
}

export type { VirtioDevice };
