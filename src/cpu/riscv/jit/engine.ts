/**
 * The translating engine: a dispatcher that runs translated blocks when it
 * has them and the interpreter otherwise, a per-hart code cache keyed by
 * physical page, hotness counting, and invalidation. docs/cpu.md has the
 * design and the measurements behind the thresholds.
 */
import { CI, CV } from '../common.js';
import type { Hart } from '../hart.js';
import { inner } from '../interp.js';
import { fetchPageCached, flushStoreTlb, loadSlow, storeSlow } from '../mmu.js';
import { mulDiv, mulDivW, mulhu32 } from '../muldiv.js';
import { CodeSync } from './code-sync.js';
import { translateBlock } from './codegen.js';

/**
 * Executions (via the interpreter) of a block entry before it is translated.
 * A translated block costs ~0.1-0.5 ms of host CPU to parse and later to
 * optimise; measured on a cold process running 2,000 distinct blocks 1,000
 * times each, a threshold of 256 ran at 1.5 MIPS against the interpreter's 26
 * (every block compiled, none amortised). At 4,096 such code stays with the
 * interpreter, and only loops that run long enough to repay the compile are
 * translated.
 */
export const HOT_THRESHOLD = 4096;
/** Translated blocks per hart before the whole cache is dropped (bounds host memory). */
export const MAX_BLOCKS = 8192;
/** Pages with code-cache state per hart. */
export const MAX_PAGES = 2048;
/** Invalidations of one page (stores into it) after which it is only interpreted. */
export const MAX_INVALIDATIONS = 16;

type BlockFn = (pc: number, end: number) => void;

/** Code-cache state of one physical page. */
class PageCode {
  /** Per halfword offset: the translated block, null if untranslatable, undefined if not (yet) translated. */
  readonly fns: (BlockFn | null | undefined)[] = [];
  /** Instructions in the block at each offset (the budget check before calling it). */
  readonly lens = new Uint8Array(2048);
  readonly hits = new Uint16Array(2048);
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
  /** Builds a block function from its body with the hart's state in scope. */
  private readonly factoryArgs: string[];
  private readonly factoryVals: unknown[];
  /** Counters for tests and the benchmarks. */
  readonly stats = { translated: 0, invalidated: 0, flushes: 0, translatedSteps: 0 };

  constructor(
    private readonly h: Hart,
    private readonly threshold = HOT_THRESHOLD,
  ) {
    this.sync = h.codeSync;
    h.jitThreshold = threshold;
    const env: Record<string, unknown> = {
      h,
      xlo: h.xlo,
      xhi: h.xhi,
      rTagLo: h.rTagLo,
      rTagHi: h.rTagHi,
      rOff: h.rOff,
      rDv: h.rDv,
      rF64: h.rF64,
      wTagLo: h.wTagLo,
      wTagHi: h.wTagHi,
      wOff: h.wOff,
      wDv: h.wDv,
      wF64: h.wF64,
      CV,
      CI,
      loadSlow,
      storeSlow,
      mulDiv,
      mulDivW,
      mulhu32,
    };
    this.factoryArgs = Object.keys(env);
    this.factoryVals = Object.values(env);
  }

  /** Run until `end` steps or an exit request (the caller's quantum). */
  run(end: number): void {
    const h = this.h;
    const sync = this.sync;
    while (h.steps < end && !h.exitRequest) {
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
      if (fn !== undefined && fn !== null) {
        if (sync.generation(page.slot) !== page.gen) {
          this.invalidate(page);
          continue;
        }
        if (h.steps + page.lens[i]! <= end) {
          const s0 = h.steps;
          fn(pc, end); // a trap unwinds past the count: the statistic excludes trapping passes
          this.stats.translatedSteps += h.steps - s0;
          continue;
        }
      } else if (fn === undefined && !page.interpretOnly && ++page.hits[i]! >= this.threshold) {
        if (this.translate(page, i, pc)) continue;
      }
      h.jitBase = h.fetchBase;
      h.jitFns = page.fns;
      h.jitHits = page.hits;
      inner(h, end, true);
    }
  }

  /** Drop every translation (fence.i, or the cache is full). */
  flushAll(): void {
    for (const p of this.pages.values()) if (p.claimed) this.sync.release(p.slot);
    this.pages.clear();
    this.cur = null;
    this.curPa = -1;
    this.blocks = 0;
    this.stats.flushes++;
  }

  /**
   * The memory map changed (a device mapped or unmapped, a ROM device switched
   * mode): the same physical page may now hold other bytes. Rather than
   * dropping everything (U-Boot's flash probing changes the map hundreds of
   * times), each page compares its bytes with those it was translated from
   * before its blocks run again.
   */
  remapped(): void {
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

  private invalidate(p: PageCode): void {
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
    if (this.blocks >= MAX_BLOCKS) {
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
    const src = translateBlock(h.fetchDv, h.fetchOff, i * 2, h.rvc);
    if (src === null) {
      p.fns[i] = null;
      return false;
    }
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- translation is this module's purpose
    const factory = new Function(...this.factoryArgs, `return function block(pc, end) {\n${src.body}\n};`) as (
      ...a: unknown[]
    ) => BlockFn;
    const fn = factory(...this.factoryVals);
    p.fns[i] = fn;
    p.lens[i] = src.length;
    p.blocks++;
    this.blocks++;
    this.stats.translated++;
    void pc;
    return true;
  }
}
