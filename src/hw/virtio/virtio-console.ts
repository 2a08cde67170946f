import type { CharBackend, CharFrontend } from '../char/chardev.js';
import { VirtioDevice, VIRTIO_ID_CONSOLE, type VirtioDeviceDeps } from './virtio-device.js';
import type { Virtqueue } from './virtqueue.js';
import { gather, scatter } from './virtio-blk.js';

/** Input bytes held while the guest has posted no receive buffers; beyond this the backend keeps them. */
const STAGING = 4096;
/** Largest transmit chain copied at once. */
const MAX_TX = 64 * 1024;

/**
 * virtio-console with a single port (no MULTIPORT): queue 0 receives, queue 1
 * transmits. Input the guest has no buffer for stays in the backend's queue
 * (canReceive() says how much we can stage), so nothing typed is lost.
 */
export class VirtioConsole extends VirtioDevice implements CharFrontend {
  readonly deviceId = VIRTIO_ID_CONSOLE;
  private readonly cfg = new Uint8Array(12);
  private readonly staged = new Uint8Array(STAGING);
  private stagedLen = 0;

  constructor(
    deps: VirtioDeviceDeps,
    private readonly backend: CharBackend,
  ) {
    super('virtio-console', deps, 2, 128);
    backend.attach(this);
  }

  get config(): Uint8Array {
    return this.cfg;
  }

  canReceive(): number {
    return STAGING - this.stagedLen;
  }

  receive(bytes: Uint8Array): void {
    const n = Math.min(bytes.length, STAGING - this.stagedLen);
    this.staged.set(bytes.subarray(0, n), this.stagedLen);
    this.stagedLen += n;
    const rq = this.queues[0];
    if (rq) this.fillReceive(rq);
  }

  protected override resetDevice(): void {
    this.stagedLen = 0;
  }

  protected handleQueue(q: Virtqueue): void {
    if (q.index === 0) {
      this.fillReceive(q);
      this.backend.acceptInput();
      return;
    }
    for (let n = 0; n < this.batchLimit; n++) {
      const elem = q.pop();
      if (!elem) return;
      const len = Math.min(elem.outLen, MAX_TX);
      const data = gather(this.mem!, elem.out, 0, len);
      if (data) for (const b of data) this.backend.write(b);
      else this.guestError(`${this.name}: transmit buffer outside memory`);
      this.complete(q, elem, 0);
    }
  }

  private fillReceive(q: Virtqueue): void {
    if (!q.ready || q.broken || this.stagedLen === 0 || !this.mem) return;
    let off = 0;
    while (off < this.stagedLen) {
      const elem = q.pop();
      if (!elem) break;
      const n = Math.min(elem.inLen, this.stagedLen - off);
      const ok = scatter(this.mem, elem.in, this.staged.subarray(off, off + n));
      if (!ok) this.guestError(`${this.name}: receive buffer outside memory`);
      off += n;
      this.complete(q, elem, ok ? n : 0);
    }
    this.staged.copyWithin(0, off, this.stagedLen);
    this.stagedLen -= off;
  }
}
