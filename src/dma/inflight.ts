/**
 * A device's in-flight DMA requests, so that a device reset or a PCI
 * bus-master-disable can act as a barrier (docs/dma.md, "Reset and
 * bus-master-off are barriers").
 *
 * A request is begun when the device accepts work whose guest-memory effects
 * happen later (async host I/O, a timer), and ended when that work is over.
 * `revokeAll()` is synchronous: from the moment it returns, every revoked
 * request's `revoked` is true and its AbortSignal has fired, so
 *
 * - a transfer made with `dmaBlkIo(..., { request })` (private buffers, see
 *   block-io.ts) writes nothing more into guest memory: its buffers are
 *   copied back only while the request is live, and that copy is synchronous;
 * - the device checks `revoked` before it completes the request (used ring,
 *   status byte, interrupt) and drops the completion instead.
 *
 * Revoked requests stay counted (`draining`) until their host work ends; a
 * device that must keep host-side ordering across the barrier (virtio-blk: a
 * write from before a reset must not land on top of one issued after it)
 * checks `revoked` on the requests it tracks.
 */
export class DmaRequest {
  private readonly abort = new AbortController();
  /** True once the request was revoked (reset, bus-master-off): its effects must not reach the guest. */
  revoked = false;
  /** @internal */ ended = false;

  /** @internal */ constructor(private readonly set: DmaRequestSet) {}

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /** @internal */ revoke(reason: string): void {
    if (this.revoked) return;
    this.revoked = true;
    this.abort.abort(new Error(reason));
  }

  /** The request's host work is over (completed, failed or revoked). Idempotent. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.set.ended(this);
  }
}

export class DmaRequestSet {
  private readonly live = new Set<DmaRequest>();
  private readonly revoked = new Set<DmaRequest>();
  /** Requests revoked so far (tests, `info`). */
  revocations = 0;

  begin(): DmaRequest {
    const r = new DmaRequest(this);
    this.live.add(r);
    return r;
  }

  /** Requests whose effects may still reach the guest. */
  get size(): number {
    return this.live.size;
  }

  /** Revoked requests whose host work has not ended yet. */
  get draining(): number {
    return this.revoked.size;
  }

  /** Revoke every live request (synchronously); returns how many there were. */
  revokeAll(reason: string): number {
    const n = this.live.size;
    if (n === 0) return 0;
    const all = [...this.live];
    this.live.clear();
    for (const r of all) {
      this.revoked.add(r);
      this.revocations++;
      r.revoke(reason);
    }
    return n;
  }

  /** @internal */ ended(r: DmaRequest): void {
    this.live.delete(r);
    this.revoked.delete(r);
  }
}
