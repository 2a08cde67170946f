/**
 * Translated modules shared between the harts of one machine, across
 * workers: a hart that translates a page's blocks publishes the module's
 * bytes here, and another hart reaching that physical page runs them instead
 * of interpreting until its own counters say "hot" and translating the same
 * code again.
 *
 * V8 keeps compiled WebAssembly per process, keyed by the module's bytes:
 * compiling bytes another worker already compiled returns that code,
 * optimised tiers included. Blocks therefore take their hart's state area
 * from an imported global (codegen.ts), so a module's bytes depend on the
 * page alone and one hart's compile and tier-up serve every hart.
 *
 * One SharedArrayBuffer, append-only: a header, BUCKETS list heads (hashed
 * by physical page number), then records. A record is written whole, then
 * linked at the head of its bucket with a compare-and-exchange, so a reader
 * that sees it sees all of it; records never change or move. Each holds the
 * page number, its blocks (page offset, instructions on the longest path,
 * bytes), the words of the page each block was translated from, and the
 * module. A hart runs a record's blocks only if those words are still what
 * its page holds after it has claimed the page (CodeSync): from then on any
 * store to it invalidates them as it invalidates the hart's own.
 *
 * Bounded: when the arena is full nothing more is published (a hart still
 * translates for itself); what was published stays usable.
 *
 * Hit counters are not here: the harts of a machine share them in their
 * memory's tail (state-area.ts SHARED_HITS_BYTES, Hart's sharedHits), where
 * the interpreter loop counts in wasm; a hart adopts what another published
 * when it next enters the page, whatever the count.
 */

/** Header words: [0] bytes used by records, [1] records published. */
const TOP = 0;
const COUNT = 1;
const HEADER = 4;
/** List heads, by physical page number modulo BUCKETS. */
export const BUCKETS = 4096;
const DATA = HEADER + BUCKETS;
/** Arena size (bytes) of CodeShare.allocate(): ~2,000 modules of Linux's boot fit several times. */
export const SHARE_BYTES = 16 << 20;

// Record words: next record, page number (low, high), blocks, module bytes; then 3 words per
// block (page offset in bytes, instructions, bytes), the blocks' words, the module.
const R_NEXT = 0;
const R_PPN_LO = 1;
const R_PPN_HI = 2;
const R_BLOCKS = 3;
const R_WASM = 4;
const R_HEAD = 5;

/** What a record says of one block. */
export interface SharedBlock {
  /** Byte offset of its first instruction in the page. */
  readonly off: number;
  /** Instructions on its longest path. */
  readonly length: number;
  /** Bytes of the page it was translated from, from its start. */
  readonly bytes: number;
}

/** Word range [w0, w1) of the page a block at byte offset `off` spanning `bytes` bytes depends on. */
export function wordsOf(off: number, bytes: number): [number, number] {
  return [off >> 2, Math.min(1024, (off + bytes + 3) >> 2)];
}

export class CodeShare {
  private readonly i32: Int32Array;
  private readonly u8: Uint8Array;

  constructor(buffer: SharedArrayBuffer) {
    if (buffer.byteLength < 4 * (DATA + 1024)) throw new RangeError('CodeShare: buffer too small');
    this.i32 = new Int32Array(buffer, 0, buffer.byteLength >> 2);
    this.u8 = new Uint8Array(buffer);
  }

  /** A buffer for the harts of one machine: an arena of `bytes`. */
  static allocate(bytes = SHARE_BYTES): SharedArrayBuffer {
    return new SharedArrayBuffer((bytes + 3) & ~3);
  }

  /** The newest record of ppn's bucket (0: none); a reader remembers it to see only newer ones next time. */
  head(ppn: number): number {
    return Atomics.load(this.i32, HEADER + (ppn & (BUCKETS - 1)));
  }

  /** Records published so far. */
  published(): number {
    return Atomics.load(this.i32, COUNT);
  }

  next(rec: number): number {
    return this.i32[rec + R_NEXT]!;
  }

  isFor(rec: number, ppn: number): boolean {
    return this.i32[rec + R_PPN_LO] === (ppn | 0) && this.i32[rec + R_PPN_HI] === Math.floor(ppn / 2 ** 32);
  }

  blocks(rec: number): number {
    return this.i32[rec + R_BLOCKS]!;
  }

  block(rec: number, k: number): SharedBlock {
    const w = rec + R_HEAD + 3 * k;
    return { off: this.i32[w]!, length: this.i32[w + 1]!, bytes: this.i32[w + 2]! };
  }

  /** Whether `page` (1,024 words of the physical page, from `base`) still holds what every block of rec was translated from. */
  matches(rec: number, page: Int32Array<ArrayBufferLike>, base: number): boolean {
    const i32 = this.i32;
    const n = i32[rec + R_BLOCKS]!;
    let at = rec + R_HEAD + 3 * n;
    for (let k = 0; k < n; k++) {
      const w = rec + R_HEAD + 3 * k;
      const [w0, w1] = wordsOf(i32[w]!, i32[w + 2]!);
      for (let i = w0; i < w1; i++, at++) if (page[base + i] !== i32[at]) return false;
    }
    return true;
  }

  /** The module's bytes (a private copy: WebAssembly compiles no shared buffer). */
  wasm(rec: number): Uint8Array<ArrayBuffer> {
    const i32 = this.i32;
    const n = i32[rec + R_BLOCKS]!;
    let words = 0;
    for (let k = 0; k < n; k++) {
      const w = rec + R_HEAD + 3 * k;
      const [w0, w1] = wordsOf(i32[w]!, i32[w + 2]!);
      words += w1 - w0;
    }
    const at = 4 * (rec + R_HEAD + 3 * n + words);
    return this.u8.slice(at, at + i32[rec + R_WASM]!);
  }

  /**
   * Publish a module translated from physical page ppn: `page` holds, from `base`, the
   * page's words as the translator read them. False when the arena is full.
   */
  publish(ppn: number, blocks: readonly SharedBlock[], page: Int32Array<ArrayBufferLike>, base: number, wasm: Uint8Array): boolean {
    let words = 0;
    for (const b of blocks) {
      const [w0, w1] = wordsOf(b.off, b.bytes);
      words += w1 - w0;
    }
    const size = R_HEAD + 3 * blocks.length + words + ((wasm.length + 3) >> 2);
    const i32 = this.i32;
    const room = i32.length - DATA;
    // Full: checked before the add too, so that failed attempts cannot wrap the counter.
    if (Atomics.load(i32, TOP) + size > room) return false;
    const rel = Atomics.add(i32, TOP, size);
    if (rel + size > room) return false;
    const rec = DATA + rel;
    i32[rec + R_PPN_LO] = ppn | 0;
    i32[rec + R_PPN_HI] = Math.floor(ppn / 2 ** 32);
    i32[rec + R_BLOCKS] = blocks.length;
    i32[rec + R_WASM] = wasm.length;
    let at = rec + R_HEAD;
    for (const b of blocks) {
      i32[at++] = b.off;
      i32[at++] = b.length;
      i32[at++] = b.bytes;
    }
    for (const b of blocks) {
      const [w0, w1] = wordsOf(b.off, b.bytes);
      for (let i = w0; i < w1; i++) i32[at++] = page[base + i]!;
    }
    this.u8.set(wasm, 4 * at);
    const bucket = HEADER + (ppn & (BUCKETS - 1));
    for (;;) {
      const h = Atomics.load(i32, bucket);
      i32[rec + R_NEXT] = h;
      if (Atomics.compareExchange(i32, bucket, h, rec) === h) break;
    }
    Atomics.add(i32, COUNT, 1);
    return true;
  }
}
