import { hostLog } from '../../host/log.js';
import type { MemTxAttrs } from '../../memory/types.js';
import { MEMTXATTRS_UNSPECIFIED } from '../../memory/types.js';
import type { BottomHalf, Scheduler, WorkOwner } from '../../sync/work.js';
import type { AddressSpace } from '../../memory/address-space.js';
import { ReentrancyGuard, type DeviceOwner } from '../../memory/owner.js';
import { DmaRequestSet, type DmaRequest } from '../../dma/inflight.js';
import { GuestLog } from '../guest-log.js';
import { Virtqueue, type VirtqElement } from './virtqueue.js';

export const VIRTIO_STATUS_ACKNOWLEDGE = 1;
export const VIRTIO_STATUS_DRIVER = 2;
export const VIRTIO_STATUS_DRIVER_OK = 4;
export const VIRTIO_STATUS_FEATURES_OK = 8;
export const VIRTIO_STATUS_DEVICE_NEEDS_RESET = 64;
export const VIRTIO_STATUS_FAILED = 128;

/** Feature bit numbers shared by every device type. */
export const VIRTIO_F_NOTIFY_ON_EMPTY = 24;
export const VIRTIO_F_ANY_LAYOUT = 27;
export const VIRTIO_F_RING_INDIRECT_DESC = 28;
export const VIRTIO_F_RING_EVENT_IDX = 29;
export const VIRTIO_F_VERSION_1 = 32;

export const VIRTIO_ID_NET = 1;
export const VIRTIO_ID_BLOCK = 2;
export const VIRTIO_ID_CONSOLE = 3;
export const VIRTIO_ID_RNG = 4;

/** guestErrors keeps this many of the last messages logged. */
export const GUEST_ERRORS_KEPT = 64;

/** How a device tells the driver about used buffers and config changes; the transport implements it. */
export interface VirtioTransport {
  /** Raise the used-buffer interrupt for queue `q` (ISR bit 0 / the queue's MSI-X vector). */
  notifyQueue(q: number): void;
  /** Raise the configuration-change interrupt (ISR bit 1 / the config MSI-X vector). */
  notifyConfig(): void;
  /** True when the driver talks the legacy (0.9.5) interface. */
  readonly legacy: boolean;
}

/** A 64-bit feature set as two 32-bit halves (no BigInt on the device paths). */
export class Features {
  constructor(public lo = 0, public hi = 0) {}
  has(bit: number): boolean {
    return bit < 32 ? ((this.lo >>> bit) & 1) === 1 : ((this.hi >>> (bit - 32)) & 1) === 1;
  }
  set(bit: number, on = true): this {
    if (bit < 32) this.lo = on ? (this.lo | (1 << bit)) >>> 0 : (this.lo & ~(1 << bit)) >>> 0;
    else this.hi = on ? (this.hi | (1 << (bit - 32))) >>> 0 : (this.hi & ~(1 << (bit - 32))) >>> 0;
    return this;
  }
  word(sel: number): number {
    return sel === 0 ? this.lo : sel === 1 ? this.hi : 0;
  }
}

export interface VirtioDeviceDeps {
  scheduler: Scheduler;
  /** Guest-error log (rate-limited, recent duplicates dropped: guest-error.ts). Defaults to stderr. */
  log?: (message: string) => void;
}

/**
 * What every virtio device shares: feature negotiation, status, queues,
 * config space, reset and DEVICE_NEEDS_RESET. Queue work runs from a bottom
 * half, never from inside the guest's notify write, and each run handles a
 * bounded number of chains, so a guest that keeps a queue full cannot starve
 * the event loop (the console and monitor stay responsive).
 */
export abstract class VirtioDevice implements WorkOwner, DeviceOwner {
  abstract readonly deviceId: number;
  /**
   * Shared with the transport that carries the device (realize() adopts the
   * transport's guard), so the transport's registers and the device's bottom
   * halves are one device to the reentrancy guard.
   */
  reentrancyGuard = new ReentrancyGuard();
  readonly hostFeatures = new Features();
  readonly guestFeatures = new Features();
  status = 0;
  /** Config generation, bumped on every device-initiated config change. */
  configGeneration = 0;
  queues: Virtqueue[] = [];
  /** Chains handled per queue per bottom-half run before yielding to the event loop. */
  batchLimit = 64;
  /** The last messages logged (at most GUEST_ERRORS_KEPT). */
  readonly guestErrors: string[] = [];
  /**
   * Requests whose guest-memory effects happen later (async host I/O). A
   * reset, and the transport losing DMA (PCI bus master off), revoke them all
   * at once: their transfers write into private buffers that are dropped and
   * their completions (used ring, interrupt) are never delivered.
   */
  protected readonly requests = new DmaRequestSet();

  protected transport: VirtioTransport | null = null;
  protected mem: AddressSpace | null = null;
  protected attrs: MemTxAttrs = MEMTXATTRS_UNSPECIFIED;
  private readonly bh: BottomHalf;
  /** Queues notified since the last bottom-half run (one flag per queue: no allocation per notify). */
  private kicked = new Uint8Array(0);
  private anyKicked = false;
  protected readonly scheduler: Scheduler;
  private readonly glog: GuestLog;

  constructor(
    readonly name: string,
    deps: VirtioDeviceDeps,
    readonly numQueues: number,
    private readonly queueMax = 256,
  ) {
    this.scheduler = deps.scheduler;
    this.glog = new GuestLog(deps.log ?? hostLog);
    this.hostFeatures.set(VIRTIO_F_VERSION_1).set(VIRTIO_F_RING_INDIRECT_DESC).set(VIRTIO_F_RING_EVENT_IDX);
    this.bh = deps.scheduler.newBottomHalf(() => this.runQueues(), this);
  }

  /** Bind to a transport and the address space the device DMAs through. */
  realize(transport: VirtioTransport & DeviceOwner, mem: AddressSpace, attrs: MemTxAttrs = MEMTXATTRS_UNSPECIFIED): void {
    this.transport = transport;
    this.reentrancyGuard = transport.reentrancyGuard;
    this.mem = mem;
    this.attrs = attrs;
    this.queues = [];
    this.kicked = new Uint8Array(this.numQueues);
    for (let i = 0; i < this.numQueues; i++) {
      this.queues.push(new Virtqueue(i, this.queueMax, mem, attrs, (q, msg) => this.virtioError(`queue ${q.index}: ${msg}`)));
    }
  }

  /** The device-specific configuration space, little-endian as virtio 1.x defines it. */
  abstract get config(): Uint8Array;
  /** Handle available chains on `q`; return false to stop early (e.g. waiting for I/O). */
  protected abstract handleQueue(q: Virtqueue): void;
  /** Hook for device-specific reset (cancel I/O, clear state). */
  protected resetDevice(): void {}
  /** Hook called when the driver writes the config space. */
  configWrite(_offset: number, _value: number, _size: number): void {}

  /**
   * The driver wrote 0 to the status. Every request in flight is revoked
   * first (synchronously), so when the driver reads the status back as 0 no
   * DMA, used-ring update or interrupt from before the reset can follow.
   */
  reset(): void {
    this.requests.revokeAll(`${this.name}: device reset`);
    this.status = 0;
    this.guestFeatures.lo = this.guestFeatures.hi = 0;
    this.kicked.fill(0);
    this.anyKicked = false;
    this.bh.cancel();
    for (const q of this.queues) q.reset();
    this.resetDevice();
  }

  /**
   * The transport can no longer DMA for the device (PCI bus master disabled,
   * function reset): revoke every request in flight. Their chains are never
   * completed; the driver recovers by resetting the device.
   */
  revokeDma(reason: string): void {
    this.requests.revokeAll(`${this.name}: ${reason}`);
  }

  /** Requests in flight (tests, `info`). */
  get requestsInFlight(): number {
    return this.requests.size;
  }

  setStatus(v: number): void {
    v &= 0xff;
    if (v === 0) {
      this.reset();
      return;
    }
    // FEATURES_OK is refused (left clear) if the driver accepted features we do not offer.
    if (v & VIRTIO_STATUS_FEATURES_OK && !(this.status & VIRTIO_STATUS_FEATURES_OK)) {
      const extraLo = this.guestFeatures.lo & ~this.hostFeatures.lo;
      const extraHi = this.guestFeatures.hi & ~this.hostFeatures.hi;
      if (extraLo || extraHi) v &= ~VIRTIO_STATUS_FEATURES_OK;
    }
    const needsReset = this.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET;
    this.status = (v & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET) | needsReset;
    const eventIdx = this.guestFeatures.has(VIRTIO_F_RING_EVENT_IDX);
    for (const q of this.queues) q.eventIdx = eventIdx;
    if (v & VIRTIO_STATUS_DRIVER_OK) for (const q of this.queues) if (q.hasWork()) this.kick(q.index);
  }

  /** The driver notified queue `index`. Work is deferred to a bottom half. */
  kick(index: number): void {
    if (!(index < this.kicked.length)) {
      this.guestError(`notify of queue ${index}, which does not exist`);
      return;
    }
    this.kicked[index] = 1;
    if (!this.anyKicked) {
      this.anyKicked = true;
      this.bh.schedule();
    }
  }

  private runQueues(): void {
    this.anyKicked = false;
    const k = this.kicked;
    if (!(this.status & VIRTIO_STATUS_DRIVER_OK) || this.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET) {
      k.fill(0);
      return;
    }
    let again = false;
    for (let i = 0; i < k.length; i++) {
      if (!k[i]) continue;
      k[i] = 0;
      const q = this.queues[i]!;
      if (!q.ready || q.broken) continue;
      this.handleQueue(q);
      // Budget exhausted with work left: come back on a later turn.
      if (q.hasWork() && !q.broken) {
        k[i] = 1;
        again = true;
      }
    }
    if (again) {
      this.anyKicked = true;
      this.bh.schedule();
    }
  }

  /**
   * Push a completed chain and interrupt the driver if it asked for it. With
   * `req`, a request revoked meanwhile (reset, bus-master-off) is dropped instead.
   */
  protected complete(q: Virtqueue, elem: VirtqElement, written: number, req?: DmaRequest): void {
    if (req?.revoked) return;
    q.push(elem, written);
    if (q.shouldNotify()) this.transport?.notifyQueue(q.index);
  }

  /**
   * The device cannot go on (the spec's virtio_error): set DEVICE_NEEDS_RESET,
   * tell the driver through a config interrupt, log once.
   */
  virtioError(message: string): void {
    this.guestError(`${this.name}: ${message}; device needs reset`);
    if (this.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET) return;
    this.status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
    if (this.status & VIRTIO_STATUS_DRIVER_OK) this.transport?.notifyConfig();
  }

  /** Log a guest error: recent duplicates are dropped and the rate is bounded (GuestLog). */
  guestError(message: string): void {
    if (!this.glog.log(message)) return;
    this.guestErrors.push(message);
    if (this.guestErrors.length > GUEST_ERRORS_KEPT) this.guestErrors.shift();
  }

  /** Lines written and suppressed by the guest-error log (tests, `info`). */
  get guestLogStats(): { written: number; suppressed: number; remembered: number } {
    return { written: this.glog.written, suppressed: this.glog.suppressed, remembered: this.glog.remembered };
  }
}
