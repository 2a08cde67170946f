/**
 * The JavaScript functions translated blocks call through the trampoline (trampoline.ts:
 * SlowPaths): a load or store the inline TLB probe missed, and one instruction a block leaves
 * to the interpreter (block-emitter.ts: helper). jit/engine.ts builds them once per hart.
 */
import { TRAP } from '../common.js';
import type { Hart } from '../hart.js';
import { loadSlow, storeSlow } from '../mmu.js';
import { ST_T } from '../state-area.js';
import type { SlowPaths } from './trampoline.js';

/** What the slow paths read of the dispatcher: where the running chain of blocks started. */
export interface ChainStart {
  /** The hart's step count when the dispatcher entered the chain (a block's count is relative to it). */
  readonly entrySteps: number;
  /** The hart's TLB flush count then: a flush since ends the chain (blocks' inline probes are stale). */
  readonly entryFlushes: number;
  /** Whether some hart stored to a code page since the last look (blocks may be stale). */
  codeWritten(): boolean;
}

/**
 * The slow paths of hart h's blocks. Each gets the instruction's pc and the chain's retired
 * count including it, and returns 1 when the chain must stop after this access: an exit
 * request, the TLBs flushed, or a store to any code page (by this hart or another); 2 when the
 * access trapped (the hart is at the trap vector, `pcOut` too, and leaves the quantum as a
 * thrown trap would: unwinding a JS exception through wasm frames cost microseconds per page
 * fault). `x` returns -1 to go on, or the retired count with `pcOut` set when the chain must
 * leave.
 */
export function chainSlowPaths(h: Hart, chain: ChainStart, pcOut: Float64Array): SlowPaths {
  const si32 = h.stateI32;
  const tLo = ST_T / 4;
  const tHi = tLo + 1;
  const trapped = (): number => {
    pcOut[0] = h.pc;
    h.exitRequest = true;
    return 2;
  };
  const ld = (pc: number, cnt: number, lo: number, hi: number, f3: number): number => {
    h.pc = pc;
    h.steps = chain.entrySteps + cnt;
    try {
      loadSlow(h, lo, hi, f3);
    } catch (e) {
      if (e !== TRAP) throw e;
      return trapped();
    }
    si32[tLo] = h.tLo;
    si32[tHi] = h.tHi;
    return h.exitRequest || h.tlbFlushes !== chain.entryFlushes ? 1 : 0;
  };
  const st = (pc: number, cnt: number, lo: number, hi: number, size: number, vlo: number, vhi: number): number => {
    h.pc = pc;
    h.steps = chain.entrySteps + cnt;
    try {
      storeSlow(h, lo, hi, size, vlo, vhi);
    } catch (e) {
      if (e !== TRAP) throw e;
      return trapped();
    }
    return chain.codeWritten() || h.exitRequest || h.tlbFlushes !== chain.entryFlushes ? 1 : 0;
  };
  const x = (pc: number, cnt: number, ilen: number, insn: number, parcel: number): number => {
    h.pc = pc;
    // Counted, then run as the interpreter runs what its loop leaves to this side.
    h.steps = chain.entrySteps + cnt;
    try {
      h.interp.execLeft(insn, ilen, parcel);
    } catch (e) {
      if (e !== TRAP) throw e;
      h.exitRequest = true;
    }
    if (!chain.codeWritten() && h.pc === pc + ilen && !h.exitRequest && h.tlbFlushes === chain.entryFlushes) return -1;
    pcOut[0] = h.pc;
    return h.steps - chain.entrySteps;
  };
  return { ld, st, x };
}
