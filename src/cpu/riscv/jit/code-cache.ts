/**
 * A hart's code cache: the code-cache state of each physical page it ran (PageCode: kinds, hit
 * counters, blocks), found by page number, and everything that keeps it true to guest memory —
 * claiming a page before its bytes are read, invalidating a page stored to, re-checking pages
 * after a memory-map change or fence.i, dropping everything when it is full — together with
 * the jump cache's epoch, which each of those moves (a jump-cache entry names a block by its
 * table index, and an index of a dropped block may hold another block by now).
 * engine.ts's Translator owns one per hart; docs/cpu.md, *Self- and cross-modifying code*.
 */
import type { Hart } from '../hart.js';
import { flushStoreTlb } from '../mmu.js';
import { CODE_PAGES, JC_ENTRIES, JC_ENTRY_BYTES, JC_KICK, ST_CODED, ST_HITS, ST_JC, ST_JC_EPOCH, ST_KINDS, ST_TH_LOG, ST_TH_TOP } from '../state-area.js';
import type { BlockTable } from './block-table.js';
import type { CodeSync } from './code-sync.js';
import type { LoopPages } from './loop-pages.js';
import { NONE, PageCode, RANGES, THREADED } from './page-code.js';

/** Pages with code-cache state per hart. */
export const MAX_PAGES = CODE_PAGES;
/** Invalidations of one page (stores into it) after which it is only interpreted. */
export const MAX_INVALIDATIONS = 16;

/** Entries of CodeCache.recent. */
const RECENT = 256;

/** The counters of Translator.stats the code cache moves. */
export interface CacheStats {
  invalidated: number;
  flushes: number;
  rechecks: number;
}

export class CodeCache {
  private readonly pages = new Map<number, PageCode>();
  private cur: PageCode | null = null;
  private curPa = NaN;
  /** Direct-mapped by page number in front of `pages` (a Map lookup per page change was ~1 % of a Linux boot). */
  private readonly recent: (PageCode | null)[] = new Array<PageCode | null>(RECENT).fill(null);
  /** Bumped by every memory-map change: each page re-checks its bytes before its blocks run again. */
  private mapGen = 0;
  /** CodeSync.writes() when last looked at: a change means some code page was stored to. */
  private seenWrites: number;
  /** The page being translated, copied first: the code and the words it came from agree (code-share.ts). */
  private readonly snap = new Int32Array(1024);
  /** `snap` as a DataView, what the code generators decode. */
  readonly snapDv = new DataView(this.snap.buffer);
  /** fetchWords(): the fetch page's window as words, and the DataView it was made for. */
  private words: Int32Array<ArrayBufferLike> = new Int32Array(0);
  private wordsDv: DataView | null = null;
  private readonly si32: Int32Array;
  /** Pages by their state-area slot (the order pageFor made them in since the last flushAll). */
  private readonly byArea: PageCode[] = [];
  /** The jump cache (state-area.ts: ST_JC), as words and as doubles (its entries' physical addresses). */
  readonly jcI32: Int32Array;
  readonly jcF64: Float64Array;

  constructor(
    private readonly h: Hart,
    private readonly sync: CodeSync,
    private readonly loopPages: LoopPages,
    private readonly table: BlockTable,
    private readonly stats: CacheStats,
    /** Called with a page as it becomes the fetch page (engine.ts: what other harts published for it). */
    private readonly adopt: (p: PageCode) => void,
  ) {
    this.seenWrites = sync.writes();
    this.si32 = h.stateI32;
    const buf = h.state.memory.buffer;
    const jcAt = h.state.offset + ST_JC;
    this.jcI32 = new Int32Array(buf, jcAt, (JC_ENTRIES * JC_ENTRY_BYTES) / 4);
    this.jcF64 = new Float64Array(buf, jcAt, (JC_ENTRIES * JC_ENTRY_BYTES) / 8);
    this.jcI32.fill(0);
    this.bumpJc();
    this.emptyThreaded();
  }

  /** The code-cache state of the hart's fetch page, re-checked if the map changed since its last look. */
  fetchPage(): PageCode {
    const h = this.h;
    let page = this.cur;
    if (h.fetchPa !== this.curPa || page === null) {
      page = this.pageFor(h.fetchPa);
      if (page.mapGen !== this.mapGen) this.recheck(page);
      this.adopt(page);
      this.cur = page;
      this.curPa = h.fetchPa;
    }
    return page;
  }

  /**
   * Drop every page's threaded code (the record pool is full): its entries count again from 0;
   * the blocks the block translator made stay.
   */
  dropThreaded(): void {
    for (const p of this.pages.values()) {
      if (p.coded[0] === 0) continue;
      const kinds = p.kinds;
      for (let i = 0; i < 2048; i++) {
        if (kinds[i] === THREADED) {
          kinds[i] = NONE;
          p.hits[i] = 0;
        }
      }
    }
    this.emptyThreaded();
    this.bumpJc();
  }

  /** The record pool and the decoder's log empty (nothing refers to their records any more). */
  private emptyThreaded(): void {
    this.si32[ST_TH_TOP >> 2] = 1;
    this.si32[ST_TH_LOG >> 2] = 0;
  }

  /** The page at state-area slot `area` (the decoder's log names pages so), if it still has one. */
  pageAt(area: number): PageCode | undefined {
    return this.byArea[area];
  }

  /** The fetch page's byte address in the state area's memory, or -1 when it lies elsewhere. */
  fetchAbs(): number {
    const w = this.fetchWords();
    return w.buffer === this.h.state.memory.buffer ? w.byteOffset + this.h.fetchOff : -1;
  }

  /** Whether p is still the state of its page (not dropped with the whole cache since). */
  holds(p: PageCode): boolean {
    return this.pages.get(p.ppn) === p;
  }

  /** Drop every translation (reset, or the cache is full). */
  flushAll(): void {
    for (const p of this.pages.values()) {
      if (p.claimed) this.sync.release(p.slot);
    }
    this.pages.clear();
    this.byArea.length = 0;
    this.emptyThreaded();
    this.recent.fill(null);
    this.loopPages.drop();
    this.cur = null;
    this.curPa = NaN;
    this.table.clear();
    this.bumpJc();
    this.stats.flushes++;
  }

  /**
   * Pages may hold other bytes than their blocks were translated from without
   * a store through a hart having said so: the memory map changed (a device
   * mapped or unmapped, a ROM device switched mode) or the guest executed
   * fence.i after a DMA write. Rather than dropping everything (U-Boot's
   * flash probing changes the map hundreds of times, Linux issues tens of
   * thousands of fence.i at boot), each page compares its bytes with those it
   * was translated from before its blocks run again.
   */
  recheckPages(): void {
    this.mapGen++;
    this.loopPages.drop();
    this.cur = null;
    this.curPa = NaN;
    this.bumpJc();
  }

  /** Every jump-cache entry is stale from now on. */
  bumpJc(): void {
    const at = ST_JC_EPOCH / 4;
    // Without the kick bit: another thread's kick then ends no chain, but its ST_LINES flag
    // stays for the dispatcher's next look.
    const next = (this.si32[at]! & ~JC_KICK) + 1;
    if (next >= JC_KICK) {
      // Entries of a wrapped-around epoch could look current again.
      this.jcI32.fill(0);
      this.si32[at] = 1;
    } else this.si32[at] = next;
  }

  /** Whether some hart stored to a code page since the last look (then the jump cache is stale). */
  codeWritten(): boolean {
    const w = this.sync.writes();
    if (w === this.seenWrites) return false;
    this.seenWrites = w;
    this.bumpJc();
    return true;
  }

  /** Whether codeWritten() would say so, without looking (the interpreter loop's page moves ask). */
  writesPending(): boolean {
    return this.sync.writes() !== this.seenWrites;
  }

  private recheck(p: PageCode): void {
    p.mapGen = this.mapGen;
    if (p.blocks === 0) return;
    this.stats.rechecks++;
    const words = this.fetchWords();
    const base = this.h.fetchOff >> 2;
    const bytes = p.bytes;
    const all = p.nRanges > RANGES;
    const n = all ? 1 : p.nRanges;
    const r = p.ranges;
    for (let k = 0; k < n; k++) {
      const end = all ? 1024 : r[2 * k + 1]!;
      for (let i = all ? 0 : r[2 * k]!; i < end; i++) {
        if (words[base + i] !== bytes[i]) {
          this.invalidate(p);
          return;
        }
      }
    }
  }

  /**
   * The fetch page's RAM window as 32-bit words (fetchOff is page aligned). Little-endian
   * hosts only compare them with the page's claimed bytes, so the byte order does not matter.
   */
  fetchWords(): Int32Array<ArrayBufferLike> {
    const dv = this.h.fetchDv;
    if (dv !== this.wordsDv) {
      this.wordsDv = dv;
      this.words = new Int32Array(dv.buffer, dv.byteOffset, dv.byteLength >> 2);
    }
    return this.words;
  }

  /** Copy the fetch page's words to `snap` (what a translation decodes: code-share.ts says why); returns it. */
  snapshot(): Int32Array {
    const base = this.h.fetchOff >> 2;
    this.snap.set(this.fetchWords().subarray(base, base + 1024));
    return this.snap;
  }

  private pageFor(pa: number): PageCode {
    const ppn = Math.floor(pa / 4096);
    const r = ppn & (RECENT - 1);
    const p = this.recent[r]!;
    if (p !== null && p.ppn === ppn) return p;
    let q = this.pages.get(ppn);
    if (q === undefined) {
      if (this.pages.size >= MAX_PAGES) this.flushAll();
      const k = this.pages.size;
      const at = this.h.state.offset;
      const buf = this.h.state.memory.buffer;
      const sh = this.h.sharedHits;
      const hits = sh >= 0 ? new Uint16Array(buf, sh + (ppn & (CODE_PAGES - 1)) * 4096, 2048) : new Uint16Array(buf, at + ST_HITS + k * 4096, 2048);
      q = new PageCode(ppn, ppn % 65536, new Uint8Array(buf, at + ST_KINDS + k * 2048, 2048), hits, new Uint8Array(buf, at + ST_CODED + k, 1), sh >= 0);
      q.mapGen = this.mapGen;
      this.pages.set(ppn, q);
      this.byArea[k] = q;
    }
    this.recent[r] = q;
    return q;
  }

  /** Drop page p's translations (a store reached it, or its bytes changed). */
  invalidate(p: PageCode): void {
    p.kinds.fill(NONE);
    p.lens.fill(0);
    p.region.fill(0);
    p.regionOffs.length = 0;
    p.regionBuilds = 0;
    p.nRanges = 0;
    p.hits.fill(0);
    this.table.blocks -= p.blocks;
    p.blocks = 0;
    p.threaded = 0;
    p.coded[0] = 0;
    if (p.claimed) {
      this.sync.release(p.slot);
      p.claimed = false;
    }
    p.gen = this.sync.generation(p.slot);
    if (++p.invalidations >= MAX_INVALIDATIONS) {
      p.interpretOnly = true;
      this.loopPages.drop();
    }
    this.bumpJc();
    this.stats.invalidated++;
  }

  /**
   * Claim page p for translations (before its bytes are read: from then on every store to
   * it, by any hart, passes CodeSync.written; stores already in a store TLB are dropped by
   * the epoch). False, and the page's blocks dropped, when a store reached it meanwhile.
   */
  claim(p: PageCode): boolean {
    const h = this.h;
    if (!p.claimed) {
      this.sync.claim(p.slot);
      p.claimed = true;
      flushStoreTlb(h);
      const g = this.sync.generation(p.slot);
      if (p.blocks !== 0 && g !== p.gen) {
        this.invalidate(p);
        return false;
      }
      p.gen = g;
      p.allocate();
      const words = this.fetchWords();
      p.bytes.set(words.subarray(h.fetchOff >> 2, (h.fetchOff >> 2) + 1024));
    } else if (this.sync.generation(p.slot) !== p.gen) {
      this.invalidate(p);
      return false;
    }
    return true;
  }
}
