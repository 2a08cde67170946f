/**
 * Internals shared by the hart's modules (interpreter, MMU, CSRs, translator):
 * the trap sentinel, TLB geometry and 64-bit helpers.
 */
/** Thrown (never escapes run()) after a trap has been taken, to abandon the current instruction. */
export class TrapTaken {
  readonly trap = true;
}
export const TRAP = new TrapTaken();
/** A shared word whose atomic update is the host memory barrier behind FENCE. */
export const FENCE_WORD = new Int32Array(new SharedArrayBuffer(4));

export const TLB_SIZE = 1024;
export const TLB_MASK = TLB_SIZE - 1;
export const TWO32 = 4294967296;
export const NO_PAGE = -1;

export const LOAD_SIZE = [1, 2, 4, 8, 1, 2, 4, 0];

export function toU64(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
export function u64(v: number): bigint {
  return BigInt.asUintN(64, BigInt(v));
}

/** A view of one window of a RAM buffer; TLB offsets and Atomics indices are relative to `base`. */
export interface RamWindow {
  readonly base: number;
  readonly dv: DataView;
  readonly i32: Int32Array;
  readonly i64: BigInt64Array;
  /** Aligned 8-byte loads and stores go through this view: one host access, never torn. */
  readonly f64: Float64Array;
}

/** 1 GiB: offsets within a window (plus a page) stay below 2^31. */
export const RAM_WINDOW = 2 ** 30;


/**
 * Scratch for moving 64 bits between a Float64Array element and two int32 halves: an
 * aligned Float64Array access is one 8-byte host load/store, so a 64-bit guest access
 * is single-copy atomic between worker threads (two 32-bit accesses could tear).
 * Typed-array float64 loads and stores keep NaN payloads bit for bit.
 */
export const CV = new Float64Array(1);
export const CI = new Int32Array(CV.buffer);
