import type { MemTxAttrs } from '../../memory/types.js';
import { RingWindow, type DmaMemory } from './guest-mem.js';

/**
 * A virtio 1.x split virtqueue, as the device sees it.
 *
 * Everything in the rings is written by the guest and may be hostile, so
 * every index is range-checked, every chain is bounded by the queue size
 * (an indirect table by its own length), and any violation makes the queue
 * "broken": pop() returns null from then on and the owner is told once via
 * onError, which the device turns into DEVICE_NEEDS_RESET (the spec's
 * answer when a device cannot continue). Buffers outside RAM are not a ring
 * violation: they fail later, at the DMA, with a device-specific status.
 */

export const VRING_DESC_F_NEXT = 1;
export const VRING_DESC_F_WRITE = 2;
export const VRING_DESC_F_INDIRECT = 4;
export const VRING_AVAIL_F_NO_INTERRUPT = 1;
export const VRING_USED_F_NO_NOTIFY = 1;

/** The largest queue we offer, and so the longest chain that can be legal. */
export const VIRTQUEUE_MAX_SIZE = 1024;

export interface Segment {
  addr: number;
  len: number;
}

/** One popped descriptor chain: device-readable (out) then device-writable (in) buffers. */
export class VirtqElement {
  readonly out: Segment[] = [];
  readonly in: Segment[] = [];
  outLen = 0;
  inLen = 0;
  constructor(readonly head: number) {}
}

export class VirtqueueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VirtqueueError';
  }
}

export class Virtqueue {
  /** Queue size the driver selected (power of two not required for split rings in 1.x; we accept 1..max). */
  num = 0;
  readonly maxNum: number;
  descAddr = 0;
  availAddr = 0;
  usedAddr = 0;
  ready = false;
  /** VIRTIO_F_EVENT_IDX negotiated. */
  eventIdx = false;

  lastAvailIdx = 0;
  usedIdx = 0;
  /** used.idx value when the driver was last signalled (for EVENT_IDX). */
  private signalledUsed = 0;
  private signalledUsedValid = false;
  broken = false;
  /** Number of chains rejected as malformed (for tests and `info virtio`). */
  errors = 0;

  private readonly desc: RingWindow;
  private readonly avail: RingWindow;
  private readonly used: RingWindow;

  constructor(
    readonly index: number,
    maxNum: number,
    private readonly mem: DmaMemory,
    private readonly attrs: MemTxAttrs,
    private readonly onError: (q: Virtqueue, message: string) => void,
  ) {
    this.maxNum = maxNum;
    this.desc = new RingWindow(mem, attrs);
    this.avail = new RingWindow(mem, attrs);
    this.used = new RingWindow(mem, attrs);
  }

  reset(): void {
    this.num = 0;
    this.descAddr = this.availAddr = this.usedAddr = 0;
    this.ready = false;
    this.eventIdx = false;
    this.lastAvailIdx = 0;
    this.usedIdx = 0;
    this.signalledUsed = 0;
    this.signalledUsedValid = false;
    this.broken = false;
    this.errors = 0;
  }

  /** Call after num/addresses change and before use. */
  setRings(num: number, desc: number, avail: number, used: number): void {
    this.num = num;
    this.descAddr = desc;
    this.availAddr = avail;
    this.usedAddr = used;
    this.desc.set(desc, 16 * num);
    this.avail.set(avail, 6 + 2 * num);
    this.used.set(used, 6 + 8 * num);
  }

  /** Legacy (virtio 0.9) layout: rings contiguous from a page frame, used ring aligned. */
  setLegacyRings(num: number, base: number, align: number): void {
    const availAddr = base + 16 * num;
    const usedAddr = alignUp(availAddr + 6 + 2 * num, align);
    this.setRings(num, base, availAddr, usedAddr);
  }

  private fail(message: string): null {
    this.errors++;
    if (!this.broken) {
      this.broken = true;
      this.onError(this, message);
    }
    return null;
  }

  /** Whether the driver has made buffers available that we have not popped. */
  hasWork(): boolean {
    if (!this.ready || this.broken || this.num === 0) return false;
    const idx = this.avail.u16(2);
    return idx >= 0 && idx !== this.lastAvailIdx;
  }

  /**
   * Pop the next available chain, or null when there is none or the queue is
   * broken. Validation happens here, before the device touches any buffer.
   */
  pop(): VirtqElement | null {
    if (!this.ready || this.broken || this.num === 0) return null;
    const availIdx = this.avail.u16(2);
    if (availIdx < 0) return this.fail('avail ring is not in memory');
    const pending = (availIdx - this.lastAvailIdx) & 0xffff;
    if (pending === 0) return null;
    if (pending > this.num) return this.fail(`avail idx ${availIdx} is ${pending} ahead of ${this.lastAvailIdx}, more than the queue size ${this.num}`);
    const head = this.avail.u16(4 + 2 * (this.lastAvailIdx % this.num));
    if (head < 0) return this.fail('avail ring is not in memory');
    if (head >= this.num) return this.fail(`descriptor head ${head} out of range (queue size ${this.num})`);
    this.lastAvailIdx = (this.lastAvailIdx + 1) & 0xffff;
    if (this.eventIdx) this.used.setU16(4 + 8 * this.num, this.lastAvailIdx);

    const elem = new VirtqElement(head);
    let table: RingWindow = this.desc;
    let tableLen = this.num;
    let i = head;
    let count = 0;
    let indirect = false;
    for (;;) {
      if (++count > tableLen) return this.fail(`descriptor chain from head ${head} is longer than its table (${tableLen}): a loop`);
      const base = 16 * i;
      const addr = table.u64(base);
      const len = table.u32(base + 8);
      const flags = table.u16(base + 12);
      const next = table.u16(base + 14);
      if (addr < 0 || len < 0 || flags < 0 || next < 0) return this.fail('descriptor table is not in memory');
      if (flags & VRING_DESC_F_INDIRECT) {
        if (indirect) return this.fail('nested indirect descriptor');
        if (flags & VRING_DESC_F_NEXT) return this.fail('indirect descriptor with NEXT set');
        if (len === 0 || len % 16 !== 0) return this.fail(`indirect table length ${len} is not a non-zero multiple of 16`);
        if (len / 16 > VIRTQUEUE_MAX_SIZE) return this.fail(`indirect table of ${len / 16} entries exceeds ${VIRTQUEUE_MAX_SIZE}`);
        if (!(addr + len <= Number.MAX_SAFE_INTEGER)) return this.fail('indirect table address overflows');
        table = new RingWindow(this.mem, this.attrs, addr, len);
        tableLen = len / 16;
        indirect = true;
        i = 0;
        count = 0;
        continue;
      }
      if (!(addr + len <= Number.MAX_SAFE_INTEGER)) return this.fail(`buffer at ${addr} + ${len} overflows the address space`);
      if (flags & VRING_DESC_F_WRITE) {
        elem.in.push({ addr, len });
        elem.inLen += len;
      } else {
        if (elem.in.length) return this.fail('device-readable descriptor after a device-writable one');
        elem.out.push({ addr, len });
        elem.outLen += len;
      }
      if (!(flags & VRING_DESC_F_NEXT)) break;
      if (next >= tableLen) return this.fail(`next index ${next} out of range (${tableLen})`);
      i = next;
    }
    return elem;
  }

  /** Put a completed chain on the used ring; `len` is the number of bytes written into its in-buffers. */
  push(elem: VirtqElement, len: number): void {
    if (this.broken || this.num === 0) return;
    const slot = 4 + 8 * (this.usedIdx % this.num);
    this.used.setU32(slot, elem.head);
    this.used.setU32(slot + 4, len);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
    this.used.setU16(2, this.usedIdx);
  }

  /** Whether the driver wants an interrupt for what was pushed since the last signal. */
  shouldNotify(): boolean {
    if (this.num === 0) return false;
    if (!this.eventIdx) {
      const flags = this.avail.u16(0);
      return flags < 0 || (flags & VRING_AVAIL_F_NO_INTERRUPT) === 0;
    }
    const old = this.signalledUsed;
    const wasValid = this.signalledUsedValid;
    const now = this.usedIdx;
    this.signalledUsed = now;
    this.signalledUsedValid = true;
    if (!wasValid) return true;
    const event = this.avail.u16(4 + 2 * this.num);
    if (event < 0) return true;
    return ((now - event - 1) & 0xffff) < ((now - old) & 0xffff);
  }

  /** Driver-to-device notification suppression while we are processing (no EVENT_IDX). */
  setNotification(enable: boolean): void {
    if (this.num === 0 || this.eventIdx) return;
    this.used.setU16(0, enable ? 0 : VRING_USED_F_NO_NOTIFY);
  }
}

function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}
