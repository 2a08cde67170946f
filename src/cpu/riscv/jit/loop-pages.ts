/**
 * The pages the interpreter loop may move to without asking the dispatcher: the code-cache
 * state (kinds and hit counters) of an instruction-TLB entry's page, kept in the state area's
 * xKinds/xHits words where the loop's page move finds them (interp-wasm.ts: moveBody), and here
 * the PageCode they belong to, so that the dispatcher's page state can follow the loop.
 * jit/engine.ts owns one per hart.
 */
import { TLB_MASK, TLB_SIZE, TWO32 } from '../common.js';
import type { Hart } from '../hart.js';
import type { PageCode } from './page-code.js';

export class LoopPages {
  /** The page cached with each instruction-TLB entry. */
  private readonly pages: (PageCode | null)[] = new Array<PageCode | null>(TLB_SIZE).fill(null);
  /**
   * The entries of `pages` that are set, `count` of them (drop clears those rather than all
   * TLB_SIZE: it runs at every fence.i, ~43,000 in a Linux boot).
   */
  private readonly idx = new Int32Array(TLB_SIZE);
  private count = 0;

  constructor(private readonly h: Hart) {}

  /**
   * Keep the page's kinds and hit counters with the fetch page's instruction-TLB entry. Not
   * for a page only ever interpreted (the loop would count its entries); a TLB fill of the
   * entry clears them (mmu.ts), and drop() clears every entry (the translator's recheckPages,
   * flushAll, a page turned interpret-only).
   */
  cache(page: PageCode): void {
    const h = this.h;
    const base = h.fetchBase;
    const lo = base | 0;
    const vpn = lo >>> 12;
    const i = vpn & TLB_MASK;
    const kindsAt = page.kinds.byteOffset;
    if (h.xKinds[i] === kindsAt || page.interpretOnly) return;
    if (h.xTagLo[i] !== (vpn | h.tlbVpnTag) || h.xTagHi[i] !== (Math.floor(base / TWO32) | 0) || h.xPa[i] !== h.fetchPa) return;
    // A page's kinds and counters are always views of the state area's memory (Translator.pageFor).
    h.xKinds[i] = kindsAt;
    h.xHits[i] = page.hits.byteOffset;
    if (this.pages[i] === null) this.idx[this.count++] = i;
    this.pages[i] = page;
  }

  /** The loop moved to the page of instruction-TLB entry i (interp.ts): the dispatcher's page state follows. */
  moved(i: number): void {
    const page = this.pages[i];
    const h = this.h;
    if (page === null || page === undefined || h.xKinds[i] !== page.kinds.byteOffset) return;
    h.jitBase = h.fetchBase;
    h.jitKinds = page.kinds;
    h.jitHits = page.hits;
  }

  /** Forget every cached page. */
  drop(): void {
    const xKinds = this.h.xKinds;
    const pages = this.pages;
    const idx = this.idx;
    for (let k = 0; k < this.count; k++) {
      const i = idx[k]!;
      xKinds[i] = -1;
      pages[i] = null;
    }
    this.count = 0;
  }
}
