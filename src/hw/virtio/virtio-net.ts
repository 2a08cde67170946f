import type { NetBackend, NetClient } from '../../net/backend.js';
import { MAX_FRAME, MIN_FRAME } from '../../net/frame-stream.js';
import type { BottomHalf } from '../../sync/work.js';
import {
  VirtioDevice,
  VIRTIO_F_ANY_LAYOUT,
  VIRTIO_F_VERSION_1,
  VIRTIO_ID_NET,
  VIRTIO_STATUS_DEVICE_NEEDS_RESET,
  VIRTIO_STATUS_DRIVER_OK,
  type VirtioDeviceDeps,
} from './virtio-device.js';
import type { VirtqElement, Virtqueue } from './virtqueue.js';
import { gather } from './virtio-blk.js';
import { MEMTX_OK } from '../../memory/types.js';

export const VIRTIO_NET_F_CSUM = 0;
export const VIRTIO_NET_F_MAC = 5;
export const VIRTIO_NET_F_MRG_RXBUF = 15;
export const VIRTIO_NET_F_STATUS = 16;
export const VIRTIO_NET_S_LINK_UP = 1;
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;

const RX = 0;
const TX = 1;
/** Frames held for the guest while it has no receive buffers. */
const RX_HOLD_FRAMES = 256;
const RX_HOLD_BYTES = 1 << 20;
/** Above this the backend stops reading (its socket pushes back on the peer); below RX_RESUME it reads again. */
const RX_PAUSE_BYTES = 256 * 1024;
const RX_RESUME_BYTES = 64 * 1024;
/** Header + the largest frame. */
const RX_STAGING = 12 + MAX_FRAME;

/** Counters for tests, benchmarks and the docs' "dropped and counted". */
export interface VirtioNetStats {
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  /** Arrived while the driver was not running or the link was down. */
  rxDropDown: number;
  /** Arrived while the guest had no buffers and the hold queue was full. */
  rxDropNoBuffer: number;
  /** Larger than the guest's buffers can ever hold (a single buffer without MRG_RXBUF, the whole ring with it). */
  rxDropTooBig: number;
  /** Sent while the link was down. */
  txDropDown: number;
  /** Chains shorter than the header, frames shorter than an Ethernet header or longer than MAX_FRAME, buffers outside RAM. */
  txDropBad: number;
}

export interface VirtioNetOptions {
  mac: Uint8Array;
}

/** "52:54:00:12:34:56" <-> bytes. */
export function parseMac(text: string): Uint8Array | null {
  const m = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(text);
  return m ? Uint8Array.from(m.slice(1).map((h) => parseInt(h, 16))) : null;
}

export function formatMac(mac: Uint8Array): string {
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * virtio-net: queue 0 receives, queue 1 transmits, no control queue. Offers
 * MAC, STATUS (link state), MRG_RXBUF and CSUM. The backends carry plain
 * Ethernet frames with no place for partial-checksum or GSO metadata, so
 * CSUM is honoured here: a frame the guest marks NEEDS_CSUM gets its checksum
 * completed before it leaves (host JS is far cheaper than the interpreted
 * guest's csum loop). GUEST_CSUM and the segmentation offloads are not
 * offered.
 *
 * Both queues run from the device's own bottom halves rather than the
 * generic per-kick one: the receive ring is full of buffers most of the time
 * with nothing to put in them, and transmit waits for the backend to drain,
 * and neither may spin the event loop meanwhile.
 */
export class VirtioNet extends VirtioDevice implements NetClient {
  readonly deviceId = VIRTIO_ID_NET;
  private readonly cfg = new Uint8Array(8);
  readonly stats: VirtioNetStats = {
    rxFrames: 0,
    rxBytes: 0,
    txFrames: 0,
    txBytes: 0,
    rxDropDown: 0,
    rxDropNoBuffer: 0,
    rxDropTooBig: 0,
    txDropDown: 0,
    txDropBad: 0,
  };
  private readonly rxHold: Uint8Array[] = [];
  private rxHoldBytes = 0;
  private rxPaused = false;
  private readonly staging = new Uint8Array(RX_STAGING);
  private readonly rxBh: BottomHalf;
  private readonly txBh: BottomHalf;
  /** Administrative link state (QEMU's set_link); the link is up when this and the backend are. */
  private adminUp = true;

  constructor(
    deps: VirtioDeviceDeps,
    readonly backend: NetBackend | null,
    opts: VirtioNetOptions,
  ) {
    super('virtio-net', deps, 2, 256);
    this.hostFeatures.set(VIRTIO_NET_F_CSUM).set(VIRTIO_NET_F_MAC).set(VIRTIO_NET_F_STATUS).set(VIRTIO_NET_F_MRG_RXBUF).set(VIRTIO_F_ANY_LAYOUT);
    this.cfg.set(opts.mac.subarray(0, 6));
    this.rxBh = this.scheduler.newBottomHalf(() => this.flushRx(), this);
    this.txBh = this.scheduler.newBottomHalf(() => this.flushTx(), this);
    this.updateLinkStatus();
    backend?.attach(this);
  }

  get config(): Uint8Array {
    return this.cfg;
  }

  get mac(): string {
    return formatMac(this.cfg.subarray(0, 6));
  }

  get linkUp(): boolean {
    return (this.cfg[6]! & VIRTIO_NET_S_LINK_UP) !== 0;
  }

  /** QEMU's `set_link NAME on|off`. */
  setLink(up: boolean): void {
    this.adminUp = up;
    this.updateLinkStatus();
  }

  override configWrite(offset: number, value: number, size: number): void {
    // A legacy driver may set the MAC through the config space (VERSION_1 made it read-only).
    if (this.guestFeatures.has(VIRTIO_F_VERSION_1)) return;
    for (let i = 0; i < size; i++) if (offset + i < 6) this.cfg[offset + i] = (value >>> (8 * i)) & 0xff;
  }

  /** The virtio_net_hdr the driver and device agreed on: 12 bytes (with num_buffers) for 1.x or MRG_RXBUF, else 10. */
  private get hdrLen(): number {
    return this.guestFeatures.has(VIRTIO_F_VERSION_1) || this.guestFeatures.has(VIRTIO_NET_F_MRG_RXBUF) ? 12 : 10;
  }

  private get running(): boolean {
    return (this.status & VIRTIO_STATUS_DRIVER_OK) !== 0 && (this.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET) === 0;
  }

  private updateLinkStatus(): void {
    const up = this.adminUp && this.backend !== null && this.backend.up;
    if (up === this.linkUp) return;
    this.cfg[6] = up ? VIRTIO_NET_S_LINK_UP : 0;
    this.configGeneration++;
    if (this.status & VIRTIO_STATUS_DRIVER_OK) this.transport?.notifyConfig();
  }

  // ---- NetClient (the backend's side) ----

  receive(frame: Uint8Array): void {
    if (!this.running || !this.linkUp) {
      this.stats.rxDropDown++;
      return;
    }
    if (this.rxHold.length >= RX_HOLD_FRAMES || this.rxHoldBytes + frame.length > RX_HOLD_BYTES) {
      this.stats.rxDropNoBuffer++;
      return;
    }
    this.rxHold.push(frame.slice());
    this.rxHoldBytes += frame.length;
    if (this.rxHoldBytes >= RX_PAUSE_BYTES && !this.rxPaused) {
      this.rxPaused = true;
      this.backend?.setReceiving(false);
    }
    this.rxBh.schedule();
  }

  linkChanged(): void {
    this.updateLinkStatus();
    // Transmit waiting for a backend that went away drops what is queued instead.
    this.txBh.schedule();
  }

  writable(): void {
    this.txBh.schedule();
  }

  // ---- the driver's side ----

  override kick(index: number): void {
    if (index === RX) this.rxBh.schedule();
    else if (index === TX) this.txBh.schedule();
    else super.kick(index);
  }

  protected handleQueue(q: Virtqueue): void {
    // Unused: kick() routes both queues to their own bottom halves.
    this.kick(q.index);
  }

  protected override resetDevice(): void {
    this.rxBh.cancel();
    this.txBh.cancel();
    this.rxHold.length = 0;
    this.rxHoldBytes = 0;
    this.resumeRx();
  }

  private resumeRx(): void {
    if (this.rxPaused && this.rxHoldBytes <= RX_RESUME_BYTES) {
      this.rxPaused = false;
      this.backend?.setReceiving(true);
    }
  }

  /** Move held frames into the guest's buffers, at most batchLimit per run. */
  private flushRx(): void {
    const q = this.queues[RX];
    if (!q || !this.running || !q.ready || q.broken) return;
    let delivered = 0;
    let pushed = false;
    while (this.rxHold.length > 0 && delivered < this.batchLimit) {
      const f = this.rxHold[0]!;
      const r = this.deliver(q, f);
      if (r === 'wait') break;
      if (r === 'ok') pushed = true;
      this.rxHold.shift();
      this.rxHoldBytes -= f.length;
      delivered++;
    }
    if (pushed && q.shouldNotify()) this.transport?.notifyQueue(RX);
    this.resumeRx();
    if (this.rxHold.length > 0 && delivered >= this.batchLimit) this.rxBh.schedule();
  }

  /**
   * Put one frame into the guest's receive buffers: one chain, or with
   * MRG_RXBUF as many as it takes (num_buffers says how many). Chains popped
   * for a frame that does not fit yet are given back (the avail index is
   * rewound), so a frame is delivered whole or not at all.
   */
  private deliver(q: Virtqueue, frame: Uint8Array): 'ok' | 'wait' | 'dropped' {
    const hdrLen = this.hdrLen;
    const total = hdrLen + frame.length;
    const mrg = this.guestFeatures.has(VIRTIO_NET_F_MRG_RXBUF);
    const start = q.lastAvailIdx;
    const elems: VirtqElement[] = [];
    let room = 0;
    while (room < total) {
      const e = q.pop();
      if (!e) break;
      elems.push(e);
      room += e.inLen;
      if (!mrg) break;
    }
    if (room < total) {
      if (q.broken) return 'dropped';
      q.lastAvailIdx = start;
      // Without MRG_RXBUF a frame must fit one buffer; with it, the whole ring. Otherwise it never will.
      if ((!mrg && elems.length > 0) || elems.length >= q.num) {
        this.stats.rxDropTooBig++;
        return 'dropped';
      }
      return 'wait';
    }
    const buf = this.staging;
    buf.fill(0, 0, hdrLen);
    if (hdrLen === 12) {
      buf[10] = elems.length & 0xff;
      buf[11] = elems.length >>> 8;
    }
    buf.set(frame, hdrLen);
    const mem = this.mem!;
    let off = 0;
    let fault = false;
    for (const e of elems) {
      const first = off;
      for (const s of e.in) {
        if (off >= total) break;
        const n = Math.min(s.len, total - off);
        if (mem.write(s.addr, buf.subarray(off, off + n), this.attrs) !== MEMTX_OK) fault = true;
        off += n;
      }
      q.push(e, off - first);
    }
    if (fault) this.guestError(`${this.name}: receive buffer outside RAM`);
    this.stats.rxFrames++;
    this.stats.rxBytes += frame.length;
    return 'ok';
  }

  /** Send what the guest queued, at most batchLimit frames per run, while the backend takes them. */
  private flushTx(): void {
    const q = this.queues[TX];
    if (!q || !this.running || !q.ready || q.broken) return;
    const be = this.backend;
    let n = 0;
    for (; n < this.batchLimit; n++) {
      // A busy backend calls writable() when it drains; the chains wait in the ring meanwhile.
      if (be && this.linkUp && !be.canSend()) break;
      const e = q.pop();
      if (!e) break;
      this.transmit(e);
      q.push(e, 0);
    }
    if (n > 0 && q.shouldNotify()) this.transport?.notifyQueue(TX);
    if (n >= this.batchLimit && q.hasWork()) this.txBh.schedule();
  }

  private transmit(e: VirtqElement): void {
    const hdrLen = this.hdrLen;
    if (e.outLen < hdrLen) {
      this.stats.txDropBad++;
      this.guestError(`${this.name}: transmit chain of ${e.outLen} bytes is shorter than the ${hdrLen}-byte header`);
      return;
    }
    const len = e.outLen - hdrLen;
    if (len < MIN_FRAME || len > MAX_FRAME) {
      this.stats.txDropBad++;
      this.guestError(`${this.name}: transmit frame of ${len} bytes (${MIN_FRAME}..${MAX_FRAME} allowed)`);
      return;
    }
    if (!this.linkUp || !this.backend) {
      this.stats.txDropDown++;
      return;
    }
    const hdr = gather(this.mem!, e.out, 0, hdrLen);
    const frame = hdr && gather(this.mem!, e.out, hdrLen, len);
    if (!hdr || !frame) {
      this.stats.txDropBad++;
      this.guestError(`${this.name}: transmit buffer outside RAM`);
      return;
    }
    if (hdr[0]! & VIRTIO_NET_HDR_F_NEEDS_CSUM && this.guestFeatures.has(VIRTIO_NET_F_CSUM)) {
      const start = hdr[6]! | (hdr[7]! << 8);
      const at = start + (hdr[8]! | (hdr[9]! << 8));
      if (at + 2 > len) {
        this.stats.txDropBad++;
        this.guestError(`${this.name}: checksum at ${at} outside the ${len}-byte frame`);
        return;
      }
      completeChecksum(frame, start, at);
    }
    if (!this.backend.send(frame)) {
      this.stats.txDropDown++;
      return;
    }
    this.stats.txFrames++;
    this.stats.txBytes += len;
  }
}

/**
 * Finish a partial checksum the way Linux's skb_checksum_help does: the
 * field already holds the pseudo-header sum; fold the one's-complement sum
 * from `start` to the end of the frame into it, and store 0 as 0xffff.
 */
export function completeChecksum(frame: Uint8Array, start: number, at: number): void {
  let sum = 0;
  const end = frame.length;
  let i = start;
  // Sum 16-bit big-endian words; a 32-bit accumulator with a periodic fold cannot overflow.
  for (; i + 1 < end; i += 2) {
    sum += (frame[i]! << 8) | frame[i + 1]!;
    if (sum > 0x7fff0000) sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (i < end) sum += frame[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const c = ~sum & 0xffff || 0xffff;
  frame[at] = c >>> 8;
  frame[at + 1] = c & 0xff;
}
