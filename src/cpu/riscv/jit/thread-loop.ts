/**
 * Threaded code's loop: one WebAssembly function, in the interpreter loop's module
 * (interp-wasm.ts), that runs the records thread-code.ts decodes a page's warm blocks into —
 * a record per instruction, its operands pre-decoded, one `br_table` on its op — instead of
 * fetching and decoding each instruction. A block's header record checks that the block is
 * still current (the jump cache's epoch), counts its entry towards the hot threshold and the
 * quantum's budget for the whole block; a taken branch or jump goes on at its target's header
 * when the record is linked to one (by the decoder, or here the first time it is taken after
 * its target on the page was decoded), else returns to the interpreter loop at the target.
 *
 * Why: guest code decoded once and run from records ran the cold-footprint program at ~2.4×
 * the interpreter's CPU (docs/cpu-performance.md, *A threaded tier, measured outside the tree*), where every tier that
 * wrote WebAssembly per guest block cost more to compile than it saved on code run ~1,000 times.
 *
 * Signature: thr(ip i32 (a header's address), vbase i64 (the page's virtual base), sb i32,
 * budget i32, cnt i32, pv i32 (the page's ST_PVER word)) -> i32 the count when it returned; the pc to go on at in ST_PC_OUT and
 * why in ST_TH_REASON (TH_*). Counts follow the interpreter loop's: an instruction that traps
 * in a slow path is counted.
 */
import { JC_KICK, ST_HITS, ST_JC_EPOCH, ST_KINDS, ST_LOOP_HOT, ST_PC_OUT, ST_PVER, ST_R_TLB, ST_T, ST_TH_REASON, ST_TREC, ST_W_TLB, ST_X } from '../state-area.js';
import { THREADED } from './page-code.js';
import { ALU_ALT_OPS, ALU_OPS, ALUW_ALT_OPS, ALUW_OPS, BRANCH_OPS, LOAD_OPS, STORE_OPS } from './f3-ops.js';
import { emitHigh, emitHitAddress, emitProbe, type ProbeLocals } from './tlb-probe.js';
import { Bytes, Labels, Op, T_I32, T_I64 } from './wasm-writer.js';

/**
 * Why thr returned: interpret on at pc; the dispatcher wants the block at pc (stale or hot); a
 * slow path trapped; leave after an access (pc is after it); a jump to pc, not linked (the loop
 * takes it as its own jumps: a translated block, threaded code, or a count).
 */
export const TH_CONT = 0;
export const TH_WANTED = 1;
export const TH_TRAP = 2;
export const TH_LEAVE = 3;
export const TH_JUMP = 4;

/**
 * Record ops (a record's first byte). Headers and ends; then by instruction kind, funct3 picking
 * within a group: OP-IMM, OP-IMM-32, OP, OP-32 (base and funct7 0x20 forms), LUI, AUIPC, loads,
 * stores, branches, JAL (linking and not), and a no-op (integer instructions writing x0).
 */
export const TH_HDR = 0;
export const TH_END = 1;
export const TH_IMM = 2; // + f3 (SRAI: TH_SRAI)
export const TH_SRAI = 10;
export const TH_IMMW = 11; // ADDIW, SLLIW, SRLIW: + [0, 1, 2]
export const TH_SRAIW = 14;
export const TH_OP = 15; // + f3
export const TH_SUB = 23;
export const TH_SRA = 24;
export const TH_OPW = 25; // ADDW, SLLW, SRLW: + [0, 1, 2]
export const TH_SUBW = 28;
export const TH_SRAW = 29;
export const TH_LUI = 30;
export const TH_AUIPC = 31;
/** Loads and stores: one op each, funct3 in the record's word 1 (bits 24..26), so that thr has one TLB probe of each. */
export const TH_LOAD = 32;
export const TH_STORE = 33;
export const TH_BRANCH = 34; // + f3 (0, 1, 4..7)
export const TH_JAL = 42;
export const TH_J = 43;
export const TH_NOP = 44;
/** A header whose block the block translator took over: leave as a jump to it. */
export const TH_GONE = 45;
const OPS = 46;

/** W forms' f3 by their index in TH_IMMW / TH_OPW. */
const W_F3 = [0, 1, 5];

// Parameters and locals.
const P_IP = 0;
const P_VBASE = 1;
const P_SB = 2;
const P_BUDGET = 3;
const P_CNT = 4;
const P_PV = 5;
const L_W = 6;
const L_REGS = 7;
const L_A = 8; // i64
const L_V = 9; // i64
const L_CNT0 = 10;
const L_T = 11;
const L_LO = 12;
const L_IX = 13;
const L_DABS = 14;
const L_REASON = 15;
const L_PC = 16; // i64
const L_EPOCH = 17;
/** 1 when the next header is entered by a jump (counted towards the hot threshold), 0 by a fall-through. */
const L_JUMPED = 18;
/** The page's kinds and hit counters (from its ST_PVER word's slot). */
const L_KB = 19;
const L_HB = 20;
/** A load's or store's funct3, and the host address its probe hit. */
const L_F3 = 21;
const L_HA = 22;

const PROBE: ProbeLocals = { a: L_A, lo: L_LO, ix: L_IX, abs: L_DABS, sb: P_SB, state: 0 };

/** The function's body (locals and code), for interp-wasm.ts's module; F_LD and F_ST are the module's slow-path imports. */
export function threadLoopBody(fLd: number, fSt: number): Bytes {
  const c = new Bytes();
  const e = new Labels(c);
  // Locals after the 6 parameters: w regs (i32), a v (i64), cnt0 t lo ix dabs reason (i32), pc (i64), epoch jumped (i32).
  c.uleb(5).uleb(2).byte(T_I32).uleb(2).byte(T_I64).uleb(6).byte(T_I32).uleb(1).byte(T_I64).uleb(6).byte(T_I32);
  c.get(P_CNT).set(L_CNT0);
  c.get(P_PV).get(P_SB).op(Op.i32_sub).i32(ST_PVER).op(Op.i32_sub).i32(2).op(Op.i32_shr_u).set(L_T);
  c.get(L_T).i32(11).op(Op.i32_shl).get(P_SB).op(Op.i32_add).i32(ST_KINDS).op(Op.i32_add).set(L_KB);
  c.get(L_T).i32(12).op(Op.i32_shl).get(P_SB).op(Op.i32_add).i32(ST_HITS).op(Op.i32_add).set(L_HB);
  // The interpreter loop calls at an entry it counted as a jump.
  c.i32(1).set(L_JUMPED);
  e.open(Op.block, 'out');
  e.open(Op.loop, 'next');
  c.get(P_IP).mem(Op.i32_load, 2, 0).set(L_W);
  c.get(P_IP).mem(Op.i32_load, 2, 4).set(L_REGS);
  // Taken branches and jumps leave their op for the one copy of jumpTo, after the ops.
  e.open(Op.block, 'jump');
  // Integer ops leave their result for the one copy of the register write, after the ops.
  e.open(Op.block, 'write');
  // One block per op; the br_table's default (and every op number not used) ends as TH_END does.
  const labels = Array.from({ length: OPS }, (_, op) => `op${op}`);
  for (let op = OPS - 1; op >= 0; op--) e.open(Op.block, labels[op]!);
  c.get(L_W).i32(255).op(Op.i32_and);
  c.op(Op.br_table).uleb(OPS);
  for (let op = 0; op < OPS; op++) c.uleb(op);
  c.uleb(TH_END);
  for (let op = 0; op < OPS; op++) {
    e.end();
    emitOp(c, e, op, fLd, fSt);
  }
  e.end(); // write
  reg(c, 0).get(L_V).mem(Op.i64_store, 3, ST_X);
  next(c, e);
  e.end(); // jump
  jumpTo(c, e);
  e.end(); // next
  e.end(); // out
  c.get(P_SB).get(L_PC).op(Op.f64_convert_i64_s).mem(Op.f64_store, 3, ST_PC_OUT);
  c.get(P_SB).get(L_REASON).mem(Op.i32_store, 2, ST_TH_REASON);
  c.get(P_CNT);
  c.op(Op.end);
  return c;
}

/** Push the address of register field `shift` (0 rd, 8 rs1, 16 rs2) of the record: sb + 8r. */
function reg(c: Bytes, shift: number): Bytes {
  c.get(L_REGS);
  if (shift !== 0) c.i32(shift).op(Op.i32_shr_u);
  return c.i32(255).op(Op.i32_and).get(P_SB).op(Op.i32_add);
}

/** Push the record's instruction pc (i64): vbase + its page offset (bits 16..27 of w, halfwords). */
function pcOf(c: Bytes): Bytes {
  return c.get(P_VBASE).get(L_W).i32(15).op(Op.i32_shr_u).i32(0xffe).op(Op.i32_and).op(Op.i64_extend_i32_u).op(Op.i64_add);
}

/** Push cnt0 + (the record's index in its block) + `plus`. */
function countAt(c: Bytes, plus: number): Bytes {
  c.get(L_CNT0).get(L_W).i32(8).op(Op.i32_shr_u).i32(255).op(Op.i32_and).op(Op.i32_add);
  if (plus !== 0) c.i32(plus).op(Op.i32_add);
  return c;
}

/** Push the instruction's length (bits 28..29 of w hold it halved). */
function ilenOf(c: Bytes): Bytes {
  return c.get(L_W).i32(27).op(Op.i32_shr_u).i32(6).op(Op.i32_and);
}

/** Push the record's immediate (word 2) as i64. */
function imm64(c: Bytes): Bytes {
  return c.get(P_IP).mem(Op.i32_load, 2, 8).op(Op.i64_extend_i32_s);
}

/**
 * L_T: the record's link (word 3); when it has none and threaded code has been decoded at its
 * target's page offset (`target` pushes it) since, the link to that header, kept in the record.
 */
function lazyLink(c: Bytes, e: Labels, target: () => void): void {
  c.get(P_IP).mem(Op.i32_load, 2, 12).tee(L_T).op(Op.i32_eqz);
  e.open(Op.if_, 'if');
  target();
  c.tee(L_LO).i32(4096).op(Op.i32_lt_u);
  e.open(Op.if_, 'if');
  c.get(L_KB).get(L_LO).i32(1).op(Op.i32_shr_u).op(Op.i32_add).mem(Op.i32_load8_u, 0, 0).i32(THREADED).op(Op.i32_eq);
  e.open(Op.if_, 'if');
  c.get(P_IP).get(L_HB).get(L_LO).op(Op.i32_add).mem(Op.i32_load16_u, 1, 0).tee(L_T).mem(Op.i32_store, 2, 12);
  e.end();
  e.end();
  e.end();
}

/** Leave with `reason`; L_PC and P_CNT set by the caller. */
function leave(c: Bytes, e: Labels, reason: number): void {
  c.i32(reason).set(L_REASON);
  e.br('out');
}

/** x[rd] = the i64 on the stack (written after the ops: threadLoopBody); the next record. */
function writeNext(c: Bytes, e: Labels): void {
  c.set(L_V);
  e.br('write');
}

function next(c: Bytes, e: Labels): void {
  c.get(P_IP).i32(16).op(Op.i32_add).set(P_IP);
  e.br('next');
}

/** A taken branch or jump (its count in P_CNT) to pc + imm: its target's header when linked (word 3: the record's index), else leave there. */
function jumpTo(c: Bytes, e: Labels): void {
  lazyLink(c, e, () => void c.get(L_W).i32(15).op(Op.i32_shr_u).i32(0xffe).op(Op.i32_and).get(P_IP).mem(Op.i32_load, 2, 8).op(Op.i32_add));
  c.get(L_T);
  e.open(Op.if_, 'if');
  c.i32(1).set(L_JUMPED);
  c.get(L_T).i32(4).op(Op.i32_shl).get(P_SB).op(Op.i32_add).i32(ST_TREC).op(Op.i32_add).set(P_IP);
  e.br('next');
  e.end();
  pcOf(c);
  imm64(c).op(Op.i64_add).set(L_PC);
  leave(c, e, TH_JUMP);
}

function emitOp(c: Bytes, e: Labels, op: number, fLd: number, fSt: number): void {
  if (op === TH_HDR) {
    // Current: made, or its page checked by the dispatcher, since the jump cache's epoch last
    // moved (a store to code, a map change, fence.i: the dispatcher compares the page).
    c.get(P_IP).mem(Op.i32_load, 2, 12);
    c.get(P_SB).mem(Op.i32_load, 2, ST_JC_EPOCH).i32(~JC_KICK).op(Op.i32_and).tee(L_EPOCH);
    c.op(Op.i32_ne);
    e.open(Op.if_, 'if');
    c.get(P_PV).mem(Op.i32_load, 2, 0).get(L_EPOCH).op(Op.i32_ne);
    e.open(Op.if_, 'if');
    pcOf(c).set(L_PC);
    leave(c, e, TH_WANTED);
    e.end();
    c.get(P_IP).get(L_EPOCH).mem(Op.i32_store, 2, 12);
    e.end();
    // An entry by a jump, counted towards the hot threshold (the dispatcher translates it
    // then); not a fall-through, which the block translator runs on into from the block before,
    // as the interpreter loop counts only jumps.
    c.get(L_JUMPED);
    e.open(Op.if_, 'if');
    c.get(P_IP).get(P_IP).mem(Op.i32_load, 2, 8).i32(1).op(Op.i32_add).tee(L_T).mem(Op.i32_store, 2, 8);
    c.get(L_T).get(P_SB).mem(Op.i32_load, 2, ST_LOOP_HOT).op(Op.i32_ge_u);
    e.open(Op.if_, 'if');
    pcOf(c).set(L_PC);
    leave(c, e, TH_WANTED);
    e.end();
    e.end();
    // The quantum's budget for the whole block (the interpreter loop runs a tail that does not fit).
    c.get(P_CNT).get(L_REGS).op(Op.i32_add).get(P_BUDGET).op(Op.i32_gt_u);
    e.open(Op.if_, 'if');
    pcOf(c).set(L_PC);
    leave(c, e, TH_CONT);
    e.end();
    c.get(P_CNT).set(L_CNT0);
    c.get(P_CNT).get(L_REGS).op(Op.i32_add).set(P_CNT);
    next(c, e);
    return;
  }
  if (op === TH_END) {
    // The block ends: the instructions before this record ran; go on at word 2's page offset,
    // in the linked block (word 3) or through the interpreter loop.
    countAt(c, 0).set(P_CNT);
    lazyLink(c, e, () => void c.get(P_IP).mem(Op.i32_load, 2, 8));
    c.get(L_T);
    e.open(Op.if_, 'if');
    c.i32(0).set(L_JUMPED);
    c.get(L_T).i32(4).op(Op.i32_shl).get(P_SB).op(Op.i32_add).i32(ST_TREC).op(Op.i32_add).set(P_IP);
    e.br('next');
    e.end();
    c.get(P_VBASE).get(P_IP).mem(Op.i32_load, 2, 8).op(Op.i64_extend_i32_u).op(Op.i64_add).set(L_PC);
    // The loop takes it as a jump there: counted, so that a fall-through gets warm and
    // threaded too (at an instruction threaded code does not run, the count only ever makes
    // the dispatcher mark the offset as no entry).
    leave(c, e, TH_JUMP);
    return;
  }
  if (op === TH_NOP) {
    next(c, e);
    return;
  }
  if (op === TH_GONE) {
    pcOf(c).set(L_PC);
    leave(c, e, TH_JUMP);
    return;
  }
  if (op >= TH_IMM && op <= TH_SRAI) {
    const f3 = op === TH_SRAI ? 5 : op - TH_IMM;
    reg(c, 8).mem(Op.i64_load, 3, ST_X);
    imm64(c);
    c.bytes((op === TH_SRAI ? ALU_ALT_OPS : ALU_OPS)[f3]!);
    writeNext(c, e);
    return;
  }
  if (op >= TH_IMMW && op <= TH_SRAIW) {
    const f3 = op === TH_SRAIW ? 5 : W_F3[op - TH_IMMW]!;
    reg(c, 8).mem(Op.i64_load, 3, ST_X).op(Op.i32_wrap_i64);
    c.get(P_IP).mem(Op.i32_load, 2, 8);
    c.bytes((op === TH_SRAIW ? ALUW_ALT_OPS : ALUW_OPS)[f3]!);
    c.op(Op.i64_extend_i32_s);
    writeNext(c, e);
    return;
  }
  if (op >= TH_OP && op <= TH_SRA) {
    const alt = op === TH_SUB || op === TH_SRA;
    const f3 = op === TH_SUB ? 0 : op === TH_SRA ? 5 : op - TH_OP;
    reg(c, 8).mem(Op.i64_load, 3, ST_X);
    reg(c, 16).mem(Op.i64_load, 3, ST_X);
    c.bytes((alt ? ALU_ALT_OPS : ALU_OPS)[f3]!);
    writeNext(c, e);
    return;
  }
  if (op >= TH_OPW && op <= TH_SRAW) {
    const alt = op === TH_SUBW || op === TH_SRAW;
    const f3 = op === TH_SUBW ? 0 : op === TH_SRAW ? 5 : W_F3[op - TH_OPW]!;
    reg(c, 8).mem(Op.i64_load, 3, ST_X).op(Op.i32_wrap_i64);
    reg(c, 16).mem(Op.i64_load, 3, ST_X).op(Op.i32_wrap_i64);
    c.bytes((alt ? ALUW_ALT_OPS : ALUW_OPS)[f3]!);
    c.op(Op.i64_extend_i32_s);
    writeNext(c, e);
    return;
  }
  if (op === TH_LUI) {
    imm64(c);
    writeNext(c, e);
    return;
  }
  if (op === TH_AUIPC) {
    pcOf(c);
    imm64(c).op(Op.i64_add);
    writeNext(c, e);
    return;
  }
  if (op === TH_LOAD || op === TH_STORE) {
    const load = op === TH_LOAD;
    c.get(L_REGS).i32(24).op(Op.i32_shr_u).set(L_F3);
    reg(c, 8).mem(Op.i64_load, 3, ST_X);
    imm64(c).op(Op.i64_add);
    // The access's size, 1 << (f3 & 3): its alignment bits.
    emitProbe(c, PROBE, load ? ST_R_TLB : ST_W_TLB, () => void c.i32(1).get(L_F3).i32(3).op(Op.i32_and).op(Op.i32_shl).i32(1).op(Op.i32_sub));
    e.open(Op.if_, 'if');
    emitHitAddress(c, PROBE);
    c.set(L_HA);
    c.i32(0).set(L_T);
    byF3(c, e, load ? LOAD_OPS.length : STORE_OPS.length, (f3) => {
      if (load) {
        c.get(L_HA).mem(LOAD_OPS[f3]!, 0, 0).set(L_V);
      } else {
        c.get(L_HA);
        reg(c, 16).mem(Op.i64_load, 3, ST_X);
        c.mem(STORE_OPS[f3]!, 0, 0);
      }
    });
    c.op(Op.else_);
    // The interpreter's slow path: exact pc and count (this instruction counted).
    pcOf(c).op(Op.f64_convert_i64_s);
    countAt(c, 1).get(L_LO);
    emitHigh(c, PROBE);
    if (load) {
      c.get(L_F3).op(Op.call).uleb(fLd).tee(L_T);
      slowResult(c, e);
      c.get(P_SB).mem(Op.i64_load, 3, ST_T).set(L_V);
    } else {
      c.i32(1).get(L_F3).op(Op.i32_shl);
      reg(c, 16).mem(Op.i64_load, 3, ST_X).set(L_V);
      c.get(L_V).op(Op.i32_wrap_i64).get(L_V).i64(32).op(Op.i64_shr_u).op(Op.i32_wrap_i64);
      c.op(Op.call).uleb(fSt).tee(L_T);
      slowResult(c, e);
      // A store that reached code (this page's, maybe) moved the jump cache's epoch: the rest of
      // the block may be stale, so it ends after the store, as a translated block does.
      c.get(P_SB).mem(Op.i32_load, 2, ST_JC_EPOCH).i32(~JC_KICK).op(Op.i32_and).get(L_EPOCH).op(Op.i32_ne);
      e.open(Op.if_, 'if');
      c.i32(1).set(L_T);
      e.end();
    }
    e.end();
    if (load) {
      reg(c, 0).get(L_V).mem(Op.i64_store, 3, ST_X);
    }
    leaveIfAsked(c, e);
    next(c, e);
    return;
  }
  if (op >= TH_BRANCH && op < TH_BRANCH + 8) {
    const cmp = BRANCH_OPS[op - TH_BRANCH];
    if (cmp === 0 || cmp === undefined) {
      // No such branch (the decoder never makes one): end as TH_END does.
      leaveUnreachable(c);
      return;
    }
    reg(c, 8).mem(Op.i64_load, 3, ST_X);
    reg(c, 16).mem(Op.i64_load, 3, ST_X);
    c.op(cmp);
    e.open(Op.if_, 'if');
    countAt(c, 1).set(P_CNT);
    e.br('jump');
    e.end();
    next(c, e);
    return;
  }
  if (op === TH_JAL || op === TH_J) {
    if (op === TH_JAL) {
      pcOf(c);
      ilenOf(c).op(Op.i64_extend_i32_u).op(Op.i64_add).set(L_V);
      reg(c, 0).get(L_V).mem(Op.i64_store, 3, ST_X);
    }
    countAt(c, 1).set(P_CNT);
    e.br('jump');
    return;
  }
  leaveUnreachable(c);
}

/** Run `body(f3)` for the access's funct3 (L_F3, below `n`), by a br_table. */
function byF3(c: Bytes, e: Labels, n: number, body: (f3: number) => void): void {
  e.open(Op.block, 'f3done');
  for (let f3 = n - 1; f3 >= 0; f3--) e.open(Op.block, `f3_${f3}`);
  c.get(L_F3);
  c.op(Op.br_table).uleb(n);
  for (let f3 = 0; f3 < n; f3++) c.uleb(f3);
  c.uleb(0);
  for (let f3 = 0; f3 < n; f3++) {
    e.end();
    body(f3);
    e.br('f3done');
  }
  e.end();
}

/** Ops the decoder never makes. */
function leaveUnreachable(c: Bytes): void {
  c.op(Op.unreachable);
}

/**
 * A slow path's result on the stack (also in L_T): 2, it trapped (pc and count are the slow
 * path's: leave); else the access is done (1: leave after it, once the load's value is written).
 */
function slowResult(c: Bytes, e: Labels): void {
  c.i32(2).op(Op.i32_eq);
  e.open(Op.if_, 'if');
  countAt(c, 1).set(P_CNT);
  pcOf(c).set(L_PC);
  leave(c, e, TH_TRAP);
  e.end();
}

/** After an access whose slow path asked to stop (L_T 1): leave at the next instruction, this one counted. */
function leaveIfAsked(c: Bytes, e: Labels): void {
  c.get(L_T).i32(1).op(Op.i32_eq);
  e.open(Op.if_, 'if');
  countAt(c, 1).set(P_CNT);
  pcOf(c);
  ilenOf(c).op(Op.i64_extend_i32_u).op(Op.i64_add).set(L_PC);
  leave(c, e, TH_LEAVE);
  e.end();
}
