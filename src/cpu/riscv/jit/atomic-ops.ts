/**
 * The A extension on a data-TLB hit, for the two code generators that run it in wasm:
 * translated blocks (block-emitter.ts) and the interpreter loop (interp-wasm-ops.ts). Each
 * probes the TLB (the load TLB for LR, the store TLB for SC and the read-modify-writes: a RAM
 * page of the memory, naturally aligned, no code page in the store TLB) and emits this for a
 * hit; a miss runs the instruction in the interpreter's JavaScript (amo.ts), which keeps the
 * reservation in the same state-area words.
 */
import { ST_RES_KEY, ST_RES_VAL } from '../state-area.js';
import { Op, type Bytes } from './wasm-writer.js';

/** The read-modify-write AMOs by funct5 (AMOADD, AMOSWAP, AMOXOR, AMOAND, AMOOR): the wasm atomic opcode after 0xfe (i32; the i64 form is +1). */
const AMO_RMW_OPS: Readonly<Record<number, number>> = { 0: 0x1e, 1: 0x41, 4: 0x3a, 0xc: 0x2c, 8: 0x33 };
export const F5_LR = 2;
const F5_SC = 3;

/** Whether emitAtomicHit runs funct5 f5 (everything but the min/max AMOs). */
export function atomicInline(f5: number): boolean {
  return f5 === F5_LR || f5 === F5_SC || AMO_RMW_OPS[f5] !== undefined;
}

/** What emitAtomicHit needs of its generator. */
export interface AtomicHit {
  /** Push the word's byte address in the memory (i32: the TLB hit's). */
  readonly addr: () => void;
  /** Push rs2 (i64). */
  readonly src: () => void;
  /** Push the address that state-area field `at(f)` is read from and written to (i32). */
  readonly base: () => void;
  readonly at: (field: number) => number;
  /** An i64 scratch local. */
  readonly tmp: number;
}

/** f64.const NaN: no reservation (state-area.ts ST_RES_KEY). */
const NAN = [0, 0, 0, 0, 0, 0, 0xf8, 0x7f];

/**
 * Push rd's new value (i64) for funct5 f5 of width `d` (.D, else .W) on a TLB hit.
 * LR: an atomic load, reserved (the word's address as the key, the value read). SC: when the
 * reservation is on this word, a compare-and-exchange against the value LR read — it stores iff
 * memory still holds that value, as the interpreter's does — giving 0, else 1; either way the
 * reservation is gone. The read-modify-writes: one wasm atomic, sequentially consistent like the
 * interpreter's compare-and-exchange loop on the same memory.
 */
export function emitAtomicHit(c: Bytes, f5: number, d: boolean, h: AtomicHit): void {
  if (f5 === F5_LR) {
    h.base();
    h.addr();
    c.op(Op.f64_convert_i32_u).mem(Op.f64_store, 3, h.at(ST_RES_KEY));
    h.addr();
    // i64.atomic.load, or i32.atomic.load sign-extended.
    if (d) c.op(Op.atomic_prefix).uleb(0x11).uleb(3).uleb(0);
    else c.op(Op.atomic_prefix).uleb(0x10).uleb(2).uleb(0).op(Op.i64_extend_i32_s);
    c.set(h.tmp);
    h.base();
    c.get(h.tmp).mem(Op.i64_store, 3, h.at(ST_RES_VAL));
    c.get(h.tmp);
    return;
  }
  if (f5 === F5_SC) {
    const expected = (): void => {
      h.base();
      c.mem(d ? Op.i64_load : Op.i32_load, d ? 3 : 2, h.at(ST_RES_VAL));
    };
    h.base();
    c.mem(Op.f64_load, 3, h.at(ST_RES_KEY));
    h.addr();
    c.op(Op.f64_convert_i32_u).op(Op.f64_eq);
    c.op(Op.if_).byte(0x7e /* i64 */);
    h.addr();
    expected();
    h.src();
    if (!d) c.op(Op.i32_wrap_i64);
    // i64 / i32 .atomic.rmw.cmpxchg: the value memory held; the store happened iff it is the expected one.
    c.op(Op.atomic_prefix).uleb(d ? 0x49 : 0x48).uleb(d ? 3 : 2).uleb(0);
    expected();
    c.op(d ? Op.i64_ne : Op.i32_ne).op(Op.i64_extend_i32_u);
    c.op(Op.else_);
    c.i64(1);
    c.op(Op.end);
    h.base();
    c.op(Op.f64_const).bytes(NAN).mem(Op.f64_store, 3, h.at(ST_RES_KEY));
    return;
  }
  h.addr();
  h.src();
  if (!d) c.op(Op.i32_wrap_i64);
  c.op(Op.atomic_prefix).uleb(AMO_RMW_OPS[f5]! + (d ? 1 : 0)).uleb(d ? 3 : 2).uleb(0);
  if (!d) c.op(Op.i64_extend_i32_s);
}
