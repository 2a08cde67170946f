/**
 * One translated block's function body (codegen.ts decodes the blocks and assembles the
 * module).
 *
 * Integer instructions (I, M, Zba, Zbb, Zbc, Zbs: bitmanip-ops.ts) and the A extension but its
 * min/max AMOs (atomic-ops.ts) are translated inline. The rest (CSR access, min/max AMOs,
 * F/D, anything unusual) call the interpreter for that one
 * instruction (`x`) and the block goes on unless the instruction trapped,
 * changed the fetch page or asked the hart to stop.
 *
 * Registers the block uses more than once (block-regs.ts) are i64 locals, loaded at entry;
 * every exit branches to one of three shared epilogues (return, leave with a
 * next pc, jump through the trampoline) that write back every such register the
 * block writes, as does an instruction run by the interpreter before the call.
 * The others are read and written in the state area where they are used.
 * A load/store slow path reads no register, so it
 * is called without a write-back; when it traps it returns "trapped" and the
 * block leaves through the return epilogue. Loads and stores probe the same
 * data TLBs as the interpreter; a hit whose page lies in the imported memory
 * is a direct wasm access (aligned 8-byte accesses are one host access, so
 * single-copy atomic between harts), anything else calls the slow path with
 * the exact pc and step count, which makes exceptions precise. A branch or
 * jump back to the block's first instruction becomes a wasm loop that
 * re-checks the step budget on every iteration, so a tight guest loop yields
 * to interrupts within one quantum; a jump to another block of the module is a direct tail
 * call (link).
 */
import { HELPER_J, HELPER_LD, HELPER_ST, HELPER_X } from './trampoline.js';
import { Bytes, Op, T_I32, T_I64, T_VOID } from './wasm-writer.js';
import { emitHigh, emitHitAddress, emitProbe, type ProbeLocals } from './tlb-probe.js';
import { branchImm, jalImm } from './classify.js';
import { blockRegs } from './block-regs.js';
import { emitMulDiv, emitMulDivW, MULH_SCRATCH } from './codegen-m.js';
import { emitAtomicHit, F5_LR } from './atomic-ops.js';
import { emitZb } from './bitmanip-ops.js';
import { ZB_R, zbForm, zbKind } from '../bitmanip.js';
import { ALU_ALT_OPS, ALU_OPS, ALUW_ALT_OPS, ALUW_OPS, BRANCH_OPS, LOAD_OPS, STORE_OPS } from './f3-ops.js';
import { ST_CHAIN_EPOCH, ST_JC_EPOCH, ST_PC_OUT, ST_R_TLB, ST_T, ST_W_TLB, ST_X } from '../state-area.js';

/** One decoded instruction of a block. */
export interface Insn {
  insn: number;
  ilen: number;
  /** Byte offset from the block start. */
  rel: number;
  /** Left to the interpreter (classify: HELPER). */
  helper: boolean;
  /** The instruction's first halfword as fetched (what an illegal compressed one reports in mtval). */
  parcel: number;
}

// Parameters (pc, budget, instructions retired so far in this dispatch), then fixed scratch,
// then one i64 per guest register used.
const L_PCF = 0;
const L_BUDGET = 1;
const L_CNT = 2; // i32: retired so far (the parameter, advanced by loops)
const L_PC = 3; // i64
const L_A = 4; // i64
const L_B = 5; // i64
const L_TGT = 6; // i64: the next pc of an exit through the epilogues
const L_LO = 7; // i32
const L_HI = 8; // i32
const L_IX = 9; // i32
const L_ABS = 10; // i32
const L_OUT = 11; // i32: retired count of an exit through the epilogues
const L_SB = 12; // i32: the hart's state area (the imported global `e.s`) when shared
const L_REG0 = 13;

/**
 * The shared exits, outermost first: each is a wasm block whose end is followed by its
 * epilogue (write back every register the block writes, then leave). An exit anywhere in the
 * body sets L_TGT and L_OUT and branches out, so the write-back is emitted three times per
 * block rather than once per exit.
 */
const X_RET = 0; // return L_OUT (pcOut already set: a trap in a slow path)
const X_LEAVE = 1; // pcOut = L_TGT, return L_OUT
const X_JUMP = 2; // tail-call the trampoline with L_TGT
/** Structured-control depth of the body: inside the three exit blocks. */
const BODY_DEPTH = 3;

// Type indices: the block's (shared with the helper table's x and j), ld, st. The module's
// functions are its blocks alone (they import none: trampoline.ts says why).
export const T_BLOCK = 0;
export const T_LD = 1;
export const T_ST = 2;



export class Emitter {
  private readonly c = new Bytes();
  /** Guest register -> local index (0 = not used). */
  private readonly local = new Int32Array(32);
  /** Registers in locals, and those of them the block writes (what every write-back stores). */
  private readonly used: readonly number[];
  private readonly dirty: readonly number[];
  private readonly loops: boolean;
  /** Whether the body has a high multiply (its scratch locals follow the registers'). */
  private readonly mulhu: boolean;
  /** The i64 local setReg stores a register in the state area through (after the registers' and the high multiplies' scratch). */
  private readonly tmp: number;
  /** Open structured constructs (exit blocks, loop, ifs) at the current emit point. */
  private depth = 0;
  private readonly n: number;
  /** The probe's locals and where the state area's fields are (tlb-probe.ts). */
  private readonly pl: ProbeLocals;

  constructor(
    private readonly insns: readonly Insn[],
    private readonly state: number,
    /** The block's page offset. */
    private readonly off: number,
    /** Page offset -> function index of the module's blocks. */
    private readonly links: ReadonlyMap<number, number>,
    /** Function index -> that block's length in instructions (the budget a call of it needs). */
    private readonly lens: readonly number[],
  ) {
    this.n = insns.length;
    this.pl = { a: L_A, lo: L_LO, ix: L_IX, abs: L_ABS, sb: state < 0 ? L_SB : null, state: state < 0 ? 0 : state };
    // Registers in locals (block-regs.ts says which); the others stay in the state area.
    const regs = blockRegs(insns);
    regs.used.forEach((r, k) => (this.local[r] = L_REG0 + k));
    this.used = regs.used;
    this.dirty = regs.dirty;
    this.loops = regs.loops;
    this.mulhu = regs.mulhu;
    this.tmp = L_REG0 + this.used.length + (this.mulhu ? MULH_SCRATCH : 0);
  }

  functionBody(): Bytes {
    const c = this.c;
    // Locals after the parameters: pc, a, b, tgt (i64), six i32 scratch, then the registers
    // in locals, the high multiplies' scratch and tmp (i64).
    const regs = this.tmp - L_REG0 + 1;
    c.uleb(3);
    c.uleb(4).byte(T_I64).uleb(6).byte(T_I32);
    c.uleb(regs).byte(T_I64);
    if (this.state < 0) c.op(Op.global_get).uleb(0).set(L_SB);
    c.get(L_PCF).op(Op.i64_trunc_f64_s).set(L_PC);
    for (const r of this.used) this.loadReg(r);
    for (let i = 0; i < BODY_DEPTH; i++) c.op(Op.block).byte(T_VOID);
    this.depth = BODY_DEPTH;
    if (this.loops) this.open(Op.loop);
    for (let k = 0; k < this.n; k++) this.insn(k);
    const last = this.insns[this.n - 1]!;
    const lastOp = (last.insn >> 2) & 31;
    if (last.helper || (lastOp !== 27 && lastOp !== 25)) {
      // Fell off the end: the next instruction is the interpreter's (or another block's).
      this.jumpRel(last.rel + last.ilen, this.n);
    }
    if (this.loops) this.close();
    c.op(Op.unreachable);
    // X_JUMP's epilogue, then X_LEAVE's, then X_RET's (each after the end of its block).
    c.op(Op.end);
    this.writeBack();
    c.get(L_TGT).op(Op.f64_convert_i64_s).get(L_BUDGET).get(L_OUT);
    c.i32(HELPER_J).op(Op.return_call_indirect).uleb(T_BLOCK).byte(0x00);
    c.op(Op.end);
    this.writeBack();
    this.base();
    c.get(L_TGT).op(Op.f64_convert_i64_s).mem(Op.f64_store, 3, this.at(ST_PC_OUT));
    c.get(L_OUT).op(Op.return_);
    c.op(Op.end);
    this.writeBack();
    c.get(L_OUT);
    c.op(Op.end);
    return c;
  }

  private open(op: Op, type = T_VOID): void {
    this.c.op(op).byte(type);
    this.depth++;
  }

  private close(): void {
    this.c.op(Op.end);
    this.depth--;
  }

  /** Branch to the exit `x` (X_RET, X_LEAVE, X_JUMP) from the current depth. */
  private exit(x: number): void {
    this.c.op(Op.br).uleb(this.depth - 1 - x);
  }

  // ---------------------------------------------------------------- state

  /**
   * Push the address the state area's fields are relative to: 0 with the area's offset in
   * each access (a private module), or L_SB (a module other harts may run: code-share.ts).
   * The constant saves an add per load/store probe and a register (Linux -smp 1: ~4 %).
   */
  private base(): void {
    if (this.state < 0) this.c.get(L_SB);
    else this.c.i32(0);
  }

  /** The memory-access offset of state-area field `field` after base(). */
  private at(field: number): number {
    return this.state < 0 ? field : this.state + field;
  }

  private loadReg(r: number): void {
    this.base();
    this.c.mem(Op.i64_load, 3, this.at(ST_X + 8 * r)).set(this.local[r]!);
  }

  private storeReg(r: number): void {
    this.base();
    this.c.get(this.local[r]!).mem(Op.i64_store, 3, this.at(ST_X + 8 * r));
  }

  /**
   * Every register the block writes to memory: in the exits' epilogues and before the
   * interpreter runs an instruction. One not written yet still holds the value loaded at
   * entry, so storing it is harmless.
   */
  private writeBack(): void {
    for (const r of this.dirty) this.storeReg(r);
  }

  /** After a slow path's result in L_IX: 2 means it trapped (pcOut is the trap vector): leave with instruction k counted. */
  private trappedExit(k: number): void {
    const c = this.c;
    c.get(L_IX).i32(2).op(Op.i32_eq);
    this.open(Op.if_);
    this.retired(k + 1);
    c.set(L_OUT);
    this.exit(X_RET);
    this.close();
  }

  /** Push register r (i64). */
  private reg(r: number): void {
    const c = this.c;
    if (r === 0) c.i64(0);
    else if (this.local[r] !== 0) c.get(this.local[r]!);
    else {
      this.base();
      c.mem(Op.i64_load, 3, this.at(ST_X + 8 * r));
    }
  }

  /** Pop an i64 into register rd (dropped for x0). */
  private setReg(rd: number): void {
    const c = this.c;
    if (rd === 0) c.op(Op.drop);
    else if (this.local[rd] !== 0) c.set(this.local[rd]!);
    else {
      c.set(this.tmp);
      this.base();
      c.get(this.tmp).mem(Op.i64_store, 3, this.at(ST_X + 8 * rd));
    }
  }

  /** Push pc + delta (i64). */
  private pcPlus(delta: number): void {
    this.c.get(L_PC);
    if (delta !== 0) this.c.i64(delta).op(Op.i64_add);
  }

  /** Leave through exit x (X_LEAVE, X_JUMP) with the i64 target on the stack as the next pc and `count` more instructions retired. */
  private exitTo(x: number, count: number): void {
    this.c.set(L_TGT);
    this.retired(count);
    this.c.set(L_OUT);
    this.exit(x);
  }

  /** Return to the dispatcher with the i64 target on the stack as the next pc and `count` more instructions retired. */
  private leave(count: number): void {
    this.exitTo(X_LEAVE, count);
  }

  private leaveRel(rel: number, count: number): void {
    this.pcPlus(rel);
    this.leave(count);
  }

  /** Continue at the i64 target on the stack, `count` more instructions retired, through the trampoline. */
  private jump(count: number): void {
    this.exitTo(X_JUMP, count);
  }

  private jumpRel(rel: number, count: number): void {
    const f = this.links.get(this.off + rel);
    if (f !== undefined) {
      this.link(rel, count, f, this.lens[f]!);
      return;
    }
    this.pcPlus(rel);
    this.jump(count);
  }

  /**
   * Continue in function f of this module (the block at rel, `len` instructions long),
   * `count` more instructions retired: a direct tail call where the trampoline's `j` would go
   * on — the budget covers that block, and the jump-cache epoch is what it was when the dispatcher entered the chain
   * (ST_CHAIN_EPOCH: no hart stored to code since, no page was invalidated, no other thread
   * kicked the hart: JC_KICK) — else back to the dispatcher. No jump-cache lookup: the target
   * is in this module, so translated from the same page bytes, and on this page, so mapped
   * by the instruction-TLB entry the chain runs through (a TLB flush, a trap or a privilege
   * change leaves the chain before its next jump).
   */
  private link(rel: number, count: number, f: number, len: number): void {
    const c = this.c;
    this.retired(count);
    c.tee(L_OUT).i32(len).op(Op.i32_add).get(L_BUDGET).op(Op.i32_le_u);
    this.base();
    c.mem(Op.i32_load, 2, this.at(ST_JC_EPOCH));
    this.base();
    c.mem(Op.i32_load, 2, this.at(ST_CHAIN_EPOCH)).op(Op.i32_eq).op(Op.i32_and);
    this.open(Op.if_);
    this.writeBack();
    this.pcF64(rel);
    c.get(L_BUDGET).get(L_OUT).op(Op.return_call).uleb(f);
    this.close();
    this.pcPlus(rel);
    c.set(L_TGT);
    this.exit(X_LEAVE);
  }

  /** Push cnt + count (i32): instructions retired in this dispatch once `count` more are. */
  private retired(count: number): void {
    const c = this.c;
    c.get(L_CNT);
    if (count !== 0) c.i32(count).op(Op.i32_add);
  }

  /** Push this instruction's pc (f64) for a slow path. */
  private pcF64(rel: number): void {
    this.pcPlus(rel);
    this.c.op(Op.f64_convert_i64_s);
  }

  /** Back to the block start with k+1 more retired, or leave if the budget cannot cover another pass. */
  private loopBack(k: number): void {
    const c = this.c;
    c.get(L_CNT).i32(k + 1).op(Op.i32_add).tee(L_CNT);
    // The loop is the construct opened just inside the exit blocks.
    c.i32(this.n).op(Op.i32_add).get(L_BUDGET).op(Op.i32_le_u).op(Op.br_if).uleb(this.depth - 1 - BODY_DEPTH);
    this.leaveRel(0, 0);
  }

  // ---------------------------------------------------------------- instructions

  private insn(k: number): void {
    const { insn, ilen, rel, helper } = this.insns[k]!;
    const c = this.c;
    const rd = (insn >> 7) & 31;
    const rs1 = (insn >> 15) & 31;
    const rs2 = (insn >> 20) & 31;
    const f3 = (insn >> 12) & 7;
    if (helper) {
      this.helper(k, rel, ilen, rd);
      return;
    }
    const zb = zbKind(insn);
    if (zb >= 0) {
      if (rd === 0) return;
      this.reg(rs1);
      c.set(L_A);
      if (zbForm(zb) === ZB_R) {
        this.reg(rs2);
        c.set(L_B);
      }
      emitZb(c, zb, insn, L_A, L_B, { lo: L_TGT, hi: this.tmp, i: L_IX });
      this.setReg(rd);
      return;
    }
    switch ((insn >> 2) & 31) {
      case 3:
        // fence: guest loads and stores are wasm accesses to shared memory.
        c.op(Op.atomic_prefix).byte(0x03).byte(0x00);
        return;
      case 4: {
        // OP-IMM (a shift's amount is imm[5:0]; SRAI's imm[10] is funct7's 0x20)
        const imm = insn >> 20;
        if (rd === 0) return;
        this.reg(rs1);
        const shift = f3 === 1 || f3 === 5;
        c.i64(shift ? imm & 63 : imm).bytes((shift && insn >>> 30 !== 0 ? ALU_ALT_OPS : ALU_OPS)[f3]!);
        this.setReg(rd);
        return;
      }
      case 12: {
        // OP
        if (rd === 0 && insn >>> 25 !== 1) return;
        const f7 = insn >>> 25;
        if (f7 === 1) {
          this.reg(rs1);
          c.set(L_A);
          this.reg(rs2);
          c.set(L_B);
          emitMulDiv(c, f3, L_A, L_B, L_REG0 + this.used.length);
          this.setReg(rd);
          return;
        }
        this.reg(rs1);
        this.reg(rs2);
        c.bytes((f7 === 0x20 ? ALU_ALT_OPS : ALU_OPS)[f3]!);
        this.setReg(rd);
        return;
      }
      case 6:
      case 14: {
        // OP-IMM-32, OP-32
        if (rd === 0) return;
        const f7 = insn >>> 25;
        this.reg(rs1);
        c.op(Op.i32_wrap_i64);
        if (((insn >> 2) & 31) === 6) {
          const imm = insn >> 20;
          // ADDIW's funct7 bits are immediate bits: only SRAIW takes the 0x20 form.
          c.i32(f3 === 0 ? imm : imm & 31).bytes((f3 === 5 && f7 === 0x20 ? ALUW_ALT_OPS : ALUW_OPS)[f3]!);
        } else if (f7 === 1) {
          c.set(L_LO);
          this.reg(rs2);
          c.op(Op.i32_wrap_i64).set(L_HI);
          emitMulDivW(c, f3, L_LO, L_HI);
        } else {
          this.reg(rs2);
          c.op(Op.i32_wrap_i64).bytes((f7 === 0x20 ? ALUW_ALT_OPS : ALUW_OPS)[f3]!);
        }
        c.op(Op.i64_extend_i32_s);
        this.setReg(rd);
        return;
      }
      case 13:
        // LUI
        if (rd === 0) return;
        c.i64(insn & 0xfffff000);
        this.setReg(rd);
        return;
      case 5:
        // AUIPC
        if (rd === 0) return;
        this.pcPlus(rel + (insn & 0xfffff000));
        this.setReg(rd);
        return;
      case 0:
        this.load(k, rd, rs1, insn >> 20, f3, rel, ilen);
        return;
      case 8:
        this.store(k, rs1, rs2, ((insn >> 25) << 5) | ((insn >> 7) & 31), f3, rel, ilen);
        return;
      case 11:
        this.amo(k, rd, rs1, rs2, f3, insn >>> 27, rel, ilen);
        return;
      case 24: {
        // BRANCH
        this.reg(rs1);
        this.reg(rs2);
        c.op(BRANCH_OPS[f3]!);
        this.open(Op.if_);
        const target = rel + branchImm(insn);
        if (target === 0) this.loopBack(k);
        else this.jumpRel(target, k + 1);
        this.close();
        return;
      }
      case 27: {
        // JAL
        if (rd !== 0) {
          this.pcPlus(rel + ilen);
          this.setReg(rd);
        }
        const target = rel + jalImm(insn);
        if (target === 0) this.loopBack(k);
        else this.jumpRel(target, k + 1);
        return;
      }
      case 25: {
        // JALR: the target first (rd may be rs1).
        this.reg(rs1);
        c.i64(insn >> 20).op(Op.i64_add).i64(-2).op(Op.i64_and).set(L_A);
        if (rd !== 0) {
          this.pcPlus(rel + ilen);
          this.setReg(rd);
        }
        c.get(L_A);
        this.jump(k + 1);
        return;
      }
    }
  }

  /**
   * Instruction k through the interpreter: registers to memory, then `x` with the exact pc,
   * count and the instruction itself; it returns -1 when the block may go on (rd is
   * reloaded: the instruction may have written it) or the dispatch's retired count when it
   * must leave (a trap, a TLB flush, a store to a code page, an exit request), with pcOut
   * already set.
   */
  private helper(k: number, rel: number, ilen: number, rd: number): void {
    const c = this.c;
    const { insn, parcel } = this.insns[k]!;
    this.writeBack();
    this.pcF64(rel);
    this.retired(k + 1);
    c.i32(ilen).i32(insn).i32(parcel);
    c.i32(HELPER_X).op(Op.call_indirect).uleb(T_LD).byte(0x00).tee(L_IX).i32(-1).op(Op.i32_ne);
    c.op(Op.if_).byte(T_VOID).get(L_IX).op(Op.return_).op(Op.end);
    if (rd !== 0 && this.local[rd] !== 0) this.loadReg(rd);
  }

  /**
   * Virtual address (rs1 + imm) -> L_A, its low word -> L_LO, TLB record offset -> L_IX; pushes
   * the hit test (i32) of an access of `size` bytes (tlb-probe.ts).
   */
  private probe(rs1: number, imm: number, size: number, tlb: number): void {
    this.reg(rs1);
    this.c.i64(imm).op(Op.i64_add);
    emitProbe(this.c, this.pl, tlb, size - 1);
  }

  /** Push the high word of the address in L_A (i32). */
  private high(): void {
    emitHigh(this.c, this.pl);
  }

  /** Push the host address of a probe hit: the page's place in memory plus the page offset. */
  private hitAddress(): void {
    emitHitAddress(this.c, this.pl);
  }

  private load(k: number, rd: number, rs1: number, imm: number, f3: number, rel: number, ilen: number): void {
    const c = this.c;
    this.probe(rs1, imm, 1 << (f3 & 3), ST_R_TLB);
    this.open(Op.if_, T_I64);
    this.hitAddress();
    c.mem(LOAD_OPS[f3]!, 0, 0);
    c.op(Op.else_);
    // Slow path with the exact pc and count. It reads no integer register (a trap, a walk or a
    // device access does not), so they stay in locals; the exits write them back.
    this.slowArgs(k, rel);
    c.i32(f3).i32(HELPER_LD).op(Op.call_indirect).uleb(T_LD).byte(0x00);
    c.tee(L_IX);
    this.open(Op.if_);
    this.trappedExit(k);
    // The access is done but the hart must leave (interrupt, map change): rd, then out.
    this.slowResult();
    this.setReg(rd);
    this.leaveRel(rel + ilen, k + 1);
    this.close();
    this.slowResult();
    this.close();
    this.setReg(rd);
  }

  /**
   * The A extension but the min/max AMOs (classify.ts): on a TLB hit, atomic-ops.ts; anything
   * else runs the instruction in the interpreter (faults, MMIO, misalignment, code pages, debug
   * triggers).
   */
  private amo(k: number, rd: number, rs1: number, rs2: number, f3: number, f5: number, rel: number, ilen: number): void {
    const d = f3 === 3;
    if (f5 === F5_LR) this.probe(rs1, 0, d ? 8 : 4, ST_R_TLB);
    else this.probe(rs1, 0, d ? 8 : 4, ST_W_TLB);
    this.open(Op.if_);
    emitAtomicHit(this.c, f5, d, { addr: () => this.hitAddress(), src: () => this.reg(rs2), base: () => this.base(), at: (f) => this.at(f), tmp: L_A });
    this.setReg(rd);
    this.c.op(Op.else_);
    this.helper(k, rel, ilen, rd);
    this.close();
  }

  /** Push a load/store slow path's first arguments: instruction k's pc (f64), the retired count with it, the address (i32 halves). */
  private slowArgs(k: number, rel: number): void {
    this.pcF64(rel);
    this.retired(k + 1);
    this.c.get(L_LO);
    this.high();
  }

  private slowResult(): void {
    this.base();
    this.c.mem(Op.i64_load, 3, this.at(ST_T));
  }

  private store(k: number, rs1: number, rs2: number, imm: number, f3: number, rel: number, ilen: number): void {
    const c = this.c;
    this.probe(rs1, imm, 1 << f3, ST_W_TLB);
    this.open(Op.if_);
    this.hitAddress();
    this.reg(rs2);
    c.mem(STORE_OPS[f3]!, 0, 0);
    c.op(Op.else_);
    this.slowArgs(k, rel);
    c.i32(1 << f3);
    this.reg(rs2);
    c.op(Op.i32_wrap_i64);
    this.reg(rs2);
    c.i64(32).op(Op.i64_shr_u).op(Op.i32_wrap_i64);
    c.i32(HELPER_ST).op(Op.call_indirect).uleb(T_ST).byte(0x00);
    c.tee(L_IX);
    this.open(Op.if_);
    this.trappedExit(k);
    this.leaveRel(rel + ilen, k + 1);
    this.close();
    this.close();
  }
}

