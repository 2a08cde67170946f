/**
 * Threaded code: warm blocks decoded into records that thread-loop.ts runs. A block is decoded
 * when its entry gets warm (Translator.thread): a header, then a record per instruction, to its
 * first conditional branch, JAL, instruction the loop does not run (an END record: the
 * interpreter loop runs it), the page's end or MAX_THREAD_INSNS, each ending in an END record
 * for the fall-through. Branches, JALs and fall-throughs to threaded code on the same page are
 * linked to its header, now or, for a block decoded later, when it is (linkPending), so that
 * the loop goes on without returning to the interpreter loop. Only code that ran is decoded:
 * a fall-through's block is decoded when it gets warm itself, as the END leaves as a jump.
 *
 * Record layout (four i32 words, 16 bytes):
 *   header:      [TH_HDR | off/2 << 16] [instructions n] [entry count] [jump-cache epoch made for]
 *   instruction: [op | k << 8 | off/2 << 16 | ilen/2 << 28] [rd*8 | rs1*8 << 8 | rs2*8 << 16] [imm] [link]
 *   end:         [TH_END | k << 8] [-] [page offset to go on at] [link]
 * where k is the instruction's index in its block and a link is a header's record index (0: none).
 */
import { rvcFill } from '../rvc.js';
import { THREADED } from './page-code.js';
import { TH_AUIPC, TH_BRANCH, TH_END, TH_HDR, TH_IMM, TH_IMMW, TH_J, TH_JAL, TH_LOAD, TH_LUI, TH_NOP, TH_OP, TH_OPW, TH_SRA, TH_SRAI, TH_SRAIW, TH_SRAW, TH_STORE, TH_SUB, TH_SUBW } from './thread-loop.js';

/** Instructions of one block at most (its index fits a record's byte). */
export const MAX_THREAD_INSNS = 64;

/**
 * The record op of expanded instruction `insn` (0 when thread-loop.ts does not run it: the block
 * ends before it), its immediate in `immOut[0]`. Integer instructions writing x0 (hints, nops)
 * are TH_NOP, but loads (which may fault) and illegal encodings are the interpreter's.
 */
function opOf(insn: number, immOut: Int32Array): number {
  const opc = insn & 0x7f;
  const rd = (insn >> 7) & 31;
  const f3 = (insn >> 12) & 7;
  const f7 = insn >>> 25;
  let op = 0;
  switch (opc) {
    case 0x13: {
      const top = insn >>> 26;
      immOut[0] = insn >> 20;
      if (f3 === 1) {
        if (top !== 0) return 0;
        immOut[0] = (insn >> 20) & 63;
        op = TH_IMM + 1;
      } else if (f3 === 5) {
        immOut[0] = (insn >> 20) & 63;
        if (top === 0) op = TH_IMM + 5;
        else if (top === 0x10) op = TH_SRAI;
        else return 0;
      } else op = TH_IMM + f3;
      break;
    }
    case 0x1b:
      if (f3 === 0) {
        immOut[0] = insn >> 20;
        op = TH_IMMW;
      } else if (f3 === 1 && f7 === 0) {
        immOut[0] = (insn >> 20) & 31;
        op = TH_IMMW + 1;
      } else if (f3 === 5 && (f7 === 0 || f7 === 0x20)) {
        immOut[0] = (insn >> 20) & 31;
        op = f7 === 0 ? TH_IMMW + 2 : TH_SRAIW;
      } else return 0;
      break;
    case 0x33:
      immOut[0] = 0;
      if (f7 === 0) op = TH_OP + f3;
      else if (f7 === 0x20 && f3 === 0) op = TH_SUB;
      else if (f7 === 0x20 && f3 === 5) op = TH_SRA;
      else return 0;
      break;
    case 0x3b:
      immOut[0] = 0;
      if (f7 === 0 && f3 === 0) op = TH_OPW;
      else if (f7 === 0 && f3 === 1) op = TH_OPW + 1;
      else if (f7 === 0 && f3 === 5) op = TH_OPW + 2;
      else if (f7 === 0x20 && f3 === 0) op = TH_SUBW;
      else if (f7 === 0x20 && f3 === 5) op = TH_SRAW;
      else return 0;
      break;
    case 0x37:
      immOut[0] = insn & -4096;
      op = TH_LUI;
      break;
    case 0x17:
      immOut[0] = insn & -4096;
      op = TH_AUIPC;
      break;
    case 0x03:
      if (f3 === 7 || rd === 0) return 0;
      immOut[0] = insn >> 20;
      return TH_LOAD + f3;
    case 0x23:
      if (f3 > 3) return 0;
      immOut[0] = ((insn >> 25) << 5) | ((insn >> 7) & 31);
      return TH_STORE + f3;
    case 0x63:
      if (f3 === 2 || f3 === 3) return 0;
      immOut[0] = ((insn >> 31) << 12) | (((insn >> 7) & 1) << 11) | (((insn >> 25) & 0x3f) << 5) | (((insn >> 8) & 0xf) << 1);
      return TH_BRANCH + f3;
    case 0x6f:
      immOut[0] = ((insn >> 31) << 20) | (insn & 0xff000) | (((insn >> 20) & 1) << 11) | (((insn >> 21) & 0x3ff) << 1);
      return rd === 0 ? TH_J : TH_JAL;
    default:
      return 0;
  }
  return rd === 0 ? TH_NOP : op;
}

const immScratch = new Int32Array(1);

/** What threadBlock made: its end (page offset after its last instruction) and the pool's next free record. */
export interface ThreadedBlock {
  readonly end: number;
  readonly top: number;
  readonly header: number;
}

/**
 * Decode the block at page offset `start` (snapshot `dv` from byte 0) into records from `top`
 * of `recs` (the pool as words; `limit` records), its header's count starting at `count`.
 * `kinds` and `hits` are the page's: a target that is threaded code already (kind THREADED, its
 * header's record in `hits`) is linked now; others go to `pending` (record, target offset), for
 * linkPending when a block is decoded there. Null when the pool cannot hold the block.
 */
export function threadBlock(
  dv: DataView,
  start: number,
  rvc: Int32Array,
  recs: Int32Array,
  top: number,
  limit: number,
  count: number,
  epoch: number,
  kinds: Uint8Array<ArrayBufferLike>,
  hits: Uint16Array<ArrayBufferLike>,
  pending: number[],
): ThreadedBlock | null {
  // Room for the longest block: its header, its instructions and an end.
  if (top + MAX_THREAD_INSNS + 2 > limit) return null;
  const hdr = top++;
  let off = start;
  let k = 0;
  for (;;) {
    if (k > 0 && (off >= 4096 || k === MAX_THREAD_INSNS || kinds[off >> 1] === THREADED)) {
      // Falls through to the page's end, threaded code, or its length's end.
      top = endAt(recs, top, k, off, off < 4096 ? off : -1, kinds, hits, pending);
      break;
    }
    let insn = 0;
    let ilen = 0;
    if (off < 4096) {
      const low = dv.getUint16(off, true);
      if ((low & 3) === 3) {
        if (off + 4 <= 4096) {
          insn = dv.getInt32(off, true);
          ilen = 4;
        }
      } else {
        insn = rvc[low]!;
        if ((insn & 3) !== 3) insn = rvcFill(rvc, low);
        if (insn !== 0) ilen = 2;
      }
    }
    const op = ilen === 0 ? 0 : opOf(insn, immScratch);
    if (op === 0) {
      top = endAt(recs, top, k, off, -1, kinds, hits, pending);
      break;
    }
    const rec = top++;
    const at = rec * 4;
    recs[at] = op | (k << 8) | ((off >> 1) << 16) | ((ilen >> 1) << 28);
    recs[at + 1] = (((insn >> 7) & 31) << 3) | (((insn >> 15) & 31) << 11) | (((insn >> 20) & 31) << 19);
    recs[at + 2] = immScratch[0]!;
    recs[at + 3] = 0;
    k++;
    off += ilen;
    if ((op >= TH_BRANCH && op < TH_BRANCH + 8) || op === TH_J || op === TH_JAL) {
      const t = off - ilen + immScratch[0]!;
      if (t >= 0 && t < 4096 && (t & 1) === 0) link(recs, rec, t, kinds, hits, pending);
      if (op === TH_J || op === TH_JAL) break;
      // A conditional branch ends the block: its fall-through is a block of its own, decoded
      // when it gets warm (the end leaves as a jump there, which the interpreter loop counts),
      // so that code is decoded once, not again as the tail of every block that branches past it.
      top = endAt(recs, top, k, off, off < 4096 ? off : -1, kinds, hits, pending);
      break;
    }
  }
  const h = hdr * 4;
  recs[h] = TH_HDR | ((start >> 1) << 16);
  recs[h + 1] = k;
  recs[h + 2] = count;
  recs[h + 3] = epoch;
  return { end: Math.min(off, 4096), top, header: hdr };
}

/** Link record `rec` to the threaded block at `t`, or leave it pending. */
function link(recs: Int32Array, rec: number, t: number, kinds: Uint8Array<ArrayBufferLike>, hits: Uint16Array<ArrayBufferLike>, pending: number[]): void {
  if (kinds[t >> 1] === THREADED) recs[rec * 4 + 3] = hits[t >> 1]!;
  else pending.push(rec, t);
}

/** An end record: k instructions ran; go on at `off` (linked to threaded code there, when `to` is `off`). Returns the next record. */
function endAt(recs: Int32Array, rec: number, k: number, off: number, to: number, kinds: Uint8Array<ArrayBufferLike>, hits: Uint16Array<ArrayBufferLike>, pending: number[]): number {
  const at = rec * 4;
  recs[at] = TH_END | (k << 8);
  recs[at + 1] = 0;
  recs[at + 2] = off;
  recs[at + 3] = 0;
  if (to >= 0) link(recs, rec, to, kinds, hits, pending);
  return rec + 1;
}

/** A block was decoded at `start` (its header `hdr`): link the pending records that wait for it. */
export function linkPending(recs: Int32Array, pending: number[], start: number, hdr: number): void {
  let w = 0;
  for (let r = 0; r < pending.length; r += 2) {
    if (pending[r + 1] === start) recs[pending[r]! * 4 + 3] = hdr;
    else {
      pending[w++] = pending[r]!;
      pending[w++] = pending[r + 1]!;
    }
  }
  pending.length = w;
}
