import { MEMTX_OK } from '../../memory/types.js';
import { yieldToHost } from '../../host/tasks.js';
import type { BlockDriver } from '../../block/driver.js';
import { dmaBlkIo, type DmaTransfer } from '../../dma/block-io.js';
import { DMA_DIRECTION_FROM_DEVICE, DMA_DIRECTION_TO_DEVICE } from '../../dma/dma.js';
import { SgList } from '../../dma/sglist.js';
import type { DmaRequest } from '../../dma/inflight.js';
import type { DmaMemory } from './guest-mem.js';
import { VirtioDevice, VIRTIO_ID_BLOCK, type VirtioDeviceDeps } from './virtio-device.js';
import type { Segment, VirtqElement, Virtqueue } from './virtqueue.js';

export const VIRTIO_BLK_F_SEG_MAX = 2;
export const VIRTIO_BLK_F_GEOMETRY = 4;
export const VIRTIO_BLK_F_RO = 5;
export const VIRTIO_BLK_F_BLK_SIZE = 6;
export const VIRTIO_BLK_F_FLUSH = 9;
export const VIRTIO_BLK_F_DISCARD = 13;
export const VIRTIO_BLK_F_WRITE_ZEROES = 14;

export const VIRTIO_BLK_T_IN = 0;
export const VIRTIO_BLK_T_OUT = 1;
export const VIRTIO_BLK_T_FLUSH = 4;
export const VIRTIO_BLK_T_GET_ID = 8;
export const VIRTIO_BLK_T_DISCARD = 11;
export const VIRTIO_BLK_T_WRITE_ZEROES = 13;

export const VIRTIO_BLK_S_OK = 0;
export const VIRTIO_BLK_S_IOERR = 1;
export const VIRTIO_BLK_S_UNSUPP = 2;

const SECTOR = 512;
const SEG_MAX = 126;
/** Largest data transfer of one request; longer chains fail with IOERR rather than allocating unbounded memory. */
const MAX_REQUEST_BYTES = 64 << 20;
const MAX_DISCARD_SECTORS = 0x3fffff;

export interface VirtioBlkOptions {
  /** Up to 20 bytes, returned by VIRTIO_BLK_T_GET_ID. */
  serial?: string;
}

/**
 * virtio-blk over a block driver (raw, qcow2, an overlay: src/block). Requests run concurrently through async fs;
 * a FLUSH waits for writes already in flight and then fdatasyncs, so when the
 * guest sees a FLUSH complete, every write it was told had succeeded is in
 * the host file. A host I/O error becomes VIRTIO_BLK_S_IOERR for that request.
 */
export class VirtioBlk extends VirtioDevice {
  readonly deviceId = VIRTIO_ID_BLOCK;
  private readonly cfg = new Uint8Array(60);
  /** Host writes in flight: FLUSH waits for them; writes after a reset wait for the revoked ones they overlap. */
  private readonly hostWrites = new Set<{ req: DmaRequest; start: number; end: number; done: Promise<void> }>();
  inflight = 0;
  /** Requests completed with each status (tests, `info`). */
  readonly stats = { ok: 0, ioerr: 0, unsupp: 0 };

  constructor(
    deps: VirtioDeviceDeps,
    readonly image: BlockDriver,
    private readonly opts: VirtioBlkOptions = {},
  ) {
    super('virtio-blk', deps, 1, 256);
    const f = this.hostFeatures;
    f.set(VIRTIO_BLK_F_SEG_MAX).set(VIRTIO_BLK_F_GEOMETRY).set(VIRTIO_BLK_F_BLK_SIZE).set(VIRTIO_BLK_F_FLUSH);
    if (image.readonly) f.set(VIRTIO_BLK_F_RO);
    else f.set(VIRTIO_BLK_F_DISCARD).set(VIRTIO_BLK_F_WRITE_ZEROES);
    const dv = new DataView(this.cfg.buffer);
    const sectors = Math.floor(image.size / SECTOR);
    dv.setUint32(0, sectors % 0x100000000, true);
    dv.setUint32(4, Math.floor(sectors / 0x100000000), true);
    dv.setUint32(12, SEG_MAX, true); // seg_max
    // A CHS geometry like QEMU's guess for small disks: 16 heads, 63 sectors.
    dv.setUint16(16, Math.min(0xffff, Math.max(1, Math.floor(sectors / (16 * 63)))), true);
    dv.setUint8(18, 16);
    dv.setUint8(19, 63);
    dv.setUint32(20, SECTOR, true); // blk_size
    dv.setUint32(36, MAX_DISCARD_SECTORS, true); // max_discard_sectors
    dv.setUint32(40, 1, true); // max_discard_seg
    dv.setUint32(44, 1, true); // discard_sector_alignment
    dv.setUint32(48, MAX_DISCARD_SECTORS, true); // max_write_zeroes_sectors
    dv.setUint32(52, 1, true); // max_write_zeroes_seg
  }

  get config(): Uint8Array {
    return this.cfg;
  }

  /**
   * Move the data of a read or write between the image and the guest's
   * buffers with QEMU's dma_blk_io: RAM is mapped and handed to readv/writev
   * directly (no copy), anything else goes through the bounce budget.
   */
  private transfer(segs: Segment[], offset: number, toGuest: boolean, req: DmaRequest): Promise<boolean> {
    const sg = new SgList(this.mem!, this.attrs);
    for (const s of segs) if (!sg.add(s.addr, s.len)) return Promise.resolve(false);
    const img = this.image;
    // The request makes the transfer revocable: private buffers, dropped on reset or bus-master-off.
    const t: DmaTransfer = dmaBlkIo(
      sg,
      offset,
      toGuest ? DMA_DIRECTION_FROM_DEVICE : DMA_DIRECTION_TO_DEVICE,
      (iov, off) => (toGuest ? img.readv(iov, off) : img.writev(iov, off)),
      { request: req },
    );
    return t.done.then((r) => r.status === 'ok');
  }

  /**
   * A write (or discard) accepted after a reset or bus-master-off waits until
   * the host writes of revoked requests that overlap it have ended: a write
   * from before the barrier must not land on top of one the guest issued (and
   * saw complete) after it. Reads do not wait.
   */
  private afterRevokedWrites<T>(start: number, end: number, run: () => Promise<T>): Promise<T> {
    const waits: Promise<void>[] = [];
    for (const w of this.hostWrites) if (w.req.revoked && w.start < end && start < w.end) waits.push(w.done);
    return waits.length ? Promise.all(waits).then(run) : run();
  }

  /** Track a host write (for FLUSH and for ordering across a reset). */
  private trackWrite(req: DmaRequest, start: number, end: number, p: Promise<unknown>): void {
    const w = { req, start, end, done: p.then(() => undefined, () => undefined) };
    this.hostWrites.add(w);
    void w.done.then(() => this.hostWrites.delete(w));
  }

  protected handleQueue(q: Virtqueue): void {
    for (let n = 0; n < this.batchLimit; n++) {
      const elem = q.pop();
      if (!elem) return;
      this.startRequest(q, elem);
    }
  }

  private startRequest(q: Virtqueue, elem: VirtqElement): void {
    const mem = this.mem!;
    if (elem.outLen < 16 || elem.inLen < 1) {
      // No room for the header or the status byte: nothing can be reported to the guest.
      this.virtioError(`request ${elem.head} has no header or no status byte`);
      return;
    }
    const hdr = gather(mem, elem.out, 0, 16);
    const req = this.requests.begin();
    this.inflight++;
    if (!hdr) {
      this.finish(q, elem, VIRTIO_BLK_S_IOERR, 0, req);
      return;
    }
    const dv = new DataView(hdr.buffer, hdr.byteOffset, 16);
    const type = dv.getUint32(0, true);
    const sector = dv.getUint32(8, true) + dv.getUint32(12, true) * 0x100000000;
    const dataIn = trim(elem.in, elem.inLen - 1); // all writable bytes but the status byte
    const dataInLen = elem.inLen - 1;
    const dataOutLen = elem.outLen - 16;
    const img = this.image;

    const fail = (status: number): void => this.finish(q, elem, status, 0, req);
    const inRange = (bytes: number): boolean => sector * SECTOR + bytes <= img.size && Number.isSafeInteger(sector * SECTOR + bytes);

    switch (type) {
      case VIRTIO_BLK_T_IN: {
        // Data must be device-writable: a read whose buffer the driver marked readable fails.
        if (dataOutLen !== 0 || dataInLen === 0) return fail(VIRTIO_BLK_S_IOERR);
        if (dataInLen % SECTOR !== 0 || dataInLen > MAX_REQUEST_BYTES || !inRange(dataInLen)) return fail(VIRTIO_BLK_S_IOERR);
        this.transfer(dataIn, sector * SECTOR, true, req).then((ok) =>
          this.finish(q, elem, ok ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR, ok ? dataInLen : 0, req),
        );
        return;
      }
      case VIRTIO_BLK_T_OUT: {
        if (dataInLen !== 0 || dataOutLen === 0) return fail(VIRTIO_BLK_S_IOERR);
        if (img.readonly || dataOutLen % SECTOR !== 0 || dataOutLen > MAX_REQUEST_BYTES || !inRange(dataOutLen)) return fail(VIRTIO_BLK_S_IOERR);
        const at = sector * SECTOR;
        const p = this.afterRevokedWrites(at, at + dataOutLen, () => this.transfer(skip(elem.out, 16), at, false, req));
        this.trackWrite(req, at, at + dataOutLen, p);
        p.then((ok) => this.finish(q, elem, ok ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR, 0, req));
        return;
      }
      case VIRTIO_BLK_T_FLUSH: {
        Promise.all([...this.hostWrites].map((w) => w.done))
          .then(() => (img.readonly ? undefined : img.flush()))
          .then(
            () => this.finish(q, elem, VIRTIO_BLK_S_OK, 0, req),
            () => fail(VIRTIO_BLK_S_IOERR),
          );
        return;
      }
      case VIRTIO_BLK_T_GET_ID: {
        const id = new Uint8Array(Math.min(20, dataInLen));
        id.set(new TextEncoder().encode(this.opts.serial ?? '').subarray(0, id.length));
        const ok = scatter(mem, dataIn, id);
        return this.finish(q, elem, ok ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR, ok ? id.length : 0, req);
      }
      case VIRTIO_BLK_T_DISCARD:
      case VIRTIO_BLK_T_WRITE_ZEROES: {
        if (img.readonly) return fail(VIRTIO_BLK_S_IOERR);
        if (dataOutLen !== 16) return fail(VIRTIO_BLK_S_UNSUPP);
        const seg = gather(mem, elem.out, 16, 16);
        if (!seg) return fail(VIRTIO_BLK_S_IOERR);
        const sv = new DataView(seg.buffer, seg.byteOffset, 16);
        const start = sv.getUint32(0, true) + sv.getUint32(4, true) * 0x100000000;
        const count = sv.getUint32(8, true);
        const flags = sv.getUint32(12, true);
        if (flags & ~1 || (type === VIRTIO_BLK_T_DISCARD && flags) || count > MAX_DISCARD_SECTORS) return fail(VIRTIO_BLK_S_UNSUPP);
        if (!((start + count) * SECTOR <= img.size)) return fail(VIRTIO_BLK_S_IOERR);
        const p = this.afterRevokedWrites(start * SECTOR, (start + count) * SECTOR, () =>
          type === VIRTIO_BLK_T_DISCARD ? img.discard(start * SECTOR, count * SECTOR) : img.writeZeroes(start * SECTOR, count * SECTOR),
        );
        this.trackWrite(req, start * SECTOR, (start + count) * SECTOR, p);
        p.then(
          () => this.finish(q, elem, VIRTIO_BLK_S_OK, 0, req),
          () => fail(VIRTIO_BLK_S_IOERR),
        );
        return;
      }
      default:
        return fail(VIRTIO_BLK_S_UNSUPP);
    }
  }

  private finish(q: Virtqueue, elem: VirtqElement, status: number, written: number, req: DmaRequest): void {
    this.inflight--;
    req.end();
    if (req.revoked) return; // reset or bus-master-off meanwhile: the request is gone
    if (status === VIRTIO_BLK_S_OK) this.stats.ok++;
    else if (status === VIRTIO_BLK_S_IOERR) this.stats.ioerr++;
    else this.stats.unsupp++;
    const st = new Uint8Array([status]);
    this.mem!.write(statusAddr(elem), st, this.attrs);
    this.complete(q, elem, written + 1, req);
  }

  /** Resolves when no request is in flight (tests and orderly shutdown). */
  async drain(): Promise<void> {
    while (this.inflight > 0) await yieldToHost();
  }
}

/** Address of the last writable byte of a chain (the status byte); zero-length segments do not count. */
function statusAddr(elem: VirtqElement): number {
  for (let i = elem.in.length - 1; i >= 0; i--) {
    const s = elem.in[i]!;
    if (s.len > 0) return s.addr + s.len - 1;
  }
  return -1;
}

/** A segment list without its first `n` bytes. */
function skip(segs: Segment[], n: number): Segment[] {
  const out: Segment[] = [];
  for (const s of segs) {
    if (n >= s.len) {
      n -= s.len;
      continue;
    }
    out.push({ addr: s.addr + n, len: s.len - n });
    n = 0;
  }
  return out;
}

/** The first `len` bytes of a segment list. */
function trim(segs: Segment[], len: number): Segment[] {
  const out: Segment[] = [];
  for (const s of segs) {
    if (len <= 0) break;
    const n = Math.min(s.len, len);
    if (n > 0) out.push({ addr: s.addr, len: n });
    len -= n;
  }
  return out;
}

/** Copy `len` bytes starting `skip` bytes into a segment list out of guest memory; null if any piece fails. */
export function gather(mem: DmaMemory, segs: Segment[], skip: number, len: number): Uint8Array | null {
  const buf = new Uint8Array(len);
  let done = 0;
  for (const s of segs) {
    if (done >= len) break;
    if (skip >= s.len) {
      skip -= s.len;
      continue;
    }
    const n = Math.min(s.len - skip, len - done);
    if (mem.read(s.addr + skip, buf.subarray(done, done + n)) !== MEMTX_OK) return null;
    done += n;
    skip = 0;
  }
  return done === len ? buf : null;
}

/** Copy `data` into guest memory across a segment list; false if any piece fails. */
export function scatter(mem: DmaMemory, segs: Segment[], data: Uint8Array): boolean {
  let done = 0;
  let ok = true;
  for (const s of segs) {
    if (done >= data.length) break;
    const n = Math.min(s.len, data.length - done);
    if (mem.write(s.addr, data.subarray(done, done + n)) !== MEMTX_OK) ok = false;
    done += n;
  }
  return ok && done === data.length;
}
