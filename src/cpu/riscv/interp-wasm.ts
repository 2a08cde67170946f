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
 * area's i64 words), loads and stores through the same data TLBs as
 * translated code. Everything else leaves the loop with a reason, the pc and
 * the retired count, and the JavaScript side (`Interpreter.run`) does it: a
 * fetch the loop cannot make (`fetchSlow`), an instruction the loop leaves out (`execOther`:
 * CSR, SYSTEM, FENCE, AMO, F/D; and every encoding it does not execute,
 * which the JS side traps as illegal when its major opcode is one the loop
 * owns), a compressed parcel not yet in the table. Slow loads and stores
 * are imported calls, as in translated code (exact pc and count, so traps
 * stay precise).
 *
 * Signature: run(pc f64, budget i32, raw i32, hasRaw i32) -> i32 retired;
 * with hasRaw the first instruction is `raw` instead of a fetch (what
 * fetchSlow returned). The reason and the next pc are in the state area.
 */
import { Bytes, Op, T_F64, T_I32, T_I64, T_VOID } from './jit/wasm-writer.js';
import { emitMulDiv, emitMulDivW, MULH_SCRATCH } from './jit/codegen-m.js';
import { BRANCH_OPS, LOAD_OPS, STORE_OPS } from './jit/f3-ops.js';
import { FUNC_TYPES, LD_TYPE, ST_TYPE } from './jit/trampoline.js';
import { emitExecProbe, emitHigh, emitHitAddress, emitProbe, type ProbeLocals } from './jit/tlb-probe.js';
import { ST_LINES, ST_RVC, ST_LOOP_ABS, ST_LOOP_HITS, ST_LOOP_ILEN, ST_LOOP_INSN, ST_LOOP_KINDS, ST_LOOP_MODE, ST_LOOP_THRESHOLD, ST_LOOP_RAW, ST_LOOP_REASON, ST_LOOP_VBASE, ST_LOOP_XIDX, ST_PC_OUT, ST_R_ABS, ST_R_TAG_HI, ST_R_TAG_LO, ST_T, ST_W_ABS, ST_W_TAG_HI, ST_W_TAG_LO, ST_X, ST_X_ABS, ST_X_HITS, ST_X_KINDS } from './state-area.js';


/** Exit reasons. */
export const R_BUDGET = 0;
export const R_PAGE = 1;
export const R_OTHER = 2;
export const R_LEAVE = 3;
export const R_TRAP = 4;
export const R_RVC = 5;
export const R_JUMP = 6;

/** Major opcodes (insn >> 2 & 31) whose every valid encoding the loop executes. */
export const OWNED: ReadonlySet<number> = new Set([0, 4, 5, 6, 8, 12, 13, 14, 24, 25, 27]);

// Locals: parameters, then scratch.
const P_PCF = 0;
const P_BUDGET = 1;
const P_RAW = 2;
const P_HASRAW = 3;
const L_PC = 4; // i64
const L_A = 5; // i64
const L_B = 6; // i64
const L_V = 7; // i64: result
const L_CNT = 8; // i32
const L_ABS = 9; // i32: fetch page in memory
const L_OFF = 10; // i32
const L_INSN = 11; // i32
const L_ILEN = 12; // i32
const L_RD = 13; // i32: rd * 8
const L_RS1 = 14; // i32
const L_RS2 = 15; // i32
const L_F3 = 16; // i32
const L_LO = 17; // i32
const L_IX = 18; // i32
const L_DABS = 19; // i32
const L_REASON = 20; // i32
const L_VBASE = 21; // i64
const L_W1 = 22; // i32 scratch (W multiplies)
const L_W2 = 23; // i32
const L_RAW = 24; // i32
const L_MULH = 25; // i64 x MULH_SCRATCH
const L_MODE = L_MULH + MULH_SCRATCH; // i32
const L_KINDS = L_MODE + 1; // i32
const L_HITS = L_MODE + 2; // i32
const L_THR = L_MODE + 3; // i32
const L_SB = L_MODE + 4; // i32: the state area's address (the imported global e.s)
/** The TLB probe's locals (jit/tlb-probe.ts): the state area's address is L_SB. */
const PROBE: ProbeLocals = { a: L_A, lo: L_LO, ix: L_IX, abs: L_DABS, sb: L_SB, state: 0 };
/** The module's functions: the imported slow paths, the loop, its page move, and the upper half of an instruction crossing pages. */
const F_LD = 0;
const F_ST = 1;
const F_MOVE = 3;
const F_UPPER = 4;
/** What the page move returns: not moved (the JavaScript side moves), moved, moved but the dispatcher wants the entry. */
const MOVE_NO = 0;
const MOVE_ON = 1;
const MOVE_WANTED = 2;

/** Emitter with named structured-control labels (branch depths computed from a stack). */
class Emit {
  readonly c = new Bytes();
  private readonly labels: string[] = [];
  open(op: Op, label: string, type = T_VOID): this {
    this.c.op(op).byte(type);
    this.labels.push(label);
    return this;
  }
  end(): this {
    this.c.op(Op.end);
    this.labels.pop();
    return this;
  }
  br(label: string, op: Op = Op.br): this {
    const i = this.labels.lastIndexOf(label);
    if (i < 0) throw new Error(`no label ${label}`);
    this.c.op(op).uleb(this.labels.length - 1 - i);
    return this;
  }
  /** Push register at byte offset local `l` (i64). */
  reg(l: number): this {
    this.c.get(l).mem(Op.i64_load, 3, ST_X);
    return this;
  }
  /** x[rd] = L_V; x0 stays zero. */
  writeRd(): this {
    const c = this.c;
    c.get(L_RD).get(L_V).mem(Op.i64_store, 3, ST_X);
    c.get(L_SB).i64(0).mem(Op.i64_store, 3, ST_X);
    return this;
  }
  /** Push (insn >>> shift) & mask; returns the byte writer to go on with. */
  field(shift: number, mask: number): Bytes {
    return this.c.get(L_INSN).i32(shift).op(Op.i32_shr_u).i32(mask).op(Op.i32_and);
  }
  /** pc += ilen. */
  next(): this {
    this.c.get(L_PC).get(L_ILEN).op(Op.i64_extend_i32_u).op(Op.i64_add).set(L_PC);
    return this;
  }
  /** Leave with `reason` (the pc and count as they are). */
  exit(reason: number): this {
    this.c.i32(reason).set(L_REASON);
    return this.br('done');
  }
}

/**
 * The loop's module: the same bytes for every hart (its state area's address is the imported
 * global `e.s`; the compressed-instruction table is in the area, 1 = not filled yet).
 */
export function interpreterModule(): Uint8Array<ArrayBuffer> {
  const e = new Emit();
  const c = e.c;
  // Locals after the 4 parameters: pc a b v (i64), 13 i32, vbase (i64), 2 i32, mulh scratch (i64).
  c.uleb(6).uleb(4).byte(T_I64).uleb(13).byte(T_I32).uleb(1).byte(T_I64).uleb(3).byte(T_I32).uleb(MULH_SCRATCH).byte(T_I64).uleb(5).byte(T_I32);
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
  c.get(L_SB).mem(Op.i32_load, 2, ST_LOOP_KINDS).set(L_KINDS);
  c.get(L_SB).mem(Op.i32_load, 2, ST_LOOP_HITS).set(L_HITS);
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
  const cases: [number, string][] = [
    [0, 'load'],
    [4, 'opimm'],
    [5, 'auipc'],
    [6, 'opimm32'],
    [8, 'store'],
    [12, 'op'],
    [13, 'lui'],
    [14, 'op32'],
    [24, 'branch'],
    [25, 'jalr'],
    [27, 'jal'],
  ];
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
  return moduleOf(c, moveBody(), upperBody());
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
 * loop starts over on the new page; if it could not, leave with `reason`; if the dispatcher
 * wants the entry, with R_JUMP.
 */
function movePage(e: Emit, reason: number): void {
  const c = e.c;
  c.get(L_PC).get(L_SB).get(L_MODE).op(Op.call).uleb(F_MOVE).tee(L_LO);
  c.i32(MOVE_ON).op(Op.i32_eq);
  e.br('page', Op.br_if);
  c.get(L_LO).i32(MOVE_NO).op(Op.i32_eq);
  e.open(Op.if_, 'if');
  e.exit(reason);
  e.end();
  e.exit(R_JUMP);
}

/**
 * The loop's page move, out of line, so the loop's own code stays what its hot paths need
 * (the same code inlined, with the loop going on in place, made every instruction ~10 % slower).
 * (pc: i64, sb, mode) -> MOVE_NO, MOVE_ON or MOVE_WANTED (2). It moves when the instruction
 * TLB holds pc's page as a page of this memory and, in the dispatcher's mode, the translator
 * has cached the page's kinds and hit counters with the entry (jit/engine.ts: cacheLoopPage)
 * and no other thread has changed the hart's interrupt lines: the page's virtual base, address,
 * kinds and hit counters go to the ST_LOOP_* words the loop starts from, the entry's index to
 * ST_LOOP_XIDX (where interp.ts learns that the loop moved). In the dispatcher's mode it then
 * counts the entry as Translator.enterPage would: MOVE_WANTED for a translated block or one
 * whose count reaches the threshold.
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
  countEntry(e, { i: vpn, kinds, hits, n }, () => void c.get(sb).mem(Op.i32_load, 2, ST_LOOP_THRESHOLD), () => void c.i32(MOVE_WANTED).op(Op.return_));
  e.end();
  c.i32(MOVE_ON);
  c.op(Op.end);
  return c;
}

function moduleOf(body: Bytes, move: Bytes, upper: Bytes): Uint8Array<ArrayBuffer> {
  const m = new Bytes();
  m.bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  const types = new Bytes().uleb(5);
  types.byte(0x60).uleb(4).byte(T_F64).byte(T_I32).byte(T_I32).byte(T_I32).uleb(1).byte(T_I32);
  // The slow paths' signatures, as translated blocks import them (interp.ts gives its own).
  types.bytes(FUNC_TYPES[LD_TYPE]!).bytes(FUNC_TYPES[ST_TYPE]!);
  types.byte(0x60).uleb(3).byte(T_I64).byte(T_I32).byte(T_I32).uleb(1).byte(T_I32);
  types.byte(0x60).uleb(2).byte(T_I64).byte(T_I32).uleb(1).byte(T_I32);
  m.section(1, types);
  const imports = new Bytes().uleb(4);
  imports.str('e').str('m').byte(0x02).byte(0x03).uleb(1).uleb(65536);
  imports.str('e').str('ld').byte(0x00).uleb(1);
  imports.str('e').str('st').byte(0x00).uleb(2);
  // The hart's state area: the module's bytes are the same for every hart (one compile per realm).
  imports.str('e').str('s').byte(0x03).byte(T_I32).byte(0x00);
  m.section(2, imports);
  m.section(3, new Bytes().uleb(3).uleb(0).uleb(3).uleb(4));
  m.section(7, new Bytes().uleb(1).str('run').byte(0x00).uleb(2));
  m.section(10, new Bytes().uleb(3).uleb(body.length).bytes(body).uleb(move.length).bytes(move).uleb(upper.length).bytes(upper));
  return m.view();
}


/** Push the sign-extended I-immediate (i64). */
function immI(e: Emit): void {
  e.c.get(L_INSN).i32(20).op(Op.i32_shr_s).op(Op.i64_extend_i32_s);
}

/** Push the sign-extended S-immediate (i64). */
function immS(e: Emit): void {
  const c = e.c;
  c.get(L_INSN).i32(25).op(Op.i32_shr_s).i32(5).op(Op.i32_shl);
  e.field(7, 31);
  c.op(Op.i32_or).op(Op.i64_extend_i32_s);
}

/** A switch on L_F3 with one arm per f3 (null: the instruction is illegal -> other). */
function onF3(e: Emit, arms: readonly ((() => void) | null)[]): void {
  const c = e.c;
  e.open(Op.block, 'f3done');
  for (let i = 7; i >= 0; i--) e.open(Op.block, `f3_${i}`);
  c.get(L_F3).op(Op.br_table).uleb(8);
  for (let i = 0; i < 8; i++) c.uleb(i);
  c.uleb(7);
  for (let i = 0; i < 8; i++) {
    e.end();
    const arm = arms[i];
    if (arm) {
      arm();
      e.br('f3done');
    } else e.br('other');
  }
  e.end();
}

/** Branch to 'other' unless insn >>> shift equals one of `ok` (checked encodings). */
function require(e: Emit, shift: number, ok: readonly number[]): void {
  const c = e.c;
  for (let i = 0; i < ok.length; i++) {
    c.get(L_INSN).i32(shift).op(Op.i32_shr_u).i32(ok[i]!).op(Op.i32_ne);
    if (i > 0) c.op(Op.i32_and);
  }
  e.br('other', Op.br_if);
}

/**
 * A load or store: the address rs1 + imm into L_A, the TLB probe, and on a hit the access of
 * `ops[f3]` at the page's place in memory (after the host address is pushed); leaves the
 * probe's if open with its else started, for the caller's slow path.
 */
function onHit(e: Emit, imm: (e: Emit) => void, tagLo: number, tagHi: number, abs: number, ops: readonly (() => void)[]): void {
  const c = e.c;
  e.reg(L_RS1);
  imm(e);
  c.op(Op.i64_add);
  // The access's size, 1 << (f3 & 3), known at run time: its alignment bits.
  emitProbe(c, PROBE, tagLo, tagHi, abs, () => void c.i32(1).get(L_F3).i32(3).op(Op.i32_and).op(Op.i32_shl).i32(1).op(Op.i32_sub));
  e.open(Op.if_, 'if');
  onF3(e, Array.from({ length: 8 }, (_, f3) => {
    const op = ops[f3];
    return op === undefined ? null : () => {
      emitHitAddress(c, PROBE);
      op();
    };
  }));
  c.op(Op.else_);
}

/** After a slow path's result in L_IX: 2 trapped -> leave (pcOut set); 1 -> the access is done, leave after it. */
function slowExit(e: Emit, after: () => void): void {
  const c = e.c;
  c.get(L_IX).i32(2).op(Op.i32_eq);
  e.open(Op.if_, 'if');
  e.exit(R_TRAP);
  e.end();
  after();
  c.get(L_IX);
  e.open(Op.if_, 'if');
  e.next();
  e.exit(R_LEAVE);
  e.end();
}

/**
 * After a taken jump (L_PC = its target, the jump counted; the loop has this code once, and the
 * jumps branch to it), in the dispatcher's mode: leave when
 * the target is off the fetch page or the dispatcher wants it — a translated block, or a block
 * whose entry count (this entry counted here, as the dispatcher would count it) reaches the
 * threshold. L_KINDS is -1 when the page is not the one the dispatcher handed over.
 */
function jumped(e: Emit): void {
  const c = e.c;
  c.get(L_MODE);
  e.open(Op.if_, 'if');
  // Off the page, or the page's code-cache state not at hand: move there (which counts the
  // entry) if that is quick, else the dispatcher.
  c.get(L_PC).get(L_VBASE).op(Op.i64_sub).op(Op.i32_wrap_i64).tee(L_IX).i32(4096).op(Op.i32_ge_u);
  c.get(L_KINDS).i32(0).op(Op.i32_lt_s).op(Op.i32_or);
  e.open(Op.if_, 'if');
  movePage(e, R_JUMP);
  e.end();
  c.get(L_IX).i32(1).op(Op.i32_shr_u).set(L_IX);
  countEntry(e, { i: L_IX, kinds: L_KINDS, hits: L_HITS, n: L_LO }, () => void c.get(L_THR), () => void e.exit(R_JUMP));
  e.end();
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
 * `wanted` when the dispatcher wants it — a translated block (kind 1; 0 is not translated
 * yet, 2 never: jit/engine.ts), or one whose count (this entry counted) reaches the threshold
 * `thr` pushes — else the count goes up by one. The loop's jumps and its page move (moveBody)
 * both count through here.
 */
function countEntry(e: Emit, l: EntryLocals, thr: () => void, wanted: () => void): void {
  const c = e.c;
  c.get(l.i).get(l.kinds).op(Op.i32_add).mem(Op.i32_load8_u, 0, 0).tee(l.n);
  c.i32(1).op(Op.i32_eq);
  e.open(Op.if_, 'if');
  wanted();
  e.end();
  c.get(l.n).op(Op.i32_eqz);
  e.open(Op.if_, 'if');
  c.get(l.i).i32(1).op(Op.i32_shl).get(l.hits).op(Op.i32_add).tee(l.i);
  c.mem(Op.i32_load16_u, 1, 0).i32(1).op(Op.i32_add).tee(l.n);
  thr();
  c.op(Op.i32_ge_u);
  e.open(Op.if_, 'if');
  wanted();
  e.end();
  c.get(l.i).get(l.n).mem(Op.i32_store16, 1, 0);
  e.end();
}

function body(e: Emit, label: string): void {
  const c = e.c;
  switch (label) {
    case 'opimm': {
      e.reg(L_RS1).c.set(L_A);
      immI(e);
      c.set(L_B);
      const bin = (op: Op) => (): void => void c.get(L_A).get(L_B).op(op).set(L_V);
      onF3(e, [
        bin(Op.i64_add),
        () => {
          require(e, 26, [0]);
          c.get(L_A).get(L_B).op(Op.i64_shl).set(L_V);
        },
        () => void c.get(L_A).get(L_B).op(Op.i64_lt_s).op(Op.i64_extend_i32_u).set(L_V),
        () => void c.get(L_A).get(L_B).op(Op.i64_lt_u).op(Op.i64_extend_i32_u).set(L_V),
        bin(Op.i64_xor),
        () => {
          require(e, 26, [0, 0x10]);
          c.get(L_INSN).i32(30).op(Op.i32_shr_u);
          c.op(Op.if_).byte(T_I64);
          c.get(L_A).get(L_B).op(Op.i64_shr_s);
          c.op(Op.else_);
          c.get(L_A).get(L_B).op(Op.i64_shr_u);
          c.op(Op.end).set(L_V);
        },
        bin(Op.i64_or),
        bin(Op.i64_and),
      ]);
      e.writeRd().next();
      return;
    }
    case 'op': {
      e.reg(L_RS1).c.set(L_A);
      e.reg(L_RS2).c.set(L_B);
      // f7 = 1: M; 0 / 0x20: base.
      c.get(L_INSN).i32(25).op(Op.i32_shr_u).i32(1).op(Op.i32_eq);
      e.open(Op.if_, 'if');
      onF3(e, Array.from({ length: 8 }, (_, f3) => () => {
        emitMulDiv(c, f3, L_A, L_B, L_MULH);
        c.set(L_V);
      }));
      c.op(Op.else_);
      // 0x20 only with add (sub) and srl (sra).
      c.get(L_INSN).i32(25).op(Op.i32_shr_u).tee(L_IX).i32(0).op(Op.i32_ne);
      c.get(L_IX).i32(0x20).op(Op.i32_ne).op(Op.i32_and);
      c.get(L_IX).i32(0x20).op(Op.i32_eq).get(L_F3).i32(0).op(Op.i32_ne).op(Op.i32_and).get(L_F3).i32(5).op(Op.i32_ne).op(Op.i32_and);
      c.op(Op.i32_or);
      e.br('other', Op.br_if);
      const sub = (): void => void c.get(L_INSN).i32(30).op(Op.i32_shr_u);
      onF3(e, [
        () => {
          sub();
          c.op(Op.if_).byte(T_I64).get(L_A).get(L_B).op(Op.i64_sub).op(Op.else_).get(L_A).get(L_B).op(Op.i64_add).op(Op.end).set(L_V);
        },
        () => void c.get(L_A).get(L_B).op(Op.i64_shl).set(L_V),
        () => void c.get(L_A).get(L_B).op(Op.i64_lt_s).op(Op.i64_extend_i32_u).set(L_V),
        () => void c.get(L_A).get(L_B).op(Op.i64_lt_u).op(Op.i64_extend_i32_u).set(L_V),
        () => void c.get(L_A).get(L_B).op(Op.i64_xor).set(L_V),
        () => {
          sub();
          c.op(Op.if_).byte(T_I64).get(L_A).get(L_B).op(Op.i64_shr_s).op(Op.else_).get(L_A).get(L_B).op(Op.i64_shr_u).op(Op.end).set(L_V);
        },
        () => void c.get(L_A).get(L_B).op(Op.i64_or).set(L_V),
        () => void c.get(L_A).get(L_B).op(Op.i64_and).set(L_V),
      ]);
      e.end();
      e.writeRd().next();
      return;
    }
    case 'opimm32': {
      e.reg(L_RS1).c.op(Op.i32_wrap_i64).set(L_W1);
      c.get(L_INSN).i32(20).op(Op.i32_shr_s).set(L_W2);
      onF3(e, [
        () => void c.get(L_W1).get(L_W2).op(Op.i32_add).op(Op.i64_extend_i32_s).set(L_V),
        () => {
          require(e, 25, [0]);
          c.get(L_W1).get(L_W2).op(Op.i32_shl).op(Op.i64_extend_i32_s).set(L_V);
        },
        null,
        null,
        null,
        () => {
          require(e, 25, [0, 0x20]);
          c.get(L_INSN).i32(30).op(Op.i32_shr_u);
          c.op(Op.if_).byte(T_I32).get(L_W1).get(L_W2).op(Op.i32_shr_s).op(Op.else_).get(L_W1).get(L_W2).op(Op.i32_shr_u).op(Op.end);
          c.op(Op.i64_extend_i32_s).set(L_V);
        },
        null,
        null,
      ]);
      e.writeRd().next();
      return;
    }
    case 'op32': {
      e.reg(L_RS1).c.op(Op.i32_wrap_i64).set(L_W1);
      e.reg(L_RS2).c.op(Op.i32_wrap_i64).set(L_W2);
      c.get(L_INSN).i32(25).op(Op.i32_shr_u).i32(1).op(Op.i32_eq);
      e.open(Op.if_, 'if');
      onF3(e, [0, null, null, null, 4, 5, 6, 7].map((f3) => (f3 === null ? null : () => {
        emitMulDivW(c, f3, L_W1, L_W2);
        c.op(Op.i64_extend_i32_s).set(L_V);
      })));
      c.op(Op.else_);
      const f7ok = (ok: readonly number[]): void => require(e, 25, ok);
      onF3(e, [
        () => {
          f7ok([0, 0x20]);
          c.get(L_INSN).i32(30).op(Op.i32_shr_u);
          c.op(Op.if_).byte(T_I32).get(L_W1).get(L_W2).op(Op.i32_sub).op(Op.else_).get(L_W1).get(L_W2).op(Op.i32_add).op(Op.end);
          c.op(Op.i64_extend_i32_s).set(L_V);
        },
        () => {
          f7ok([0]);
          c.get(L_W1).get(L_W2).op(Op.i32_shl).op(Op.i64_extend_i32_s).set(L_V);
        },
        null,
        null,
        null,
        () => {
          f7ok([0, 0x20]);
          c.get(L_INSN).i32(30).op(Op.i32_shr_u);
          c.op(Op.if_).byte(T_I32).get(L_W1).get(L_W2).op(Op.i32_shr_s).op(Op.else_).get(L_W1).get(L_W2).op(Op.i32_shr_u).op(Op.end);
          c.op(Op.i64_extend_i32_s).set(L_V);
        },
        null,
        null,
      ]);
      e.end();
      e.writeRd().next();
      return;
    }
    case 'lui':
      c.get(L_INSN).i32(-4096).op(Op.i32_and).op(Op.i64_extend_i32_s).set(L_V);
      e.writeRd().next();
      return;
    case 'auipc':
      c.get(L_PC).get(L_INSN).i32(-4096).op(Op.i32_and).op(Op.i64_extend_i32_s).op(Op.i64_add).set(L_V);
      e.writeRd().next();
      return;
    case 'jal':
      c.get(L_PC).get(L_ILEN).op(Op.i64_extend_i32_u).op(Op.i64_add).set(L_V);
      // J-immediate.
      c.get(L_PC);
      c.get(L_INSN).i32(31).op(Op.i32_shr_s).i32(20).op(Op.i32_shl);
      c.get(L_INSN).i32(0xff000).op(Op.i32_and).op(Op.i32_or);
      e.field(20, 1).i32(11).op(Op.i32_shl).op(Op.i32_or);
      e.field(21, 0x3ff).i32(1).op(Op.i32_shl).op(Op.i32_or);
      c.op(Op.i64_extend_i32_s).op(Op.i64_add).set(L_PC);
      e.writeRd();
      e.br('jumped');
      return;
    case 'jalr':
      c.get(L_F3);
      e.br('other', Op.br_if);
      e.reg(L_RS1);
      immI(e);
      c.op(Op.i64_add).i64(-2).op(Op.i64_and).set(L_A);
      c.get(L_PC).get(L_ILEN).op(Op.i64_extend_i32_u).op(Op.i64_add).set(L_V);
      c.get(L_A).set(L_PC);
      e.writeRd();
      e.br('jumped');
      return;
    case 'branch': {
      // f3 2 and 3 are illegal.
      c.get(L_F3).i32(2).op(Op.i32_eq).get(L_F3).i32(3).op(Op.i32_eq).op(Op.i32_or);
      e.br('other', Op.br_if);
      e.reg(L_RS1).c.set(L_A);
      e.reg(L_RS2).c.set(L_B);
      onF3(e, BRANCH_OPS.map((op) => (op === 0 ? null : () => void c.get(L_A).get(L_B).op(op).set(L_IX))));
      c.get(L_IX);
      e.open(Op.if_, 'if');
      c.get(L_PC);
      c.get(L_INSN).i32(31).op(Op.i32_shr_s).i32(12).op(Op.i32_shl);
      e.field(7, 1).i32(11).op(Op.i32_shl).op(Op.i32_or);
      e.field(25, 0x3f).i32(5).op(Op.i32_shl).op(Op.i32_or);
      e.field(8, 0xf).i32(1).op(Op.i32_shl).op(Op.i32_or);
      c.op(Op.i64_extend_i32_s).op(Op.i64_add).set(L_PC);
      e.br('jumped');
      c.op(Op.else_);
      e.next();
      e.end();
      return;
    }
    case 'load': {
      c.get(L_F3).i32(7).op(Op.i32_eq);
      e.br('other', Op.br_if);
      onHit(e, immI, ST_R_TAG_LO, ST_R_TAG_HI, ST_R_ABS, LOAD_OPS.map((op) => () => void c.mem(op, 0, 0).set(L_V)));
      c.get(L_PC).op(Op.f64_convert_i64_s).get(L_CNT).get(L_LO);
      emitHigh(c, PROBE);
      c.get(L_F3);
      c.op(Op.call).uleb(F_LD).set(L_IX);
      slowExit(e, () => {
        c.get(L_SB).mem(Op.i64_load, 3, ST_T).set(L_V);
        e.writeRd();
      });
      e.end();
      e.writeRd().next();
      return;
    }
    case 'store': {
      c.get(L_F3).i32(3).op(Op.i32_gt_u);
      e.br('other', Op.br_if);
      e.reg(L_RS2).c.set(L_B);
      onHit(e, immS, ST_W_TAG_LO, ST_W_TAG_HI, ST_W_ABS, STORE_OPS.map((op) => () => void c.get(L_B).mem(op, 0, 0)));
      c.get(L_PC).op(Op.f64_convert_i64_s).get(L_CNT).get(L_LO);
      emitHigh(c, PROBE);
      c.i32(1).get(L_F3).op(Op.i32_shl);
      c.get(L_B).op(Op.i32_wrap_i64).get(L_B).i64(32).op(Op.i64_shr_u).op(Op.i32_wrap_i64);
      c.op(Op.call).uleb(F_ST).set(L_IX);
      slowExit(e, () => {});
      e.end();
      e.next();
      return;
    }
  }
  throw new Error(`no body for ${label}`);
}

