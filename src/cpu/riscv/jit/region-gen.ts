/**
 * The region tier: a page's warm code as a few WebAssembly functions written from templates
 * (region-templates.ts), in one module, in front of the block translator (codegen.ts).
 *
 * What a region is: the instructions reachable on one physical page from its entries (the
 * warm entry and the page's other counted entries), by fall-through and direct branches and
 * jumps within the page, split by address into chunks of CHUNK bytes; each chunk is one
 * function. Inside a function the chunk's basic blocks follow each other in address order as
 * the ends of nested wasm blocks, so falling through costs nothing and a forward branch is
 * one `br`; a backward branch goes to the function's loop head, which checks the budget and
 * the jump cache's epoch, counts the target's entry, and dispatches (`br_table`) to it; a
 * branch into another chunk tail-calls that chunk's function (region-walk.ts finds the
 * instructions, the labels and the slots). Each *slot* — an entry the page's counters saw, a
 * backward or cross-chunk target, a call's return point, a chunk's first instruction — has an
 * exported function of the block type (trampoline.ts: a block's signature) that enters its
 * chunk there, which the translator installs in the page's block table like a block: the
 * dispatcher, the jump cache and the interpreter loop's chains run regions as they run blocks.
 * The region's other instructions are nobody's entry; the interpreter, resuming at one (a
 * quantum's start, a TLB miss), runs on to the next slot.
 *
 * Registers stay in the state area, so no exit writes anything back. Loads and stores probe
 * the data TLBs as translated blocks do; on a miss the region leaves before the access, with
 * the instructions before it counted, and the interpreter makes it (precise traps, devices,
 * stores to code). Instructions the block translator leaves to the interpreter go to `x` here
 * too, and so do the A extension and Zb*; those it never runs inside a block (ecall, xRET,
 * wfi, sfence.vma, fence.i, illegal compressed encodings, a 32-bit instruction crossing the
 * page end) end the path: an exit through `j` to their pc, which returns to the dispatcher. A
 * slot whose count reaches the hot threshold leaves at the head, and the dispatcher translates
 * its block with the block translator (engine.ts: promote).
 *
 * Why: docs/cpu-performance.md, *A region tier* — a cold process whose 2,000 blocks run 1,000
 * times each cannot pay for the block translator (~50 µs a block written from cold JavaScript,
 * ~2 KB of machine code a block, a call at every crossing), and pays for this.
 */
import { branchImm, HELPER, jalImm } from './classify.js';
import { regionModule } from './region-module.js';
import { chunkFn, chunkHi, chunkLabels, chunkLo, chunkSlots, CHUNK_SHIFT, CHUNKS, clsA, decoded, ilenA, insnA, labelA, M_LABEL, M_SLOT, markA, number, order, parcelA, segLength, slotA, slotLen, slotOff, walk } from './region-walk.js';
import { L_BASE, L_CTX, L_SB, L_TGT, LOCALS, P_LBL, P_PCF, type Template, Templates } from './region-templates.js';
import { ST_TLB_TAG } from '../state-area.js';

export interface RegionCode {
  readonly wasm: Uint8Array<ArrayBuffer>;
  /**
   * The region's slots, `nSlots` of them: labels other code may enter at (an entry, a branch
   * or jump target, a call's return point, a chunk's first instruction), each the module's
   * export k in this order (Object.values order): its page offset, and the instructions of its
   * chunk (the most one call runs before its head checks the budget again). Valid until the
   * next call.
   */
  readonly slotOff: Int32Array;
  readonly slotLen: Int32Array;
  readonly nSlots: number;
  /** Per chunk with code: [first byte, end byte) of the page its instructions came from. */
  readonly chunks: readonly (readonly [number, number])[];
  /** Instructions translated. */
  readonly insns: number;
  /** Page offsets where a path ended before an instruction no region runs (the interpreter's). */
  readonly ends: readonly number[];
  /**
   * Page offsets of the region's instructions that are not slots: nothing enters the region
   * there (the interpreter resumes at them after a TLB miss, an `x` that must stop, a quantum's
   * end, and runs on to the next slot).
   */
  readonly interior: readonly number[];
}

/** The output buffer (grown as needed) and its cursor. */
let out = new Uint8Array(1 << 16);
let p = 0;

function room(n: number): void {
  if (p + n <= out.length) return;
  let size = out.length * 2;
  while (size < p + n) size *= 2;
  const next = new Uint8Array(size);
  next.set(out.subarray(0, p));
  out = next;
}

/** Copy template t at p (with room for a few bytes after it); returns where. */
function put(t: Template): number {
  const b = t.b;
  room(b.length + 32);
  const at = p;
  out.set(b, at);
  p = at + b.length;
  return at;
}

// Fixed-width LEB128 writers.
function u5(q: number, v: number): void {
  out[q] = (v & 0x7f) | 0x80;
  out[q + 1] = ((v >>> 7) & 0x7f) | 0x80;
  out[q + 2] = ((v >>> 14) & 0x7f) | 0x80;
  out[q + 3] = ((v >>> 21) & 0x7f) | 0x80;
  out[q + 4] = (v >>> 28) & 0x0f;
}
function u3(q: number, v: number): void {
  out[q] = (v & 0x7f) | 0x80;
  out[q + 1] = ((v >>> 7) & 0x7f) | 0x80;
  out[q + 2] = (v >>> 14) & 0x7f;
}
function u2(q: number, v: number): void {
  out[q] = (v & 0x7f) | 0x80;
  out[q + 1] = (v >>> 7) & 0x7f;
}
function s3(q: number, v: number): void {
  out[q] = (v & 0x7f) | 0x80;
  out[q + 1] = ((v >> 7) & 0x7f) | 0x80;
  out[q + 2] = (v >> 14) & 0x7f;
}
function s4(q: number, v: number): void {
  out[q] = (v & 0x7f) | 0x80;
  out[q + 1] = ((v >> 7) & 0x7f) | 0x80;
  out[q + 2] = ((v >> 14) & 0x7f) | 0x80;
  out[q + 3] = (v >> 21) & 0x7f;
}
function s5(q: number, v: number): void {
  out[q] = (v & 0x7f) | 0x80;
  out[q + 1] = ((v >> 7) & 0x7f) | 0x80;
  out[q + 2] = ((v >> 14) & 0x7f) | 0x80;
  out[q + 3] = ((v >> 21) & 0x7f) | 0x80;
  out[q + 4] = (v >> 28) & 0x7f;
}

/** The register base of the templates being written (Templates.regOff(0)). */
let regBase = 0;

/** Patch the register operand whose 6-byte load is at q: x0 reads as `i64.const 0`. */
function reg(q: number, r: number): void {
  if (r === 0) {
    out[q] = 0x42;
    out[q + 1] = 0;
    out[q + 2] = 0x01;
    out[q + 3] = 0x01;
    out[q + 4] = 0x01;
    out[q + 5] = 0x01;
  } else u2(q + 4, regBase + 8 * r);
}

/**
 * The region of one page: `dv` holds the page's bytes from `base`; `entries` are page offsets
 * other code enters at; `hitsAt` is the page's hit counters' byte address in the memory, `hot`
 * the block translator's threshold. Null when no entry starts an instruction a region runs.
 */
export function translateRegion(dv: DataView, base: number, entries: readonly number[], rvc: Int32Array, tp: Templates, hitsAt: number, hot: number): RegionCode | null {
  ilenA.fill(0);
  markA.fill(0);
  const ends: number[] = [];
  const total = walk(dv, base, entries, rvc, ends);
  if (total === 0) return null;
  order.subarray(0, total).sort();
  number(total);
  regBase = tp.regOff(0);
  p = 0;
  const chunks: [number, number][] = [];
  const bodies: number[] = [];
  for (let c = 0; c < CHUNKS; c++) {
    if (chunkFn[c] < 0) continue;
    const at = p;
    chunks.push(chunkBody(c, tp, hitsAt, hot));
    bodies.push(at, p);
  }
  const wrappersAt = p;
  const interior: number[] = [];
  let nSlots = 0;
  for (let k = 0; k < total; k++) {
    const h = order[k]!;
    if ((markA[h] & M_SLOT) === 0) {
      interior.push(h * 2);
      continue;
    }
    const c = h >> (CHUNK_SHIFT - 1);
    slotOff[nSlots] = h * 2;
    slotLen[nSlots] = chunkHi[c]! - chunkLo[c]!;
    nSlots++;
    wrapper(slotA[h]!, chunkFn[c]!);
  }
  const wasm = regionModule(out, bodies, [wrappersAt, p], nSlots);
  return { wasm, slotOff, slotLen, nSlots, chunks, insns: total, ends, interior };
}

/** Write chunk c's function body at p (size prefix included); returns the bytes of the page it came from. */
function chunkBody(c: number, tp: Templates, hitsAt: number, hot: number): [number, number] {
  const lo = chunkLo[c]!;
  const hi = chunkHi[c]!;
  const n = chunkLabels[c]!;
  const max = hi - lo;
  const start = p;
  room(64 + 3 * n);
  p += 5;
  for (const b of LOCALS) out[p++] = b;
  // SB = the state area's address.
  out[p++] = 0x41;
  s5(p, tp.state | 0);
  p += 5;
  out[p++] = 0x21;
  out[p++] = L_SB;
  // CTX = the context's tag bits (i64.load32_u from the state area).
  out.set([0x20, L_SB, 0x35, 0x02], p);
  p += 4;
  u2(p, ST_TLB_TAG);
  p += 2;
  out[p++] = 0x21;
  out[p++] = L_CTX;
  // TGT = the entry's pc, BASE = its page; block $leave, block $jump, loop $top.
  out.set([0x20, P_PCF, 0xb0, 0x22, L_TGT, 0x42, 0x80, 0x60, 0x83, 0x21, L_BASE, 0x02, 0x40, 0x02, 0x40, 0x03, 0x40], p);
  p += 17;
  const t = tp.head;
  const hd = put(t);
  s3(hd + t.max, max);
  s5(hd + t.hits, hitsAt | 0);
  s3(hd + t.hot, hot);
  const ns = chunkSlots[c]!;
  room(16 + 2 * n + 3 * ns);
  for (let j = 0; j < n; j++) {
    out[p++] = 0x02;
    out[p++] = 0x40;
  }
  // br_table: slot k is its label's block; default (no such slot): leave.
  out[p++] = 0x20;
  out[p++] = P_LBL;
  out[p++] = 0x0e;
  u3(p, ns);
  p += 3;
  for (let x = lo; x < hi; x++) {
    const h = order[x]!;
    if ((markA[h] & M_SLOT) === 0) continue;
    u3(p, labelA[h]!);
    p += 3;
  }
  u3(p, n + 2);
  p += 3;
  let j = -1;
  let seg = 0;
  let k = 0;
  for (let x = lo; x < hi; x++) {
    const h = order[x]!;
    if ((markA[h] & M_LABEL) !== 0) {
      j = labelA[h]!;
      seg = segLength(x, hi);
      k = 0;
      room(1);
      out[p++] = 0x0b;
      const at = put(tp.count);
      s3(at + tp.count.n, seg);
    }
    const off = h * 2;
    const cls = clsA[h]!;
    const cnt = k + 1 - seg;
    k++;
    let goesOn = true;
    if (cls === HELPER) helper(tp, h, off, cnt);
    else {
      const major = (insnA[h]! >> 2) & 31;
      if (major === 0 || major === 8) mem(tp, h, off, cnt - 1, n - j + 2);
      else if (major === 24 || major === 27 || major === 25) goesOn = control(tp, h, off, n, j, c);
      else if (major === 3) {
        room(3);
        out.set(tp.fence, p);
        p += 3;
      } else alu(tp, h, off);
    }
    if (!goesOn) continue;
    // Falls through: on to the next label's code when it follows in this chunk, else out.
    const next = off + ilenA[h]!;
    if (!(decoded(next) && next >> CHUNK_SHIFT === c)) transfer(tp, off, next, n, j, c, 0);
  }
  put(tp.tail);
  u5(start, p - start - 5);
  const h0 = order[lo]!;
  const hl = order[hi - 1]!;
  return [h0 * 2, hl * 2 + ilenA[hl]!];
}

/** OP, OP-IMM, their 32-bit forms, LUI, AUIPC. */
function alu(tp: Templates, h: number, off: number): void {
  const insn = insnA[h]!;
  const rd = (insn >> 7) & 31;
  if (rd === 0) return;
  const f3 = (insn >> 12) & 7;
  const f7 = insn >>> 25;
  const major = (insn >> 2) & 31;
  let t: Template;
  let at: number;
  if (major === 4) {
    const shift = f3 === 1 || f3 === 5;
    t = tp.opImm[shift && insn >>> 30 !== 0 ? 8 : f3]!;
    at = put(t);
    reg(at + t.a, (insn >> 15) & 31);
    if (shift) out[at + t.i] = (insn >> 20) & 63;
    else s3(at + t.i, insn >> 20);
  } else if (major === 6) {
    t = tp.opImmW[f3 === 5 && f7 === 0x20 ? 13 : f3]!;
    at = put(t);
    reg(at + t.a, (insn >> 15) & 31);
    s3(at + t.i, f3 === 0 ? insn >> 20 : (insn >> 20) & 31);
  } else if (major === 12 || major === 14) {
    if (major === 12) t = f7 === 1 ? tp.mul[f3]! : tp.op[f7 === 0x20 ? f3 + 8 : f3]!;
    else t = f7 === 1 ? tp.mulW[f3]! : tp.opW[f7 === 0x20 ? f3 + 8 : f3]!;
    at = put(t);
    reg(at + t.a, (insn >> 15) & 31);
    reg(at + t.b1, (insn >> 20) & 31);
  } else {
    t = major === 13 ? tp.lui : tp.auipc;
    at = put(t);
    s5(at + t.v, major === 13 ? insn & 0xfffff000 : off + (insn & 0xfffff000));
  }
  u2(at + t.d, regBase + 8 * rd);
}

/**
 * A load or store; on a TLB miss it leaves at its pc with cnt + `before` retired (the
 * interpreter makes the access); `leave` is the depth of the function's `leave` block there.
 */
function mem(tp: Templates, h: number, off: number, before: number, leave: number): void {
  const insn = insnA[h]!;
  const f3 = (insn >> 12) & 7;
  const load = ((insn >> 2) & 31) === 0;
  const t = load ? tp.load[f3]! : tp.store[f3]!;
  const at = put(t);
  reg(at + t.a, (insn >> 15) & 31);
  if (load) {
    s3(at + t.i, insn >> 20);
    const rd = (insn >> 7) & 31;
    u2(at + t.d, rd === 0 ? tp.sink : regBase + 8 * rd);
  } else {
    s3(at + t.i, ((insn >> 25) << 5) | ((insn >> 7) & 31));
    reg(at + t.b1, (insn >> 20) & 31);
  }
  s4(at + t.rel, off);
  s3(at + t.c, before);
  u2(at + t.leave, leave);
}

/** An instruction through the interpreter (`x`). */
function helper(tp: Templates, h: number, off: number, cnt: number): void {
  const t = tp.x;
  const at = put(t);
  s4(at + t.rel, off);
  s3(at + t.c, cnt);
  out[at + t.ilen] = ilenA[h]!;
  s5(at + t.insn, insnA[h]!);
  s3(at + t.parcel, parcelA[h]!);
}

/** A branch, jal or jalr (label j of n in chunk c); false when nothing falls through. */
function control(tp: Templates, h: number, off: number, n: number, j: number, c: number): boolean {
  const insn = insnA[h]!;
  const rd = (insn >> 7) & 31;
  const ilen = ilenA[h]!;
  switch ((insn >> 2) & 31) {
    case 24: {
      const t = tp.branch[(insn >> 12) & 7]!;
      const at = put(t);
      reg(at + t.a, (insn >> 15) & 31);
      reg(at + t.b1, (insn >> 20) & 31);
      transfer(tp, off, off + branchImm(insn), n, j, c, 1);
      room(1);
      out[p++] = 0x0b;
      return true;
    }
    case 27:
      if (rd !== 0) link(tp, off + ilen, rd);
      transfer(tp, off, off + jalImm(insn), n, j, c, 0);
      return false;
    default: {
      const t = tp.jalr;
      const at = put(t);
      reg(at + t.a, (insn >> 15) & 31);
      s3(at + t.i, insn >> 20);
      if (rd !== 0) link(tp, off + ilen, rd);
      const b = put(tp.toA);
      u2(b + tp.toA.d, n - j);
      return false;
    }
  }
}

function link(tp: Templates, v: number, rd: number): void {
  const t = tp.link;
  const at = put(t);
  s4(at + t.v, v);
  u2(at + t.d, regBase + 8 * rd);
}

/**
 * A taken transfer from label j (of n) of chunk c to page offset t (may be off the page),
 * `extra` constructs deep: a `br` forward in the chunk, through the head backward, a tail
 * call into another chunk, else out through `j`.
 */
function transfer(tp: Templates, off: number, t: number, n: number, j: number, c: number, extra: number): void {
  if (decoded(t)) {
    const h = t >> 1;
    const tc = t >> CHUNK_SHIFT;
    if (tc === c) {
      if (t > off) {
        const at = put(tp.br);
        u2(at + tp.br.d, labelA[h]! - j - 1 + extra);
        return;
      }
      const b = tp.back;
      const at = put(b);
      s4(at + b.off, t);
      s3(at + b.slot, slotA[h]!);
      u2(at + b.d, n - 1 - j + extra);
      return;
    }
    const k = tp.call;
    const at = put(k);
    s4(at + k.off, t);
    s3(at + k.slot, slotA[h]!);
    u3(at + k.fn, chunkFn[tc]!);
    return;
  }
  const o = tp.to;
  const at = put(o);
  s4(at + o.off, t);
  u2(at + o.d, n - j + extra);
}

/** Label `slot`'s function (the block type): its chunk's function there. */
function wrapper(slot: number, fn: number): void {
  room(40);
  const at = p;
  p += 5;
  out[p++] = 0x00;
  out.set([0x20, 0, 0x20, 1, 0x20, 2, 0x41], p);
  p += 7;
  s3(p, slot);
  p += 3;
  out[p++] = 0x12;
  u3(p, fn);
  p += 3;
  out[p++] = 0x0b;
  u5(at, p - at - 5);
}
