/**
 * qcow2 reference counts: the refcount table, refcount blocks (cached,
 * written through), cluster allocation and the allocation reserve.
 *
 * Crash ordering. A cluster's refcount reaches the file before anything
 * points at it: the allocator hands out clusters only from a reserve whose
 * refcounts were written durably (O_DSYNC, unless cache=unsafe) first. A
 * crash therefore leaves at worst clusters with a refcount and no reference
 * (leaks, which `qemu-img check` reports as harmless), never a reference to a
 * cluster with refcount 0. The reserve is given back on a clean close.
 */
import type { RawFile } from '../raw-file.js';
import { Qcow2Corrupt } from './errors.js';
import { HDR_REFTABLE, u64 } from './format.js';
import { TableCache } from './table-cache.js';

export interface RefcountGeometry {
  clusterBits: number;
  refcountOrder: number;
  refTableOffset: number;
  refTableClusters: number;
  /** Host ranges that hold metadata and can never be data (header, L1, refcount table). */
  isMetadata(offset: number): boolean;
}

export class Refcounts {
  readonly cs: number;
  private readonly bits: number;
  private readonly perBlock: number;
  private readonly maxRef: number;
  private tableOffset: number;
  private tableClusters: number;
  private table: Uint8Array;
  private tdv: DataView;
  /** Refcount blocks by index in the refcount table, 8 MiB at most. */
  private readonly blocks: TableCache;
  /** Allocated (refcount 1) but not yet referenced: handed out by take(). */
  private reserve: number[] = [];
  private freeHint = 1;
  private lowFreed = Infinity;
  private readonly reserveTarget: number;

  constructor(
    private readonly file: RawFile,
    private readonly geo: RefcountGeometry,
    table: Uint8Array,
    /** Host file length, kept current by the driver. */
    private readonly fileLength: () => number,
    private readonly noteWrite: (end: number) => void,
  ) {
    this.cs = 2 ** geo.clusterBits;
    this.bits = 2 ** geo.refcountOrder;
    this.perBlock = (this.cs * 8) / this.bits;
    this.maxRef = this.bits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** this.bits - 1;
    this.tableOffset = geo.refTableOffset;
    this.tableClusters = geo.refTableClusters;
    this.table = table;
    this.tdv = new DataView(table.buffer, table.byteOffset, table.byteLength);
    this.blocks = new TableCache(Math.max(8, Math.floor((8 << 20) / this.cs)));
    this.reserveTarget = Math.max(1, Math.min(1024, Math.ceil((16 << 20) / this.cs)));
  }

  /** An ordering point for metadata (skipped with cache=unsafe, which promises nothing on a host crash). */
  private sync(): Promise<void> {
    return this.file.cache === 'unsafe' ? Promise.resolve() : this.file.sync();
  }

  private blockOffset(b: number): number {
    if (b >= this.tableClusters * (this.cs / 8)) return 0;
    const hi = this.tdv.getUint32(b * 8);
    const lo = this.tdv.getUint32(b * 8 + 4);
    const off = (hi & 0x001fffff) * 0x100000000 + (lo & 0xfffffe00);
    if (hi >= 0x200000) throw new Qcow2Corrupt(`refcount table entry ${b} is out of range`);
    return off;
  }

  private async loadBlock(b: number): Promise<Uint8Array | null> {
    const cached = this.blocks.get(b);
    if (cached) return cached;
    const off = this.blockOffset(b);
    if (off === 0) return null;
    if (off % this.cs !== 0 || off < this.cs || off + this.cs > this.fileLength() || this.geo.isMetadata(off)) {
      throw new Qcow2Corrupt(`refcount block ${b} at 0x${off.toString(16)} is unaligned, in the header or past the end of the file`);
    }
    const buf = new Uint8Array(this.cs);
    await this.file.read(buf, off);
    this.cacheBlock(b, buf);
    return buf;
  }

  private cacheBlock(b: number, buf: Uint8Array): void {
    this.blocks.set(b, buf);
  }

  /** Write entries' bytes of block b (the block stays cached until the write lands); `durable`: on the disk when done. */
  private writeEntries(b: number, block: Uint8Array, lo: number, hi: number, durable = false): Promise<void> {
    const off = this.blockOffset(b) + lo;
    return this.blocks.writing(b, () => (durable ? this.file.writeDurable(block.subarray(lo, hi), off) : this.file.write(block.subarray(lo, hi), off)));
  }

  private getIn(block: Uint8Array, i: number): number {
    const dv = new DataView(block.buffer, block.byteOffset, block.byteLength);
    switch (this.bits) {
      case 16:
        return dv.getUint16(i * 2);
      case 32:
        return dv.getUint32(i * 4);
      case 64: {
        const v = u64(dv, i * 8);
        return v < 0 ? Number.MAX_SAFE_INTEGER : v;
      }
      case 8:
        return block[i]!;
      default: {
        const bit = i * this.bits;
        return (block[bit >> 3]! >> (bit & 7)) & (this.maxRef);
      }
    }
  }

  private setIn(block: Uint8Array, i: number, v: number): void {
    const dv = new DataView(block.buffer, block.byteOffset, block.byteLength);
    switch (this.bits) {
      case 16:
        return dv.setUint16(i * 2, v);
      case 32:
        return dv.setUint32(i * 4, v);
      case 64:
        dv.setUint32(i * 8, Math.floor(v / 0x100000000));
        return dv.setUint32(i * 8 + 4, v % 0x100000000);
      case 8:
        block[i] = v;
        return;
      default: {
        const bit = i * this.bits;
        const at = bit >> 3;
        block[at] = (block[at]! & ~(this.maxRef << (bit & 7))) | (v << (bit & 7));
      }
    }
  }

  /** Byte range of entries [i, j) within a block. */
  private byteRange(i: number, j: number): [number, number] {
    return [Math.floor((i * this.bits) / 8), Math.ceil((j * this.bits) / 8)];
  }

  async get(cluster: number): Promise<number> {
    const b = Math.floor(cluster / this.perBlock);
    const block = await this.loadBlock(b);
    return block ? this.getIn(block, cluster % this.perBlock) : 0;
  }

  /**
   * Add `delta` to the refcounts of clusters [start, start+n), written
   * through block by block. The clusters' blocks must exist (they do for any
   * cluster that has a refcount, and allocate() creates them).
   */
  async update(start: number, n: number, delta: number): Promise<void> {
    let c = start;
    while (c < start + n) {
      const b = Math.floor(c / this.perBlock);
      const block = await this.loadBlock(b);
      if (!block) throw new Qcow2Corrupt(`cluster ${c} has no refcount block`);
      const i0 = c % this.perBlock;
      const i1 = Math.min(this.perBlock, i0 + (start + n - c));
      for (let i = i0; i < i1; i++) {
        const v = this.getIn(block, i) + delta;
        if (v < 0 || v > this.maxRef) throw new Qcow2Corrupt(`refcount of cluster ${b * this.perBlock + i} would be ${v}`);
        this.setIn(block, i, v);
        // Freed clusters are found again by the next allocation (updates may run beside one).
        if (v === 0) this.lowFreed = Math.min(this.lowFreed, b * this.perBlock + i);
      }
      const [lo, hi] = this.byteRange(i0, i1);
      await this.writeEntries(b, block, lo, hi);
      c += i1 - i0;
    }
  }

  /**
   * Up to `want` contiguous clusters with refcount 1 that nothing references
   * yet, taken from the reserve (refilled, and made durable, when empty).
   * Returns the first cluster index and the count (at least 1).
   */
  async take(want: number): Promise<{ start: number; count: number }> {
    if (this.reserve.length === 0) await this.refill(Math.max(want, this.reserveTarget));
    const start = this.reserve[0]!;
    let count = 1;
    while (count < want && count < this.reserve.length && this.reserve[count] === start + count) count++;
    this.reserve.splice(0, count);
    return { start, count };
  }

  /** Give back clusters taken but not used (an aborted write): their refcount drops to 0. */
  async untake(start: number, count: number): Promise<void> {
    await this.update(start, count, -1);
  }

  private async refill(n: number): Promise<void> {
    let got = 0;
    while (got < n) {
      const run = await this.allocateRun(n - got);
      for (let i = 0; i < run.count; i++) this.reserve.push(run.start + i);
      got += run.count;
    }
  }

  /** Find free clusters from the hint and set their refcount to 1 (one run, within one refcount block). */
  private async allocateRun(n: number): Promise<{ start: number; count: number }> {
    for (;;) {
      let c = Math.min(this.freeHint, this.lowFreed);
      this.lowFreed = Infinity;
      // Skip used clusters.
      for (;;) {
        const b = Math.floor(c / this.perBlock);
        const block = await this.loadBlock(b);
        if (!block) break;
        if (this.getIn(block, c % this.perBlock) === 0 && !this.geo.isMetadata(c * this.cs)) break;
        c++;
      }
      this.freeHint = c;
      const b = Math.floor(c / this.perBlock);
      if (b >= this.tableClusters * (this.cs / 8)) {
        await this.growTable(b);
        continue;
      }
      let block = await this.loadBlock(b);
      if (!block) {
        // A new refcount block describing itself: it takes the first free cluster of its range.
        block = new Uint8Array(this.cs);
        const self = c % this.perBlock;
        this.setIn(block, self, 1);
        const off = c * this.cs;
        await this.file.write(block, off);
        this.noteWrite(off + this.cs);
        await this.sync();
        const entry = new Uint8Array(8);
        new DataView(entry.buffer).setUint32(0, Math.floor(off / 0x100000000));
        new DataView(entry.buffer).setUint32(4, off % 0x100000000);
        await this.file.writeDurable(entry, this.tableOffset + b * 8);
        this.table.set(entry, b * 8);
        this.cacheBlock(b, block);
        this.freeHint = c + 1;
        continue;
      }
      let count = 0;
      const i0 = c % this.perBlock;
      while (count < n && i0 + count < this.perBlock && this.getIn(block, i0 + count) === 0 && !this.geo.isMetadata((c + count) * this.cs)) count++;
      for (let i = 0; i < count; i++) this.setIn(block, i0 + i, 1);
      const [lo, hi] = this.byteRange(i0, i0 + count);
      // Durable before take() hands the clusters out: an L2 entry may point at them as soon as their data lands.
      await this.writeEntries(b, block, lo, hi, true);
      this.freeHint = c + count;
      return { start: c, count };
    }
  }

  /**
   * The refcount table is full: write a bigger one, together with the
   * refcount block describing it, in the first cluster range no block
   * covers yet; then switch the header to it (one 12-byte write) and free the
   * old table. A crash before the header write leaks the new clusters only.
   */
  private async growTable(b: number): Promise<void> {
    const entriesPerCluster = this.cs / 8;
    const newClusters = Math.max(this.tableClusters * 2, Math.ceil((b + 1) / entriesPerCluster));
    if (newClusters * this.cs > 8 << 20 || 1 + newClusters > this.perBlock) throw new Qcow2Corrupt('refcount table cannot grow further');
    const start = b * this.perBlock; // nothing at or after this cluster has a refcount block: all free
    const block = new Uint8Array(this.cs);
    for (let i = 0; i <= newClusters; i++) this.setIn(block, i, 1);
    const blockOff = start * this.cs;
    const tableOff = blockOff + this.cs;
    const table = new Uint8Array(newClusters * this.cs);
    table.set(this.table);
    const tdv = new DataView(table.buffer);
    tdv.setUint32(b * 8, Math.floor(blockOff / 0x100000000));
    tdv.setUint32(b * 8 + 4, blockOff % 0x100000000);
    await this.file.write(block, blockOff);
    await this.file.write(table, tableOff);
    this.noteWrite(tableOff + table.length);
    await this.sync();
    const hdr = new Uint8Array(12);
    const hdv = new DataView(hdr.buffer);
    hdv.setUint32(0, Math.floor(tableOff / 0x100000000));
    hdv.setUint32(4, tableOff % 0x100000000);
    hdv.setUint32(8, newClusters);
    await this.file.write(hdr, HDR_REFTABLE);
    await this.sync();
    const oldOff = this.tableOffset;
    const oldClusters = this.tableClusters;
    this.table = table;
    this.tdv = tdv;
    this.tableOffset = tableOff;
    this.tableClusters = newClusters;
    this.geo.refTableOffset = tableOff;
    this.geo.refTableClusters = newClusters;
    this.cacheBlock(b, block);
    await this.update(oldOff / this.cs, oldClusters, -1);
  }

  /** Return the unused reserve (clean close). */
  async releaseReserve(): Promise<void> {
    const r = this.reserve;
    this.reserve = [];
    for (const c of r) await this.update(c, 1, -1);
  }
}
