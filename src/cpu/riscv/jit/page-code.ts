/**
 * The code cache's state of one physical page (jit/engine.ts keeps one per page a hart runs):
 * what starts at each halfword (the kinds the interpreter loop reads too), the hit counters,
 * the block tables, and the bytes the page's blocks were translated from.
 */

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

/** The block tables of a page without blocks yet (PageCode.allocate() replaces them). */
const NO_IDX = new Uint16Array(0);
const NO_LENS = new Uint8Array(0);
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
  /** Instructions in the block at each offset (the budget check before calling it). */
  lens: Uint8Array = NO_LENS;
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
  invalidations = 0;
  interpretOnly = false;
  /** CodeShare.head() of this page's bucket when last looked at: older records were seen. */
  shareHead = 0;

  /** The block tables, before the page's first block. */
  allocate(): void {
    if (this.bytes.length !== 0) return;
    this.idx = new Uint16Array(2048);
    this.lens = new Uint8Array(2048);
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
