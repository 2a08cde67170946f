/**
 * A hart's block table: the WebAssembly table every translated block (and region slot) of the
 * hart is an entry of, the trampoline blocks continue through (trampoline.ts), and the imports
 * they are instantiated with. Blocks call one another only through the trampoline's look-up in
 * this table, so dropping every translation is resetting the next free index (code-cache.ts:
 * flushAll), and the table's size bounds the host memory a hart's translations hold.
 */
import type { Hart } from '../hart.js';
import { buildTrampoline, type BlockFn, type SlowPaths, type Trampoline } from './trampoline.js';

export class BlockTable {
  /**
   * Made with the trampoline, before the first translation or adoption (max + 1 entries and a
   * module compile that a hart which never translates does without).
   */
  private table: WebAssembly.Table | null = null;
  /** The trampoline; null until built, and where the host cannot compile it (no tail calls: everything is interpreted). */
  tramp: Trampoline | null = null;
  private imports: WebAssembly.Imports | null = null;
  private tried = false;
  /** The next free index (0 holds the trampoline's miss). */
  private next = 1;
  /** Translated blocks currently cached (region slots and threaded blocks included). */
  blocks = 0;

  constructor(
    private readonly h: Hart,
    /** Entries before the whole cache is dropped (engine.ts: MAX_BLOCKS, MAX_BLOCKS_REGIONS). */
    private readonly max: number,
    private readonly slow: SlowPaths,
  ) {}

  /** Build the trampoline once; what blocks import, or null where they cannot be instantiated. */
  blockImports(): WebAssembly.Imports | null {
    if (!this.tried) {
      this.tried = true;
      const h = this.h;
      try {
        const table = new WebAssembly.Table({ element: 'anyfunc', initial: this.max + 1 });
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

  /** Whether n more entries fit before the table is full. */
  fits(n: number): boolean {
    return this.next + n <= this.max + 1;
  }

  /** Add `fn` (blockImports() made the table); its index. */
  add(fn: BlockFn): number {
    const ix = this.next++;
    this.table!.set(ix, fn);
    return ix;
  }

  /** Every entry free again (the code cache dropped every translation). */
  clear(): void {
    this.next = 1;
    this.blocks = 0;
  }
}
