/**
 * The interpreter: a loop generated as WebAssembly (interp-wasm.ts) runs the
 * integer instructions, and this side does what it leaves to JavaScript.
 *
 * Why wasm: a JavaScript loop ran its first million instructions at ~10
 * MIPS until V8 had optimised it (a ~25 ms compile), needed a warm-up so
 * that compile would not deoptimise later, and was bimodal across processes;
 * a wasm function runs at Liftoff speed from its first instruction and has
 * no type feedback to settle (docs/cpu-performance.md, *The interpreter loop in WebAssembly*).
 *
 * The loop leaves with a reason; here: a fetch the loop cannot make itself
 * (a page the instruction TLB does not have, one not in its memory, one the
 * translator has not cached for it in the dispatcher's mode, or the next page
 * of an instruction crossing into it missing) goes through `fetchSlow` and back
 * into the loop with the word; instructions the loop leaves out go to `execOther`
 * (and encodings of the loop's own major opcodes that it rejects are
 * illegal); a compressed parcel not yet in the loop's table is expanded
 * into it. Loads and stores that miss the TLBs call the slow paths below
 * from inside the loop with the exact pc and count, so traps are precise.
 */
import { LOAD_SIZE, TRAP } from './common.js';
import type { Hart } from './hart.js';
import { interpreterModule } from './interp-wasm.js';
import { R_BUDGET, R_JUMP, R_LEAVE, R_OTHER, R_PAGE, R_RVC, R_TRAP } from './interp-wasm-frame.js';
import { OWNED } from './interp-wasm-ops.js';
import { execZb, zbKind } from './bitmanip.js';
import { fetchSlow, loadSlow, storeSlow } from './mmu.js';
import { rvcFill } from './rvc.js';
import { ST_CHAIN_STEPS, ST_LOOP_ABS, ST_LOOP_HITS, ST_LOOP_ILEN, ST_LOOP_INSN, ST_LOOP_KINDS, ST_LOOP_MODE, ST_LOOP_RAW, ST_LOOP_THRESHOLD, ST_LOOP_HOT, ST_LOOP_REASON, ST_LOOP_VBASE, ST_LOOP_XIDX, ST_PC_OUT, ST_RVC, ST_T } from './state-area.js';
import { execOther } from './system.js';

/** Run until `end` steps or an exit request. */
export const RUN = 0;
/**
 * For the translator's dispatcher: also return after taken branches and jumps that may enter
 * a translated or hot block (off the page, or what `Translator`'s page state says), and ask
 * the translator on entering a page (Translator.enterPage), so the dispatcher sees those
 * block entries.
 */
export const DISPATCH = 1;
/**
 * For a debugger stepping one instruction at a time: returns after taken jumps as DISPATCH
 * does but never asks the translator, whose answer may be to hand the instruction back (the
 * debugger's loop would then never get past it).
 */
export const STEP = 2;

/** The loop's compiled module, the same for every hart of this realm (its state area is an import). */
let loopModule: WebAssembly.Module | null = null;

type LoopFn = (pc: number, budget: number, raw: number, hasRaw: number) => number;
/** Threaded code's decoder (jit/thread-code.ts): abs, off, sb, kinds, hits, count -> header record (0: none). */
export type ThreadDecodeFn = (abs: number, off: number, sb: number, kinds: number, hits: number, count: number) => number;

/** One hart's interpreter (the loop's instance over the hart's state area). */
export class Interpreter {
  private readonly loop: LoopFn;
  /** The loop module's threaded-code decoder, for the dispatcher's decodes (jit/engine.ts: thread). */
  readonly decodeThreaded: ThreadDecodeFn;
  private readonly f64: Float64Array;
  private readonly i32: Int32Array;
  private readonly rvc: Int32Array;
  private readonly buffer: ArrayBufferLike;
  /** Step count and fetch page when the loop was entered (the slow paths count from there). */
  private entrySteps = 0;
  private entryFetch = 0;
  /**
   * The trampoline's jump (jit/trampoline.ts), through which the loop runs translated blocks
   * (interp-wasm.ts: chainBody); empty until the hart's translator builds its trampoline.
   */
  private readonly chain = new WebAssembly.Table({ element: 'anyfunc', initial: 1, maximum: 1 });
  /** The last fetch view seen and its byte offset in the loop's memory (-1: elsewhere). */
  private dv: DataView | null = null;
  private dvAt = -1;
  /** Returns of the loop to this side (every exit; tests and profiles look at it). */
  exits = 0;
  /** The last page kinds seen, and their and their hit counters' addresses (-1: elsewhere). */
  private kinds: Uint8Array<ArrayBufferLike> | null = null;
  private kindsAt = -1;
  private hitsAt = -1;

  constructor(private readonly h: Hart) {
    const memory = h.state.memory;
    const state = h.state.offset;
    this.buffer = memory.buffer;
    this.f64 = new Float64Array(memory.buffer, state, ST_CHAIN_STEPS / 8 + 1);
    this.i32 = new Int32Array(memory.buffer, state, ST_LOOP_HOT / 4 + 1);
    this.rvc = new Int32Array(memory.buffer, state + ST_RVC, 65536);
    this.rvc.fill(1);
    // The slow paths return 0 to go on, 1 when the access is done but the loop must return (an
    // exit request, or the fetch page dropped: a TLB flush or map change), 2 when it trapped
    // (the hart is at the trap vector).
    const ld = (pc: number, cnt: number, lo: number, hi: number, f3: number): number => {
      h.pc = pc;
      h.steps = this.entrySteps + cnt;
      try {
        if (h.debug !== null) h.debugAccess(lo, hi, LOAD_SIZE[f3]!, false);
        loadSlow(h, lo, hi, f3);
      } catch (err) {
        if (err !== TRAP) throw err;
        return 2;
      }
      this.i32[ST_T / 4] = h.tLo;
      this.i32[ST_T / 4 + 1] = h.tHi;
      return h.exitRequest || h.fetchBase !== this.entryFetch ? 1 : 0;
    };
    const st = (pc: number, cnt: number, lo: number, hi: number, size: number, vlo: number, vhi: number): number => {
      h.pc = pc;
      h.steps = this.entrySteps + cnt;
      try {
        if (h.debug !== null) h.debugAccess(lo, hi, size, true);
        storeSlow(h, lo, hi, size, vlo, vhi);
      } catch (err) {
        if (err !== TRAP) throw err;
        return 2;
      }
      // A store to a code page makes the jump cache stale now, before the loop calls a chain.
      if (h.jit !== null) h.jit.codeWritten();
      return h.exitRequest || h.fetchBase !== this.entryFetch ? 1 : 0;
    };
    loopModule ??= new WebAssembly.Module(interpreterModule());
    const inst = new WebAssembly.Instance(loopModule, { e: { m: memory, ld, st, s: state, jt: this.chain } });
    this.loop = inst.exports['run'] as LoopFn;
    this.decodeThreaded = inst.exports['dec'] as ThreadDecodeFn;
  }

  /**
   * Run an instruction the loop counted and left to this side; `raw` is the fetched word,
   * whose first halfword an illegal compressed instruction reports. The loop executes every
   * valid encoding of its own major opcodes but the bit-manipulation ones (bitmanip.ts), which
   * run here; any other of those here is illegal: the trap is entered and the result is false.
   * Everything else (CSR, SYSTEM, FENCE.I, F/D, the AMOs it cannot run) runs through
   * execOther. Translated blocks' one-instruction calls come here too (jit/slow-paths.ts: x):
   * the translator leaves to them only such instructions and illegal encodings of the loop's
   * opcodes.
   */
  execLeft(insn: number, ilen: number, raw: number): boolean {
    const h = this.h;
    if (OWNED.has((insn >> 2) & 31)) {
      // The loop runs its opcodes' base encodings; Zba/Zbb/Zbc/Zbs are JavaScript's.
      const zb = zbKind(insn);
      if (zb >= 0) {
        execZb(h, insn, ilen, zb);
        return true;
      }
      h.trapIllegal(ilen === 2 ? raw & 0xffff : insn);
      return false;
    }
    h.curRaw = raw;
    execOther(h, insn, ilen);
    return true;
  }

  /** Let the loop run translated blocks through the trampoline's jump `j`. */
  setChain(j: (pc: number, budget: number, retired: number) => number): void {
    this.chain.set(0, j);
  }

  /** Run until `end` steps or an exit request (`mode`: RUN, DISPATCH or STEP). */
  run(end: number, mode: number): void {
    const h = this.h;
    this.i32[ST_LOOP_MODE / 4] = mode === RUN ? 0 : 1;
    // Chains of blocks run from the loop only in the dispatcher's mode (a debugger's STEP runs
    // one instruction, less than any chain needs: the loop leaves at a block instead).
    const jit = mode === DISPATCH ? h.jit : null;
    this.i32[ST_LOOP_THRESHOLD / 4] = h.jitThreshold;
    this.i32[ST_LOOP_HOT / 4] = h.jitHot;
    let raw = 0;
    let hasRaw = 0;
    while (h.steps < end && !h.exitRequest) {
      // The fetch page as the loop sees it: directly only when it lies in the loop's memory.
      // (Which views lie there is remembered per view: the dispatcher calls here for every
      // run of cold code, and for the tail of every quantum that ends inside a block.)
      const base = h.fetchBase;
      const dv = h.fetchDv;
      if (dv !== this.dv) {
        this.dv = dv;
        this.dvAt = dv.buffer === this.buffer ? dv.byteOffset : -1;
      }
      const direct = base === base && this.dvAt >= 0;
      this.f64[ST_LOOP_VBASE / 8] = direct ? base : NaN;
      this.i32[ST_LOOP_ABS / 4] = direct ? this.dvAt + h.fetchOff : -1;
      // The page state the dispatcher handed over, where the loop counts jumps into it.
      const kinds = h.jitKinds;
      if (kinds !== this.kinds) {
        this.kinds = kinds;
        const mine = kinds.buffer === this.buffer && h.jitHits.buffer === this.buffer;
        this.kindsAt = mine ? kinds.byteOffset : -1;
        this.hitsAt = mine ? h.jitHits.byteOffset : -1;
      }
      const counted = direct && base === h.jitBase && this.kindsAt >= 0;
      this.i32[ST_LOOP_KINDS / 4] = counted ? this.kindsAt : -1;
      this.i32[ST_LOOP_HITS / 4] = this.hitsAt;
      this.entrySteps = h.steps;
      this.entryFetch = base;
      const flushes = h.tlbFlushes;
      this.i32[ST_LOOP_XIDX / 4] = -1;
      if (jit !== null) {
        // Chains the loop calls count from here, and start with a current jump cache.
        jit.entrySteps = h.steps;
        jit.entryFlushes = flushes;
        jit.codeWritten();
      }
      const n = this.loop(h.pc, Math.min(end - h.steps, 0x3fffffff), raw, hasRaw);
      hasRaw = 0;
      this.exits++;
      h.steps = this.entrySteps + n;
      if (jit !== null) {
        const chained = this.f64[ST_CHAIN_STEPS / 8]!;
        if (chained !== 0) {
          jit.stats.translatedSteps += chained;
          this.f64[ST_CHAIN_STEPS / 8] = 0;
        }
      }
      // The loop moved to another page (interp-wasm.ts: moveBody): that page is now the
      // fetch page, unless a slow path flushed the TLBs since (the fetch page is none then).
      const moved = this.i32[ST_LOOP_XIDX / 4]!;
      if (moved >= 0 && h.tlbFlushes === flushes) {
        h.fetchBase = this.f64[ST_LOOP_VBASE / 8]!;
        h.fetchOff = h.xOff[moved]!;
        h.fetchDv = h.xDv[moved]!;
        h.fetchPa = h.xPa[moved]!;
        h.jit?.loopMoved(moved);
      }
      const reason = this.i32[ST_LOOP_REASON / 4]!;
      // A slow path trapped: pc is the trap vector already.
      if (reason === R_TRAP) return;
      h.pc = this.f64[ST_PC_OUT / 8]!;
      if (reason === R_BUDGET || reason === R_LEAVE || reason === R_JUMP) return;
      if (reason === R_PAGE) {
        // Not executed yet. A fetch fault throws TRAP to the caller, as any trap does, with the
        // instruction counted (as the loop counts one that traps in a slow path).
        h.steps++;
        raw = fetchSlow(h) | 0;
        h.steps--;
        hasRaw = 1;
        if (mode === DISPATCH && h.jit !== null) {
          const d = h.pc - h.fetchBase;
          if (d >= 0 && d < 4096 && h.jit.enterPage() === 0) return;
        }
      } else if (reason === R_RVC) {
        // Not executed yet: expand the parcel into the loop's table (0: illegal).
        const p = this.i32[ST_LOOP_INSN / 4]!;
        const x = rvcFill(h.rvc, p);
        this.rvc[p] = x;
        if (x === 0) {
          h.steps++;
          h.trapIllegal(p);
          return;
        }
      } else if (reason === R_OTHER) {
        // Counted, not executed.
        const insn = this.i32[ST_LOOP_INSN / 4]!;
        const ilen = this.i32[ST_LOOP_ILEN / 4]!;
        const fetchBase = h.fetchBase;
        if (!this.execLeft(insn, ilen, this.i32[ST_LOOP_RAW / 4]!)) return;
        // System instructions that change privilege, translation or interrupt state ask for
        // an exit or drop the fetch page; fences, AMOs and FP just continue.
        if (h.exitRequest || fetchBase !== h.fetchBase) return;
        // The translator ends blocks before these instructions, so the one after is where
        // translated code would resume: a block entry like a jump target.
        if (mode !== RUN && this.wanted(h.pc - h.fetchBase)) return;
      }
    }
  }

  /**
   * Whether the dispatcher wants the instruction at byte offset `d` of the fetch page: one off
   * the page or the page it handed over, a translated block, or a block whose count (this
   * entry counted, as the dispatcher would) makes wanted (Translator.wanted). The dispatcher
   * handed a page over (jitBase), so there is a translator.
   */
  private wanted(d: number): boolean {
    const h = this.h;
    if (!(d >= 0 && d < 4096) || h.fetchBase !== h.jitBase) return true;
    const i = d >> 1;
    const kind = h.jitKinds[i]!;
    if (kind !== 0) return kind === 1;
    return h.jit!.wanted(++h.jitHits[i]!);
  }
}
