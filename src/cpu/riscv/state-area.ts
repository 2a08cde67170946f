/**
 * Where a hart keeps the state translated code reads and writes: its integer
 * registers, its data TLBs and a few scratch words, inside a WebAssembly
 * memory. When that memory is also the one holding guest RAM (the machine
 * allocates both together, src/memory/guest-ram.ts), translated code loads
 * and stores guest RAM directly; otherwise every guest access of translated
 * code takes the slow path (correct, slower). The interpreter sees the same
 * words through typed-array views, so both engines share one state.
 *
 *   offset  bytes   what
 *   0       128     xlo[32]   integer registers, low halves
 *   128     128     xhi[32]   high halves
 *   256     8       pcOut     f64: where translated code left off
 *   264     8       tLo, tHi  a slow-path load's result
 *   272     4       lastExit  link word of the last unlinked exit
 *   4096    4 KiB   rTagLo    read TLB (TLB_SIZE entries each)
 *   ...             rTagHi, rAbs, wTagLo, wTagHi, wAbs
 *   then    64 KiB  link words of chained block exits
 *
 * rAbs/wAbs hold the byte address of the page in this memory, or -1 when the
 * page is RAM elsewhere (a ROM, flash, or RAM in another buffer).
 */
import { TLB_SIZE } from './common.js';

export interface HartStateArea {
  /** A shared memory (translated code imports it; workers receive it). */
  readonly memory: WebAssembly.Memory;
  /** Byte offset of the area, a multiple of 8. */
  readonly offset: number;
}

export const ST_XLO = 0;
export const ST_XHI = 128;
export const ST_PC_OUT = 256;
export const ST_T_LO = 264;
export const ST_T_HI = 268;
/** Address of the link word of the unlinked static exit a block last left by (0: none). */
export const ST_LAST_EXIT = 272;
export const ST_R_TAG_LO = 4096;
export const ST_R_TAG_HI = ST_R_TAG_LO + 4 * TLB_SIZE;
export const ST_R_ABS = ST_R_TAG_HI + 4 * TLB_SIZE;
export const ST_W_TAG_LO = ST_R_ABS + 4 * TLB_SIZE;
export const ST_W_TAG_HI = ST_W_TAG_LO + 4 * TLB_SIZE;
export const ST_W_ABS = ST_W_TAG_HI + 4 * TLB_SIZE;
/** Link words of chained exits (codegen.ts exitStatic): a table index each, 0 = not linked. */
export const ST_LINKS = ST_W_ABS + 4 * TLB_SIZE;
export const LINK_WORDS = 16384;
/** Bytes of one hart's area. */
export const HART_STATE_BYTES = ST_LINKS + 4 * LINK_WORDS;

/** WebAssembly pages (64 KiB) holding `bytes`. */
export function wasmPages(bytes: number): number {
  return Math.ceil(bytes / 65536);
}

/** An area of its own for a hart the machine gave none (tests, the warm-up hart): guest RAM is elsewhere. */
export function privateStateArea(): HartStateArea {
  const pages = wasmPages(HART_STATE_BYTES);
  return { memory: new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true }), offset: 0 };
}
