/**
 * A disk image held in memory (a web page's disk, an embedder's scratch
 * disk): the guest reads and writes the bytes in place, `bytes` is the image
 * as the guest left it (what the page offers for download). Growing is not
 * supported; the size is the image's.
 */
import { BlockError, type BlockDriver } from './driver.js';

export class MemoryBlockDriver implements BlockDriver {
  readonly size: number;
  /** Writes accepted so far (flushes are no-ops: memory is the medium). */
  writes = 0;

  constructor(
    readonly bytes: Uint8Array,
    readonly readonly = false,
  ) {
    this.size = bytes.length;
  }

  private check(offset: number, len: number): void {
    if (!(Number.isSafeInteger(offset) && offset >= 0 && len >= 0 && offset + len <= this.size)) {
      throw new BlockError(`request at ${offset} (+${len}) is outside the ${this.size}-byte image`);
    }
  }

  async readv(bufs: Uint8Array[], offset: number): Promise<void> {
    let off = offset;
    for (const b of bufs) {
      // Zeros past the end of the data, as the contract says.
      const n = Math.max(0, Math.min(b.length, this.size - off));
      b.set(this.bytes.subarray(off, off + n));
      b.fill(0, n);
      off += b.length;
    }
  }

  async writev(bufs: Uint8Array[], offset: number): Promise<void> {
    if (this.readonly) throw new BlockError('the image is read-only', 'EROFS');
    let len = 0;
    for (const b of bufs) len += b.length;
    this.check(offset, len);
    let off = offset;
    for (const b of bufs) {
      this.bytes.set(b, off);
      off += b.length;
    }
    this.writes++;
  }

  async flush(): Promise<void> {}

  async writeZeroes(offset: number, len: number): Promise<void> {
    if (this.readonly) throw new BlockError('the image is read-only', 'EROFS');
    this.check(offset, len);
    this.bytes.fill(0, offset, offset + len);
  }

  async discard(offset: number, len: number): Promise<void> {
    await this.writeZeroes(offset, len);
  }

  async close(): Promise<void> {}
}
