/**
 * The qcow2 driver's writes (qcow2.ts describes the driver): lock-free writes
 * into clusters the image owns, and allocating writes, planned under the
 * metadata lock and executed outside it, with COW of partial clusters.
 *
 * Write ordering (what a kill -9 or a host crash can leave):
 *  1. clusters come from the refcount reserve (refcount already on disk);
 *  2. guest data (and a new L2 table, zero-filled) is written to them;
 *  3. then the L2 entry (or L1 entry) pointing at them is written;
 *  4. only then are clusters no longer referenced given a lower refcount.
 * Every step waits for the previous one's write to complete, so the file
 * never holds a reference to a cluster that lacks a refcount or data; a crash
 * between steps leaks clusters at worst. Metadata is written through (no
 * dirty cache), so flush is one fdatasync of the file.
 */
import { BlockError } from '../driver.js';
import { iovCopyOut, iovLength, iovSlice } from '../iov.js';
import { FLAG_COPIED_HI } from './format.js';
import { Kind, Qcow2Mapping, type Mapping } from './mapping.js';
import { Mutex } from '../mutex.js';

/** One piece of a planned write: into owned clusters (direct) or into new clusters replacing `olds`. */
interface WritePiece {
  direct: boolean;
  host: number;
  iovPos: number;
  n: number;
  vc: number;
  inOff: number;
  olds: Mapping[];
  l2off: number;
  start: number;
}

type WritePlan = WritePiece[] & { done?: () => void; mine?: Promise<void> };

/** Writes and the state they share with zeroing and discard (qcow2.ts). */
export abstract class Qcow2Writes extends Qcow2Mapping {
  protected readonly lock = new Mutex();
  /** Why writes are refused after metadata turned out corrupt or a metadata write failed. */
  protected broken: string | null = null;
  /** Lock-free writes in flight (to clusters already owned); freeing waits for them. */
  protected fastWrites = 0;
  protected freeing = false;
  protected fastIdle: (() => void) | null = null;
  /** Virtual clusters whose new host cluster is being written (outside the lock); a second writer waits. */
  protected readonly allocating = new Map<number, Promise<void>>();

  protected failIfUnwritable(): void {
    if (this.readonly) throw new BlockError('image is read-only', 'EROFS');
    if (this.broken) throw new BlockError(`writes refused: ${this.broken}`, 'EIO');
  }

  /** A metadata step failed: stop writing (in-memory state may be ahead of the file), keep reading. */
  protected breakOn(e: unknown): never {
    if (!this.broken) this.broken = e instanceof Error ? e.message : String(e);
    throw e;
  }

  async writev(iov: Uint8Array[], offset: number): Promise<void> {
    this.failIfUnwritable();
    const len = iovLength(iov);
    this.checkRange(offset, len);
    if (len === 0) return;
    if (!this.freeing && (await this.tryFastWrite(iov, offset, len))) return;
    for (;;) {
      const plan = await this.lock.run(() => this.plan(iov, offset, len));
      if ('wait' in plan) {
        await plan.wait; // another request is allocating some of these clusters: plan again once it is done
        continue;
      }
      return this.execute(plan, iov);
    }
  }

  /** Writes that land entirely in clusters this image owns (COPIED) need no metadata change and no lock. */
  private async tryFastWrite(iov: Uint8Array[], offset: number, len: number): Promise<boolean> {
    const first = Math.floor(offset / this.cs);
    const last = Math.floor((offset + len - 1) / this.cs);
    const m0 = this.peek(first) ?? (await this.lookup(first));
    if (m0.kind !== Kind.Normal || !m0.copied) return false;
    for (let c = first + 1; c <= last; c++) {
      const m = this.peek(c) ?? (await this.lookup(c));
      if (m.kind !== Kind.Normal || !m.copied || m.host !== m0.host + (c - first) * this.cs) return false;
    }
    if (this.freeing) return false;
    this.fastWrites++;
    try {
      await this.file.writev(iov, m0.host + (offset % this.cs));
    } finally {
      this.fastWrites--;
      if (this.fastWrites === 0) this.fastIdle?.();
    }
    return true;
  }

  /**
   * Under the metadata lock: decide where every piece of a write goes,
   * allocating L2 tables and data clusters (from the reserve) and marking the
   * virtual clusters being allocated as in flight, so that a concurrent write
   * to the same cluster waits instead of allocating it twice. The data and
   * L2 writes then run outside the lock (execute), so allocating writes
   * overlap like any others.
   */
  private async plan(iov: Uint8Array[], offset: number, len: number): Promise<WritePlan | { wait: Promise<unknown> }> {
    this.failIfUnwritable();
    const first = Math.floor(offset / this.cs);
    const last = Math.floor((offset + len - 1) / this.cs);
    const busy: Promise<void>[] = [];
    for (let c = first; c <= last; c++) {
      const p = this.allocating.get(c);
      if (p) busy.push(p);
    }
    if (busy.length) return { wait: Promise.all(busy) };
    const pieces: WritePlan = [];
    let done!: () => void;
    const mine = new Promise<void>((r) => (done = r));
    let pos = 0;
    try {
      while (pos < len) {
        const vc = Math.floor((offset + pos) / this.cs);
        const inOff = (offset + pos) % this.cs;
        const m = await this.lookup(vc);
        if (m.kind === Kind.Normal && m.copied) {
          const n = Math.min(this.cs - inOff, len - pos);
          pieces.push({ direct: true, host: m.host + inOff, iovPos: pos, n, vc, olds: [], l2off: 0, start: 0, inOff });
          pos += n;
          continue;
        }
        // Clusters needing a new host cluster, up to the end of this L2 table.
        const l2End = (Math.floor(vc / this.l2Entries) + 1) * this.l2Entries;
        const lastVc = Math.min(last, l2End - 1);
        const olds: Mapping[] = [m];
        for (let c = vc + 1; c <= lastVc; c++) {
          const mm = await this.lookup(c);
          if (mm.kind === Kind.Normal && mm.copied) break;
          olds.push(mm);
        }
        const l2off = await this.writableL2(Math.floor(vc / this.l2Entries)).catch((e) => this.breakOn(e));
        const { start, count } = await this.refs.take(olds.length).catch((e) => this.breakOn(e));
        const n = Math.min(count * this.cs - inOff, len - pos);
        const used = Math.floor((inOff + n - 1) / this.cs) + 1;
        if (used < count) await this.refs.untake(start + used, count - used).catch((e) => this.breakOn(e));
        olds.length = used;
        for (let i = 0; i < used; i++) this.allocating.set(vc + i, mine);
        pieces.push({ direct: false, host: start * this.cs, iovPos: pos, n, vc, olds, l2off, start, inOff });
        pos += n;
      }
    } catch (e) {
      await this.abandon(pieces, 0, mine, done);
      throw e;
    }
    pieces.done = done;
    pieces.mine = mine;
    return pieces;
  }

  /** Outside the lock: data first, then the L2 entries, then the old clusters' refcounts (see the file comment). */
  private async execute(pieces: WritePlan, iov: Uint8Array[]): Promise<void> {
    let i = 0;
    try {
      for (; i < pieces.length; i++) {
        const p = pieces[i]!;
        if (p.direct) {
          await this.file.writev(iovSlice(iov, p.iovPos, p.n), p.host);
          continue;
        }
        const bufs = await this.clusterBuffers(p, iov);
        await this.file.writev(bufs, p.host);
        this.noteWrite(p.host + p.olds.length * this.cs);
        const host = p.host;
        await this.setL2(p.l2off, p.vc, p.olds.length, (k) => [FLAG_COPIED_HI | Math.floor((host + k * this.cs) / 0x100000000), (host + k * this.cs) % 0x100000000]).catch((e) =>
          this.breakOn(e),
        );
        // From here the new clusters are referenced: an error must not give them back.
        this.finishPiece(p, pieces.mine!);
        p.direct = true;
        for (const m of p.olds) await this.release(m).catch((e) => this.breakOn(e));
      }
    } catch (e) {
      // Clusters of pieces whose L2 entries were not written are referenced by nothing: give them back.
      await this.abandon(pieces, i, pieces.mine!, pieces.done!);
      throw e;
    }
    pieces.done!();
  }

  private finishPiece(p: WritePiece, mine: Promise<void>): void {
    for (let k = 0; k < p.olds.length; k++) if (this.allocating.get(p.vc + k) === mine) this.allocating.delete(p.vc + k);
  }

  private async abandon(pieces: WritePiece[], from: number, mine: Promise<void>, done: () => void): Promise<void> {
    for (let k = from; k < pieces.length; k++) {
      const p = pieces[k]!;
      if (p.direct) continue;
      this.finishPiece(p, mine);
      await this.refs.untake(p.start, p.olds.length).catch(() => undefined);
    }
    done();
  }

  /** The buffers to write at a piece's new clusters: guest data, with old content (COW) around a partial head and tail. */
  private async clusterBuffers(p: WritePiece, iov: Uint8Array[]): Promise<Uint8Array[]> {
    const { inOff, n, iovPos, vc, olds } = p;
    const bufs: Uint8Array[] = [];
    const endIn = (inOff + n) % this.cs;
    const lastIdx = olds.length - 1;
    let head: Uint8Array | null = null;
    if (inOff > 0 || (lastIdx === 0 && endIn !== 0)) {
      head = await this.oldCluster(vc, olds[0]!);
      iovCopyOut(iov, iovPos, Math.min(n, this.cs - inOff), head, inOff);
      bufs.push(head);
    }
    const midStart = head ? this.cs - inOff : 0;
    const tailPartial = endIn !== 0 && lastIdx > 0;
    const midEnd = tailPartial ? n - endIn : n;
    if (midEnd > midStart) bufs.push(...iovSlice(iov, iovPos + midStart, midEnd - midStart));
    if (tailPartial) {
      const tail = await this.oldCluster(vc + lastIdx, olds[lastIdx]!);
      iovCopyOut(iov, iovPos + n - endIn, endIn, tail, 0);
      bufs.push(tail);
    }
    return bufs;
  }

  /** The content of a virtual cluster before a write (for partial-cluster COW). */
  private async oldCluster(vc: number, m: Mapping): Promise<Uint8Array> {
    const buf = new Uint8Array(this.cs);
    const voff = vc * this.cs;
    const n = Math.min(this.cs, this.size - voff);
    if (m.kind === Kind.Compressed) buf.set((await this.readCompressed(m)).subarray(0, n));
    else if (n > 0) await this.readMapped(m, [buf.subarray(0, n)], voff, 0, n);
    return buf;
  }
}
