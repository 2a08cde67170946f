/**
 * The qcow2 format driver (versions 2 and 3): L1/L2 mapping, reads through
 * zero, compressed and unallocated clusters (the backing driver or zeros),
 * allocating writes, COW of clusters and L2 tables shared with internal
 * snapshots, zero clusters and discard.
 *
 * Its parts, one concern a module, are one chain of classes: mapping.ts
 * holds the image's state, the L1/L2 mapping and reads; write.ts the writes
 * (and the crash ordering they keep); this module opening, zeroing and
 * discard, flush and close.
 */
import { BlockError, type BlockDriver } from '../driver.js';
import type { RawFile } from '../raw-file.js';
import { FLAG_ZERO_LO, HDR_AUTOCLEAR, parseHeader, parseSnapshots, type Qcow2Snapshot } from './format.js';
import { Kind, type Mapping } from './mapping.js';
import { Qcow2Writes } from './write.js';

export interface Qcow2OpenOptions {
  /** Open the image's backing file (name as stored in the header, format from its extension if any). */
  openBacking?: (name: string, format: string | undefined) => Promise<BlockDriver>;
  /** Ignore the backing file the header names (-blockdev backing=null). */
  noBacking?: boolean;
}

export class Qcow2 extends Qcow2Writes implements BlockDriver {
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
