import { P9_HDR } from '../../fs/p9-wire.js';
import type { P9Server } from '../../fs/p9-server.js';
import { VirtioDevice, type VirtioDeviceDeps } from './virtio-device.js';
import type { Virtqueue } from './virtqueue.js';
import { gather, scatter } from './virtio-blk.js';

export const VIRTIO_ID_9P = 9;
/** The config space carries a mount tag. */
export const VIRTIO_9P_MOUNT_TAG = 0;
/** Longest mount tag (QEMU's limit). */
export const MAX_TAG_LEN = 31;

/**
 * virtio-9p: one request queue; each chain is a T-message in its
 * device-readable part and room for the R-message in its writable part
 * (Linux's zero-copy reads and writes put the data in further segments of
 * the same chain, which gather/scatter treat as one byte stream). Requests
 * are served in order, synchronously, by a P9Server; a malformed request
 * gets an Rlerror, never a stalled queue.
 */
export class Virtio9p extends VirtioDevice {
  readonly deviceId = VIRTIO_ID_9P;
  private readonly cfg: Uint8Array;
  /** Chains completed with no reply (too little writable room even for Rlerror). */
  dropped = 0;

  constructor(
    deps: VirtioDeviceDeps,
    readonly server: P9Server,
    readonly mountTag: string,
  ) {
    super('virtio-9p', deps, 1, 128);
    const tag = new TextEncoder().encode(mountTag);
    if (tag.length === 0 || tag.length > MAX_TAG_LEN) throw new RangeError(`mount_tag must be 1..${MAX_TAG_LEN} bytes`);
    this.cfg = new Uint8Array(2 + tag.length);
    new DataView(this.cfg.buffer).setUint16(0, tag.length, true);
    this.cfg.set(tag, 2);
    this.hostFeatures.set(VIRTIO_9P_MOUNT_TAG);
  }

  get config(): Uint8Array {
    return this.cfg;
  }

  protected override resetDevice(): void {
    this.server.resetSession();
  }

  protected handleQueue(q: Virtqueue): void {
    const mem = this.mem!;
    for (let n = 0; n < this.batchLimit; n++) {
      const elem = q.pop();
      if (!elem) return;
      let written = 0;
      // The size field says how much of the readable part is the message; the server checks it against msize.
      const head = elem.outLen >= 4 ? gather(mem, elem.out, 0, 4) : null;
      let msg: Uint8Array | null = null;
      if (head) {
        const size = new DataView(head.buffer).getUint32(0, true);
        const take = size >= P9_HDR && size <= elem.outLen && size <= this.server.msize ? size : Math.min(elem.outLen, P9_HDR);
        msg = gather(mem, elem.out, 0, take);
        // A size the chain cannot hold (or past msize) reaches the parser as a short header: it answers bad-size/too-big.
        if (msg && take !== size && msg.length >= P9_HDR) new DataView(msg.buffer).setUint32(0, size, true);
      } else if (elem.outLen > 0) msg = gather(mem, elem.out, 0, elem.outLen);
      if (!msg) this.guestError(`${this.name}: request buffer outside memory`);
      const reply = msg ? this.server.handle(msg, elem.inLen) : null;
      if (reply && scatter(mem, elem.in, reply)) written = reply.length;
      else {
        if (reply) this.guestError(`${this.name}: reply buffer outside memory`);
        this.dropped++;
      }
      this.complete(q, elem, written);
    }
  }
}
