import { VirtioDevice, VIRTIO_ID_RNG, type VirtioDeviceDeps } from './virtio-device.js';
import type { Virtqueue } from './virtqueue.js';
import { scatter } from './virtio-blk.js';

/** Bytes handed out per request at most, so one huge buffer cannot stall a turn. */
const MAX_PER_REQUEST = 64 * 1024;

/** virtio-rng: fills the guest's buffers from the host's CSPRNG. */
export class VirtioRng extends VirtioDevice {
  readonly deviceId = VIRTIO_ID_RNG;
  private readonly cfg = new Uint8Array(0);
  bytesServed = 0;

  constructor(deps: VirtioDeviceDeps) {
    super('virtio-rng', deps, 1, 64);
  }

  get config(): Uint8Array {
    return this.cfg;
  }

  protected handleQueue(q: Virtqueue): void {
    for (let n = 0; n < this.batchLimit; n++) {
      const elem = q.pop();
      if (!elem) return;
      const len = Math.min(elem.inLen, MAX_PER_REQUEST);
      const buf = randomFill(new Uint8Array(len));
      const ok = scatter(this.mem!, elem.in, buf);
      if (ok) this.bytesServed += len;
      this.complete(q, elem, ok ? len : 0);
    }
  }
}

/** The host's CSPRNG (Web Crypto, in Node and browsers alike), 64 KiB per call as it allows. */
function randomFill(buf: Uint8Array): Uint8Array {
  for (let off = 0; off < buf.length; off += 65536) globalThis.crypto.getRandomValues(buf.subarray(off, Math.min(buf.length, off + 65536)));
  return buf;
}
