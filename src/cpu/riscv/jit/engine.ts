/**
 * The translating engine: a dispatcher that runs translated blocks when it has them and the
 * interpreter otherwise, hotness counting, and the translation of a page's hot blocks (and,
 * with regions, its warm code) or the adoption of what other harts translated. The code cache
 * keyed by physical page and its invalidation are code-cache.ts; the block table and the
 * trampoline blocks continue into one another through are block-table.ts. docs/cpu.md has the
 * design; thresholds.ts says when a block is translated.
 */
import { TWO32 } from '../common.js';
import type { Hart } from '../hart.js';
import { DISPATCH, RUN } from '../interp.js';
import { fetchPageCached, flushStoreTlb } from '../mmu.js';
import { JC_ENTRY_BYTES, JC_KICK, ST_CHAIN_EPOCH, ST_JC_EPOCH, ST_LINES, ST_LOOP_CHAIN, ST_PC_OUT, ST_PVER, ST_KINDS, ST_TH_AT, ST_TH_LOG, ST_TH_TABLE, ST_TH_TOP, ST_TREC, CHAIN_ACCESS, TH_RECORDS } from '../state-area.js';
import { BlockTable } from './block-table.js';
import { CodeCache } from './code-cache.js';
import { CodeShare, wordsOf, type SharedBlock } from './code-share.js';
import { CodeSync } from './code-sync.js';
import { directTargets, translateBlocks } from './codegen.js';
import { chainSlowPaths, type ChainStart } from './slow-paths.js';
import { jcSlot, type BlockFn } from './trampoline.js';
import { LoopPages } from './loop-pages.js';
import { BLOCK, NEVER, NONE, PageCode, PENDING, RANGES, THREADED } from './page-code.js';
import { MAX_THREAD_INSNS, threadTable } from './thread-code.js';
import { TH_GONE } from './thread-loop.js';
import { HOT_THRESHOLD, MAX_REGION_BUILDS, THREAD_THRESHOLD, WARM_SHARE } from './thresholds.js';
import { translateRegion } from './region-gen.js';
import { Templates } from './region-templates.js';

/** Translated blocks per hart (the size of its block table) before the whole cache is dropped (bounds host memory). */
export const MAX_BLOCKS = 8192;
/** The same with regions, whose slots are entries of the table too (a Linux boot overflowed 8,192 every few regions). */
export const MAX_BLOCKS_REGIONS = 32768;
/** Blocks compiled together at most: the hot one and the page's warm ones. */
const BATCH = 16;

export class Translator implements ChainStart {
  /** The code-cache state of each page and what keeps it true to memory (code-cache.ts). */
  private readonly cache: CodeCache;
  /** The block table, the trampoline and what blocks import (block-table.ts). */
  private readonly bt: BlockTable;
  /** The pages the interpreter loop may move to without asking (loop-pages.ts). */
  private readonly loopPages: LoopPages;
  private readonly sync: CodeSync;
  /** Other harts' modules (hart realms), or null. */
  private readonly share: CodeShare | null;
  /** The state area's pcOut word: where a block left off. */
  private readonly pcOut: Float64Array;
  /** Step count and TLB flush count when the dispatcher entered the running chain of blocks (ChainStart). */
  entrySteps = 0;
  entryFlushes = 0;
  private readonly si32: Int32Array;
  /** Counters for tests and the benchmarks. */
  readonly stats = { translated: 0, threaded: 0, modules: 0, published: 0, adopted: 0, adoptedModules: 0, invalidated: 0, flushes: 0, translatedSteps: 0, failed: 0, dispatches: 0, blockCalls: 0, interpCalls: 0, rechecks: 0, regions: 0, regionInsns: 0, regionSlots: 0, promoted: 0 };

  /** Entries of a block that is compiled along with a hot block of its page. */
  private readonly warm: number;
  /**
   * Run once before this translator's first translation (hart.ts: the realm's type-feedback
   * warm-up of the translator, ~13 ms of CPU that a guest whose code never gets hot does not pay).
   */
  beforeFirstTranslation: (() => void) | null = null;

  /** The count at which an entry is wanted: the region or threaded code's threshold when below the hot one. */
  private readonly wantAt: number;
  /** The count at which an entry's page gets threaded code (0: none). */
  private readonly threadAt: number;
  /** The region tier's templates for this hart (built with its first region). */
  private tpl: Templates | null = null;

  constructor(
    private readonly h: Hart,
    private readonly threshold = HOT_THRESHOLD,
    /** 0: no regions (the default: docs/cpu.md, *Regions*). */
    private readonly regionThreshold = 0,
    /** 0: no threaded code (thread-code.ts); none either where hit counters are shared between harts, or with regions. */
    threadThreshold = THREAD_THRESHOLD,
  ) {
    this.sync = h.codeSync;
    this.loopPages = new LoopPages(h);
    this.share = h.codeShare;
    this.threadAt = regionThreshold === 0 && h.sharedHits < 0 && threadThreshold > 0 && threadThreshold < threshold ? threadThreshold : 0;
    this.wantAt = regionThreshold > 0 && regionThreshold < threshold ? regionThreshold : this.threadAt > 0 ? this.threadAt : threshold;
    h.jitThreshold = this.wantAt;
    h.jitHot = threshold;
    this.warm = Math.max(1, Math.floor(threshold / WARM_SHARE));
    this.si32 = h.stateI32;
    this.pcOut = h.stateF64.subarray(ST_PC_OUT / 8, ST_PC_OUT / 8 + 1);
    // Regions' slots are entries of the table too: the larger table only where they are written.
    this.bt = new BlockTable(h, this.wantAt < threshold ? MAX_BLOCKS_REGIONS : MAX_BLOCKS, chainSlowPaths(h, this, this.pcOut));
    this.cache = new CodeCache(h, this.sync, this.loopPages, this.bt, this.stats, (p) => this.adoptNew(p));
    // The interpreter loop decodes warm blocks at this count (0: never; interp-wasm.ts: decodeHere).
    this.si32[ST_TH_AT >> 2] = this.threadAt;
    if (this.threadAt > 0) this.si32.set(threadTable(), ST_TH_TABLE >> 2);
  }

  /** Run until `end` steps or an exit request (the caller's quantum). */
  run(end: number): void {
    const h = this.h;
    const sync = this.sync;
    const cache = this.cache;
    const jcI32 = cache.jcI32;
    const jcF64 = cache.jcF64;
    const si32 = this.si32;
    const epochAt = ST_JC_EPOCH / 4;
    const chainEpochAt = ST_CHAIN_EPOCH / 4;
    const linesAt = ST_LINES / 4;
    const loopChainAt = ST_LOOP_CHAIN / 4;
    while (h.steps < end && !h.exitRequest) {
      this.stats.dispatches++;
      if (si32[linesAt] !== 0) {
        // Another thread changed this hart's lines: copy them in now (an IPI is taken here,
        // not at the quantum's end, while its sender spins waiting for the answer). The
        // flag first, then the epoch's kick bit (state-area.ts: JC_KICK says why).
        Atomics.store(si32, linesAt, 0);
        Atomics.and(si32, epochAt, ~JC_KICK);
        h.onLines?.();
        continue;
      }
      cache.codeWritten();
      if (h.codeEpoch !== sync.epoch()) flushStoreTlb(h);
      // Blocks the interpreter loop decoded since (thread-code.ts): their words, before any page is re-checked.
      if (si32[ST_TH_LOG >> 2] !== 0) this.drainThreaded();
      const pc = h.pc;
      let off = pc - h.fetchBase;
      if (!(off >= 0 && off < 4096)) {
        if (!fetchPageCached(h, pc)) {
          // Unmapped so far (the interpreter walks, fills or faults exactly), or not RAM.
          h.jitBase = NaN;
          this.stats.interpCalls++;
          h.interp.run(end, DISPATCH);
          continue;
        }
        off = pc - h.fetchBase;
      }
      const page = cache.fetchPage();
      const i = off >> 1;
      const kind = page.kinds[i]!;
      const tramp = this.bt.tramp;
      if (kind === BLOCK && tramp !== null) {
        if (sync.generation(page.slot) !== page.gen) {
          cache.invalidate(page);
          continue;
        }
        if (page.region[i] === 1 && page.hits[i]! >= this.threshold) {
          // A region's slot whose count reached the hot threshold (its head left when it did:
          // region-gen.ts): the block translator's block runs here from now on.
          this.promote(page, i);
          continue;
        }
        if (h.steps + page.lens[i]! <= end) {
          const s0 = h.steps;
          this.entrySteps = s0;
          this.entryFlushes = h.tlbFlushes;
          const ix = page.idx[i]!;
          // Remember pc -> block in the jump cache (trampoline.ts), so blocks reach it directly.
          const e = jcSlot(pc | 0);
          const w = e * (JC_ENTRY_BYTES / 4);
          jcI32[w] = pc | 0;
          jcI32[w + 1] = Math.floor(pc / TWO32) | 0;
          jcF64[e * (JC_ENTRY_BYTES / 8) + 1] = h.fetchPa;
          const epoch = si32[epochAt]!;
          jcI32[w + 4] = epoch;
          jcI32[w + 5] = ix;
          jcI32[w + 6] = page.lens[i]!;
          si32[chainEpochAt] = epoch;
          // A trap inside leaves through pcOut like any exit (the slow path set pc and steps exactly).
          this.stats.blockCalls++;
          si32[loopChainAt] = 0;
          const n = tramp.enter(ix, pc, Math.min(end - s0, 0x7fffffff));
          h.steps = s0 + n;
          h.pc = this.pcOut[0]!;
          this.stats.translatedSteps += n;
          // Nothing ran and a region left its first instruction's access to the interpreter (a
          // TLB miss): interpret from here, below. Entered again, it would miss again: each such
          // slot was entered until its count made it hot, ~2,000 passes (2.4 M in a Linux boot).
          if (n !== 0 || si32[loopChainAt] !== CHAIN_ACCESS) continue;
        } else {
          // The quantum ends inside this block: interpret the rest in one go (fewer than
          // MAX_INSNS instructions) rather than returning here after every jump.
          this.stats.interpCalls++;
          h.interp.run(end, RUN);
          continue;
        }
      } else if (kind === NONE && !page.interpretOnly && this.wanted(++page.hits[i]!)) {
        if (this.translate(page, i)) continue;
      } else if (kind === THREADED) {
        // Threaded code leaves for here when its block is stale (the jump cache's epoch moved:
        // a store to code, a map change, fence.i) or hot.
        if (sync.generation(page.slot) !== page.gen) {
          cache.invalidate(page);
          continue;
        }
        const hdr = this.header(page, i);
        // This entry counts too (the loop then interprets the block: the header does not see it).
        if (++si32[hdr + 2]! >= this.threshold) {
          this.promoteThreaded(page, i, hdr);
          continue;
        }
        // Current now (fetchPage compared the page after any map change or fence.i, and no
        // store reached it): the page's threaded code runs on at this epoch.
        const now = si32[epochAt]! & ~JC_KICK;
        si32[hdr + 3] = now;
        si32[(ST_PVER >> 2) + ((page.kinds.byteOffset - this.h.state.offset - ST_KINDS) >> 11)] = now;
      }
      this.stats.interpCalls++;
      h.jitBase = h.fetchBase;
      h.jitKinds = page.kinds;
      h.jitHits = page.hits;
      this.loopPages.cache(page);
      h.interp.run(end, DISPATCH);
    }
  }

  /**
   * The interpreter loop, in the dispatcher's mode, fetched from a new page (a jump or a
   * fall-through off its page): whether it goes on interpreting there (1: the hart's jit*
   * fields now describe that page, this entry counted as the dispatcher would), or returns
   * to the dispatcher (0: the entry is a translated block or just became hot, a hart
   * wrote to code, or another thread changed this hart's interrupt lines). Cold code calls across pages all the time
   * (a Linux boot: 5 M of its 6 M returns to the dispatcher were such jumps); answering
   * here saves each one a round trip through run().
   */
  enterPage(): number {
    const h = this.h;
    const sync = this.sync;
    if (this.cache.writesPending() || h.codeEpoch !== sync.epoch() || this.si32[ST_LINES / 4] !== 0) return 0;
    const page = this.cache.fetchPage();
    const i = (h.pc - h.fetchBase) >> 1;
    const kind = page.kinds[i]!;
    if (kind === BLOCK) return 0;
    if (kind === NONE && !page.interpretOnly) {
      // The dispatcher counts the entry that reaches the threshold, and translates it.
      if (this.wanted(page.hits[i]! + 1)) return 0;
      page.hits[i]!++;
    }
    h.jitBase = h.fetchBase;
    h.jitKinds = page.kinds;
    h.jitHits = page.hits;
    this.loopPages.cache(page);
    return 1;
  }

  /**
   * Whether an entry counted n times is wanted: at the region threshold, then at the hot one
   * (the interpreter's JavaScript side asks here; its loop's count agrees: interp-wasm.ts,
   * countEntry). An entry the region tier
   * did not take at the first (its page's regions all written) waits for the second in the
   * interpreter: wanted at every count past the first, it left the loop for this dispatcher
   * on every entry (~15,000 times in U-Boot's boot to its prompt with regions).
   */
  wanted(n: number): boolean {
    return n === this.wantAt || n >= this.threshold;
  }

  /** The interpreter loop moved to the page of instruction-TLB entry idx (interp.ts): the dispatcher's page state follows. */
  loopMoved(idx: number): void {
    this.loopPages.moved(idx);
  }

  /** Drop every translation (reset, or the cache is full). */
  flushAll(): void {
    this.cache.flushAll();
  }

  /** A memory-map change or fence.i: each page re-checks its bytes before its blocks run again (code-cache.ts). */
  recheckPages(): void {
    this.cache.recheckPages();
  }

  /** Translated blocks currently cached. */
  get size(): number {
    return this.bt.blocks;
  }

  /** Whether some hart stored to a code page since the last look (then the jump cache is stale). */
  codeWritten(): boolean {
    return this.cache.codeWritten();
  }

  /**
   * Translate the block at halfword index i of the current fetch page, with the page's warm
   * blocks in the same module; false if i has no translatable start (or the cache was dropped).
   */
  private translate(p: PageCode, i: number): boolean {
    if (p.hits[i]! < this.threshold) {
      // Warm, not hot: the page's region, while the page may have more; or threaded code.
      if (this.regionThreshold > 0 && p.regionBuilds < MAX_REGION_BUILDS) return this.region(p, i);
      if (this.threadAt > 0) this.thread(p, i);
      return false;
    }
    return this.translateHot(p, i);
  }

  /**
   * Threaded code for the block at entry i of page p (thread-code.ts), its page's first or one
   * the interpreter loop could not decode (the pool or its log full): the page claimed, the
   * loop module's decoder makes and installs it, and its words join the page's claimed bytes.
   * The dispatcher interprets on from i: the loop enters the threaded code at the next jump
   * there, and decodes the page's further warm blocks itself.
   */
  private thread(p: PageCode, i: number): void {
    if (!this.cache.claim(p)) return;
    const abs = this.cache.fetchAbs();
    if (abs < 0) return;
    if (this.si32[ST_TH_TOP >> 2]! + MAX_THREAD_INSNS + 2 > TH_RECORDS) this.cache.dropThreaded();
    this.drainThreaded();
    const sb = this.h.state.offset;
    if (this.h.interp.decodeThreaded(abs, i * 2, sb, p.kinds.byteOffset, p.hits.byteOffset, p.hits[i]!) !== 0) this.drainThreaded();
  }

  /**
   * The decoder's log (state-area.ts ST_TH_LOG): each block's words become claimed bytes of its
   * page, compared when the page is re-checked, as a block's are (a block since invalidated or
   * dropped is skipped).
   */
  private drainThreaded(): void {
    const si32 = this.si32;
    const base = (ST_TH_LOG >> 2) + 1;
    const n = si32[ST_TH_LOG >> 2]!;
    for (let at = 0; at < n; ) {
      const p = this.cache.pageAt(si32[base + at]!);
      const off = si32[base + at + 1]!;
      const w1 = si32[base + at + 2]!;
      const w0 = off >> 2;
      if (p !== undefined && p.claimed && p.kinds[off >> 1] === THREADED) {
        this.claimRange(p, off, w1 * 4 - off, si32, base + at + 3 - w0);
        p.threaded++;
        this.stats.threaded++;
      }
      at += 3 + w1 - w0;
    }
    si32[ST_TH_LOG >> 2] = 0;
  }

  /**
   * Threaded block i of page p reached the hot threshold: the block translator's block runs
   * there from now on. Its header (`hdr`, in words of the state area) becomes TH_GONE, so that
   * threaded code linked to it leaves as a jump to the new block.
   */
  private promoteThreaded(p: PageCode, i: number, hdr: number): void {
    p.kinds[i] = NONE;
    p.hits[i] = this.threshold;
    if (this.translateHot(p, i) && p.kinds[i] === BLOCK) this.stats.promoted++;
    // Not translatable: interpreted from now on (its threaded code is still linked to).
    else if (p.kinds[i] === NONE) p.kinds[i] = NEVER;
    this.si32[hdr] = TH_GONE | (i << 16);
  }

  /** The state-area word of threaded entry i's header on page p (its hit counter holds the record: thread-code.ts). */
  private header(p: PageCode, i: number): number {
    return (ST_TREC >> 2) + p.hits[i]! * 4;
  }

  /**
   * The region of page p (region-gen.ts) entered at halfword i, with every other entry its
   * counters saw and its earlier regions' slots; its slots installed as blocks, but where the
   * block translator's blocks are. False if i starts nothing a region runs.
   */
  private region(p: PageCode, i: number): boolean {
    const h = this.h;
    const imports = this.bt.blockImports();
    if (imports === null) {
      p.kinds[i] = NEVER;
      this.stats.failed++;
      return false;
    }
    if (!this.cache.claim(p)) return false;
    p.regionBuilds++;
    const snap = this.cache.snapshot();
    const tramp = this.bt.tramp!;
    const entries = [i * 2];
    const kindsAt = p.kinds.byteOffset;
    const hitsAt = p.hits.byteOffset;
    // Entries counted at least a quarter of the way (a quantum's start counts too: a pc
    // counted once or twice is more likely that than an entry code jumps to).
    const warm = Math.max(1, this.wantAt >> 2);
    for (let j = tramp.warmAt(kindsAt, hitsAt, warm, 0); j >= 0; j = tramp.warmAt(kindsAt, hitsAt, warm, j + 1)) if (j !== i) entries.push(j * 2);
    for (const off of p.regionOffs) if (p.region[off >> 1] === 1) entries.push(off);
    this.tpl ??= new Templates(h.state.offset);
    const src = translateRegion(this.cache.snapDv, 0, entries, h.rvc, this.tpl, hitsAt, this.threshold);
    const exports = src === null ? null : this.instantiate(src.wasm, imports);
    if (src === null || exports === null) {
      if (p.kinds[i] === NONE) p.kinds[i] = NEVER;
      return false;
    }
    if (!this.bt.fits(src.nSlots)) {
      this.cache.flushAll();
      return false;
    }
    this.stats.regions++;
    this.stats.regionInsns += src.insns;
    // Export k is slot k (names "0", "1", ...: Object.values keeps their order).
    const fns = Object.values(exports) as BlockFn[];
    const added = p.installRegion(src, snap, i, (k) => {
      this.stats.regionSlots++;
      return this.bt.add(fns[k]!);
    });
    this.bt.blocks += added;
    return p.kinds[i] === BLOCK;
  }

  /**
   * Region slot i of page p reached the hot threshold (its head left when it did):
   * translate its block with the block translator, which runs from there on (entries made for
   * the slot are stale: the jump cache's epoch moves). If it cannot, the slot counts again from 0.
   */
  private promote(p: PageCode, i: number): void {
    const ix = p.idx[i]!;
    const len = p.lens[i]!;
    p.kinds[i] = NONE;
    p.region[i] = 0;
    if (this.translateHot(p, i) && p.kinds[i] === BLOCK && p.region[i] === 0) {
      this.stats.promoted++;
      this.cache.bumpJc();
      return;
    }
    if (p.kinds[i] !== BLOCK && this.cache.holds(p) && p.claimed && this.sync.generation(p.slot) === p.gen) {
      p.kinds[i] = BLOCK;
      p.region[i] = 1;
      p.idx[i] = ix;
      p.lens[i] = len;
    }
    p.hits[i] = 0;
  }

  /** Translate with the block translator (codegen.ts); see translate. */
  private translateHot(p: PageCode, i: number): boolean {
    const h = this.h;
    if (this.beforeFirstTranslation !== null) {
      const warm = this.beforeFirstTranslation;
      this.beforeFirstTranslation = null;
      warm();
    }
    const imports = this.bt.blockImports();
    if (imports === null) {
      p.kinds[i] = NEVER;
      this.stats.failed++;
      return false;
    }
    // Counts are shared with the other harts: one of them may have translated it just now.
    this.adoptNew(p);
    if (p.kinds[i] === BLOCK) return true;
    if (p.kinds[i] !== NONE) return false;
    if (!this.bt.fits(BATCH)) {
      this.cache.flushAll();
      return false;
    }
    if (!this.cache.claim(p)) return false;
    const snap = this.cache.snapshot();
    // The hot block and the page's warm ones, in one module (codegen.ts: translateBlocks),
    // marked PENDING: with the page's blocks, where each block of the batch ends.
    const tramp = this.bt.tramp!;
    const kinds = p.kinds;
    const kindsAt = kinds.byteOffset;
    const hitsAt = p.hits.byteOffset;
    const offs = [i * 2];
    kinds[i] = PENDING;
    for (let j = tramp.warmAt(kindsAt, hitsAt, this.warm, 0); j >= 0 && offs.length < BATCH; j = tramp.warmAt(kindsAt, hitsAt, this.warm, j + 1)) {
      offs.push(j * 2);
      kinds[j] = PENDING;
    }
    // Threaded entries count in their headers (thread-loop.ts): the page's warm ones join the
    // batch too, their headers leaving for the new blocks once translated (TH_GONE).
    const threaded: number[] = [];
    if (this.threadAt > 0) {
      const si32 = this.si32;
      for (let j = 0; j < 2048 && offs.length < BATCH; j++) {
        if (kinds[j] !== THREADED || si32[this.header(p, j) + 2]! < this.warm) continue;
        offs.push(j * 2);
        kinds[j] = PENDING;
        threaded.push(j);
      }
    }
    // A page's first blocks: the hot block's direct targets too. Until a page has blocks the
    // interpreter loop counts only its loop heads (interp-wasm.ts: jumped), so the code those
    // lead forward to would otherwise wait for its own count, block by block, through the
    // chains that leave for it.
    // Threaded code counts only the entries jumps make, as the loop does, so its blocks that
    // code falls through into are taken along too.
    if (p.blocks === p.threaded) {
      for (const t of directTargets(this.cache.snapDv, 0, i * 2, h.rvc, kinds)) {
        if (offs.length >= BATCH) break;
        const k = kinds[t >> 1];
        if (k !== NONE && k !== THREADED) continue;
        offs.push(t);
        kinds[t >> 1] = PENDING;
        if (k === THREADED) threaded.push(t >> 1);
      }
    }
    const src = translateBlocks(this.cache.snapDv, 0, offs, h.rvc, this.share === null ? h.state.offset : -1, kinds);
    const exports = src === null ? null : this.instantiate(src.wasm, imports);
    // Offsets that start no block (or could not be compiled) are never tried again.
    for (const off of offs) kinds[off >> 1] = NEVER;
    // Threaded entries go on as they were unless translated (below).
    for (const j of threaded) kinds[j] = THREADED;
    if (src === null || exports === null) return false;
    this.stats.modules++;
    const shared: SharedBlock[] = [];
    for (let k = 0; k < src.blocks.length; k++) {
      const b = { off: src.offs[k]!, length: src.blocks[k]!.length, bytes: src.blocks[k]!.bytes };
      const j = b.off >> 1;
      if (kinds[j] === THREADED) this.si32[this.header(p, j)] = TH_GONE | (j << 16);
      this.install(p, b, exports[String(k)] as BlockFn, snap, 0);
      shared.push(b);
      this.stats.translated++;
    }
    // Offered to the other harts only if no store reached the page since it was claimed
    // (the copy above is then what the page held while this hart had it claimed).
    if (this.share !== null && this.sync.generation(p.slot) === p.gen && this.share.publish(p.ppn, shared, snap, 0, src.wasm)) this.stats.published++;
    return kinds[i] === BLOCK;
  }

  /** A module's exports, or null (counted as failed) where the host refuses to compile it (a browser's main thread limits synchronous compiles): its code is interpreted. */
  private instantiate(wasm: Uint8Array<ArrayBuffer>, imports: WebAssembly.Imports): WebAssembly.Exports | null {
    try {
      return new WebAssembly.Instance(new WebAssembly.Module(wasm), imports).exports;
    } catch {
      this.stats.failed++;
      return null;
    }
  }

  /** Block b of page p as `fn`, translated from `words` (the page's, from `base`). */
  private install(p: PageCode, b: SharedBlock, fn: BlockFn, words: Int32Array<ArrayBufferLike>, base: number): void {
    const at = b.off >> 1;
    // Blocks exist only once blockImports() made the table.
    p.idx[at] = this.bt.add(fn);
    p.kinds[at] = BLOCK;
    p.lens[at] = b.length;
    this.claimRange(p, b.off, b.bytes, words, base);
  }

  /**
   * Bytes [off, off + bytes) of page p, translated from `words` (the page's, from `base`): the
   * page compares them before its translations run again after a map change or fence.i.
   */
  private claimRange(p: PageCode, off: number, bytes: number, words: Int32Array<ArrayBufferLike>, base: number): void {
    // The snapshot of these words is what they were translated from (bytes outside every
    // range are never compared, so they may have changed since the page was claimed).
    const [w0, w1] = wordsOf(off, bytes);
    p.bytes.set(words.subarray(base + w0, base + w1), w0);
    if (p.nRanges < RANGES) {
      p.ranges[2 * p.nRanges] = w0;
      p.ranges[2 * p.nRanges + 1] = w1;
    }
    p.nRanges++;
    p.blocks++;
    p.coded[0] = 1;
    this.bt.blocks++;
  }

  /** Adopt what other harts published for the fetch page p since this hart last looked. */
  private adoptNew(p: PageCode): void {
    if (this.share === null) return;
    const head = this.share.head(p.ppn);
    if (head !== p.shareHead) this.adopt(p, head);
  }

  /**
   * The fetch page's records that other harts published since this hart last looked
   * (newest first, down to page.shareHead): run their blocks here too, where the page still
   * holds what they were translated from. Compiling bytes another worker compiled costs
   * little (V8 returns that code), and the blocks run at once instead of after HOT_THRESHOLD
   * interpreted entries.
   */
  private adopt(p: PageCode, head: number): void {
    const share = this.share!;
    const stop = p.shareHead;
    p.shareHead = head;
    if (p.interpretOnly) return;
    const h = this.h;
    for (let rec = head; rec !== 0 && rec !== stop; rec = share.next(rec)) {
      if (!share.isFor(rec, p.ppn)) continue;
      const n = share.blocks(rec);
      let fresh = 0;
      for (let k = 0; k < n; k++) if (p.kinds[share.block(rec, k).off >> 1] !== BLOCK) fresh++;
      if (fresh === 0 || !this.bt.fits(n)) continue;
      // Only for a record of this page with blocks to adopt: a bucket's head also moves for
      // other pages, and a hart that never runs a block never builds the trampoline.
      const imports = this.bt.blockImports();
      if (imports === null) return;
      if (!this.cache.claim(p)) return;
      const words = this.cache.fetchWords();
      const base = h.fetchOff >> 2;
      if (!share.matches(rec, words, base)) continue;
      let exports: WebAssembly.Exports;
      try {
        exports = new WebAssembly.Instance(new WebAssembly.Module(share.wasm(rec)), imports).exports;
      } catch {
        continue;
      }
      this.stats.adoptedModules++;
      for (let k = 0; k < n; k++) {
        const b = share.block(rec, k);
        if (p.kinds[b.off >> 1] === BLOCK) continue;
        this.install(p, b, exports[String(k)] as BlockFn, words, base);
        this.stats.adopted++;
      }
    }
  }
}
