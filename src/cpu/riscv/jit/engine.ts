/**
 * The translating engine: a dispatcher that runs translated blocks when it
 * has them and the interpreter otherwise, a per-hart code cache keyed by
 * physical page, hotness counting, invalidation, and the jump cache through
 * which blocks continue into one another (trampoline.ts). docs/cpu.md has
 * the design; thresholds.ts says when a block is translated.
 */
import { TWO32 } from '../common.js';
import type { Hart } from '../hart.js';
import { DISPATCH, RUN } from '../interp.js';
import { fetchPageCached, flushStoreTlb } from '../mmu.js';
import { CODE_PAGES, JC_ENTRIES, JC_ENTRY_BYTES, JC_KICK, ST_CHAIN_EPOCH, ST_CODED, ST_HITS, ST_JC, ST_JC_EPOCH, ST_KINDS, ST_LINES, ST_LOOP_CHAIN, ST_PC_OUT, CHAIN_ACCESS } from '../state-area.js';
import { CodeShare, wordsOf, type SharedBlock } from './code-share.js';
import { CodeSync } from './code-sync.js';
import { directTargets, translateBlocks } from './codegen.js';
import { chainSlowPaths, type ChainStart } from './slow-paths.js';
import { buildTrampoline, jcSlot, type BlockFn, type SlowPaths, type Trampoline } from './trampoline.js';
import { LoopPages } from './loop-pages.js';
import { BLOCK, NEVER, NONE, PageCode, PENDING, RANGES } from './page-code.js';
import { HOT_THRESHOLD, MAX_REGION_BUILDS, WARM_SHARE } from './thresholds.js';
import { translateRegion } from './region-gen.js';
import { Templates } from './region-templates.js';

/** Translated blocks per hart (the size of its block table) before the whole cache is dropped (bounds host memory). */
export const MAX_BLOCKS = 8192;
/** The same with regions, whose slots are entries of the table too (a Linux boot overflowed 8,192 every few regions). */
export const MAX_BLOCKS_REGIONS = 32768;
/** Pages with code-cache state per hart. */
export const MAX_PAGES = CODE_PAGES;
/** Invalidations of one page (stores into it) after which it is only interpreted. */
export const MAX_INVALIDATIONS = 16;

/** Entries of Translator.recent. */
const RECENT = 256;
/** Blocks compiled together at most: the hot one and the page's warm ones. */
const BATCH = 16;

export class Translator implements ChainStart {
  private readonly pages = new Map<number, PageCode>();
  private cur: PageCode | null = null;
  private curPa = NaN;
  /** Direct-mapped by page number in front of `pages` (a Map lookup per page change was ~1 % of a Linux boot). */
  private readonly recent: (PageCode | null)[] = new Array<PageCode | null>(RECENT).fill(null);
  /** The pages the interpreter loop may move to without asking (loop-pages.ts). */
  private readonly loopPages: LoopPages;
  private blocks = 0;
  /** Bumped by every memory-map change: each page re-checks its bytes before its blocks run again. */
  private mapGen = 0;
  private readonly sync: CodeSync;
  /** Other harts' modules (hart realms), or null. */
  private readonly share: CodeShare | null;
  /** The page being translated, copied first: the code and the words it came from agree (code-share.ts). */
  private readonly snap = new Int32Array(1024);
  private readonly snapDv = new DataView(this.snap.buffer);
  /** CodeSync.writes() when last looked at: a change means some code page was stored to. */
  private seenWrites = 0;
  /** The state area's pcOut word: where a block left off. */
  private readonly pcOut: Float64Array;
  /** Step count and TLB flush count when the dispatcher entered the running chain of blocks (ChainStart). */
  entrySteps = 0;
  entryFlushes = 0;
  /**
   * Every block of this hart, by index (0 and free entries hold the trampoline's miss).
   * Only the trampoline imports it; blocks jump through the trampoline. Made with the
   * trampoline (MAX_BLOCKS + 1 entries a hart that never translates does without).
   */
  private table: WebAssembly.Table | null = null;
  private nextIdx = 1;
  /**
   * The trampoline and what blocks import, built before the first translation or adoption
   * (blockImports: a module compile a process that never translates does without); null
   * until then, and where the host cannot compile it (no tail calls: everything is interpreted).
   */
  private tramp: Trampoline | null = null;
  private imports: WebAssembly.Imports | null = null;
  private trampolineTried = false;
  private readonly slow: SlowPaths;
  private readonly si32: Int32Array;
  private readonly jcI32: Int32Array;
  private readonly jcF64: Float64Array;
  /** fetchWords(): the fetch page's window as words, and the DataView it was made for. */
  private words: Int32Array<ArrayBufferLike> = new Int32Array(0);
  private wordsDv: DataView | null = null;
  /** Counters for tests and the benchmarks. */
  readonly stats = { translated: 0, modules: 0, published: 0, adopted: 0, adoptedModules: 0, invalidated: 0, flushes: 0, translatedSteps: 0, failed: 0, dispatches: 0, blockCalls: 0, interpCalls: 0, rechecks: 0, regions: 0, regionInsns: 0, regionSlots: 0, promoted: 0 };

  /** Entries of a block that is compiled along with a hot block of its page. */
  private readonly warm: number;
  /**
   * Run once before this translator's first translation (hart.ts: the realm's type-feedback
   * warm-up of the translator, ~13 ms of CPU that a guest whose code never gets hot does not pay).
   */
  beforeFirstTranslation: (() => void) | null = null;

  /** The count at which an entry is wanted: the region threshold when below the hot one. */
  private readonly wantAt: number;
  /** The block table's size: MAX_BLOCKS, or MAX_BLOCKS_REGIONS where regions are written. */
  private readonly maxBlocks: number;
  /** The region tier's templates for this hart (built with its first region). */
  private tpl: Templates | null = null;

  constructor(
    private readonly h: Hart,
    private readonly threshold = HOT_THRESHOLD,
    /** 0: no regions (the default: docs/cpu.md, *Regions*). */
    private readonly regionThreshold = 0,
  ) {
    this.sync = h.codeSync;
    this.loopPages = new LoopPages(h);
    this.share = h.codeShare;
    this.seenWrites = this.sync.writes();
    this.wantAt = regionThreshold > 0 && regionThreshold < threshold ? regionThreshold : threshold;
    this.maxBlocks = this.wantAt < threshold ? MAX_BLOCKS_REGIONS : MAX_BLOCKS;
    h.jitThreshold = this.wantAt;
    h.jitHot = threshold;
    this.warm = Math.max(1, Math.floor(threshold / WARM_SHARE));
    const si32 = h.stateI32;
    this.si32 = si32;
    const buf = h.state.memory.buffer;
    const jcAt = h.state.offset + ST_JC;
    this.jcI32 = new Int32Array(buf, jcAt, (JC_ENTRIES * JC_ENTRY_BYTES) / 4);
    this.jcF64 = new Float64Array(buf, jcAt, (JC_ENTRIES * JC_ENTRY_BYTES) / 8);
    this.jcI32.fill(0);
    this.bumpJc();
    this.pcOut = h.stateF64.subarray(ST_PC_OUT / 8, ST_PC_OUT / 8 + 1);
    this.slow = chainSlowPaths(h, this, this.pcOut);
  }

  /** Build the trampoline once (see `tramp`); what blocks import, or null where they cannot be instantiated. */
  private blockImports(): WebAssembly.Imports | null {
    if (!this.trampolineTried) {
      this.trampolineTried = true;
      const h = this.h;
      try {
        const table = new WebAssembly.Table({ element: 'anyfunc', initial: this.maxBlocks + 1 });
        const tramp = buildTrampoline(h.state.memory, table, h.state.offset, this.slow);
        table.set(0, tramp.miss);
        this.table = table;
        this.tramp = tramp;
        h.interp.setChain(tramp.jump);
        this.imports = { e: { m: h.state.memory, h: tramp.helpers, s: h.state.offset } };
      } catch {
        // No tail calls here: tramp and imports stay null, everything is interpreted.
      }
    }
    return this.imports;
  }

  /** Run until `end` steps or an exit request (the caller's quantum). */
  run(end: number): void {
    const h = this.h;
    const sync = this.sync;
    const jcI32 = this.jcI32;
    const jcF64 = this.jcF64;
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
      this.codeWritten();
      if (h.codeEpoch !== sync.epoch()) flushStoreTlb(h);
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
      const page = this.fetchPage();
      const i = off >> 1;
      const kind = page.kinds[i]!;
      const tramp = this.tramp;
      if (kind === BLOCK && tramp !== null) {
        if (sync.generation(page.slot) !== page.gen) {
          this.invalidate(page);
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
    if (sync.writes() !== this.seenWrites || h.codeEpoch !== sync.epoch() || this.si32[ST_LINES / 4] !== 0) return 0;
    const page = this.fetchPage();
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

  /** The code-cache state of the hart's fetch page, re-checked if the map changed since its last look. */
  private fetchPage(): PageCode {
    const h = this.h;
    let page = this.cur;
    if (h.fetchPa !== this.curPa || page === null) {
      page = this.pageFor(h.fetchPa);
      if (page.mapGen !== this.mapGen) this.recheck(page);
      this.adoptNew(page);
      this.cur = page;
      this.curPa = h.fetchPa;
    }
    return page;
  }

  /** Drop every translation (reset, or the cache is full). */
  flushAll(): void {
    for (const p of this.pages.values()) {
      if (p.claimed) this.sync.release(p.slot);
    }
    this.pages.clear();
    this.recent.fill(null);
    this.loopPages.drop();
    this.cur = null;
    this.curPa = NaN;
    this.blocks = 0;
    this.nextIdx = 1;
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

  /** Translated blocks currently cached. */
  get size(): number {
    return this.blocks;
  }

  /** Every jump-cache entry is stale from now on. */
  private bumpJc(): void {
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
  private fetchWords(): Int32Array<ArrayBufferLike> {
    const dv = this.h.fetchDv;
    if (dv !== this.wordsDv) {
      this.wordsDv = dv;
      this.words = new Int32Array(dv.buffer, dv.byteOffset, dv.byteLength >> 2);
    }
    return this.words;
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
    }
    this.recent[r] = q;
    return q;
  }

  private invalidate(p: PageCode): void {
    p.kinds.fill(NONE);
    p.lens.fill(0);
    p.region.fill(0);
    p.regionOffs.length = 0;
    p.regionBuilds = 0;
    p.nRanges = 0;
    p.hits.fill(0);
    this.blocks -= p.blocks;
    p.blocks = 0;
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
   * Translate the block at halfword index i of the current fetch page, with the page's warm
   * blocks in the same module; false if i has no translatable start (or the cache was dropped).
   */
  private translate(p: PageCode, i: number): boolean {
    if (p.hits[i]! < this.threshold) {
      // Warm, not hot: the page's region, while the page may have more.
      if (this.regionThreshold > 0 && p.regionBuilds < MAX_REGION_BUILDS) return this.region(p, i);
      return false;
    }
    return this.translateHot(p, i);
  }

  /**
   * The region of page p (region-gen.ts) entered at halfword i, with every other entry its
   * counters saw and its earlier regions' slots; its slots installed as blocks, but where the
   * block translator's blocks are. False if i starts nothing a region runs.
   */
  private region(p: PageCode, i: number): boolean {
    const h = this.h;
    const imports = this.blockImports();
    if (imports === null) {
      p.kinds[i] = NEVER;
      this.stats.failed++;
      return false;
    }
    if (!this.claim(p)) return false;
    p.regionBuilds++;
    const snap = this.snapshot();
    const tramp = this.tramp!;
    const entries = [i * 2];
    const kindsAt = p.kinds.byteOffset;
    const hitsAt = p.hits.byteOffset;
    // Entries counted at least a quarter of the way (a quantum's start counts too: a pc
    // counted once or twice is more likely that than an entry code jumps to).
    const warm = Math.max(1, this.wantAt >> 2);
    for (let j = tramp.warmAt(kindsAt, hitsAt, warm, 0); j >= 0; j = tramp.warmAt(kindsAt, hitsAt, warm, j + 1)) if (j !== i) entries.push(j * 2);
    for (const off of p.regionOffs) if (p.region[off >> 1] === 1) entries.push(off);
    this.tpl ??= new Templates(h.state.offset);
    const src = translateRegion(this.snapDv, 0, entries, h.rvc, this.tpl, hitsAt, this.threshold);
    const exports = src === null ? null : this.instantiate(src.wasm, imports);
    if (src === null || exports === null) {
      if (p.kinds[i] === NONE) p.kinds[i] = NEVER;
      return false;
    }
    if (this.nextIdx + src.nSlots > this.maxBlocks + 1) {
      this.flushAll();
      return false;
    }
    this.stats.regions++;
    this.stats.regionInsns += src.insns;
    // Export k is slot k (names "0", "1", ...: Object.values keeps their order).
    const fns = Object.values(exports) as BlockFn[];
    const added = p.installRegion(src, snap, i, (k) => {
      const ix = this.nextIdx++;
      this.table!.set(ix, fns[k]!);
      this.stats.regionSlots++;
      return ix;
    });
    this.blocks += added;
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
      this.bumpJc();
      return;
    }
    if (p.kinds[i] !== BLOCK && this.pages.get(p.ppn) === p && p.claimed && this.sync.generation(p.slot) === p.gen) {
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
    const imports = this.blockImports();
    if (imports === null) {
      p.kinds[i] = NEVER;
      this.stats.failed++;
      return false;
    }
    // Counts are shared with the other harts: one of them may have translated it just now.
    this.adoptNew(p);
    if (p.kinds[i] === BLOCK) return true;
    if (p.kinds[i] !== NONE) return false;
    if (this.nextIdx + BATCH > this.maxBlocks + 1) {
      this.flushAll();
      return false;
    }
    if (!this.claim(p)) return false;
    const snap = this.snapshot();
    // The hot block and the page's warm ones, in one module (codegen.ts: translateBlocks),
    // marked PENDING: with the page's blocks, where each block of the batch ends.
    const tramp = this.tramp!;
    const kinds = p.kinds;
    const kindsAt = kinds.byteOffset;
    const hitsAt = p.hits.byteOffset;
    const offs = [i * 2];
    kinds[i] = PENDING;
    for (let j = tramp.warmAt(kindsAt, hitsAt, this.warm, 0); j >= 0 && offs.length < BATCH; j = tramp.warmAt(kindsAt, hitsAt, this.warm, j + 1)) {
      offs.push(j * 2);
      kinds[j] = PENDING;
    }
    // A page's first blocks: the hot block's direct targets too. Until a page has blocks the
    // interpreter loop counts only its loop heads (interp-wasm.ts: jumped), so the code those
    // lead forward to would otherwise wait for its own count, block by block, through the
    // chains that leave for it.
    if (p.blocks === 0) {
      for (const t of directTargets(this.snapDv, 0, i * 2, h.rvc, kinds)) {
        if (offs.length >= BATCH) break;
        if (kinds[t >> 1] !== NONE) continue;
        offs.push(t);
        kinds[t >> 1] = PENDING;
      }
    }
    const src = translateBlocks(this.snapDv, 0, offs, h.rvc, this.share === null ? h.state.offset : -1, kinds);
    const exports = src === null ? null : this.instantiate(src.wasm, imports);
    // Offsets that start no block (or could not be compiled) are never tried again.
    for (const off of offs) kinds[off >> 1] = NEVER;
    if (src === null || exports === null) return false;
    this.stats.modules++;
    const shared: SharedBlock[] = [];
    for (let k = 0; k < src.blocks.length; k++) {
      const b = { off: src.offs[k]!, length: src.blocks[k]!.length, bytes: src.blocks[k]!.bytes };
      this.install(p, b, exports[String(k)] as BlockFn, snap, 0);
      shared.push(b);
      this.stats.translated++;
    }
    // Offered to the other harts only if no store reached the page since it was claimed
    // (the copy above is then what the page held while this hart had it claimed).
    if (this.share !== null && this.sync.generation(p.slot) === p.gen && this.share.publish(p.ppn, shared, snap, 0, src.wasm)) this.stats.published++;
    return kinds[i] === BLOCK;
  }

  /** Copy the fetch page's words to `snap` (what a translation decodes: code-share.ts says why); returns it. */
  private snapshot(): Int32Array {
    const base = this.h.fetchOff >> 2;
    this.snap.set(this.fetchWords().subarray(base, base + 1024));
    return this.snap;
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

  /**
   * Claim page p for translations (before its bytes are read: from then on every store to
   * it, by any hart, passes CodeSync.written; stores already in a store TLB are dropped by
   * the epoch). False, and the page's blocks dropped, when a store reached it meanwhile.
   */
  private claim(p: PageCode): boolean {
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

  /** Block b of page p as `fn`, translated from `words` (the page's, from `base`). */
  private install(p: PageCode, b: SharedBlock, fn: BlockFn, words: Int32Array<ArrayBufferLike>, base: number): void {
    const at = b.off >> 1;
    const ix = this.nextIdx++;
    // Blocks exist only once blockImports() made the table.
    this.table!.set(ix, fn);
    p.idx[at] = ix;
    p.kinds[at] = BLOCK;
    p.lens[at] = b.length;
    // The snapshot of this block's words is what it was translated from (bytes outside every
    // block's range are never compared, so they may have changed since the page was claimed).
    const [w0, w1] = wordsOf(b.off, b.bytes);
    p.bytes.set(words.subarray(base + w0, base + w1), w0);
    if (p.nRanges < RANGES) {
      p.ranges[2 * p.nRanges] = w0;
      p.ranges[2 * p.nRanges + 1] = w1;
    }
    p.nRanges++;
    p.blocks++;
    p.coded[0] = 1;
    this.blocks++;
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
      if (fresh === 0 || this.nextIdx + n > this.maxBlocks + 1) continue;
      // Only for a record of this page with blocks to adopt: a bucket's head also moves for
      // other pages, and a hart that never runs a block never builds the trampoline.
      const imports = this.blockImports();
      if (imports === null) return;
      if (!this.claim(p)) return;
      const words = this.fetchWords();
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
