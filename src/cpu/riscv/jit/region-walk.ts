/**
 * The region tier's analysis of a page (region-gen.ts writes the region from it): which
 * instructions are reachable from its entries, where its basic blocks (labels) and its entries
 * (slots) are, and its chunks. Per-halfword scratch arrays, reused by every region.
 */
import { zbKind } from '../bitmanip.js';
import { rvcFill } from '../rvc.js';
import { classify, directTarget, ENDS, HELPER, NO } from './classify.js';

/** Bytes of guest code per region function (docs/cpu-performance.md, *A region tier*: V8 tiers larger functions up inside a short run, at up to ~100 ms a compile). */
export const CHUNK = 1024;
export const CHUNK_SHIFT = 10;
export const CHUNKS = 4096 / CHUNK;


// Per halfword of the page (scratch, reused): the instruction decoded there (ilen 0: none),
// its class, its first halfword as fetched, marks, its label's index in its chunk.
export const insnA = new Int32Array(2048);
export const ilenA = new Uint8Array(2048);
export const clsA = new Uint8Array(2048);
export const parcelA = new Uint16Array(2048);
export const markA = new Uint8Array(2048);
export const labelA = new Int16Array(2048);
/** A slot's index in its chunk's br_table. */
export const slotA = new Int16Array(2048);
export const slotOff = new Int32Array(2048);
export const slotLen = new Int32Array(2048);
/** The decoded halfwords, sorted once the walk is done. */
export const order = new Int16Array(2048);
const stack = new Int32Array(4096);
/** A basic block starts here (its code adds its length to the count). */
export const M_LABEL = 1;
/** Something may enter here: a br_table target and an exported function. */
export const M_SLOT = 2;
const M_MID = 4;
/** Per chunk: its function's index (-1: no code), its range in `order`, its labels, its slots. */
export const chunkFn = new Int32Array(CHUNKS);
export const chunkLo = new Int32Array(CHUNKS);
export const chunkHi = new Int32Array(CHUNKS);
export const chunkLabels = new Int32Array(CHUNKS);
export const chunkSlots = new Int32Array(CHUNKS);


export function decoded(off: number): boolean {
  return off >= 0 && off < 4096 && (off & 1) === 0 && ilenA[off >> 1] !== 0;
}


/**
 * Decode every instruction reachable from the entries by fall-through and direct transfers
 * within the page, marking labels; a path ends before an instruction no block runs, where
 * decoding would overlap an instruction already decoded, or at the page's end (`ends`).
 * Returns how many were decoded (their halfwords in `order`, unsorted).
 */
export function walk(dv: DataView, base: number, entries: readonly number[], rvc: Int32Array, ends: number[]): number {
  let sp = 0;
  for (const e of entries) {
    if (e < 0 || e >= 4096 || (e & 1) !== 0) continue;
    markA[e >> 1] |= M_LABEL | M_SLOT;
    stack[sp++] = e;
  }
  let total = 0;
  while (sp > 0) {
    let off = stack[--sp]!;
    for (;;) {
      const h = off >> 1;
      if (ilenA[h] !== 0 || off > 4094) break;
      if ((markA[h] & M_MID) !== 0) {
        ends.push(off);
        break;
      }
      const low = dv.getUint16(base + off, true);
      let insn: number;
      let ilen: number;
      if ((low & 3) === 3) {
        if (off + 4 > 4096 || ilenA[h + 1] !== 0) {
          ends.push(off);
          break;
        }
        insn = dv.getInt32(base + off, true);
        ilen = 4;
      } else {
        insn = rvc[low]!;
        if ((insn & 3) !== 3 && (insn = rvcFill(rvc, low)) === 0) {
          ends.push(off);
          break;
        }
        ilen = 2;
      }
      let cls = classify(insn);
      if (cls === NO) {
        ends.push(off);
        break;
      }
      const op = insn & 0x7f;
      // The A extension and Zb* go to the interpreter (`x`): regions carry the base ISA and M.
      if (cls !== HELPER && (op === 0x2f || zbKind(insn) >= 0)) cls = HELPER;
      insnA[h] = insn;
      ilenA[h] = ilen;
      clsA[h] = cls;
      parcelA[h] = low;
      order[total++] = h;
      if (ilen === 4) markA[h + 1] |= M_MID;
      const next = off + ilen;
      // A direct target in the page starts a basic block; a backward one is entered through the head.
      const t = cls === HELPER ? -1 : directTarget(insn, off);
      if (t >= 0 && t < 4096) {
        markA[t >> 1] |= t <= off ? M_LABEL | M_SLOT : M_LABEL;
        if (sp < stack.length) stack[sp++] = t;
      }
      if (op === 0x63 && cls !== HELPER) {
        if (next < 4096) markA[next >> 1] |= M_LABEL;
      } else if (cls === ENDS) {
        // A call's return point: entered from the callee through `j`.
        if (((insn >> 7) & 31) !== 0 && next < 4096) {
          markA[next >> 1] |= M_LABEL | M_SLOT;
          if (sp < stack.length) stack[sp++] = next;
        }
        break;
      }
      if (next >= 4096) break;
      off = next;
    }
  }
  return total;
}

/** Per chunk: its function index, its range of `order`, and its labels numbered in address order (a chunk starts with one). */
export function number(total: number): void {
  // A transfer into another chunk enters it: its target is a slot there.
  for (let k = 0; k < total; k++) {
    const h = order[k]!;
    const off = h * 2;
    const t = clsA[h] === HELPER ? -1 : directTarget(insnA[h]!, off);
    if (t > off && decoded(t) && t >> CHUNK_SHIFT !== off >> CHUNK_SHIFT) markA[t >> 1] |= M_SLOT;
  }
  chunkFn.fill(-1);
  let nf = 0;
  let k = 0;
  for (let c = 0; c < CHUNKS; c++) {
    chunkLo[c] = k;
    let n = 0;
    let ns = 0;
    const hEnd = ((c + 1) * CHUNK) >> 1;
    while (k < total && order[k]! < hEnd) {
      const h = order[k]!;
      // A chunk's first instruction: entered by a call from the chunk before, or an entry.
      if (n === 0) markA[h] |= M_LABEL | M_SLOT;
      const m = markA[h]!;
      if ((m & M_LABEL) !== 0) labelA[h] = n++;
      if ((m & M_SLOT) !== 0) slotA[h] = ns++;
      k++;
    }
    chunkHi[c] = k;
    chunkLabels[c] = n;
    chunkSlots[c] = ns;
    if (n !== 0) chunkFn[c] = nf++;
  }
}

/** Instructions from order[x] up to the next label or the end of its run (the count a label adds). */
export function segLength(x: number, hi: number): number {
  let len = 0;
  for (;;) {
    const h = order[x]!;
    len++;
    const op = insnA[h]! & 0x7f;
    if (clsA[h] === ENDS || (op === 0x63 && clsA[h] !== HELPER)) return len;
    x++;
    if (x >= hi) return len;
    const nh = order[x]!;
    if (nh !== h + (ilenA[h]! >> 1) || (markA[nh] & M_LABEL) !== 0) return len;
  }
}
