/**
 * The qcow2 format driver (versions 2 and 3): L1/L2 mapping, reads through
 * zero, compressed and unallocated clusters (the backing driver or zeros),
 * allocating writes, COW of clusters and L2 tables shared with internal
 * snapshots, zero clusters and discard.
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
import { BlockError, type BlockDriver } from '../driver.js';
import { iovCopyOut, iovLength, iovSlice, iovZero } from '../iov.js';
import type { RawFile } from '../raw-file.js';
import { Qcow2Corrupt } from './errors.js';
import {
  FLAG_COMPRESSED_HI,
  FLAG_COPIED_HI,
  FLAG_ZERO_LO,
  HDR_AUTOCLEAR,
  compressedExtent,
  entryOffset,
  parseHeader,
  parseSnapshots,
  type Qcow2Header,
  type Qcow2Snapshot,
} from './format.js';
import { Refcounts, type RefcountGeometry } from './refcount.js';
import { TableCache } from './table-cache.js';
import { Mutex } from '../mutex.js';

const enum Kind {
  Unallocated,
  Zero,
  Normal,
  Compressed,
}

interface Mapping {
  kind: Kind;
  /** Host offset of a normal cluster (or a preallocated zero cluster); 0 otherwise. */
  host: number;
  copied: boolean;
  /** L2 entry halves (compressed descriptors need them). */
  hi: number;
  lo: number;
}

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

export interface Qcow2OpenOptions {
  /** Open the image's backing file (name as stored in the header, format from its extension if any). */
  openBacking?: (name: string, format: string | undefined) => Promise<BlockDriver>;
  /** Ignore the backing file the header names (-blockdev backing=null). */
  noBacking?: boolean;
}

export class Qcow2 implements BlockDriver {
  readonly size: number;
  readonly readonly: boolean;
  readonly cs: number;
  readonly snapshots: readonly Qcow2Snapshot[];
  private readonly l2Entries: number;
  private readonly l1: Uint8Array;
  private readonly l1dv: DataView;
  /** L2 tables by host offset, 32 MiB at most. */
  private readonly l2Cache: TableCache;
  private readonly lock = new Mutex();
  private readonly refs: Refcounts;
  private readonly geo: RefcountGeometry;
  private fileLen: number;
  /** Why writes are refused after metadata turned out corrupt or a metadata write failed. */
  private broken: string | null = null;
  /** Lock-free writes in flight (to clusters already owned); freeing waits for them. */
  private fastWrites = 0;
  private freeing = false;
  private fastIdle: (() => void) | null = null;
  /** Virtual clusters whose new host cluster is being written (outside the lock); a second writer waits. */
  private readonly allocating = new Map<number, Promise<void>>();

  private constructor(
    readonly file: RawFile,
    readonly header: Qcow2Header,
    l1: Uint8Array,
    reftable: Uint8Array,
    snapshots: Qcow2Snapshot[],
    fileLen: number,
    readonly backing: BlockDriver | undefined,
  ) {
    this.size = header.size;
    this.readonly = file.readonly;
    this.cs = header.clusterSize;
    this.l2Entries = this.cs / 8;
    this.l1 = l1;
    this.l1dv = new DataView(l1.buffer, l1.byteOffset, l1.byteLength);
    this.l2Cache = new TableCache(Math.max(16, Math.floor((32 << 20) / this.cs)));
    this.snapshots = snapshots;
    this.fileLen = fileLen;
    const h = header;
    const cs = this.cs;
    this.geo = {
      clusterBits: h.clusterBits,
      refcountOrder: h.refcountOrder,
      refTableOffset: h.refTableOffset,
      refTableClusters: h.refTableClusters,
      isMetadata(off: number) {
        return off < cs || (off < h.l1Offset + h.l1Size * 8 && off + cs > h.l1Offset) || (off < this.refTableOffset + this.refTableClusters * cs && off + cs > this.refTableOffset);
      },
    };
    this.refs = new Refcounts(
      file,
      this.geo,
      reftable,
      () => this.fileLen,
      (end) => this.noteWrite(end),
    );
  }

  /** Open a qcow2 image on `file`: header, L1 and refcount table are read and checked before the guest starts. */
  static async open(file: RawFile, opts: Qcow2OpenOptions = {}): Promise<Qcow2> {
    const fileLen = await file.fileLength();
    const first = new Uint8Array(Math.min(fileLen, 1 << 21));
    await file.read(first, 0);
    const hdr = parseHeader(first, fileLen, !file.readonly);
    const l1 = new Uint8Array(hdr.l1Size * 8);
    await file.read(l1, hdr.l1Offset);
    const reftable = new Uint8Array(hdr.refTableClusters * hdr.clusterSize);
    await file.read(reftable, hdr.refTableOffset);
    let snaps: Qcow2Snapshot[] = [];
    if (hdr.nbSnapshots > 0) {
      const buf = new Uint8Array(Math.min(fileLen - hdr.snapshotsOffset, hdr.nbSnapshots * 1024 + 65536));
      await file.read(buf, hdr.snapshotsOffset);
      snaps = parseSnapshots(buf, hdr.nbSnapshots);
    }
    let backing: BlockDriver | undefined;
    if (hdr.backingFile !== undefined && !opts.noBacking) {
      if (!opts.openBacking) throw new BlockError(`qcow2 image has backing file '${hdr.backingFile}' and no way to open it`);
      backing = await opts.openBacking(hdr.backingFile, hdr.backingFormat);
    }
    const q = new Qcow2(file, hdr, l1, reftable, snaps, fileLen, backing);
    if (!file.readonly && hdr.autoclear !== 0) {
      // Autoclear features (bitmaps, raw external data) describe state tsvmm does not keep up to date: clear them, as the spec asks.
      await file.write(new Uint8Array(8), HDR_AUTOCLEAR);
      await file.sync();
    }
    return q;
  }

  private noteWrite(end: number): void {
    if (end > this.fileLen) this.fileLen = end;
  }

  /** A host offset from metadata that must be a whole cluster inside the file and outside the header and tables. */
  private checkHost(off: number, what: string): void {
    if (off % this.cs !== 0 || off < this.cs || off + this.cs > this.fileLen) {
      throw new Qcow2Corrupt(`${what} at 0x${off.toString(16)} is unaligned, in the header or past the end of the file`);
    }
    if (this.geo.isMetadata(off)) throw new Qcow2Corrupt(`${what} at 0x${off.toString(16)} overlaps the L1 or refcount table`);
  }

  private async loadL2(off: number): Promise<Uint8Array> {
    const hit = this.l2Cache.get(off);
    if (hit) return hit;
    this.checkHost(off, 'L2 table');
    const t = new Uint8Array(this.cs);
    await this.file.read(t, off);
    this.l2Cache.set(off, t);
    return t;
  }

  private l1Entry(i: number): { off: number; copied: boolean } {
    const hi = this.l1dv.getUint32(i * 8);
    const lo = this.l1dv.getUint32(i * 8 + 4);
    return { off: entryOffset(hi, lo), copied: (hi & FLAG_COPIED_HI) !== 0 };
  }

  /** The mapping of virtual cluster `vc` when its L2 table is cached (the common case: no await), else null. */
  private peek(vc: number): Mapping | null {
    const l1i = Math.floor(vc / this.l2Entries);
    const { off } = this.l1Entry(l1i);
    if (off === 0) return { kind: Kind.Unallocated, host: 0, copied: false, hi: 0, lo: 0 };
    const t = this.l2Cache.get(off);
    return t ? this.decode(vc, t) : null;
  }

  private async lookup(vc: number): Promise<Mapping> {
    const m = this.peek(vc);
    if (m) return m;
    const { off } = this.l1Entry(Math.floor(vc / this.l2Entries));
    return this.decode(vc, await this.loadL2(off));
  }

  private decode(vc: number, t: Uint8Array): Mapping {
    const dv = new DataView(t.buffer, t.byteOffset, t.byteLength);
    const at = (vc % this.l2Entries) * 8;
    const hi = dv.getUint32(at);
    const lo = dv.getUint32(at + 4);
    const copied = (hi & FLAG_COPIED_HI) !== 0;
    if (hi & FLAG_COMPRESSED_HI) return { kind: Kind.Compressed, host: 0, copied: false, hi, lo };
    const host = entryOffset(hi, lo);
    if (this.header.version === 3 && lo & FLAG_ZERO_LO) return { kind: Kind.Zero, host, copied, hi, lo };
    if (host === 0) {
      // Offset 0 with COPIED set would be host cluster 0, the header (only valid with an external data file).
      if (copied) throw new Qcow2Corrupt(`data cluster ${vc} points at the header`);
      return { kind: Kind.Unallocated, host: 0, copied: false, hi, lo };
    }
    this.checkHost(host, `data cluster ${vc}`);
    return { kind: Kind.Normal, host, copied, hi, lo };
  }

  private checkRange(offset: number, len: number): void {
    if (!(offset >= 0 && offset + len <= this.size && Number.isSafeInteger(offset + len))) throw new BlockError(`request 0x${offset.toString(16)}+${len} is outside the disk`, 'EINVAL');
  }

  async readv(iov: Uint8Array[], offset: number): Promise<void> {
    const len = iovLength(iov);
    this.checkRange(offset, len);
    let pos = 0;
    while (pos < len) {
      const vc = Math.floor((offset + pos) / this.cs);
      const inOff = (offset + pos) % this.cs;
      const m = this.peek(vc) ?? (await this.lookup(vc));
      let n = Math.min(this.cs - inOff, len - pos);
      // Extend over following clusters mapped the same way (contiguous on the host), for one host request.
      if (m.kind !== Kind.Compressed) {
        while (pos + n < len) {
          const nvc = vc + Math.ceil((inOff + n) / this.cs);
          const next = this.peek(nvc) ?? (await this.lookup(nvc));
          if (next.kind !== m.kind || (m.kind === Kind.Normal && next.host !== m.host + inOff + n)) break;
          n = Math.min(n + this.cs, len - pos);
        }
      }
      await this.readMapped(m, iovSlice(iov, pos, n), offset + pos, inOff, n);
      pos += n;
    }
  }

  /** Read `n` bytes at virtual `voff` (cluster offset `inOff`) through mapping `m`. */
  private async readMapped(m: Mapping, iov: Uint8Array[], voff: number, inOff: number, n: number): Promise<void> {
    switch (m.kind) {
      case Kind.Normal:
        return this.file.readv(iov, m.host + inOff);
      case Kind.Zero:
        return iovZero(iov, 0, n);
      case Kind.Unallocated: {
        const b = this.backing;
        const inBacking = b ? Math.max(0, Math.min(n, b.size - voff)) : 0;
        if (inBacking > 0) await b!.readv(iovSlice(iov, 0, inBacking), voff);
        if (inBacking < n) iovZero(iov, inBacking, n - inBacking);
        return;
      }
      case Kind.Compressed: {
        const data = await this.readCompressed(m);
        let at = inOff;
        for (const b of iov) {
          b.set(data.subarray(at, at + b.length));
          at += b.length;
        }
      }
    }
  }

  private async readCompressed(m: Mapping): Promise<Uint8Array> {
    const { offset, length } = compressedExtent(m.hi, m.lo, this.header.clusterBits);
    if (offset < this.cs || offset + length > this.fileLen + 512 || length > 2 * this.cs + 512) {
      throw new Qcow2Corrupt(`compressed cluster at 0x${offset.toString(16)} is in the header or past the end of the file`);
    }
    const raw = new Uint8Array(Math.min(length, this.fileLen - offset));
    await this.file.read(raw, offset);
    const out = await new Promise<Uint8Array>((resolve, reject) =>
      // Loaded at first use, not imported: docs/cpu.md (start-up) says why.
      process.getBuiltinModule('node:zlib').inflateRaw(raw, { maxOutputLength: this.cs }, (err, r) => (err ? reject(new Qcow2Corrupt(`compressed cluster does not inflate: ${err.message}`)) : resolve(r))),
    );
    if (out.length === this.cs) return out;
    const full = new Uint8Array(this.cs);
    full.set(out);
    return full;
  }

  private failIfUnwritable(): void {
    if (this.readonly) throw new BlockError('image is read-only', 'EROFS');
    if (this.broken) throw new BlockError(`writes refused: ${this.broken}`, 'EIO');
  }

  /** A metadata step failed: stop writing (in-memory state may be ahead of the file), keep reading. */
  private breakOn(e: unknown): never {
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

  /** Drop the reference the active L2 table held on an old mapping's host cluster(s). */
  private async release(m: Mapping): Promise<void> {
    if (m.kind === Kind.Normal || (m.kind === Kind.Zero && m.host !== 0)) {
      await this.refs.update(m.host / this.cs, 1, -1);
    } else if (m.kind === Kind.Compressed) {
      const { offset, length } = compressedExtent(m.hi, m.lo, this.header.clusterBits);
      const c0 = Math.floor(offset / this.cs);
      const c1 = Math.floor((offset + length - 1) / this.cs);
      await this.refs.update(c0, c1 - c0 + 1, -1);
    }
  }

  /** Write `count` L2 entries starting at virtual cluster vc, in one host write. */
  private async setL2(l2off: number, vc: number, count: number, entry: (i: number) => [number, number]): Promise<void> {
    const t = await this.loadL2(l2off);
    const dv = new DataView(t.buffer, t.byteOffset, t.byteLength);
    const i0 = vc % this.l2Entries;
    const saved = t.slice(i0 * 8, (i0 + count) * 8);
    for (let i = 0; i < count; i++) {
      const [hi, lo] = entry(i);
      dv.setUint32((i0 + i) * 8, hi);
      dv.setUint32((i0 + i) * 8 + 4, lo);
    }
    try {
      await this.l2Cache.writeCoalesced(l2off, i0 * 8, (i0 + count) * 8, (lo, hi) => this.file.write(t.subarray(lo, hi), l2off + lo));
    } catch (e) {
      t.set(saved, i0 * 8);
      throw e;
    }
  }

  /** Host offset of an L2 table for L1 index l1i that this image owns, allocating or copying one. */
  private async writableL2(l1i: number): Promise<number> {
    const { off, copied } = this.l1Entry(l1i);
    if (off !== 0 && copied) return off;
    const { start } = await this.refs.take(1);
    const newOff = start * this.cs;
    const table = off === 0 ? new Uint8Array(this.cs) : (await this.loadL2(off)).slice();
    try {
      await this.file.write(table, newOff);
    } catch (e) {
      await this.refs.untake(start, 1).catch(() => undefined);
      throw e;
    }
    this.noteWrite(newOff + this.cs);
    this.l2Cache.set(newOff, table);
    const e = new Uint8Array(8);
    const edv = new DataView(e.buffer);
    edv.setUint32(0, FLAG_COPIED_HI | Math.floor(newOff / 0x100000000));
    edv.setUint32(4, newOff % 0x100000000);
    await this.file.write(e, this.header.l1Offset + l1i * 8);
    this.l1.set(e, l1i * 8);
    // A table shared with a snapshot: the snapshot keeps the old one.
    if (off !== 0) await this.refs.update(off / this.cs, 1, -1);
    return newOff;
  }

  flush(): Promise<void> {
    return this.file.flush();
  }

  writeZeroes(offset: number, len: number): Promise<void> {
    return this.zeroOrDiscard(offset, len, false);
  }

  discard(offset: number, len: number): Promise<void> {
    return this.zeroOrDiscard(offset, len, this.file.discardMode === 'unmap');
  }

  /**
   * Whole clusters become zero clusters (v3) or, when unmapping without a
   * backing file, unallocated; their host clusters are freed (and punched
   * when unmapping). Partial clusters, and v2 images that cannot say "zero"
   * over a backing file, get zeros written.
   */
  private async zeroOrDiscard(offset: number, len: number, unmap: boolean): Promise<void> {
    this.failIfUnwritable();
    this.checkRange(offset, len);
    const end = offset + len;
    const firstFull = Math.ceil(offset / this.cs) * this.cs;
    const lastFull = Math.floor(end / this.cs) * this.cs;
    const canUnallocate = this.backing === undefined;
    const canZeroFlag = this.header.version === 3;
    if (firstFull >= lastFull || (!canUnallocate && !canZeroFlag)) return this.writeZeroBytes(offset, len);
    if (firstFull > offset) await this.writeZeroBytes(offset, firstFull - offset);
    await this.lock.run(async () => {
      this.failIfUnwritable();
      // Nothing may still be writing into a cluster about to be freed and reused.
      this.freeing = true;
      try {
        if (this.fastWrites > 0) await new Promise<void>((r) => (this.fastIdle = r));
        this.fastIdle = null;
        // Allocating writes finish their L2 updates and refcount drops outside the lock: let them.
        while (this.allocating.size > 0) await Promise.all([...new Set(this.allocating.values())]);
        for (let v = firstFull / this.cs; v < lastFull / this.cs; ) {
          const l1i = Math.floor(v / this.l2Entries);
          const stop = Math.min(lastFull / this.cs, (l1i + 1) * this.l2Entries);
          const { off } = this.l1Entry(l1i);
          if (off === 0 && (canUnallocate || !canZeroFlag)) {
            v = stop; // already unallocated, nothing beneath
            continue;
          }
          const olds: Mapping[] = [];
          for (let c = v; c < stop; c++) olds.push(await this.lookup(c));
          const l2off = await this.writableL2(l1i).catch((e) => this.breakOn(e));
          const zero = canUnallocate ? 0 : FLAG_ZERO_LO;
          await this.setL2(l2off, v, stop - v, () => [0, zero]).catch((e) => this.breakOn(e));
          for (const m of olds) await this.release(m).catch((e) => this.breakOn(e));
          if (unmap) await this.punchFreed(olds);
          v = stop;
        }
      } finally {
        this.freeing = false;
      }
    });
    if (end > lastFull) await this.writeZeroBytes(lastFull, end - lastFull);
  }

  /** Give freed data clusters' space back to the host file system (best effort), one hole per contiguous run. */
  private async punchFreed(olds: Mapping[]): Promise<void> {
    let start = -1;
    let end = -1;
    for (const m of olds) {
      if (m.kind !== Kind.Normal || !m.copied || (await this.refs.get(m.host / this.cs)) !== 0) continue;
      if (m.host === end) {
        end += this.cs;
        continue;
      }
      if (start >= 0) await this.file.discard(start, end - start).catch(() => undefined);
      start = m.host;
      end = m.host + this.cs;
    }
    if (start >= 0) await this.file.discard(start, end - start).catch(() => undefined);
  }

  private async writeZeroBytes(offset: number, len: number): Promise<void> {
    const chunk = new Uint8Array(Math.min(len, 1 << 20));
    for (let done = 0; done < len; done += chunk.length) {
      await this.writev([chunk.subarray(0, Math.min(chunk.length, len - done))], offset + done);
    }
  }

  /** Clean close: wait for metadata work, give the unused reserve back, make it durable. */
  async close(): Promise<void> {
    if (!this.readonly && !this.broken) {
      await this.lock.run(async () => {
        await this.refs.releaseReserve();
        await this.file.flush();
      });
    }
    await this.file.close();
    await this.backing?.close();
  }
}
