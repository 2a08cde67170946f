/**
 * Block translation: guest instructions -> a function of a WebAssembly module
 * (the blocks of one page compiled together: translateBlocks). This file decodes the blocks
 * and assembles the module; block-emitter.ts writes each block's function.
 *
 * A block starts at any instruction and runs straight on through untaken
 * conditional branches (side exits) until a jump, an instruction that must
 * run between blocks (SYSTEM instructions without a CSR: ecall, ebreak,
 * xRET, wfi, sfence.vma; fence.i; illegal compressed encodings), a 32-bit
 * instruction that would cross the page end, the page end, MAX_INSNS, or the
 * start of another block of the page (those the translator marks in
 * `starts`: blocks translated or being translated): going on through it
 * would translate that block's code a second time, once per entry above it
 * (a page of short blocks, each a branch target, became ~64 instructions of
 * code per entry). It never crosses a page, so it depends only on the bytes
 * of one physical page: the virtual pc arrives as an argument and link/auipc
 * values are computed from it.
 *
 * The module imports the memory holding the hart's state area
 * (state-area.ts), the helper table of the hart's jump trampoline (trampoline.ts: the slow
 * paths and the jump) and the state area's address; its functions are its blocks alone.
 *
 * Signature of each exported block function ("0", "1", ...): (pc: f64, budget: i32, retired:
 * i32) -> i32, the instructions retired in this dispatch when it (or a block
 * it jumped to) leaves, with the next pc in pcOut. An exit to another block
 * of the same module (a jump, taken branch or fall-through whose target is
 * one of the module's block starts) tail-calls that block's function
 * directly (block-emitter.ts: link); every other exit to a known next pc tail-calls the
 * trampoline's `j`, which continues in the next block when the jump cache
 * has it; so control stays in WebAssembly until a miss, the end of the
 * budget, or a slow path that must stop.
 */
import { BLOCK_TYPE, FUNC_TYPES, LD_TYPE, MAX_INSNS, ST_TYPE } from './trampoline.js';
import { Bytes, T_I32 } from './wasm-writer.js';
import { classify, directTarget, ENDS, HELPER, NO } from './classify.js';
import { Emitter, T_BLOCK, type Insn } from './block-emitter.js';
import { rvcFill } from '../rvc.js';

export interface BlockInfo {
  /** Instructions on the longest path through the block (the budget one call may use per iteration). */
  readonly length: number;
  /** Bytes of the page the block was translated from, from its start. */
  readonly bytes: number;
}

export interface ModuleCode {
  /** The module's bytes: block k of `blocks` is its export `String(k)`. */
  readonly wasm: Uint8Array<ArrayBuffer>;
  readonly blocks: readonly BlockInfo[];
  /** The page offsets the blocks start at (those of the request that start a block). */
  readonly offs: readonly number[];
}

/**
 * The instructions of the block at page offset `off` of the page whose bytes
 * start at `base` in `dv`; null when the first instruction is one the
 * translator leaves to the interpreter.
 */
function decodeBlock(dv: DataView, base: number, off: number, rvc: Int32Array, starts: Uint8Array): Insn[] | null {
  const insns: Insn[] = [];
  let rel = 0;
  while (insns.length < MAX_INSNS && off + rel <= 4094 && (rel === 0 || (starts[(off + rel) >> 1]! & 1) === 0)) {
    const low = dv.getUint16(base + off + rel, true);
    let insn: number;
    let ilen: number;
    if ((low & 3) === 3) {
      if (off + rel + 4 > 4096) break;
      insn = dv.getInt32(base + off + rel, true);
      ilen = 4;
    } else {
      insn = rvc[low]!;
      ilen = 2;
      if ((insn & 3) !== 3 && (insn = rvcFill(rvc, low)) === 0) break;
    }
    const kind = classify(insn);
    if (kind === NO) break;
    insns.push({ insn, ilen, rel, helper: kind === HELPER, parcel: low });
    rel += ilen;
    if (kind === ENDS) break;
  }
  return insns.length === 0 ? null : insns;
}

/**
 * The page offsets the block at `off` branches or jumps to directly (taken conditional
 * branches and jal), other than its own start and within the page: what the translator
 * compiles along with a page's first block, whose forward targets the interpreter loop has
 * not counted (interp-wasm.ts: jumped). Arguments as decodeBlock's.
 */
export function directTargets(dv: DataView, base: number, off: number, rvc: Int32Array, starts: Uint8Array): number[] {
  const insns = decodeBlock(dv, base, off, rvc, starts);
  const out: number[] = [];
  if (insns === null) return out;
  for (const x of insns) {
    const t = directTarget(x.insn, off + x.rel);
    if (t >= 0 && t < 4096 && t !== off && !out.includes(t)) out.push(t);
  }
  return out;
}

/**
 * Translate the blocks at page offsets `offs` of one page (bytes from `base`
 * in `dv`) into one module, for a hart whose state area is at `state` in the
 * imported memory, or for any hart (state -1: the area's offset is the imported
 * global `e.s`, so the bytes depend on the page alone). `starts` (per halfword of the page, bit 0 set where another
 * block starts: the translator passes its page's kinds) ends each block where another begins. A module's compile has
 * a fixed cost several times that of a typical block's code (~60 us against
 * ~10 us per KiB), so the translator compiles a page's warm blocks together.
 * Offsets whose first instruction is left to the interpreter start no block;
 * null when none does.
 */
export function translateBlocks(dv: DataView, base: number, offs: readonly number[], rvc: Int32Array, state: number, starts: Uint8Array): ModuleCode | null {
  const decoded: Insn[][] = [];
  const done: number[] = [];
  for (const off of offs) {
    const insns = decodeBlock(dv, base, off, rvc, starts);
    if (insns === null) continue;
    decoded.push(insns);
    done.push(off);
  }
  if (decoded.length === 0) return null;
  // Block k is function k: a jump to another block of the module is a direct tail call.
  const links = new Map<number, number>();
  for (let k = 0; k < done.length; k++) links.set(done[k]!, k);
  const lens = decoded.map((insns) => insns.length);
  const bodies: Bytes[] = [];
  const blocks: BlockInfo[] = [];
  for (let k = 0; k < decoded.length; k++) {
    const insns = decoded[k]!;
    bodies.push(new Emitter(insns, state, done[k]!, links, lens).functionBody());
    const last = insns[insns.length - 1]!;
    blocks.push({ length: insns.length, bytes: last.rel + last.ilen });
  }
  return { wasm: moduleOf(bodies), blocks, offs: done };
}

/** A module of block functions (exports "0", "1", ...). */
function moduleOf(bodies: readonly Bytes[]): Uint8Array<ArrayBuffer> {
  const m = new Bytes();
  m.bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  const types = new Bytes().uleb(3);
  types.bytes(FUNC_TYPES[BLOCK_TYPE]!).bytes(FUNC_TYPES[LD_TYPE]!).bytes(FUNC_TYPES[ST_TYPE]!);
  m.section(1, types);
  const imports = new Bytes().uleb(3);
  // A shared memory: flags 3 (max present, shared), min 1 page, max 65536 pages.
  imports.str('e').str('m').byte(0x02).byte(0x03).uleb(1).uleb(65536);
  // The trampoline's helper table (funcref, exactly 4 entries).
  imports.str('e').str('h').byte(0x01).byte(0x70).byte(0x01).uleb(4).uleb(4);
  // The hart's state area (an immutable i32 global): the module's bytes then depend on the
  // page alone, so harts in other workers can run it (code-share.ts).
  imports.str('e').str('s').byte(0x03).byte(T_I32).byte(0x00);
  m.section(2, imports);
  const funcs = new Bytes().uleb(bodies.length);
  for (let k = 0; k < bodies.length; k++) funcs.uleb(T_BLOCK);
  m.section(3, funcs);
  const exports = new Bytes().uleb(bodies.length);
  for (let k = 0; k < bodies.length; k++) exports.str(String(k)).byte(0x00).uleb(k);
  m.section(7, exports);
  const code = new Bytes().uleb(bodies.length);
  for (const body of bodies) code.uleb(body.length).bytes(body);
  m.section(10, code);
  return m.view();
}


