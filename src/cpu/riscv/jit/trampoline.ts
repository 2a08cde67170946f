/**
 * A hart's jump trampoline: one small module per translator, and the only
 * importer of the hart's block table (V8 updates every instance importing a
 * table on each set(), so blocks must not import it).
 *
 * Translated blocks leave through `j` with a tail call (a jump to another block of the same
 * module calls that block directly: block-emitter.ts, link): it looks the next pc
 * up in the jump cache (in the hart's state area) and tail-calls the block
 * cached there when the entry is current, so control flow between blocks —
 * calls, returns, jumps to other pages — stays in WebAssembly. Otherwise it
 * stores the pc in pcOut (and ST_LOOP_CHAIN = 1) and returns to whoever
 * called the chain: the dispatcher, or the interpreter loop, which goes on
 * interpreting there (interp-wasm.ts: chainBody). An entry is current
 * when all of these hold:
 *
 *   - its epoch is the area's jcEpoch: the translator bumps that whenever a
 *     cached block may be stale (a store to a code page by any hart, a page
 *     invalidated, fence.i, a memory-map change, the cache dropped), and
 *     another thread sets a bit in it while the hart has a line change to
 *     take (state-area.ts: JC_KICK);
 *   - the instruction TLB maps the pc's page, to the physical page the entry
 *     was made for: so a TLB flush (satp, sfence.vma, a privilege change)
 *     needs no epoch bump — the dispatcher refills the TLB once per page and
 *     the entries of that page are good again;
 *   - the budget left covers the block (the entry holds its length), so a
 *     chain of blocks returns to the dispatcher when the quantum ends and
 *     not before: checked against the longest possible block instead, a
 *     Linux boot returned to the dispatcher ~670,000 times near quantum ends
 *     for blocks that fitted.
 *
 * The dispatcher itself calls blocks through `enter`: one JS-to-wasm call
 * site with one target, which V8 keeps monomorphic, rather than calling each
 * block's export.
 *
 * Blocks import no functions: V8 compiles a wasm-to-JS wrapper for each
 * imported function signature of every module it compiles (measured: ~40 %
 * of a block's compile time). They call the slow paths and the jump through
 * a small table of this module's functions instead (HELPER_*), which is
 * filled once and never set again.
 */
import { JC_ENTRIES, ST_JC, ST_JC_EPOCH, ST_LOOP_CHAIN, ST_PC_OUT, ST_X_PA } from '../state-area.js';
import { emitExecProbe } from './tlb-probe.js';
import { Bytes, Op, T_F64, T_I32, T_I64, T_VOID } from './wasm-writer.js';

/**
 * The jump-cache entry of a pc (its low word): the halfword index hashed (Fibonacci hashing:
 * the top bits of a multiple of it). Why: indexed by the halfword's low bits, code at the same
 * offset of pages 8 KiB apart shared entries, and a region's chunks (region-gen.ts), which
 * start near the same offsets of every page, evicted each other on every pass.
 */
export function jcSlot(lo: number): number {
  return Math.imul(lo >>> 1, JC_MUL) >>> (32 - JC_BITS);
}
const JC_MUL = 0x9e3779b1 | 0;
const JC_BITS = Math.log2(JC_ENTRIES);

/** Longest block, in instructions (codegen.ts); a jump goes on only if the budget covers that many. */
export const MAX_INSNS = 64;

/** A translated block, or the trampoline's jump: (pc, budget, retired) -> retired, next pc in pcOut. */
export type BlockFn = (pc: number, budget: number, retired: number) => number;

/** The slow paths (engine.ts): a load, a store, one instruction through the interpreter. */
export interface SlowPaths {
  readonly ld: (pc: number, cnt: number, lo: number, hi: number, f3: number) => number;
  readonly st: (pc: number, cnt: number, lo: number, hi: number, size: number, vlo: number, vhi: number) => number;
  readonly x: (pc: number, cnt: number, ilen: number, insn: number, parcel: number) => number;
}

/** Entries of the helper table blocks import (block-emitter.ts calls through it). */
export const HELPER_LD = 0;
export const HELPER_ST = 1;
export const HELPER_X = 2;
export const HELPER_J = 3;

export interface Trampoline {
  /** Run the block at table index idx from pc with `budget` instructions; returns those retired. */
  readonly enter: (idx: number, pc: number, budget: number) => number;
  /** Table entry 0 and any free entry: returns to the dispatcher. */
  readonly miss: BlockFn;
  /** What blocks import as `h`: the slow paths and the jump, at HELPER_*. */
  readonly helpers: WebAssembly.Table;
  /** The jump (`j`), which the interpreter loop calls to run a chain of blocks (interp.ts: setChain). */
  readonly jump: BlockFn;
  /**
   * The first halfword index >= `from` of a page whose kind (the byte at `kinds`) is 0 and
   * whose hit counter (the u16 at `hits`) is at least `warm`; -1 if none (engine.ts: translate).
   */
  readonly warmAt: (kinds: number, hits: number, warm: number, from: number) => number;
}

/**
 * Function types (encoded) of this module: a block / the jump, enter, ld / x, st. Blocks
 * (codegen.ts) declare the block, ld and st types with these same bytes, so call_indirect
 * through the helper table matches.
 */
export const FUNC_TYPES: readonly (readonly number[])[] = [
  [0x60, 3, T_F64, T_I32, T_I32, 1, T_I32],
  [0x60, 3, T_I32, T_F64, T_I32, 1, T_I32],
  [0x60, 5, T_F64, T_I32, T_I32, T_I32, T_I32, 1, T_I32],
  [0x60, 7, T_F64, T_I32, T_I32, T_I32, T_I32, T_I32, T_I32, 1, T_I32],
];
export const BLOCK_TYPE = 0;
export const LD_TYPE = 2;
export const ST_TYPE = 3;
/** warmAt's type (i32 x4 -> i32), after FUNC_TYPES in this module. */
const WARM_TYPE = FUNC_TYPES.length;

export function buildTrampoline(memory: WebAssembly.Memory, table: WebAssembly.Table, state: number, slow: SlowPaths): Trampoline {
  const m = new Bytes();
  m.bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  const types = new Bytes().uleb(FUNC_TYPES.length + 1);
  for (const t of FUNC_TYPES) types.bytes(t);
  types.bytes([0x60, 4, T_I32, T_I32, T_I32, T_I32, 1, T_I32]);
  m.section(1, types);
  // Functions 0-2: the JS slow paths; then j, enter, miss, the wasm entry points of ld, st, x, and warmAt.
  const imports = new Bytes().uleb(5);
  imports.str('e').str('ld').byte(0x00).uleb(LD_TYPE);
  imports.str('e').str('st').byte(0x00).uleb(ST_TYPE);
  imports.str('e').str('x').byte(0x00).uleb(LD_TYPE);
  imports.str('e').str('m').byte(0x02).byte(0x03).uleb(1).uleb(65536);
  imports.str('e').str('t').byte(0x01).byte(0x70).byte(0x00).uleb(1);
  m.section(2, imports);
  m.section(3, new Bytes().uleb(7).uleb(0).uleb(1).uleb(0).uleb(LD_TYPE).uleb(ST_TYPE).uleb(LD_TYPE).uleb(WARM_TYPE));
  const exps = new Bytes().uleb(7);
  exps.str('j').byte(0x00).uleb(3);
  exps.str('enter').byte(0x00).uleb(4);
  exps.str('miss').byte(0x00).uleb(5);
  exps.str('ld').byte(0x00).uleb(6);
  exps.str('st').byte(0x00).uleb(7);
  exps.str('x').byte(0x00).uleb(8);
  exps.str('warmAt').byte(0x00).uleb(9);
  m.section(7, exps);
  const code = new Bytes().uleb(7);
  for (const body of [jumpBody(state), enterBody(), missBody(state), forward(5, 0), forward(7, 1), forward(5, 2), warmAtBody()]) code.uleb(body.length).bytes(body);
  m.section(10, code);
  const inst = new WebAssembly.Instance(new WebAssembly.Module(m.view()), { e: { m: memory, t: table, ld: slow.ld, st: slow.st, x: slow.x } });
  const ex = inst.exports;
  const helpers = new WebAssembly.Table({ element: 'anyfunc', initial: 4, maximum: 4 });
  helpers.set(HELPER_LD, ex['ld'] as BlockFn);
  helpers.set(HELPER_ST, ex['st'] as BlockFn);
  helpers.set(HELPER_X, ex['x'] as BlockFn);
  helpers.set(HELPER_J, ex['j'] as BlockFn);
  return { enter: ex['enter'] as Trampoline['enter'], miss: ex['miss'] as BlockFn, helpers, jump: ex['j'] as BlockFn, warmAt: ex['warmAt'] as Trampoline['warmAt'] };
}

/** A function passing its `n` parameters on to imported function `f`. */
function forward(n: number, f: number): Bytes {
  const c = new Bytes();
  c.uleb(0);
  for (let i = 0; i < n; i++) c.get(i);
  c.op(Op.call).uleb(f);
  c.op(Op.end);
  return c;
}

// j's parameters 0 pc (f64), 1 budget, 2 retired; locals 3 pc (i64), 4 entry, 5 vpn, 6 TLB index * 4.
function jumpBody(s: number): Bytes {
  const c = new Bytes();
  c.uleb(2).uleb(1).byte(T_I64).uleb(3).byte(T_I32);
  const jc = s + ST_JC;
  c.get(0).op(Op.i64_trunc_f64_s).tee(3).op(Op.i32_wrap_i64).tee(5);
  // jcSlot, in wasm.
  c.i32(1).op(Op.i32_shr_u).i32(JC_MUL).op(Op.i32_mul).i32(32 - JC_BITS).op(Op.i32_shr_u).i32(5).op(Op.i32_shl).tee(4);
  c.mem(Op.i64_load, 3, jc).get(3).op(Op.i64_eq);
  c.get(4).mem(Op.i32_load, 2, jc + 16).i32(0).mem(Op.i32_load, 2, s + ST_JC_EPOCH).op(Op.i32_eq).op(Op.i32_and);
  c.get(2).get(4).mem(Op.i32_load, 2, jc + 24).op(Op.i32_add).get(1).op(Op.i32_le_u).op(Op.i32_and);
  c.op(Op.if_).byte(T_VOID);
  emitExecProbe(c, { pc: 3, vpn: 5, ix: 6, sb: null, state: s });
  c.get(6).i32(1).op(Op.i32_shl).mem(Op.f64_load, 3, s + ST_X_PA).get(4).mem(Op.f64_load, 3, jc + 8).op(Op.f64_eq).op(Op.i32_and);
  c.op(Op.if_).byte(T_VOID);
  c.get(0).get(1).get(2).get(4).mem(Op.i32_load, 2, jc + 20);
  c.op(Op.return_call_indirect).uleb(0).byte(0x00);
  c.op(Op.end);
  c.op(Op.end);
  c.i32(0).get(0).mem(Op.f64_store, 3, s + ST_PC_OUT);
  c.i32(0).i32(1).mem(Op.i32_store, 2, s + ST_LOOP_CHAIN);
  c.get(2);
  c.op(Op.end);
  return c;
}

/**
 * warmAt (see Trampoline). Why in wasm: as a JavaScript loop over the page's 2,048 halfwords,
 * run at every translation, it made the translator one of the functions V8 optimises with
 * TurboFan in every boot (the largest compile of a U-Boot boot by --trace-opt).
 */
function warmAtBody(): Bytes {
  const c = new Bytes();
  // Parameters 0 kinds, 1 hits, 2 warm, 3 j (from).
  c.uleb(0);
  c.op(Op.block).byte(T_VOID);
  c.op(Op.loop).byte(T_VOID);
  c.get(3).i32(2048).op(Op.i32_ge_u).op(Op.br_if).uleb(1);
  c.get(0).get(3).op(Op.i32_add).mem(Op.i32_load8_u, 0, 0).op(Op.i32_eqz);
  c.get(1).get(3).i32(1).op(Op.i32_shl).op(Op.i32_add).mem(Op.i32_load16_u, 1, 0).get(2).op(Op.i32_ge_u).op(Op.i32_and);
  c.op(Op.if_).byte(T_VOID);
  c.get(3).op(Op.return_);
  c.op(Op.end);
  c.get(3).i32(1).op(Op.i32_add).set(3);
  c.op(Op.br).uleb(0);
  c.op(Op.end);
  c.op(Op.end);
  c.i32(-1);
  c.op(Op.end);
  return c;
}

function enterBody(): Bytes {
  const c = new Bytes();
  c.uleb(0);
  c.get(1).get(2).i32(0).get(0).op(Op.return_call_indirect).uleb(0).byte(0x00);
  c.op(Op.end);
  return c;
}

function missBody(s: number): Bytes {
  const c = new Bytes();
  c.uleb(0);
  c.i32(0).get(0).mem(Op.f64_store, 3, s + ST_PC_OUT);
  c.get(2);
  c.op(Op.end);
  return c;
}
