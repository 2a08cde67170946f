/**
 * Threaded code's decoder: a warm block decoded into the records thread-loop.ts runs. It is a
 * function of the interpreter loop's module (interp-wasm.ts: F_DEC), called where the loop
 * counts an entry to its threaded threshold on a page that already has code, and by the
 * dispatcher (Translator.thread) for a page's first block, after claiming the page: decoding
 * is ~10 µs a block from cold JavaScript with the dispatcher's pass around it, which real
 * guests never repaid (docs/cpu-performance.md, *A threaded tier in the tree*).
 *
 * A block is a header, then a record per instruction, to its first conditional branch, JAL,
 * instruction the loop does not run (an END record: the interpreter loop runs it), the page's
 * end or MAX_THREAD_INSNS, each ending in an END record for the fall-through. A branch, JAL or
 * fall-through to threaded code on the same page is linked to its header when decoded; others
 * are linked by thread-loop.ts when first taken to a block decoded since. The decoder installs
 * the block (the entry's kind THREADED, its hit counter the header's record) and logs the words
 * it decoded from for the dispatcher, which keeps them as the page's claimed bytes
 * (Translator.drainThreaded): a page's re-check compares them as it compares blocks' words.
 *
 * Record layout (four i32 words, 16 bytes):
 *   header:      [TH_HDR | off/2 << 16] [instructions n] [entry count] [jump-cache epoch made for]
 *   instruction: [op | k << 8 | off/2 << 16 | ilen/2 << 28] [rd*8 | rs1*8 << 8 | rs2*8 << 16 | funct3 << 24] [imm] [link]
 *   end:         [TH_END | k << 8] [-] [page offset to go on at] [link]
 * where k is the instruction's index in its block and a link is a header's record index (0: none).
 *
 * Signature: dec(abs i32 (the page's bytes in memory), off i32 (the entry's page offset), sb
 * i32, kinds i32, hits i32 (the page's), count i32 (the entry's)) -> i32 the header's record
 * index, 0 when nothing was made (the first instruction is not the loop's, or the pool or the
 * log is full: the dispatcher then empties them).
 */
import { JC_KICK, ST_JC_EPOCH, ST_KINDS, ST_RVC, ST_TH_LOG, ST_TH_TABLE, ST_TH_TOP, ST_TREC, TH_LOG_WORDS, TH_RECORDS } from '../state-area.js';
import { THREADED } from './page-code.js';
import { TH_AUIPC, TH_BRANCH, TH_END, TH_HDR, TH_IMM, TH_IMMW, TH_J, TH_JAL, TH_LOAD, TH_LUI, TH_NOP, TH_OP, TH_OPW, TH_SRA, TH_SRAI, TH_SRAIW, TH_SRAW, TH_STORE, TH_SUB, TH_SUBW } from './thread-loop.js';
import { Bytes, Labels, Op, T_I32 } from './wasm-writer.js';

/** Instructions of one block at most (its index fits a record's byte). */
export const MAX_THREAD_INSNS = 64;

/**
 * How the decoder reads an instruction of a table entry's kind: its immediate, and which of the
 * entry's two ops it is (funct7 or the shift's top bits pick).
 */
const F_NONE = 0;
const F_I = 1;
const F_LOAD = 2;
const F_SH64 = 3;
const F_SH32 = 4;
const F_R = 5;
const F_U = 6;
const F_S = 7;
const F_B = 8;
const F_J = 9;
const FORMATS = 10;
/** In a table entry: an integer instruction writing x0 is a TH_NOP (hints); loads, which may fault, are not. */
const NOP_IF_X0 = 1 << 24;

function entry(op0: number, op1: number, fmt: number, nop: boolean): number {
  return op0 | (op1 << 8) | (fmt << 16) | (nop ? NOP_IF_X0 : 0);
}

/**
 * The decoder's table (ST_TH_TABLE): for each major opcode (bits 2..6) and funct3, the record
 * op of the base form and of the funct7 0x20 (or SRAI/JAL rd=x0) form, and the format. Encodings
 * thread-loop.ts does not run are F_NONE: the block ends before them.
 */
export function threadTable(): Int32Array {
  const t = new Int32Array(256);
  const set = (opc: number, f3: number, v: number): void => void (t[((opc >> 2) << 3) | f3] = v);
  for (let f3 = 0; f3 < 8; f3++) {
    // OP-IMM: SLLI and SRLI/SRAI by their top six bits.
    set(0x13, f3, f3 === 1 ? entry(TH_IMM + 1, 0, F_SH64, true) : f3 === 5 ? entry(TH_IMM + 5, TH_SRAI, F_SH64, true) : entry(TH_IMM + f3, 0, F_I, true));
    // OP: funct7 0 or 0x20 (SUB, SRA); the M extension's funct7 1 is not threaded.
    set(0x33, f3, entry(TH_OP + f3, f3 === 0 ? TH_SUB : f3 === 5 ? TH_SRA : 0, F_R, true));
    if (f3 !== 7) set(0x03, f3, entry(TH_LOAD, 0, F_LOAD, false));
    if (f3 < 4) set(0x23, f3, entry(TH_STORE, 0, F_S, false));
    if (f3 !== 2 && f3 !== 3) set(0x63, f3, entry(TH_BRANCH + f3, 0, F_B, false));
    set(0x37, f3, entry(TH_LUI, 0, F_U, true));
    set(0x17, f3, entry(TH_AUIPC, 0, F_U, true));
    set(0x6f, f3, entry(TH_JAL, TH_J, F_J, false));
  }
  set(0x1b, 0, entry(TH_IMMW, 0, F_I, true));
  set(0x1b, 1, entry(TH_IMMW + 1, 0, F_SH32, true));
  set(0x1b, 5, entry(TH_IMMW + 2, TH_SRAIW, F_SH32, true));
  set(0x3b, 0, entry(TH_OPW, TH_SUBW, F_R, true));
  set(0x3b, 1, entry(TH_OPW + 1, 0, F_R, true));
  set(0x3b, 5, entry(TH_OPW + 2, TH_SRAW, F_R, true));
  return t;
}

// Parameters and locals.
const P_ABS = 0;
const P_OFF = 1;
const P_SB = 2;
const P_KINDS = 3;
const P_HITS = 4;
const P_COUNT = 5;
const L_TOP = 6;
const L_HDR = 7;
const L_K = 8;
const L_O = 9;
const L_INSN = 10;
const L_ILEN = 11;
const L_OP = 12;
const L_IMM = 13;
const L_ENT = 14;
const L_REC = 15;
const L_T = 16;
const L_LOG = 17;
const L_W = 18;

/** The decoder's body (locals and code), for interp-wasm.ts's module. */
export function threadDecodeBody(): Bytes {
  const c = new Bytes();
  const e = new Labels(c);
  c.uleb(1).uleb(13).byte(T_I32);
  // Room for the longest block in the pool (its header, instructions and end) and in the log.
  c.get(P_SB).mem(Op.i32_load, 2, ST_TH_TOP).tee(L_TOP).i32(MAX_THREAD_INSNS + 2).op(Op.i32_add).i32(TH_RECORDS).op(Op.i32_gt_u);
  c.get(P_SB).mem(Op.i32_load, 2, ST_TH_LOG).tee(L_LOG).i32(3 + MAX_THREAD_INSNS + 1).op(Op.i32_add).i32(TH_LOG_WORDS).op(Op.i32_gt_u);
  c.op(Op.i32_or);
  e.open(Op.if_, 'if');
  c.i32(0).op(Op.return_);
  e.end();
  c.get(L_TOP).tee(L_HDR).i32(1).op(Op.i32_add).set(L_TOP);
  c.get(P_OFF).set(L_O);
  e.open(Op.block, 'done');
  e.open(Op.loop, 'next');
  // Falls through to the page's end, threaded code, or its length's end.
  c.get(L_K);
  e.open(Op.if_, 'if');
  c.get(L_O).i32(4096).op(Op.i32_ge_u);
  c.get(L_K).i32(MAX_THREAD_INSNS).op(Op.i32_eq).op(Op.i32_or);
  kindAt(c, L_O).op(Op.i32_or);
  e.open(Op.if_, 'if');
  endRecord(c);
  e.br('done');
  e.end();
  e.end();
  // Fetch: a 32-bit instruction within the page, or a compressed one the loop's table has.
  c.i32(0).set(L_ILEN);
  c.i32(0).set(L_OP);
  c.get(P_ABS).get(L_O).op(Op.i32_add).mem(Op.i32_load16_u, 1, 0).tee(L_INSN).i32(3).op(Op.i32_and).i32(3).op(Op.i32_eq);
  e.open(Op.if_, 'if');
  c.get(L_O).i32(4092).op(Op.i32_le_u);
  e.open(Op.if_, 'if');
  c.get(P_ABS).get(L_O).op(Op.i32_add).mem(Op.i32_load, 0, 0).set(L_INSN);
  c.i32(4).set(L_ILEN);
  e.end();
  c.op(Op.else_);
  c.get(L_INSN).i32(2).op(Op.i32_shl).get(P_SB).op(Op.i32_add).mem(Op.i32_load, 2, ST_RVC).tee(L_INSN).i32(3).op(Op.i32_and).i32(3).op(Op.i32_eq);
  e.open(Op.if_, 'if');
  c.i32(2).set(L_ILEN);
  e.end();
  e.end();
  c.get(L_ILEN);
  e.open(Op.if_, 'if');
  decodeOne(c, e);
  e.end();
  c.get(L_OP).op(Op.i32_eqz);
  e.open(Op.if_, 'if');
  endRecord(c);
  e.br('done');
  e.end();
  // The instruction's record.
  recordAt(c, L_TOP).tee(L_REC);
  c.get(L_OP).get(L_K).i32(8).op(Op.i32_shl).op(Op.i32_or).get(L_O).i32(1).op(Op.i32_shr_u).i32(16).op(Op.i32_shl).op(Op.i32_or);
  c.get(L_ILEN).i32(1).op(Op.i32_shr_u).i32(28).op(Op.i32_shl).op(Op.i32_or).mem(Op.i32_store, 2, 0);
  c.get(L_REC);
  field(c, 7).i32(3).op(Op.i32_shl);
  field(c, 15).i32(11).op(Op.i32_shl).op(Op.i32_or);
  field(c, 20).i32(19).op(Op.i32_shl).op(Op.i32_or);
  c.get(L_INSN).i32(12).op(Op.i32_shr_u).i32(7).op(Op.i32_and).i32(24).op(Op.i32_shl).op(Op.i32_or).mem(Op.i32_store, 2, 4);
  c.get(L_REC).get(L_IMM).mem(Op.i32_store, 2, 8);
  c.get(L_REC).i32(0).mem(Op.i32_store, 2, 12);
  c.get(L_TOP).i32(1).op(Op.i32_add).set(L_TOP);
  c.get(L_K).i32(1).op(Op.i32_add).set(L_K);
  c.get(L_O).get(L_ILEN).op(Op.i32_add).set(L_O);
  // Branches and jumps end the block, linked to a target on the page that is threaded already.
  c.get(L_OP).i32(TH_BRANCH).op(Op.i32_sub).i32(8).op(Op.i32_lt_u);
  c.get(L_OP).i32(TH_J).op(Op.i32_eq).op(Op.i32_or);
  c.get(L_OP).i32(TH_JAL).op(Op.i32_eq).op(Op.i32_or);
  e.open(Op.if_, 'if');
  c.get(L_O).get(L_ILEN).op(Op.i32_sub).get(L_IMM).op(Op.i32_add).tee(L_T).i32(4096).op(Op.i32_lt_u);
  e.open(Op.if_, 'if');
  kindAt(c, L_T);
  e.open(Op.if_, 'if');
  c.get(L_REC).get(P_HITS).get(L_T).op(Op.i32_add).mem(Op.i32_load16_u, 1, 0).mem(Op.i32_store, 2, 12);
  e.end();
  e.end();
  // A conditional branch's fall-through is a block of its own, decoded when it gets warm (the
  // end leaves as a jump there, which the loop counts), so that code is decoded once, not again
  // as the tail of every block that branches past it.
  c.get(L_OP).i32(TH_J).op(Op.i32_ne).get(L_OP).i32(TH_JAL).op(Op.i32_ne).op(Op.i32_and);
  e.open(Op.if_, 'if');
  endRecord(c);
  e.end();
  e.br('done');
  e.end();
  e.br('next');
  e.end(); // next
  e.end(); // done
  c.get(L_K).op(Op.i32_eqz);
  e.open(Op.if_, 'if');
  c.i32(0).op(Op.return_);
  e.end();
  // The header.
  recordAt(c, L_HDR).tee(L_REC).get(P_OFF).i32(1).op(Op.i32_shr_u).i32(16).op(Op.i32_shl).i32(TH_HDR).op(Op.i32_or).mem(Op.i32_store, 2, 0);
  c.get(L_REC).get(L_K).mem(Op.i32_store, 2, 4);
  c.get(L_REC).get(P_COUNT).mem(Op.i32_store, 2, 8);
  c.get(L_REC).get(P_SB).mem(Op.i32_load, 2, ST_JC_EPOCH).i32(~JC_KICK).op(Op.i32_and).mem(Op.i32_store, 2, 12);
  c.get(P_SB).get(L_TOP).mem(Op.i32_store, 2, ST_TH_TOP);
  // The log: [area slot, entry offset, end word, the words from the entry's word on].
  c.get(P_SB).get(L_LOG).i32(2).op(Op.i32_shl).op(Op.i32_add).i32(ST_TH_LOG + 4).op(Op.i32_add).tee(L_REC);
  c.get(P_KINDS).get(P_SB).op(Op.i32_sub).i32(ST_KINDS).op(Op.i32_sub).i32(11).op(Op.i32_shr_u).mem(Op.i32_store, 2, 0);
  c.get(P_OFF).i32(2).op(Op.i32_shr_u).set(L_W);
  c.get(L_REC).get(P_OFF).mem(Op.i32_store, 2, 4);
  c.get(L_REC).get(L_O).i32(3).op(Op.i32_add).i32(2).op(Op.i32_shr_u).tee(L_T).mem(Op.i32_store, 2, 8);
  c.get(L_LOG).i32(3).op(Op.i32_add).set(L_LOG);
  e.open(Op.loop, 'copy');
  c.get(P_SB).get(L_LOG).i32(2).op(Op.i32_shl).op(Op.i32_add);
  c.get(P_ABS).get(L_W).i32(2).op(Op.i32_shl).op(Op.i32_add).mem(Op.i32_load, 2, 0);
  c.mem(Op.i32_store, 2, ST_TH_LOG + 4);
  c.get(L_LOG).i32(1).op(Op.i32_add).set(L_LOG);
  c.get(L_W).i32(1).op(Op.i32_add).tee(L_W).get(L_T).op(Op.i32_lt_u);
  e.br('copy', Op.br_if);
  e.end();
  c.get(P_SB).get(L_LOG).mem(Op.i32_store, 2, ST_TH_LOG);
  // Installed: the entry is threaded, its counter the header's record.
  c.get(P_KINDS).get(P_OFF).i32(1).op(Op.i32_shr_u).op(Op.i32_add).i32(THREADED).mem(Op.i32_store8, 0, 0);
  c.get(P_HITS).get(P_OFF).op(Op.i32_add).get(L_HDR).mem(Op.i32_store16, 1, 0);
  c.get(L_HDR);
  c.op(Op.end);
  return c;
}

/** Push the address of record `local` (an index) of the pool. */
function recordAt(c: Bytes, local: number): Bytes {
  return c.get(local).i32(4).op(Op.i32_shl).get(P_SB).op(Op.i32_add).i32(ST_TREC).op(Op.i32_add);
}

/** Push whether the page's entry at offset `local` (< 4096, even) is threaded code. */
function kindAt(c: Bytes, local: number): Bytes {
  return c.get(P_KINDS).get(local).i32(1).op(Op.i32_shr_u).op(Op.i32_add).mem(Op.i32_load8_u, 0, 0).i32(THREADED).op(Op.i32_eq);
}

/** Push the 5-bit register field at `shift` of the instruction. */
function field(c: Bytes, shift: number): Bytes {
  return c.get(L_INSN).i32(shift).op(Op.i32_shr_u).i32(31).op(Op.i32_and);
}

/**
 * An END record at the pool's top: the block's L_K instructions ran; go on at L_O, linked when
 * threaded code starts there.
 */
function endRecord(c: Bytes): void {
  recordAt(c, L_TOP).tee(L_REC).get(L_K).i32(8).op(Op.i32_shl).i32(TH_END).op(Op.i32_or).mem(Op.i32_store, 2, 0);
  c.get(L_REC).i32(0).mem(Op.i32_store, 2, 4);
  c.get(L_REC).get(L_O).mem(Op.i32_store, 2, 8);
  c.get(L_REC);
  // The link: the header at L_O when that is threaded code on this page (select needs both arms: the hits load is in range for any L_O < 4098).
  c.get(L_O).i32(4096).op(Op.i32_lt_u);
  c.op(Op.if_).byte(T_I32);
  kindAt(c, L_O);
  c.op(Op.if_).byte(T_I32);
  c.get(P_HITS).get(L_O).op(Op.i32_add).mem(Op.i32_load16_u, 1, 0);
  c.op(Op.else_).i32(0).op(Op.end);
  c.op(Op.else_).i32(0).op(Op.end);
  c.mem(Op.i32_store, 2, 12);
  c.get(L_TOP).i32(1).op(Op.i32_add).set(L_TOP);
}

/** L_INSN (expanded, 32 bits) to L_OP and L_IMM through the table; L_OP stays 0 for an instruction the loop does not run. */
function decodeOne(c: Bytes, e: Labels): void {
  c.get(L_INSN).i32(0x7c).op(Op.i32_and).i32(1).op(Op.i32_shl);
  c.get(L_INSN).i32(12).op(Op.i32_shr_u).i32(7).op(Op.i32_and).op(Op.i32_or);
  c.i32(2).op(Op.i32_shl).get(P_SB).op(Op.i32_add).mem(Op.i32_load, 2, ST_TH_TABLE).set(L_ENT);
  const labels = Array.from({ length: FORMATS }, (_, f) => `f${f}`);
  e.open(Op.block, 'formats');
  for (let f = FORMATS - 1; f >= 0; f--) e.open(Op.block, labels[f]!);
  c.get(L_ENT).i32(16).op(Op.i32_shr_u).i32(255).op(Op.i32_and);
  c.op(Op.br_table).uleb(FORMATS);
  for (let f = 0; f < FORMATS; f++) c.uleb(f);
  c.uleb(F_NONE);
  for (let f = 0; f < FORMATS; f++) {
    e.end();
    format(c, f);
    e.br('formats');
  }
  e.end();
  // An integer instruction writing x0 does nothing (a hint).
  c.get(L_ENT).i32(24).op(Op.i32_shr_u).i32(1).op(Op.i32_and);
  c.get(L_OP).i32(0).op(Op.i32_ne).op(Op.i32_and);
  field(c, 7).op(Op.i32_eqz).op(Op.i32_and);
  e.open(Op.if_, 'if');
  c.i32(TH_NOP).set(L_OP);
  e.end();
}

/** Push the entry's first op (0) or second (1). */
function opOfEntry(c: Bytes, which: 0 | 1): Bytes {
  return c.get(L_ENT).i32(which * 8).op(Op.i32_shr_u).i32(255).op(Op.i32_and);
}

/** L_OP: the entry's first op when `sel` (pushed) is 0, its second when `sel` is `alt`, else none. */
function pick(c: Bytes, e: Labels, sel: () => void, alt: number): void {
  sel();
  c.set(L_T);
  c.get(L_T).op(Op.i32_eqz);
  e.open(Op.if_, 'if');
  opOfEntry(c, 0).set(L_OP);
  e.end();
  c.get(L_T).i32(alt).op(Op.i32_eq);
  e.open(Op.if_, 'if');
  opOfEntry(c, 1).set(L_OP);
  e.end();
}

function format(c: Bytes, f: number): void {
  const e = new Labels(c);
  switch (f) {
    case F_NONE:
      return;
    case F_I:
      c.get(L_INSN).i32(20).op(Op.i32_shr_s).set(L_IMM);
      opOfEntry(c, 0).set(L_OP);
      return;
    case F_LOAD:
      // A load to x0 still accesses memory (and may fault): the interpreter's.
      c.get(L_INSN).i32(20).op(Op.i32_shr_s).set(L_IMM);
      field(c, 7);
      e.open(Op.if_, 'if');
      opOfEntry(c, 0).set(L_OP);
      e.end();
      return;
    case F_SH64:
      c.get(L_INSN).i32(20).op(Op.i32_shr_u).i32(63).op(Op.i32_and).set(L_IMM);
      pick(c, e, () => void c.get(L_INSN).i32(26).op(Op.i32_shr_u), 0x10);
      return;
    case F_SH32:
      c.get(L_INSN).i32(20).op(Op.i32_shr_u).i32(31).op(Op.i32_and).set(L_IMM);
      pick(c, e, () => void c.get(L_INSN).i32(25).op(Op.i32_shr_u), 0x20);
      return;
    case F_R:
      c.i32(0).set(L_IMM);
      pick(c, e, () => void c.get(L_INSN).i32(25).op(Op.i32_shr_u), 0x20);
      return;
    case F_U:
      c.get(L_INSN).i32(-4096).op(Op.i32_and).set(L_IMM);
      opOfEntry(c, 0).set(L_OP);
      return;
    case F_S:
      c.get(L_INSN).i32(25).op(Op.i32_shr_s).i32(5).op(Op.i32_shl);
      field(c, 7).op(Op.i32_or).set(L_IMM);
      opOfEntry(c, 0).set(L_OP);
      return;
    case F_B:
      c.get(L_INSN).i32(31).op(Op.i32_shr_s).i32(12).op(Op.i32_shl);
      c.get(L_INSN).i32(7).op(Op.i32_shr_u).i32(1).op(Op.i32_and).i32(11).op(Op.i32_shl).op(Op.i32_or);
      c.get(L_INSN).i32(25).op(Op.i32_shr_u).i32(0x3f).op(Op.i32_and).i32(5).op(Op.i32_shl).op(Op.i32_or);
      c.get(L_INSN).i32(8).op(Op.i32_shr_u).i32(0xf).op(Op.i32_and).i32(1).op(Op.i32_shl).op(Op.i32_or).set(L_IMM);
      opOfEntry(c, 0).set(L_OP);
      return;
    case F_J:
      c.get(L_INSN).i32(31).op(Op.i32_shr_s).i32(20).op(Op.i32_shl);
      c.get(L_INSN).i32(0xff000).op(Op.i32_and).op(Op.i32_or);
      c.get(L_INSN).i32(20).op(Op.i32_shr_u).i32(1).op(Op.i32_and).i32(11).op(Op.i32_shl).op(Op.i32_or);
      c.get(L_INSN).i32(21).op(Op.i32_shr_u).i32(0x3ff).op(Op.i32_and).i32(1).op(Op.i32_shl).op(Op.i32_or).set(L_IMM);
      field(c, 7);
      c.op(Op.if_).byte(T_I32);
      opOfEntry(c, 0);
      c.op(Op.else_);
      opOfEntry(c, 1);
      c.op(Op.end);
      c.set(L_OP);
      return;
    default:
      throw new Error(`thread-code: no format ${f}`);
  }
}
