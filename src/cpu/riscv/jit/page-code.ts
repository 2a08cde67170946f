/**
 * The code cache's state of one physical page (jit/engine.ts keeps one per page a hart runs):
 * what starts at each halfword (the kinds the interpreter loop reads too), the hit counters,
 * the block tables, and the bytes the page's blocks were translated from.
 */

import type { RegionCode } from './region-gen.js';

/** Block ranges a page remembers before its re-checks compare all of it. */
export const RANGES = 64;

/**
 * PageCode.kinds: not translated (yet), translated, no translatable start; and, during a
 * translation only, a start of the batch being translated. Bit 0 set = a block starts here
 * (codegen.ts: translateBlocks reads the array as its `starts`).
 */
export const NONE = 0;
export const BLOCK = 1;
export const NEVER = 2;
export const PENDING = 3;
/** Threaded code (thread-code.ts): the entry's hit counter holds its header's record index. */
export const THREADED = 4;

/** The block tables of a page without blocks yet (PageCode.allocate() replaces them). */
const NO_IDX = new Uint16Array(0);
const NO_LENS = new Uint16Array(0);
const NO_REGION = new Uint8Array(0);
const NO_WORDS = new Int32Array(0);

/** Code-cache state of one physical page. */
export class PageCode {
  /**
   * Per halfword offset: NONE, BLOCK or NEVER (PENDING while a translation runs). A typed array the interpreter reads too
   * (a sparse JS array of functions here went to dictionary elements, which made every
   * lookup slow and deoptimised the interpreter loop).
   */
  readonly kinds: Uint8Array<ArrayBufferLike>;
  // The block tables below are allocated when the page is first claimed: most pages a guest
  // runs never get a block, and each would otherwise hold ~10 KiB of typed arrays.
  /** Block-table index of the block at each offset. */
  idx: Uint16Array = NO_IDX;
  /** Instructions on the longest path of the block at each offset (the budget check before calling it). */
  lens: Uint16Array = NO_LENS;
  /** 1 where the block at an offset is a region's slot (region-gen.ts), not the block translator's. */
  region: Uint8Array = NO_REGION;
  /** Regions written for the page since its last invalidation (engine.ts: MAX_REGION_BUILDS). */
  regionBuilds = 0;
  /** The offsets where `region` has been set (a rebuild's entries). */
  readonly regionOffs: number[] = [];
  /** Entries counted towards translation (the interpreter loop counts in-page jumps in wasm). */
  readonly hits: Uint16Array<ArrayBufferLike>;
  /** One byte, 1 while the page has blocks (state-area.ts ST_CODED: what the interpreter loop reads). */
  readonly coded: Uint8Array<ArrayBufferLike>;
  /** CodeSync generation the translations were made against. */
  gen = 0;
  claimed = false;
  /** The page's bytes when it was claimed (a memory-map change keeps translations only if they still match). */
  bytes: Int32Array = NO_WORDS;
  /** Translator.mapGen this page was last checked against. */
  mapGen = 0;
  /**
   * The words of `bytes` its blocks were translated from, as [start, end) word pairs: a
   * re-check compares only those (fence.i makes Linux re-check ~400,000 pages at boot).
   * More than RANGES blocks: the whole page.
   */
  ranges: Int32Array = NO_WORDS;
  nRanges = 0;
  blocks = 0;
  /** Of `blocks`, those that are threaded code (thread-code.ts). */
  threaded = 0;
  invalidations = 0;
  interpretOnly = false;
  /** CodeShare.head() of this page's bucket when last looked at: older records were seen. */
  shareHead = 0;

  /**
   * Install region `src` (region-gen.ts), translated from `snap` for an entry at halfword i:
   * its chunks' words as what the page's code came from, each slot as a block at the table
   * index `slot(k)` gives (but where the block translator has a block), and `NEVER` where a path
   * ended and inside the region (nothing enters there: the interpreter runs on to a slot).
   * Returns the blocks the page gained.
   */
  installRegion(src: RegionCode, snap: Int32Array, i: number, slot: (k: number) => number): number {
    for (const [b0, b1] of src.chunks) {
      const w0 = b0 >> 2;
      const w1 = Math.min(1024, (b1 + 3) >> 2);
      this.bytes.set(snap.subarray(w0, w1), w0);
      if (this.nRanges < RANGES) {
        this.ranges[2 * this.nRanges] = w0;
        this.ranges[2 * this.nRanges + 1] = w1;
      }
      this.nRanges++;
    }
    let added = 0;
    for (let k = 0; k < src.nSlots; k++) {
      const off = src.slotOff[k]!;
      const at = off >> 1;
      if (this.kinds[at] === BLOCK && this.region[at] === 0) continue;
      if (this.kinds[at] !== BLOCK) added++;
      this.idx[at] = slot(k);
      this.kinds[at] = BLOCK;
      this.lens[at] = src.slotLen[k]!;
      if (this.region[at] === 0) this.regionOffs.push(off);
      this.region[at] = 1;
    }
    this.blocks += added;
    this.coded[0] = 1;
    if (this.kinds[i] === NONE) this.kinds[i] = NEVER;
    for (const off of src.ends) if (this.kinds[off >> 1] === NONE) this.kinds[off >> 1] = NEVER;
    for (const off of src.interior) if (this.kinds[off >> 1] === NONE) this.kinds[off >> 1] = NEVER;
    return added;
  }

  /** The block tables, before the page's first block. */
  allocate(): void {
    if (this.bytes.length !== 0) return;
    this.idx = new Uint16Array(2048);
    this.lens = new Uint16Array(2048);
    this.region = new Uint8Array(2048);
    this.bytes = new Int32Array(1024);
    this.ranges = new Int32Array(2 * RANGES);
  }
  constructor(
    readonly ppn: number,
    readonly slot: number,
    kinds: Uint8Array<ArrayBufferLike>,
    hits: Uint16Array<ArrayBufferLike>,
    coded: Uint8Array<ArrayBufferLike>,
    shared: boolean,
  ) {
    // Views of the hart's state area (state-area.ts ST_KINDS, ST_HITS), where the interpreter
    // loop reads and counts them; a slot may hold an earlier page's. Shared counters (another
    // hart's counts, state-area.ts SHARED_HITS_BYTES) stay as they are.
    this.kinds = kinds.fill(NONE);
    this.hits = shared ? hits : hits.fill(0);
    this.coded = coded.fill(0);
  }
}
