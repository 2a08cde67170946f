/**
 * The translating engine: a dispatcher that runs translated blocks when it
 * has them and the interpreter otherwise, a per-hart code cache keyed by
 * physical page, hotness counting, and invalidation. docs/cpu.md has the
 * design and the measurements behind the thresholds.
 */
import type { Hart } from '../hart.js';
import { inner } from '../interp.js';
import { fetchPageCached, flushStoreTlb, loadSlow, storeSlow } from '../mmu.js';
import { LINK_WORDS, ST_LAST_EXIT, ST_LINKS, ST_PC_OUT, ST_T_HI, ST_T_LO } from '../state-area.js';
import { CodeSync } from './code-sync.js';
import { MAX_INSNS, translateBlock } from './codegen.js';

/**
 * Executions (via the interpreter) of a block entry before it is translated.
 * A translated block costs ~1-4 ms of host CPU all told (module compile and
 * instantiation on this thread, V8's optimising tier-up in the background).
 * Measured on Debian's Linux boot to a shell (2.2 G instructions): threshold
 * 4,096 translated 2,260 blocks and took 50-56 s, 1,024 translated 4,478 and
 * took 60 s, although it interpreted 110 M fewer instructions; a cold process
 * running 2,000 distinct blocks 1,000 times each (cpu.cold_footprint) never
 * pays for translation at 4,096.
 */
export const HOT_THRESHOLD = 4096;
/** Translated blocks per hart before the whole cache is dropped (bounds host memory). */
export const MAX_BLOCKS = 8192;
/** Entries of a page's block table (blocks of one page that linked exits can reach, plus the empty 0). */
const PAGE_TABLE = 64;
/** Pages with code-cache state per hart. */
export const MAX_PAGES = 2048;
/** Invalidations of one page (stores into it) after which it is only interpreted. */
export const MAX_INVALIDATIONS = 16;

/**
 * A translated block (codegen.ts): runs from pc until `budget` instructions of this dispatch
 * would be exceeded, and returns the instructions retired in this dispatch (`retired` on entry,
 * plus its own and those of blocks it chained to); `depth` counts chained calls.
 */
type BlockFn = (pc: number, budget: number, retired: number, depth: number) => number;

/** Code-cache state of one physical page. */
class PageCode {
  /** Per halfword offset: the translated block, null if untranslatable, undefined if not (yet) translated. */
  readonly fns: (BlockFn | null | undefined)[] = [];
  /** Instructions in the block at each offset (the budget check before calling it). */
  readonly lens = new Uint8Array(2048);
  readonly hits = new Uint16Array(2048);
  /** Table index of the block at each offset (what a link word holds). */
  readonly slots = new Uint16Array(2048);
  /**
   * The page's block table, which its blocks import and their linked exits call through
   * (links never leave a page). One small table per page rather than one per hart: V8
   * updates every instance importing a table on each set(), and registers each new
   * instance with it, so a hart-wide table made translation cost grow with the square of
   * the block count. Null until the page's first block; a new one after invalidation.
   */
  table: WebAssembly.Table | null = null;
  imports: WebAssembly.Imports | null = null;
  /** Next free index in `table` (0 stays empty: an unlinked word). */
  nextSlot = 1;
  /** CodeSync generation the translations were made against. */
  gen = 0;
  claimed = false;
  /** The page's bytes when it was claimed (a memory-map change keeps translations only if they still match). */
  readonly bytes = new Int32Array(1024);
  /** Translator.mapGen this page was last checked against. */
  mapGen = 0;
  blocks = 0;
  invalidations = 0;
  interpretOnly = false;
  constructor(
    readonly ppn: number,
    readonly slot: number,
  ) {}
}

export class Translator {
  private readonly pages = new Map<number, PageCode>();
  private cur: PageCode | null = null;
  private curPa = -1;
  private blocks = 0;
  /** Bumped by every memory-map change: each page re-checks its bytes before its blocks run again. */
  private mapGen = 0;
  private readonly sync: CodeSync;
  /** The state area's pcOut word: where a block left off. */
  private readonly pcOut: Float64Array;
  /** Step count, fetch base and code page (slot, generation) when the running block was entered. */
  private entrySteps = 0;
  private entryFb = 0;
  private entrySlot = 0;
  private entryGen = 0;
  /** What a page's modules import besides its table: the state area's memory and the slow paths. */
  private readonly ld: (pc: number, cnt: number, lo: number, hi: number, f3: number) => number;
  private readonly st: (pc: number, cnt: number, lo: number, hi: number, size: number, vlo: number, vhi: number) => number;
  /** Next free link word (index from ST_LINKS), and the state area's words. */
  private nextLink = 0;
  private readonly si32: Int32Array;
  /** An unlinked exit the last block left by (state-area word index, 0 = none), and its page. */
  private pendingLink = 0;
  private pendingPage: PageCode | null = null;
  /** Counters for tests and the benchmarks. */
  readonly stats = { translated: 0, invalidated: 0, flushes: 0, translatedSteps: 0, failed: 0, dispatches: 0, blockCalls: 0, interpCalls: 0 };

  constructor(
    private readonly h: Hart,
    private readonly threshold = HOT_THRESHOLD,
  ) {
    this.sync = h.codeSync;
    h.jitThreshold = threshold;
    const si32 = h.stateI32;
    this.si32 = si32;
    const tLo = ST_T_LO / 4;
    const tHi = ST_T_HI / 4;
    this.pcOut = h.stateF64.subarray(ST_PC_OUT / 8, ST_PC_OUT / 8 + 1);
    const sync = this.sync;
    // Both get the instruction's pc and the dispatch's retired count including it, and return 1
    // when the block must stop after this access: an exit request, the fetch page gone, or a
    // store into the code page the chain runs from (its blocks may be stale now).
    const ld = (pc: number, cnt: number, lo: number, hi: number, f3: number): number => {
      h.pc = pc;
      h.steps = this.entrySteps + cnt;
      loadSlow(h, lo, hi, f3);
      si32[tLo] = h.tLo;
      si32[tHi] = h.tHi;
      return h.exitRequest || h.fetchBase !== this.entryFb ? 1 : 0;
    };
    const st = (pc: number, cnt: number, lo: number, hi: number, size: number, vlo: number, vhi: number): number => {
      h.pc = pc;
      h.steps = this.entrySteps + cnt;
      storeSlow(h, lo, hi, size, vlo, vhi);
      return h.exitRequest || h.fetchBase !== this.entryFb || sync.generation(this.entrySlot) !== this.entryGen ? 1 : 0;
    };
    this.ld = ld;
    this.st = st;
  }

  /** Run until `end` steps or an exit request (the caller's quantum). */
  run(end: number): void {
    const h = this.h;
    const sync = this.sync;
    const si32 = this.si32;
    const lastExit = ST_LAST_EXIT / 4;
    const stateAt = h.state.offset;
    this.pendingLink = 0;
    while (h.steps < end && !h.exitRequest) {
      this.stats.dispatches++;
      if (h.codeEpoch !== sync.epoch()) flushStoreTlb(h);
      const pc = h.pc;
      let off = pc - h.fetchBase;
      if (!(off >= 0 && off < 4096)) {
        if (!fetchPageCached(h, pc)) {
          // Unmapped so far (the interpreter walks, fills or faults exactly), or not RAM.
          h.jitBase = NaN;
          inner(h, end, true);
          continue;
        }
        off = pc - h.fetchBase;
      }
      let page = this.cur;
      if (h.fetchPa !== this.curPa || page === null) {
        page = this.pageFor(h.fetchPa);
        if (page.mapGen !== this.mapGen) this.recheck(page);
        this.cur = page;
        this.curPa = h.fetchPa;
      }
      const i = off >> 1;
      const fn = page.fns[i];
      // The block run last left by an unlinked static exit to this pc: if this pc has a block
      // (of the same page, hence valid wherever the exit's is), link the exit to it.
      if (this.pendingLink !== 0) {
        if (this.pendingPage === page && fn !== undefined && fn !== null && sync.generation(page.slot) === page.gen) {
          si32[this.pendingLink] = page.slots[i]!;
        }
        this.pendingLink = 0;
      }
      if (fn !== undefined && fn !== null) {
        if (sync.generation(page.slot) !== page.gen) {
          this.invalidate(page);
          continue;
        }
        if (h.steps + page.lens[i]! <= end) {
          const s0 = h.steps;
          this.entrySteps = s0;
          this.entryFb = h.fetchBase;
          this.entrySlot = page.slot;
          this.entryGen = page.gen;
          si32[lastExit] = 0;
          // A trap unwinds past this (the slow path left pc and steps exact): the statistic excludes trapping passes.
          this.stats.blockCalls++;
          const n = fn(pc, Math.min(end - s0, 0x7fffffff), 0, 0);
          h.steps = s0 + n;
          h.pc = this.pcOut[0]!;
          this.stats.translatedSteps += n;
          const le = si32[lastExit]!;
          if (le !== 0) {
            this.pendingLink = (le - stateAt) >> 2;
            this.pendingPage = page;
          }
          continue;
        }
      } else if (fn === undefined && !page.interpretOnly && ++page.hits[i]! >= this.threshold) {
        if (this.translate(page, i, pc)) continue;
      }
      this.stats.interpCalls++;
      h.jitBase = h.fetchBase;
      h.jitFns = page.fns;
      h.jitHits = page.hits;
      inner(h, end, true);
    }
  }

  /** Drop every translation (reset, or the cache is full). */
  flushAll(): void {
    for (const p of this.pages.values()) {
      if (p.claimed) this.sync.release(p.slot);
      this.freeBlocks(p);
    }
    this.pages.clear();
    this.nextLink = 0;
    this.pendingLink = 0;
    this.cur = null;
    this.curPa = -1;
    this.blocks = 0;
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
    this.cur = null;
    this.curPa = -1;
  }

  private recheck(p: PageCode): void {
    p.mapGen = this.mapGen;
    if (p.blocks === 0) return;
    const dv = this.h.fetchDv;
    const base = this.h.fetchOff;
    for (let i = 0; i < 1024; i++) {
      if (dv.getInt32(base + 4 * i, true) !== p.bytes[i]) {
        this.invalidate(p);
        return;
      }
    }
  }

  /** Translated blocks currently cached. */
  get size(): number {
    return this.blocks;
  }

  private pageFor(pa: number): PageCode {
    const ppn = Math.floor(pa / 4096);
    let p = this.pages.get(ppn);
    if (p === undefined) {
      if (this.pages.size >= MAX_PAGES) this.flushAll();
      p = new PageCode(ppn, ppn % 65536);
      p.mapGen = this.mapGen;
      this.pages.set(ppn, p);
    }
    return p;
  }

  /** Forget the page's block table (its link words die with its blocks: links stay within a page). */
  private freeBlocks(p: PageCode): void {
    p.table = null;
    p.imports = null;
    p.nextSlot = 1;
    if (this.pendingPage === p) this.pendingLink = 0;
  }

  private invalidate(p: PageCode): void {
    this.freeBlocks(p);
    p.fns.length = 0;
    p.lens.fill(0);
    p.hits.fill(0);
    this.blocks -= p.blocks;
    p.blocks = 0;
    if (p.claimed) {
      this.sync.release(p.slot);
      p.claimed = false;
    }
    p.gen = this.sync.generation(p.slot);
    if (++p.invalidations >= MAX_INVALIDATIONS) p.interpretOnly = true;
    this.stats.invalidated++;
  }

  /** Translate the block at halfword index i of the current fetch page; false if it has no translatable start. */
  private translate(p: PageCode, i: number, pc: number): boolean {
    const h = this.h;
    // Room for a block's table entry and its link words (at most one per instruction, plus the end).
    if (this.blocks >= MAX_BLOCKS || this.nextLink + MAX_INSNS + 1 > LINK_WORDS) {
      this.flushAll();
      return false;
    }
    // Claim the page before reading its bytes: from here on every store to it, by any
    // hart, passes CodeSync.written (stores already in a store TLB are dropped by the epoch).
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
      for (let k = 0; k < 1024; k++) p.bytes[k] = h.fetchDv.getInt32(h.fetchOff + 4 * k, true);
    } else if (this.sync.generation(p.slot) !== p.gen) {
      this.invalidate(p);
      return false;
    }
    const linkWord = ST_LINKS / 4 + this.nextLink;
    const src = translateBlock(h.fetchDv, h.fetchOff, i * 2, h.rvc, h.state.offset, h.state.offset + 4 * linkWord);
    if (src === null) {
      p.fns[i] = null;
      return false;
    }
    let fn: BlockFn;
    try {
      const mod = new WebAssembly.Module(src.wasm);
      if (p.imports === null) {
        p.table = new WebAssembly.Table({ element: 'anyfunc', initial: PAGE_TABLE });
        p.imports = { e: { m: h.state.memory, ld: this.ld, st: this.st, t: p.table } };
      }
      fn = new WebAssembly.Instance(mod, p.imports).exports['b'] as BlockFn;
    } catch {
      // A host that refuses (a browser's main thread limits synchronous compiles): interpret it.
      p.fns[i] = null;
      this.stats.failed++;
      return false;
    }
    // Fresh link words start unlinked (earlier blocks may have used them before a flush).
    this.si32.fill(0, linkWord, linkWord + src.links);
    this.nextLink += src.links;
    // A page with more blocks than its table holds still runs them, unlinked.
    if (p.nextSlot < PAGE_TABLE) {
      p.table!.set(p.nextSlot, fn);
      p.slots[i] = p.nextSlot++;
    } else p.slots[i] = 0;
    p.fns[i] = fn;
    p.lens[i] = src.length;
    p.blocks++;
    this.blocks++;
    this.stats.translated++;
    void pc;
    return true;
  }
}
