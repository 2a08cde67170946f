/**
 * The qcow2 driver's tables and reads (qcow2.ts describes the driver): the
 * image's state, where each virtual cluster is (L1 and L2 tables, checked
 * against the file as they are read), reads through a cluster's mapping, and
 * the L1/L2 updates writes, zeroing and discard share.
 */
import { BlockError, type BlockDriver } from '../driver.js';
import { iovLength, iovSlice, iovZero } from '../iov.js';
import type { RawFile } from '../raw-file.js';
import { Qcow2Corrupt } from './errors.js';
import { FLAG_COMPRESSED_HI, FLAG_COPIED_HI, FLAG_ZERO_LO, compressedExtent, entryOffset, type Qcow2Header, type Qcow2Snapshot } from './format.js';
import { Refcounts, type RefcountGeometry } from './refcount.js';
import { TableCache } from './table-cache.js';

export const enum Kind {
  Unallocated,
  Zero,
  Normal,
  Compressed,
}

export interface Mapping {
  kind: Kind;
  /** Host offset of a normal cluster (or a preallocated zero cluster); 0 otherwise. */
  host: number;
  copied: boolean;
  /** L2 entry halves (compressed descriptors need them). */
  hi: number;
  lo: number;
}

/** State, mappings and reads; writes are Qcow2Writes' (write.ts), the rest Qcow2's (qcow2.ts). */
export abstract class Qcow2Mapping {
  readonly size: number;
  readonly readonly: boolean;
  readonly cs: number;
  readonly snapshots: readonly Qcow2Snapshot[];
  protected readonly l2Entries: number;
  private readonly l1: Uint8Array;
  private readonly l1dv: DataView;
  /** L2 tables by host offset, 32 MiB at most. */
  private readonly l2Cache: TableCache;
  protected readonly refs: Refcounts;
  private readonly geo: RefcountGeometry;
  private fileLen: number;

  protected constructor(
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

  protected noteWrite(end: number): void {
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

  protected l1Entry(i: number): { off: number; copied: boolean } {
    const hi = this.l1dv.getUint32(i * 8);
    const lo = this.l1dv.getUint32(i * 8 + 4);
    return { off: entryOffset(hi, lo), copied: (hi & FLAG_COPIED_HI) !== 0 };
  }

  /** The mapping of virtual cluster `vc` when its L2 table is cached (the common case: no await), else null. */
  protected peek(vc: number): Mapping | null {
    const l1i = Math.floor(vc / this.l2Entries);
    const { off } = this.l1Entry(l1i);
    if (off === 0) return { kind: Kind.Unallocated, host: 0, copied: false, hi: 0, lo: 0 };
    const t = this.l2Cache.get(off);
    return t ? this.decode(vc, t) : null;
  }

  protected async lookup(vc: number): Promise<Mapping> {
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

  protected checkRange(offset: number, len: number): void {
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
  protected async readMapped(m: Mapping, iov: Uint8Array[], voff: number, inOff: number, n: number): Promise<void> {
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

  protected async readCompressed(m: Mapping): Promise<Uint8Array> {
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

  /** Drop the reference the active L2 table held on an old mapping's host cluster(s). */
  protected async release(m: Mapping): Promise<void> {
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
  protected async setL2(l2off: number, vc: number, count: number, entry: (i: number) => [number, number]): Promise<void> {
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
  protected async writableL2(l1i: number): Promise<number> {
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
}
