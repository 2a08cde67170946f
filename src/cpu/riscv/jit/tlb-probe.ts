/**
 * The TLB probes as WebAssembly: the data TLBs' for translated blocks
 * (block-emitter.ts) and the interpreter loop (interp-wasm.ts), the instruction
 * TLB's for the jump trampoline (trampoline.ts) and the loop's page changes:
 * one encoding of the TLBs' tag scheme (state-area.ts, mmu.ts) for all.
 *
 * A data TLB entry's tag is the page's address with the translation context
 * in bits 3..8 (state-area.ts); masking the access's i64 address to page and
 * alignment bits and OR-ing the current context in checks page, context,
 * natural alignment and that the page is in this memory in one i64 compare (a
 * misaligned access, which might cross the page, misses and takes the slow path).
 */
import { TLB_MASK } from '../common.js';
import { ST_TLB_TAG, ST_TLB_VPN_TAG, ST_X_TAG_HI, ST_X_TAG_LO, TLB_REC, TLB_REC_ABS } from '../state-area.js';
import { Op, type Bytes } from './wasm-writer.js';

export interface ProbeLocals {
  /** i64: the virtual address. */
  readonly a: number;
  /** i32: its low word. */
  readonly lo: number;
  /** i32: the entry's record offset (TLB_REC per entry), plus the state area's address when `sb` is given. */
  readonly ix: number;
  /** i32: the page's byte address in the memory on a hit. */
  readonly abs: number;
  /** i32 local holding the state area's address, or null when `state` is a constant. */
  readonly sb: number | null;
  /** The state area's address as a constant (0 with `sb`). */
  readonly state: number;
  /**
   * An i64 local holding the context's tag bits (ST_TLB_TAG), loaded where the code starts:
   * for code that leaves whenever the context changes (a region: region-templates.ts), one
   * load less per access.
   */
  readonly ctx?: number;
  /** Read the page's abs on a hit (emitHitAddress with the TLB) rather than in the probe: one load less on a miss, none more on a hit. */
  readonly lateAbs?: boolean;
}

/**
 * With the i64 address on the stack: stores it in `a` (its low word in `lo`), probes the
 * data TLB whose records start at state-area field `tlb` (the entry's record offset in `ix`,
 * its abs in `abs`), and pushes the hit test (i32). `align` is the access's alignment bits
 * (size - 1), or pushes them (i32) when the size is known only at run time.
 */
export function emitProbe(c: Bytes, l: ProbeLocals, tlb: number, align: number | (() => void)): void {
  c.tee(l.a).op(Op.i32_wrap_i64).tee(l.lo);
  // The entry's record offset: ((lo >>> 12) & TLB_MASK) * TLB_REC.
  c.i32(12 - Math.log2(TLB_REC)).op(Op.i32_shr_u).i32(TLB_MASK * TLB_REC).op(Op.i32_and);
  if (l.sb !== null) c.get(l.sb).op(Op.i32_add);
  if (l.lateAbs === true) c.tee(l.ix);
  else c.tee(l.ix).mem(Op.i32_load, 2, l.state + tlb + TLB_REC_ABS).set(l.abs).get(l.ix);
  c.mem(Op.i64_load, 3, l.state + tlb).get(l.a);
  if (typeof align === 'number') c.i64(-4096 | align);
  else {
    c.i64(-4096);
    align();
    c.op(Op.i64_extend_i32_u).op(Op.i64_or);
  }
  c.op(Op.i64_and);
  if (l.ctx !== undefined) c.get(l.ctx);
  else {
    if (l.sb !== null) c.get(l.sb);
    else c.i32(0);
    c.mem(Op.i64_load32_u, 2, l.state + ST_TLB_TAG);
  }
  c.op(Op.i64_or).op(Op.i64_eq);
}

/** Push the high word of the address in `a` (i32). */
export function emitHigh(c: Bytes, l: ProbeLocals): void {
  c.get(l.a).i64(32).op(Op.i64_shr_u).op(Op.i32_wrap_i64);
}

/** Push the host address of a probe hit: the page's place in memory plus the page offset (`tlb`: the probe's TLB, with lateAbs). */
export function emitHitAddress(c: Bytes, l: ProbeLocals, tlb = 0): void {
  if (l.lateAbs === true) c.get(l.ix).mem(Op.i32_load, 2, l.state + tlb + TLB_REC_ABS);
  else c.get(l.abs);
  c.get(l.lo).i32(4095).op(Op.i32_and).op(Op.i32_add);
}

/** Locals of the instruction-TLB probe. */
export interface ExecProbeLocals {
  /** i64: the virtual pc. */
  readonly pc: number;
  /** i32 scratch (the low word of its page number). */
  readonly vpn: number;
  /** i32: the entry's byte index (4 per entry), plus the state area's address when `sb` is given. */
  readonly ix: number;
  /** i32 local holding the state area's address, or null when `state` is a constant. */
  readonly sb: number | null;
  /** The state area's address as a constant (0 with `sb`). */
  readonly state: number;
}

/** Probe the instruction TLB for the page of `pc`: the entry's index into `ix`, and pushes the hit test (i32). */
export function emitExecProbe(c: Bytes, l: ExecProbeLocals): void {
  c.get(l.pc).op(Op.i32_wrap_i64).i32(12).op(Op.i32_shr_u).tee(l.vpn);
  c.i32(TLB_MASK).op(Op.i32_and).i32(2).op(Op.i32_shl);
  if (l.sb !== null) c.get(l.sb).op(Op.i32_add);
  c.tee(l.ix);
  c.mem(Op.i32_load, 2, l.state + ST_X_TAG_LO).get(l.vpn);
  if (l.sb !== null) c.get(l.sb);
  else c.i32(0);
  c.mem(Op.i32_load, 2, l.state + ST_TLB_VPN_TAG).op(Op.i32_or).op(Op.i32_eq);
  c.get(l.ix).mem(Op.i32_load, 2, l.state + ST_X_TAG_HI).get(l.pc).i64(32).op(Op.i64_shr_u).op(Op.i32_wrap_i64).op(Op.i32_eq).op(Op.i32_and);
}
