/**
 * The interpreter loop, generated as WebAssembly (interp.ts is its JavaScript side).
 *
 * Why: the JavaScript loop it replaced was slow until V8 had optimised it
 * (its first million instructions at ~10 MIPS, a ~25 ms TurboFan compile,
 * a warm-up to keep that compile from deoptimising); a wasm function is at
 * Liftoff speed from its first instruction and has no type feedback to
 * settle. docs/cpu-performance.md (*The interpreter loop in WebAssembly*)
 * has the measurements.
 *
 * What it does: fetch (from the fetch page when it lies in the memory the
 * module imports, moving to another such page through the instruction TLB:
 * moveBody), expand compressed instructions through a table in that memory,
 * and execute the integer base ISA, M and C (register file = the state
 * area's i64 words), loads, stores, LR/SC and AMOs but min/max (atomicBody, out of
 * line) through the same data TLBs as translated code. Everything else leaves the loop
 * with a reason, the pc and the retired count, and the JavaScript side (`Interpreter.run`)
 * does it: a fetch the loop cannot make (`fetchSlow`), an instruction the loop leaves out
 * (`execOther`: CSR, SYSTEM, FENCE, F/D, an AMO it cannot run; and every encoding it does not execute,
 * which the JS side traps as illegal when its major opcode is one the loop
 * owns), a compressed parcel not yet in the table. Slow loads and stores
 * are imported calls, as in translated code (exact pc and count, so traps
 * stay precise).
 *
 * In the dispatcher's mode the loop also runs translated code: a jump to a translated block
 * calls the chain of blocks through the trampoline's jump-cache lookup (chainBody), and the
 * loop goes on interpreting where the chain jumps to code that is not translated.
 *
 * This file builds the loop (fetch, decode, dispatch on the major opcode), its page moves and
 * its jump tail; the instructions are interp-wasm-ops.ts, the locals, exit reasons and emitter
 * both use interp-wasm-frame.ts.
 *
 * Signature: run(pc f64, budget i32, raw i32, hasRaw i32) -> i32 retired;
 * with hasRaw the first instruction is `raw` instead of a fetch (what
 * fetchSlow returned). The reason and the next pc are in the state area.
 */
import { Bytes, Op, T_F64, T_I32, T_I64, T_VOID } from './jit/wasm-writer.js';
import { MULH_SCRATCH } from './jit/codegen-m.js';
import { BLOCK_TYPE, FUNC_TYPES, LD_TYPE, ST_TYPE } from './jit/trampoline.js';
import { emitExecProbe } from './jit/tlb-probe.js';
import { CHAIN_ACCESS, ST_CHAIN_EPOCH, ST_CHAIN_STEPS, ST_JC_EPOCH, ST_KINDS, ST_CODED, ST_LINES, ST_LOOP_ABS, ST_LOOP_CHAIN, ST_LOOP_HITS, ST_LOOP_ILEN, ST_LOOP_INSN, ST_LOOP_KINDS, ST_LOOP_MODE, ST_LOOP_THRESHOLD, ST_LOOP_HOT, ST_LOOP_RAW, ST_LOOP_REASON, ST_LOOP_VBASE, ST_LOOP_XIDX, ST_PC_OUT, ST_PVER, ST_RVC, ST_TH_AT, ST_TH_IP, ST_TH_REASON, ST_TREC, ST_X_ABS, ST_X_HITS, ST_X_KINDS } from './state-area.js';
import { Emit, F_CHAIN, F_DEC, F_LD, F_MOVE, F_ST, F_THR, F_UPPER, L_ABS, L_CNT, L_CODED, L_F3, L_HITS, L_ILEN, L_INSN, L_IX, L_KINDS, L_LO, L_MODE, L_OFF, L_PC, L_RAW, L_RD, L_REASON, L_RS1, L_RS2, L_SB, L_THR, L_VBASE, P_BUDGET, P_HASRAW, P_PCF, P_RAW, R_BUDGET, R_JUMP, R_LEAVE, R_OTHER, R_PAGE, R_RVC, R_TRAP } from './interp-wasm-frame.js';
import { atomicBody, body, CASES } from './interp-wasm-ops.js';
import { threadLoopBody, TH_JUMP, TH_LEAVE, TH_TRAP, TH_WANTED } from './jit/thread-loop.js';
import { threadDecodeBody } from './jit/thread-code.js';
import { THREADED } from './jit/page-code.js';

/**
 * What the page move returns: not moved (the JavaScript side moves), moved, moved but the
 * dispatcher wants the entry (it just became hot), moved and the entry is a translated block.
 */
const MOVE_NO = 0;
const MOVE_ON = 1;
const MOVE_WANTED = 2;
const MOVE_BLOCK = 3;
/** Moved, and the entry is threaded code (its header's address in ST_TH_IP). */
const MOVE_THREADED = 4;

/**
 * The loop's module: the same bytes for every hart (its state area's address is the imported
 * global `e.s`; the compressed-instruction table is in the area, 1 = not filled yet).
 */
export function interpreterModule(): Uint8Array<ArrayBuffer> {
  const e = new Emit();
  const c = e.c;
  // Locals after the 4 parameters: pc a b v (i64), 13 i32, vbase (i64), 2 i32, mulh scratch (i64), 6 i32.
  c.uleb(6).uleb(4).byte(T_I64).uleb(13).byte(T_I32).uleb(1).byte(T_I64).uleb(3).byte(T_I32).uleb(MULH_SCRATCH).byte(T_I64).uleb(6).byte(T_I32);
  c.get(P_PCF).op(Op.i64_trunc_f64_s).set(L_PC);
  c.op(Op.global_get).uleb(0).set(L_SB);
  c.get(L_SB).mem(Op.i32_load, 2, ST_LOOP_MODE).set(L_MODE);
  c.get(L_SB).mem(Op.i32_load, 2, ST_LOOP_THRESHOLD).set(L_THR);
  e.open(Op.block, 'done');
  // The fetch page: as the JavaScript side handed it over, then as the page move left it (the
  // instruction loop inside never assigns these locals, so V8 keeps them loop-invariant there).
  e.open(Op.loop, 'page');
  c.get(L_SB).mem(Op.f64_load, 3, ST_LOOP_VBASE);
  // NaN (no page) -> a base no pc is within 4 KiB of.
  c.op(Op.local_tee).uleb(P_PCF); // reuse P_PCF as scratch f64 (pc already taken)
  c.get(P_PCF).op(0x61 /* f64.eq */);
  c.op(Op.if_).byte(T_I64);
  c.get(P_PCF).op(Op.i64_trunc_f64_s);
  c.op(Op.else_);
  c.get(L_PC).i64(8192).op(Op.i64_sub);
  c.op(Op.end);
  c.set(L_VBASE);
  c.get(L_SB).mem(Op.i32_load, 2, ST_LOOP_ABS).set(L_ABS);
  c.get(L_SB).mem(Op.i32_load, 2, ST_LOOP_KINDS).tee(L_KINDS);
  c.get(L_SB).mem(Op.i32_load, 2, ST_LOOP_HITS).set(L_HITS);
  // The page's coded byte (kinds lie at ST_KINDS + slot * 2048 of the state area).
  c.i32(0).op(Op.i32_lt_s);
  c.op(Op.if_).byte(T_I32);
  c.i32(-0x80000000);
  c.op(Op.else_);
  c.get(L_KINDS).get(L_SB).op(Op.i32_sub).i32(ST_KINDS).op(Op.i32_sub).i32(11).op(Op.i32_shr_u).get(L_SB).op(Op.i32_add);
  c.mem(Op.i32_load8_u, 0, ST_CODED).i32(31).op(Op.i32_shl);
  c.op(Op.end);
  c.set(L_CODED);
  e.open(Op.loop, 'next');
  // The budget.
  c.get(L_CNT).get(P_BUDGET).op(Op.i32_ge_u);
  e.open(Op.if_, 'if');
  e.exit(R_BUDGET);
  e.end();
  // Fetch: the given word, or the fetch page (moving to another page, or leaving for the
  // JavaScript side, when the pc is off it).
  c.get(P_HASRAW);
  e.open(Op.if_, 'if');
  c.get(P_RAW).set(L_INSN);
  c.i32(0).set(P_HASRAW);
  e.c.op(Op.else_);
  c.get(L_PC).get(L_VBASE).op(Op.i64_sub).op(Op.i32_wrap_i64).tee(L_OFF).i32(4092).op(Op.i32_gt_u);
  c.get(L_ABS).i32(0).op(Op.i32_lt_s).op(Op.i32_or);
  e.open(Op.if_, 'if');
  // Off the page (or none): move to the pc's page without leaving, where that is quick.
  c.get(L_OFF).i32(4096).op(Op.i32_ge_u).get(L_ABS).i32(0).op(Op.i32_lt_s).op(Op.i32_or);
  e.open(Op.if_, 'if');
  movePage(e, R_PAGE);
  e.end();
  // The page's last halfword: a compressed instruction, or the first half of a 32-bit one
  // that crosses into the next page: its second half from there when the instruction TLB has
  // that page in this memory, else fetchSlow assembles it (and faults exactly).
  c.get(L_ABS).get(L_OFF).op(Op.i32_add).mem(Op.i32_load16_u, 0, 0).tee(L_INSN);
  c.i32(3).op(Op.i32_and).i32(3).op(Op.i32_eq);
  e.open(Op.if_, 'if');
  c.get(L_PC).i64(2).op(Op.i64_add).get(L_SB).op(Op.call).uleb(F_UPPER).tee(L_LO);
  c.i32(0).op(Op.i32_lt_s);
  e.open(Op.if_, 'if');
  e.exit(R_PAGE);
  e.end();
  c.get(L_LO).i32(16).op(Op.i32_shl).get(L_INSN).op(Op.i32_or).set(L_INSN);
  e.end();
  e.c.op(Op.else_);
  c.get(L_ABS).get(L_OFF).op(Op.i32_add).mem(Op.i32_load, 0, 0).set(L_INSN);
  e.end();
  e.end();
  // Compressed: expand through the table.
  c.get(L_INSN).set(L_RAW);
  c.get(L_INSN).i32(3).op(Op.i32_and).i32(3).op(Op.i32_ne);
  e.open(Op.if_, 'if');
  c.get(L_INSN).i32(0xffff).op(Op.i32_and).tee(L_INSN).i32(2).op(Op.i32_shl).get(L_SB).op(Op.i32_add).mem(Op.i32_load, 2, ST_RVC).tee(L_IX);
  c.i32(3).op(Op.i32_and).i32(3).op(Op.i32_ne);
  e.open(Op.if_, 'if');
  // 1: not expanded yet (the JS side fills it); 0: illegal (the JS side traps). Not counted;
  // L_INSN is the parcel.
  e.exit(R_RVC);
  e.end();
  c.get(L_IX).set(L_INSN);
  c.i32(2).set(L_ILEN);
  c.op(Op.else_);
  c.i32(4).set(L_ILEN);
  e.end();
  c.get(L_CNT).i32(1).op(Op.i32_add).set(L_CNT);
  // Decode.
  // Register numbers as addresses in the state area (x[r] at SB + ST_X + 8r).
  e.field(7, 31).i32(3).op(Op.i32_shl).get(L_SB).op(Op.i32_add).set(L_RD);
  e.field(15, 31).i32(3).op(Op.i32_shl).get(L_SB).op(Op.i32_add).set(L_RS1);
  e.field(20, 31).i32(3).op(Op.i32_shl).get(L_SB).op(Op.i32_add).set(L_RS2);
  e.field(12, 7).set(L_F3);
  // One block per handled major opcode; the br_table's default is 'other'.
  const cases = CASES;
  // jal, jalr and taken branches leave their case for 'jumped', whose code (jumped()) follows
  // the cases once: emitted at each of the three, it made the loop 7 % larger, and the
  // interpreter 1-2 % slower in both modes (cpu.cold_footprint's program and cpu.mips_interp's,
  // pinned to one core, 6-10 alternated processes).
  e.open(Op.block, 'jumped');
  e.open(Op.block, 'other');
  for (let i = cases.length - 1; i >= 0; i--) e.open(Op.block, cases[i]![1]);
  e.field(2, 31);
  c.op(Op.br_table).uleb(32);
  const depthOf = (label: string): number => cases.findIndex(([, l]) => l === label);
  for (let op = 0; op < 32; op++) {
    const k = cases.find(([o]) => o === op);
    c.uleb(k ? depthOf(k[1]) : cases.length);
  }
  c.uleb(cases.length);
  for (const [, label] of cases) {
    e.end();
    body(e, label);
    e.br('next');
  }
  e.end(); // other
  e.exit(R_OTHER);
  e.end(); // jumped
  jumped(e);
  e.br('next');
  e.end(); // next
  e.end(); // page
  e.end(); // done
  // Out: pc, reason, and (OTHER, RVC) the instruction.
  c.get(L_SB).get(L_PC).op(Op.f64_convert_i64_s).mem(Op.f64_store, 3, ST_PC_OUT);
  c.get(L_SB).get(L_REASON).mem(Op.i32_store, 2, ST_LOOP_REASON);
  c.get(L_SB).get(L_INSN).mem(Op.i32_store, 2, ST_LOOP_INSN);
  c.get(L_SB).get(L_ILEN).mem(Op.i32_store, 2, ST_LOOP_ILEN);
  c.get(L_SB).get(L_RAW).mem(Op.i32_store, 2, ST_LOOP_RAW);
  c.get(L_CNT);
  c.op(Op.end);
  return moduleOf(c, moveBody(), upperBody(), atomicBody(), chainBody(), threadLoopBody(F_LD, F_ST), threadDecodeBody());
}

/**
 * The first halfword of the page holding `pc` (i64; sb), the second half of an instruction
 * crossing into it, when the instruction TLB holds that page as a page of this memory (the
 * fill checked its execute permission); -1 otherwise.
 */
function upperBody(): Bytes {
  const c = new Bytes();
  // Parameters 0 pc (i64), 1 sb; locals 2 page number, 3 TLB entry index * 4 + sb.
  c.uleb(1).uleb(2).byte(T_I32);
  emitExecProbe(c, { pc: 0, vpn: 2, ix: 3, sb: 1, state: 0 });
  c.get(3).mem(Op.i32_load, 2, ST_X_ABS).tee(2).i32(0).op(Op.i32_ge_s).op(Op.i32_and);
  c.op(Op.if_).byte(T_I32);
  c.get(2).mem(Op.i32_load16_u, 0, 0);
  c.op(Op.else_);
  c.i32(-1);
  c.op(Op.end);
  c.op(Op.end);
  return c;
}

/**
 * Move the loop to L_PC's page: the page move (moveBody) updates the ST_LOOP_* words and the
 * loop starts over on the new page; if it could not, leave with `reason`; at a translated
 * block, run its chain; if the dispatcher wants the entry, leave with R_JUMP.
 */
function movePage(e: Emit, reason: number): void {
  const c = e.c;
  c.get(L_PC).get(L_SB).get(L_MODE).op(Op.call).uleb(F_MOVE).tee(L_LO);
  c.i32(MOVE_ON).op(Op.i32_eq);
  e.br('page', Op.br_if);
  exitIfLo(e, MOVE_NO, reason);
  c.get(L_LO).i32(MOVE_BLOCK).op(Op.i32_eq);
  e.open(Op.if_, 'if');
  runChain(e);
  e.end();
  c.get(L_LO).i32(MOVE_THREADED).op(Op.i32_eq);
  e.open(Op.if_, 'if');
  c.get(L_SB).mem(Op.i32_load, 2, ST_TH_IP).set(L_LO);
  runThreaded(e, false);
  e.end();
  e.exit(R_JUMP);
}

/** Leave the loop with `reason` when L_LO holds `value`. */
function exitIfLo(e: Emit, value: number, reason: number): void {
  e.c.get(L_LO).i32(value).op(Op.i32_eq);
  e.open(Op.if_, 'if');
  e.exit(reason);
  e.end();
}

/**
 * L_PC is the entry of threaded code whose header L_LO addresses: run it (jit/thread-loop.ts)
 * and go on where it returned — interpreting on, or (in the jump tail, `rejump`) taking a jump
 * it did not link as the loop takes its own; leave when it trapped, stopped after an access, or
 * the dispatcher wants the block (stale since the jump cache's epoch moved, or hot).
 */
function runThreaded(e: Emit, rejump: boolean): void {
  const c = e.c;
  c.get(L_LO).get(L_PC).i64(-4096).op(Op.i64_and).get(L_SB).get(P_BUDGET).get(L_CNT);
  // The page's verified word (ST_PVER), by its slot (kinds lie at ST_KINDS + slot * 2048).
  c.get(L_SB).mem(Op.i32_load, 2, ST_LOOP_KINDS).get(L_SB).op(Op.i32_sub).i32(ST_KINDS).op(Op.i32_sub).i32(9).op(Op.i32_shr_u).get(L_SB).op(Op.i32_add).i32(ST_PVER).op(Op.i32_add);
  c.op(Op.call).uleb(F_THR).set(L_CNT);
  c.get(L_SB).mem(Op.i32_load, 2, ST_TH_REASON).set(L_LO);
  exitIfLo(e, TH_TRAP, R_TRAP);
  c.get(L_SB).mem(Op.f64_load, 3, ST_PC_OUT).op(Op.i64_trunc_f64_s).set(L_PC);
  exitIfLo(e, TH_WANTED, R_JUMP);
  exitIfLo(e, TH_LEAVE, R_LEAVE);
  if (rejump) {
    c.get(L_LO).i32(TH_JUMP).op(Op.i32_eq);
    e.br('rejump', Op.br_if);
  }
  e.br('page');
}

/**
 * L_PC is a translated block's entry: run it and the blocks it jumps to (chainBody), and go
 * on interpreting where the chain jumped to code it does not have; leave for the dispatcher
 * when the chain did not start (no current jump-cache entry: the dispatcher makes one) or
 * ended otherwise (a trap, an exit request, a slow path that must stop: pc and count are
 * where the chain left them).
 */
function runChain(e: Emit): void {
  const c = e.c;
  c.get(L_PC).get(L_SB).get(P_BUDGET).get(L_CNT).op(Op.call).uleb(F_CHAIN).tee(L_LO);
  c.get(L_CNT).op(Op.i32_eq);
  e.open(Op.if_, 'if');
  // Nothing ran: a region left its first instruction's access to the interpreter (the loop's
  // page is as it was: make it here), or the dispatcher is needed.
  c.get(L_SB).mem(Op.i32_load, 2, ST_LOOP_CHAIN).i32(CHAIN_ACCESS).op(Op.i32_eq);
  e.br('page', Op.br_if);
  e.exit(R_JUMP);
  e.end();
  c.get(L_LO).set(L_CNT);
  c.get(L_SB).mem(Op.f64_load, 3, ST_PC_OUT).op(Op.i64_trunc_f64_s).set(L_PC);
  c.get(L_SB).mem(Op.i32_load, 2, ST_LOOP_CHAIN).op(Op.i32_eqz);
  e.open(Op.if_, 'if');
  e.exit(R_LEAVE);
  e.end();
  e.br('page');
}

/**
 * Run the chain of translated blocks at pc through the trampoline's jump (the table `jt`
 * holds it once the translator has built it; a page has translated blocks only after that):
 * (pc: i64, sb, budget, cnt) -> the count when the chain left, pc in pcOut and ST_LOOP_CHAIN
 * 1 when it left at a jump-cache miss. The chain's links compare the jump-cache epoch with
 * the one it started at (ST_CHAIN_EPOCH), as when the dispatcher enters one. When something
 * ran, the loop's page is dropped (its words go to "none"): the chain may have gone anywhere,
 * and the loop moves to pcOut's page through the instruction TLB.
 *
 * Why: a Linux boot went from the loop to the dispatcher ~1.8 M times only to enter a
 * translated block whose jump-cache entry was current, and from blocks to the dispatcher
 * ~1.8 M times only to interpret the code they jumped to.
 */
function chainBody(): Bytes {
  const c = new Bytes();
  // Parameters 0 pc (i64), 1 sb, 2 budget, 3 cnt; local 4 the count after.
  c.uleb(1).uleb(1).byte(T_I32);
  c.get(1).get(1).mem(Op.i32_load, 2, ST_JC_EPOCH).mem(Op.i32_store, 2, ST_CHAIN_EPOCH);
  c.get(1).i32(0).mem(Op.i32_store, 2, ST_LOOP_CHAIN);
  c.get(0).op(Op.f64_convert_i64_s).get(2).get(3).i32(0);
  c.op(Op.call_indirect).uleb(T_JUMP).byte(0x00);
  c.tee(4).get(3).op(Op.i32_ne);
  c.op(Op.if_).byte(T_VOID);
  c.get(1).get(1).mem(Op.f64_load, 3, ST_CHAIN_STEPS).get(4).get(3).op(Op.i32_sub).op(Op.f64_convert_i32_u).op(Op.f64_add).mem(Op.f64_store, 3, ST_CHAIN_STEPS);
  c.get(1).op(Op.f64_const).bytes([0, 0, 0, 0, 0, 0, 0xf8, 0x7f]).mem(Op.f64_store, 3, ST_LOOP_VBASE);
  c.get(1).i32(-1).mem(Op.i32_store, 2, ST_LOOP_XIDX);
  c.op(Op.end);
  c.get(4);
  c.op(Op.end);
  return c;
}

/**
 * The loop's page move, out of line, so the loop's own code stays what its hot paths need
 * (the same code inlined, with the loop going on in place, made every instruction ~10 % slower).
 * (pc: i64, sb, mode) -> MOVE_NO, MOVE_ON, MOVE_WANTED or MOVE_BLOCK. It moves when the instruction
 * TLB holds pc's page as a page of this memory and, in the dispatcher's mode, the translator
 * has cached the page's kinds and hit counters with the entry (jit/loop-pages.ts: LoopPages.cache)
 * and no other thread has changed the hart's interrupt lines: the page's virtual base, address,
 * kinds and hit counters go to the ST_LOOP_* words the loop starts from, the entry's index to
 * ST_LOOP_XIDX (where interp.ts learns that the loop moved). In the dispatcher's mode it then
 * counts the entry as Translator.enterPage would: MOVE_BLOCK for a translated block (the loop
 * runs it: runChain), MOVE_WANTED for one whose count reaches the threshold.
 *
 * Why: cold code crosses pages all the time (U-Boot's and Linux's calls and returns), and every
 * crossing through JavaScript was a round trip out of the loop and back.
 */
function moveBody(): Bytes {
  const e = new Emit();
  const c = e.c;
  // Parameters 0 pc (i64), 1 sb, 2 mode; locals 3 page number (then the entry's halfword
  // index), 4 TLB entry index * 4 + sb, 5 page address, 6 kinds' address, 7 hit counters'
  // address, 8 scratch.
  const pc = 0;
  const sb = 1;
  const mode = 2;
  const vpn = 3;
  const ix = 4;
  const abs = 5;
  const kinds = 6;
  const hits = 7;
  const n = 8;
  c.uleb(1).uleb(6).byte(T_I32);
  emitExecProbe(c, { pc, vpn, ix, sb, state: 0 });
  c.get(ix).mem(Op.i32_load, 2, ST_X_ABS).tee(abs).i32(0).op(Op.i32_ge_s).op(Op.i32_and);
  c.op(Op.i32_eqz);
  e.open(Op.if_, 'if');
  c.i32(MOVE_NO).op(Op.return_);
  e.end();
  c.get(mode);
  e.open(Op.if_, 'if');
  c.get(ix).mem(Op.i32_load, 2, ST_X_KINDS).tee(kinds).i32(0).op(Op.i32_lt_s).get(sb).mem(Op.i32_load, 2, ST_LINES).op(Op.i32_or);
  e.open(Op.if_, 'if');
  c.i32(MOVE_NO).op(Op.return_);
  e.end();
  c.get(sb).get(kinds).mem(Op.i32_store, 2, ST_LOOP_KINDS);
  c.get(sb).get(ix).mem(Op.i32_load, 2, ST_X_HITS).tee(hits).mem(Op.i32_store, 2, ST_LOOP_HITS);
  e.end();
  c.get(sb).get(abs).mem(Op.i32_store, 2, ST_LOOP_ABS);
  c.get(sb).get(pc).i64(-4096).op(Op.i64_and).op(Op.f64_convert_i64_s).mem(Op.f64_store, 3, ST_LOOP_VBASE);
  c.get(sb).get(ix).get(sb).op(Op.i32_sub).i32(2).op(Op.i32_shr_u).mem(Op.i32_store, 2, ST_LOOP_XIDX);
  c.get(mode);
  e.open(Op.if_, 'if');
  c.get(pc).op(Op.i32_wrap_i64).i32(4095).op(Op.i32_and).i32(1).op(Op.i32_shr_u).set(vpn);
  countEntry(e, { i: vpn, kinds, hits, n }, () => void c.get(sb).mem(Op.i32_load, 2, ST_LOOP_THRESHOLD), () => void c.get(sb), () => void c.i32(MOVE_BLOCK).op(Op.return_), () => void c.i32(MOVE_WANTED).op(Op.return_), () => {
    c.get(sb).get(n).mem(Op.i32_store, 2, ST_TH_IP);
    c.i32(MOVE_THREADED).op(Op.return_);
  });
  e.end();
  c.i32(MOVE_ON);
  c.op(Op.end);
  return c;
}

/** Type indices of the module (moduleOf): the trampoline's jump, and chainBody. */
const T_JUMP = 6;
const T_CHAIN = 7;
const T_THR = 8;
const T_DEC = 9;

function moduleOf(body: Bytes, move: Bytes, upper: Bytes, atomic: Bytes, chain: Bytes, thr: Bytes, dec: Bytes): Uint8Array<ArrayBuffer> {
  const m = new Bytes();
  m.bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  const types = new Bytes().uleb(10);
  types.byte(0x60).uleb(4).byte(T_F64).byte(T_I32).byte(T_I32).byte(T_I32).uleb(1).byte(T_I32);
  // The slow paths' signatures, as translated blocks import them (interp.ts gives its own).
  types.bytes(FUNC_TYPES[LD_TYPE]!).bytes(FUNC_TYPES[ST_TYPE]!);
  types.byte(0x60).uleb(3).byte(T_I64).byte(T_I32).byte(T_I32).uleb(1).byte(T_I32);
  types.byte(0x60).uleb(2).byte(T_I64).byte(T_I32).uleb(1).byte(T_I32);
  types.byte(0x60).uleb(2).byte(T_I32).byte(T_I32).uleb(1).byte(T_I32);
  // The trampoline's jump (a block's type), and chainBody's.
  types.bytes(FUNC_TYPES[BLOCK_TYPE]!);
  types.byte(0x60).uleb(4).byte(T_I64).byte(T_I32).byte(T_I32).byte(T_I32).uleb(1).byte(T_I32);
  // Threaded code's loop (jit/thread-loop.ts): ip, vbase, sb, budget, cnt -> cnt.
  types.byte(0x60).uleb(6).byte(T_I32).byte(T_I64).byte(T_I32).byte(T_I32).byte(T_I32).byte(T_I32).uleb(1).byte(T_I32);
  // Threaded code's decoder (jit/thread-code.ts): abs, off, sb, kinds, hits, count -> header.
  types.byte(0x60).uleb(6).byte(T_I32).byte(T_I32).byte(T_I32).byte(T_I32).byte(T_I32).byte(T_I32).uleb(1).byte(T_I32);
  m.section(1, types);
  const imports = new Bytes().uleb(5);
  imports.str('e').str('m').byte(0x02).byte(0x03).uleb(1).uleb(65536);
  imports.str('e').str('ld').byte(0x00).uleb(1);
  imports.str('e').str('st').byte(0x00).uleb(2);
  // The hart's state area: the module's bytes are the same for every hart (one compile per realm).
  imports.str('e').str('s').byte(0x03).byte(T_I32).byte(0x00);
  // The table holding the trampoline's jump (funcref, exactly 1 entry).
  imports.str('e').str('jt').byte(0x01).byte(0x70).byte(0x01).uleb(1).uleb(1);
  m.section(2, imports);
  m.section(3, new Bytes().uleb(7).uleb(0).uleb(3).uleb(4).uleb(5).uleb(T_CHAIN).uleb(T_THR).uleb(T_DEC));
  m.section(7, new Bytes().uleb(2).str('run').byte(0x00).uleb(2).str('dec').byte(0x00).uleb(F_DEC));
  m.section(10, new Bytes().uleb(7).uleb(body.length).bytes(body).uleb(move.length).bytes(move).uleb(upper.length).bytes(upper).uleb(atomic.length).bytes(atomic).uleb(chain.length).bytes(chain).uleb(thr.length).bytes(thr).uleb(dec.length).bytes(dec));
  return m.view();
}


/**
 * After a taken jump (L_PC = its target, the jump counted; the loop has this code once, and the
 * jumps branch to it), in the dispatcher's mode: move when the target is off the fetch page;
 * run a translated block's chain (runChain); leave when the dispatcher wants the target — a
 * block whose entry count (this entry counted here, as the dispatcher would count it) reaches
 * the threshold. L_KINDS is -1 when the page is not the one the dispatcher handed over.
 */
function jumped(e: Emit): void {
  const c = e.c;
  // Threaded code that returns at a jump it did not link comes back here (runThreaded).
  e.open(Op.loop, 'rejump');
  c.get(L_MODE);
  e.open(Op.if_, 'if');
  // On a page without translated blocks only backward branches, jal and jalr count (the jump
  // cases set L_INSN's sign bit): loop heads, calls, returns. A taken forward branch's target
  // is a side exit of the block the branch is in, translated with it when that block is its
  // page's first (engine.ts: translate), or counted where the fetch moves to its page, where a
  // chain leaves for it, or by the dispatcher. On a page with translated blocks every jump
  // counts (docs/cpu.md, *Hotness*). Why: counting every jump made code that never gets hot
  // run ~5 % slower in the dispatcher's mode than under the interpreter alone
  // (cpu.cold_footprint).
  c.get(L_INSN).get(L_CODED).op(Op.i32_or).i32(0).op(Op.i32_lt_s);
  e.open(Op.if_, 'if');
  // Off the page, or the page's code-cache state not at hand: move there (which counts the
  // entry) if that is quick, else the dispatcher.
  c.get(L_PC).get(L_VBASE).op(Op.i64_sub).op(Op.i32_wrap_i64).tee(L_IX).i32(4096).op(Op.i32_ge_u);
  c.get(L_KINDS).i32(0).op(Op.i32_lt_s).op(Op.i32_or);
  e.open(Op.if_, 'if');
  movePage(e, R_JUMP);
  e.end();
  c.get(L_IX).i32(1).op(Op.i32_shr_u).set(L_IX);
  countEntry(e, { i: L_IX, kinds: L_KINDS, hits: L_HITS, n: L_LO }, () => void c.get(L_THR), () => void c.get(L_SB), () => runChain(e), () => decodeHere(e), () => runThreaded(e, true));
  e.end();
  e.end();
  e.end(); // rejump
}

/**
 * countEntry wants the entry L_IX's counter (L_LO its count) counts for: at the threaded
 * threshold (ST_TH_AT, 0 without threaded code) on a page that has code already (so it is
 * claimed, and stores to it are seen), decode the block here (jit/thread-code.ts) and run it;
 * else, or when nothing was decoded, the dispatcher (R_JUMP).
 */
function decodeHere(e: Emit): void {
  const c = e.c;
  c.get(L_CODED).i32(0).op(Op.i32_lt_s);
  c.get(L_SB).mem(Op.i32_load, 2, ST_TH_AT).get(L_LO).op(Op.i32_eq).op(Op.i32_and);
  c.get(L_ABS).i32(0).op(Op.i32_ge_s).op(Op.i32_and);
  e.open(Op.if_, 'if');
  c.get(L_ABS).get(L_IX).get(L_HITS).op(Op.i32_sub).get(L_SB).get(L_KINDS).get(L_HITS).get(L_LO);
  c.op(Op.call).uleb(F_DEC).tee(L_LO);
  e.open(Op.if_, 'if');
  c.get(L_LO).i32(4).op(Op.i32_shl).get(L_SB).op(Op.i32_add).i32(ST_TREC).op(Op.i32_add).set(L_LO);
  runThreaded(e, true);
  e.end();
  e.end();
  e.exit(R_JUMP);
}

/** Locals of countEntry: the entry's halfword index (then its counter's address), the page's kinds and hit counters, scratch. */
interface EntryLocals {
  readonly i: number;
  readonly kinds: number;
  readonly hits: number;
  readonly n: number;
}

/**
 * The dispatcher's count of an entry at halfword `i` of a page, as Translator.enterPage counts:
 * `translated` at a translated block (kind 1; 0 is not translated yet, 2 never:
 * jit/page-code.ts), `wanted` at one whose count (this entry counted) equals the threshold
 * `thr` pushes or reaches the hot one (ST_LOOP_HOT, in the state area `sb` pushes), else the
 * count goes up by one. The loop's jumps and its page move (moveBody)
 * both count through here.
 */
function countEntry(e: Emit, l: EntryLocals, thr: () => void, sb: () => void, translated: () => void, wanted: () => void, threaded: () => void): void {
  const c = e.c;
  c.get(l.i).get(l.kinds).op(Op.i32_add).mem(Op.i32_load8_u, 0, 0).tee(l.n);
  c.i32(1).op(Op.i32_eq);
  e.open(Op.if_, 'if');
  translated();
  e.end();
  c.get(l.n).i32(THREADED).op(Op.i32_eq);
  e.open(Op.if_, 'if');
  // Threaded code (jit/thread-code.ts): the entry's hit counter holds its header's record index.
  c.get(l.i).i32(1).op(Op.i32_shl).get(l.hits).op(Op.i32_add).mem(Op.i32_load16_u, 1, 0).i32(4).op(Op.i32_shl);
  sb();
  c.op(Op.i32_add).i32(ST_TREC).op(Op.i32_add).set(l.n);
  threaded();
  e.end();
  c.get(l.n).op(Op.i32_eqz);
  e.open(Op.if_, 'if');
  c.get(l.i).i32(1).op(Op.i32_shl).get(l.hits).op(Op.i32_add).tee(l.i);
  c.mem(Op.i32_load16_u, 1, 0).i32(1).op(Op.i32_add).tee(l.n);
  thr();
  c.op(Op.i32_eq).get(l.n);
  sb();
  c.mem(Op.i32_load, 2, ST_LOOP_HOT).op(Op.i32_ge_u).op(Op.i32_or);
  e.open(Op.if_, 'if');
  wanted();
  e.end();
  c.get(l.i).get(l.n).mem(Op.i32_store16, 1, 0);
  e.end();
}
