import { NO_PAGE, RamWindow, TLB_SIZE, TRAP, toU64, u64 } from './common.js';
import { Interpreter, RUN, STEP } from './interp.js';
import { CodeShare } from './jit/code-share.js';
import { CodeSync } from './jit/code-sync.js';
import { Translator } from './jit/engine.js';
import { flushStoreTlb, flushTlb } from './mmu.js';
import { csrRead as readCsr, csrWrite as writeCsr } from './csr.js';
import type { MemTxAttrs, PhysMemory } from '../../memory/types.js';
import { MEMTX_OK, memTxAttrs } from '../../memory/types.js';
import { CAUSE_ILLEGAL_INSTRUCTION, MENVCFG_STCE, MIP_STIP, MISA_VALUE, MSTATUS_FS, PRV_M } from './constants.js';
import { Pmp } from './pmp.js';
import { HART_STATE_BYTES, ST_RES_KEY, ST_R_TLB, ST_W_TLB, TLB_REC, ST_X_ABS, ST_X_HITS, ST_X_KINDS, ST_X_PA, ST_X_TAG_HI, ST_X_TAG_LO, ST_X, privateStateArea, type HartStateArea } from './state-area.js';
import { rvcTable } from './rvc.js';
import { disassemble } from './disasm.js';
import { HartDebug, type HartDebugHooks } from './debug.js';
import { Triggers } from './triggers.js';
import { warmUp } from './warmup.js';
import { enterTrap, takeInterrupt } from './trap.js';

/** An internal emulator error (never a guest action): names the hart, PC and instruction word. */
export class HartError extends Error {
  constructor(
    readonly hartId: number,
    readonly pc: bigint,
    readonly insn: number,
    detail: string,
  ) {
    super(
      `hart ${hartId}: internal error at pc=0x${pc.toString(16)} insn=0x${(insn >>> 0).toString(16).padStart(8, '0')}` +
        ` (${disassemble(insn)}): ${detail}`,
    );
    this.name = 'HartError';
  }
}

export interface IsaExtensions {
  /** Sstc (stimecmp); default true, as QEMU 7.2's rv64 CPU has it. */
  sstc?: boolean;
}

export interface HartOptions {
  hartId: number;
  mem: PhysMemory;
  /** mtime in ticks of the 10 MHz timebase. */
  timeSource: () => number;
  pmpCount?: number;
  isaExtensions?: IsaExtensions;
  /**
   * Translate hot guest code (src/cpu/riscv/jit) instead of interpreting it; default true.
   * `-accel tcg,jit=off` sets it false (the interpreter alone, for comparison and bisection).
   */
  translate?: boolean;
  /** Executions of a block before it is translated (default HOT_THRESHOLD; tests lower it). */
  translateThreshold?: number;
  /**
   * Executions of a block before its page's warm code is written as a region (region-gen.ts;
   * `-accel tcg,regions=on` gives REGION_THRESHOLD); 0 or absent: no regions. Only a value below
   * translateThreshold has an effect.
   */
  regionThreshold?: number;
  /**
   * Entries of a block before it is decoded into threaded code (jit/thread-code.ts); absent:
   * THREAD_THRESHOLD (16), 0: none (-accel tcg,threaded=off). Only a value below
   * translateThreshold has an effect, and none on a hart whose hit counters are shared
   * (sharedHits) or with regions.
   */
  threadThreshold?: number;
  /** Code-page generations shared by every hart of the machine (CodeSync.allocate()); private if absent. */
  codeSync?: SharedArrayBuffer;
  /** Translated modules shared by the harts of the machine (CodeShare.allocate(), with hart realms); none if absent. */
  codeShare?: SharedArrayBuffer;
  /**
   * Byte address, in the state area's memory, of hit counters shared by the harts of the
   * machine (SHARED_HITS_BYTES; with a CodeShare): an entry counts towards translation
   * whichever hart makes it. The hart's own (state-area.ts ST_HITS) if absent.
   */
  sharedHits?: number;
  /**
   * Where registers and data TLBs live (state-area.ts). The machine puts it in the memory
   * that holds guest RAM, so translated code accesses RAM directly; private if absent.
   */
  state?: HartStateArea;
}

/**
 * Instructions `run` executes between polls of pending interrupts (a timer
 * comparator or a line raised without an exit request is taken within this
 * many). The machine's own quanta (10,000 on the event loop, 8,192 in hart
 * realms) are shorter, so there each `run` polls once: every extra poll cuts
 * the translated code's run short (the rest of a block is interpreted).
 */
export const POLL_STEPS = 16384;

/**
 * Whether harts translate when their options do not say: yes, unless the
 * environment has TSVMM_JIT=off (runs any test or tool interpreter-only, to compare).
 */
function defaultTranslate(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.TSVMM_JIT !== 'off';
}

/**
 * One RISC-V hart (RV64IMAFDC, Zicsr, Zifencei, Zicntr, Zihintpause, Sstc;
 * M/S/U; Sv39/Sv48; 16 PMP entries).
 *
 * Integer registers are pairs of signed 32-bit halves (xlo/xhi) so that no
 * BigInt is allocated per instruction; docs/cpu.md has the measurements.
 * PC is a JS number holding the sign-extended 64-bit value (exact for every
 * canonical Sv48 address and every physical address below 2^53).
 */
export class Hart {
  readonly hartId: number;
  readonly mem: PhysMemory;
  readonly timeSource: () => number;
  readonly pmp: Pmp;
  readonly sstc: boolean;

  /** Views into the state area (state-area.ts), which translated code uses directly. */
  readonly xlo: Int32Array;
  readonly xhi: Int32Array;
  /** FP registers as raw bits (NaN-boxed singles have fhi = -1). */
  readonly flo = new Int32Array(32);
  readonly fhi = new Int32Array(32);

  pc = 0;
  priv = PRV_M;
  _waiting = false;
  stopRequested = false;
  /** Set when the run loop must leave its inner loop (interrupt state changed, stop, map change). */
  exitRequest = false;

  /**
   * Instructions attempted (retired + trapped); the budget unit. -0, not 0: a double from the
   * start, as the count outgrows V8's small integers within seconds, and a field changing
   * representation then changes the object's map and deoptimises every function optimised
   * against harts at once (warmup.ts: STEPS_BASE, which does the same for harts built after
   * a warm-up).
   */
  steps = -0;
  /**
   * Called on every `pause` (a guest spin-wait hint) and every `wfi` that does
   * not wait (an enabled interrupt is pending; `wfi` true). A hart in a worker
   * thread uses it to give its host core away while the guest spins
   * (src/machine/smp/hart-realm.ts); null in the interleaved mode.
   */
  onPause: ((wfi: boolean) => void) | null = null;
  /**
   * Called when another thread has flagged a change of this hart's interrupt lines in its
   * state area (ST_LINES): the owner of those lines copies them in (setInterruptLevel), so a
   * running hart takes an IPI between two blocks rather than at its quantum's end. Set by a
   * hart realm (src/machine/smp/hart-realm.ts); null in the interleaved mode, where nobody
   * flags it.
   */
  onLines: (() => void) | null = null;
  trapped = 0;
  /** The Sdtrig CSRs (0x7a0-0x7a5); arming a trigger switches the debug hooks on. */
  readonly triggers: Triggers = new Triggers(() => HartDebug.of(this).update());

  // --- CSR state ---
  mstatus = 0; // low 32 bits; UXL/SXL/SD derived
  fcsr = 0; // frm << 5 | fflags
  misa = MISA_VALUE;
  mtvec = 0n;
  stvec = 0n;
  mepc = 0n;
  sepc = 0n;
  mcause = 0n;
  scause = 0n;
  mtval = 0n;
  stval = 0n;
  mscratch = 0n;
  sscratch = 0n;
  medeleg = 0;
  mideleg = 0;
  mie = 0;
  /** Software-writable pending bits (SSIP, STIP when Sstc is off, SEIP). */
  mipSw = 0;
  /** Lines driven by devices (CLINT, PLIC, ...). */
  mipHw = 0;
  mcounteren = 0;
  scounteren = 0;
  mcountinhibit = 0;
  private _menvcfg = 0n;
  /**
   * menvcfg.STCE (the Sstc comparator's enable), kept with the CSR: readMip tests it at every
   * quantum's interrupt poll and after CSR writes, and a BigInt AND there allocated each time.
   */
  stce = false;
  get menvcfg(): bigint {
    return this._menvcfg;
  }
  set menvcfg(v: bigint) {
    this._menvcfg = v;
    this.stce = (v & MENVCFG_STCE) !== 0n;
  }
  senvcfg = 0n;
  satp = 0n;
  stimecmp = 0n;
  stimecmpNum = Infinity;
  cycleOffset = 0n;
  instretOffset = 0n;
  readonly mhpmcounter: bigint[] = new Array<bigint>(32).fill(0n);
  readonly mhpmevent: bigint[] = new Array<bigint>(32).fill(0n);

  // --- MMU / TLB ---
  epoch = -1;
  /** The translation context TLB entries are filled and looked up under (mmu.ts syncTlbContext), and its tag bits. */
  tlbContext = -1;
  tlbTag = 0;
  tlbVpnTag = 0;
  satpMode = 0;
  /** A double from the start (root table addresses exceed V8's small integers; see address-space.ts ioStart). */
  satpPpnAddr = NaN;
  /**
   * Data TLB records, four words per entry (state-area.ts): the tag's low word (the page's
   * virtual address bits 12..31, lo & -4096, with the translation context's tlbTag, and
   * TAG_NOT_IN_MEMORY when abs is -1), its high word (bits 32..63), abs (the page's byte
   * address in the state area's memory, or -1), unused. The I/O and instruction TLBs tag
   * with the page number and tlbVpnTag.
   */
  readonly rTlb: Int32Array;
  readonly rOff = new Int32Array(TLB_SIZE);
  readonly rDv: DataView[] = [];
  readonly rF64: Float64Array[] = [];
  readonly wTlb: Int32Array;
  readonly wOff = new Int32Array(TLB_SIZE);
  readonly wDv: DataView[] = [];
  readonly wF64: Float64Array[] = [];
  /** I/O TLBs: virtual page -> physical page for MMIO pages (no RAM view), so device accesses skip the walk. */
  readonly rioTagLo = new Int32Array(TLB_SIZE).fill(NO_PAGE);
  readonly rioTagHi = new Int32Array(TLB_SIZE);
  readonly rioPa = new Float64Array(TLB_SIZE);
  readonly wioTagLo = new Int32Array(TLB_SIZE).fill(NO_PAGE);
  readonly wioTagHi = new Int32Array(TLB_SIZE);
  readonly wioPa = new Float64Array(TLB_SIZE);
  /** Instruction TLB: pages recently fetched from, so jumps between pages avoid a walk and a fill. */
  readonly xTagLo: Int32Array;
  readonly xTagHi: Int32Array;
  readonly xOff = new Int32Array(TLB_SIZE);
  readonly xDv: DataView[] = [];
  /** Physical page of each instruction-TLB entry (the translator's cache key). */
  readonly xPa: Float64Array;
  /**
   * Per instruction-TLB entry, for the interpreter loop's page changes (state-area.ts): the
   * page's address in the state area's memory (-1: elsewhere), and the translator's kinds and
   * hit counters of it (-1: not cached; the translator fills them, a fill clears them).
   */
  readonly xAbs: Int32Array;
  readonly xKinds: Int32Array;
  readonly xHits: Int32Array;
  /** The page instructions are fetched from: virtual base (as pc number), view and offset. */
  fetchBase = NaN;
  fetchDv: DataView;
  fetchOff = 0;
  /** Physical address of the fetch page (valid while fetchBase is not NaN). */
  fetchPa = 0;
  /** TLB flushes so far (translated code must leave after one: its page may map elsewhere now). */
  tlbFlushes = 0;
  /** Superpages the TLBs may hold pieces of since the last full flush (mmu.ts flushTlbPage), or all. */
  readonly superpages = new Set<number>();
  superpagesAll = false;
  /** Views of RAM buffers, one per 1 GiB window so offsets stay int32 and typed-array lengths stay valid for any RAM size. */
  readonly views = new WeakMap<ArrayBufferLike, RamWindow[]>();
  /** mmu.ts ramWindow(): the RAM range last found (physical [rcLo, rcHi) at buffer offset pa + rcDelta). */
  rcLo = 0;
  rcHi = 0;
  rcDelta = 0;
  rcWin: RamWindow | null = null;
  rcEpoch = -1;
  rcWritable = false;
  rcInState = false;
  /** Where ramWindow() found its address (byte offset in the window's buffer). */
  ramAt = 0;
  readonly attrs: MemTxAttrs;
  readonly rvc: Int32Array;

  /** Values of mcycle/minstret while mcountinhibit.CY/IR hold them. */
  cycleFrozen = 0n;
  instretFrozen = 0n;
  /** Whether the last translate() result may be cached in a TLB (whole page uniformly allowed by PMP). */
  lastCacheable = false;

  /** Code pages shared with the other harts, and the epoch of it this hart's store TLB reflects. */
  readonly codeSync: CodeSync;
  readonly codeShare: CodeShare | null;
  /** HartOptions.sharedHits, or -1. */
  readonly sharedHits: number;
  codeEpoch = 0;
  /**
   * Set by the translator's dispatcher before it runs the interpreter: the fetch-page base
   * (virtual, NaN if none) whose code-cache state follows, the page's block kinds (engine.ts:
   * PageCode.kinds) and hit counters, and the thresholds the interpreter loop counts entries
   * against (Translator.wanted; interp.ts: in-page jumps to cold code stay there).
   */
  jitBase = NaN;
  jitKinds: Uint8Array<ArrayBufferLike> = new Uint8Array(2048);
  jitHits: Uint16Array<ArrayBufferLike> = new Uint16Array(2048);
  jitThreshold = 0;
  jitHot = 0;
  /** The translating engine, or null when running the interpreter only. */
  readonly jit: Translator | null;
  /** The interpreter (interp.ts): what runs whatever is not translated. */
  readonly interp: Interpreter;
  /** Debugger hooks (gdbstub, triggers); null = none, and nothing on the fast paths looks at them. */
  debug: HartDebugHooks | null = null;

  /** Scratch results of slow paths (avoid allocation). */
  tLo = 0;
  tHi = 0;

  /** The memory and offset of this hart's state area (registers and data TLBs; state-area.ts). */
  readonly state: HartStateArea;
  /** The state area's memory buffer: TLB pages in it get an abs address. */
  readonly stateBuffer: ArrayBufferLike;
  /** pcOut and the slow-path result words of the state area. */
  readonly stateF64: Float64Array;
  readonly stateI32: Int32Array;

  constructor(opts: HartOptions) {
    this.state = opts.state ?? privateStateArea();
    const buf = this.state.memory.buffer;
    const at = this.state.offset;
    if (at % 8 !== 0 || at + HART_STATE_BYTES > buf.byteLength) throw new RangeError(`hart ${opts.hartId}: state area at ${at} does not fit its memory`);
    this.stateBuffer = buf;
    // Register r is one little-endian i64 at ST_X + 8r (translated code loads it whole):
    // its halves are xlo[2r] and xhi[2r], two views one word apart.
    this.xlo = new Int32Array(buf, at + ST_X, 64);
    this.xhi = new Int32Array(buf, at + ST_X + 4, 63);
    this.rTlb = new Int32Array(buf, at + ST_R_TLB, (TLB_REC / 4) * TLB_SIZE).fill(NO_PAGE);
    this.wTlb = new Int32Array(buf, at + ST_W_TLB, (TLB_REC / 4) * TLB_SIZE).fill(NO_PAGE);
    // The instruction TLB is in the area too: the jump trampoline checks it (jit/trampoline.ts).
    this.xTagLo = new Int32Array(buf, at + ST_X_TAG_LO, TLB_SIZE).fill(NO_PAGE);
    this.xTagHi = new Int32Array(buf, at + ST_X_TAG_HI, TLB_SIZE);
    this.xPa = new Float64Array(buf, at + ST_X_PA, TLB_SIZE);
    this.xAbs = new Int32Array(buf, at + ST_X_ABS, TLB_SIZE).fill(-1);
    this.xKinds = new Int32Array(buf, at + ST_X_KINDS, TLB_SIZE).fill(-1);
    this.xHits = new Int32Array(buf, at + ST_X_HITS, TLB_SIZE).fill(-1);
    this.stateF64 = new Float64Array(buf, at, HART_STATE_BYTES / 8);
    this.stateI32 = new Int32Array(buf, at, HART_STATE_BYTES / 4);
    this.hartId = opts.hartId;
    this.mem = opts.mem;
    this.timeSource = opts.timeSource;
    this.pmp = new Pmp(opts.pmpCount ?? 16);
    this.sstc = opts.isaExtensions?.sstc ?? true;
    this.attrs = memTxAttrs({ requesterId: opts.hartId });
    this.rvc = rvcTable();
    this.codeSync = new CodeSync(opts.codeSync);
    this.codeShare = opts.codeShare ? new CodeShare(opts.codeShare) : null;
    this.sharedHits = opts.sharedHits ?? -1;
    this.jit = (opts.translate ?? defaultTranslate()) ? new Translator(this, opts.translateThreshold, opts.regionThreshold, opts.threadThreshold) : null;
    this.interp = new Interpreter(this);
    // Every entry set from the start: arrays filled at scattered indices would become holey or
    // sparse (slower loads, and a V8 map change that deoptimises the interpreter loop).
    const dummy = new DataView(new ArrayBuffer(8));
    const dummyF64 = new Float64Array(1);
    this.fetchDv = dummy;
    for (let i = 0; i < TLB_SIZE; i++) {
      this.rDv.push(dummy);
      this.wDv.push(dummy);
      this.xDv.push(dummy);
      this.rF64.push(dummyF64);
      this.wF64.push(dummyF64);
    }
    this.reset(0);
    // Complete type feedback for the engines before this hart's first translation (warmup.ts
    // says why, and why not earlier): a guest whose code never gets hot never pays for it.
    const make = (o: HartOptions): Hart => new Hart(o);
    if (this.jit !== null) this.jit.beforeFirstTranslation = () => warmUp(make);
  }

  get waiting(): boolean {
    return this._waiting;
  }
  get instret(): number {
    return this.steps - this.trapped;
  }
  get cycle(): number {
    return this.steps;
  }

  /** Reset state per the privileged spec; a0/a1/a2 are the reset ROM's business. */
  reset(pc: number): void {
    this.xlo.fill(0);
    this.xhi.fill(0);
    this.flo.fill(0);
    this.fhi.fill(0);
    this.pc = pc;
    this.priv = PRV_M;
    this.mstatus = 0;
    this.fcsr = 0;
    this.mtvec = this.stvec = this.mepc = this.sepc = 0n;
    this.mcause = this.scause = this.mtval = this.stval = 0n;
    this.mscratch = this.sscratch = 0n;
    this.medeleg = this.mideleg = this.mie = this.mipSw = 0;
    this.mcounteren = this.scounteren = this.mcountinhibit = 0;
    this.cycleOffset = this.instretOffset = 0n;
    this.menvcfg = this.senvcfg = 0n;
    this.satp = 0n;
    this.satpMode = 0;
    this.satpPpnAddr = 0;
    this.stimecmp = 0n;
    this.stimecmpNum = Infinity;
    this.mhpmcounter.fill(0n);
    this.mhpmevent.fill(0n);
    this.stateF64[ST_RES_KEY / 8] = NaN;
    this.pmp.reset();
    this.triggers.reset();
    this._waiting = false;
    // The machine reloads firmware into RAM on reset with host writes (no CodeSync store).
    if (this.jit) this.jit.flushAll();
    flushTlb(this);
  }

  getX(i: number): bigint {
    return toU64(this.xlo[i << 1]!, this.xhi[i << 1]!);
  }
  setX(i: number, v: bigint): void {
    if (i === 0) return;
    const u = BigInt.asUintN(64, v);
    this.xlo[i << 1] = Number(u & 0xffffffffn) | 0;
    this.xhi[i << 1] = Number(u >> 32n) | 0;
  }
  getF(i: number): bigint {
    return toU64(this.flo[i]!, this.fhi[i]!);
  }
  setF(i: number, v: bigint): void {
    const u = BigInt.asUintN(64, v);
    this.flo[i] = Number(u & 0xffffffffn) | 0;
    this.fhi[i] = Number(u >> 32n) | 0;
  }
  /** PC as an unsigned 64-bit value. */
  getPc(): bigint {
    return u64(this.pc);
  }

  requestStop(): void {
    this.stopRequested = true;
    this.exitRequest = true;
  }

  setInterruptLevel(bit: number, level: boolean): void {
    const m = 1 << bit;
    this.mipHw = level ? this.mipHw | m : this.mipHw & ~m;
    this.exitRequest = true;
    if (this._waiting && (this.readMip() & this.mie) !== 0) this._waiting = false;
  }

  /** mtime tick at which this hart's own timer (Sstc stimecmp) fires; Infinity if none is armed. */
  nextTimerDeadline(): number {
    if (!this.sstc || !this.stce) return Infinity;
    return this.stimecmpNum;
  }

  /** Current mip value: software bits, device lines, and the Sstc comparator. */
  readMip(): number {
    let v = this.mipSw | this.mipHw;
    if (this.sstc && this.stce) {
      v &= ~MIP_STIP;
      if (this.timeSource() >= this.stimecmpNum) v |= MIP_STIP;
      v |= this.mipHw & MIP_STIP;
    }
    return v;
  }

  /** Read a CSR as the guest would from the current privilege (illegal ones raise; see csr.ts). */
  csrRead(csr: number, insn: number, ilen: number): bigint {
    return readCsr(this, csr, insn, ilen);
  }

  /** Write a CSR as the guest would (see csr.ts). */
  csrWrite(csr: number, v: bigint, insn: number, ilen: number): void {
    writeCsr(this, csr, v, insn, ilen);
  }

  /** Mark the FP state dirty (mstatus.FS = 3, which also sets SD). */
  fpDirty(): void {
    this.mstatus |= MSTATUS_FS;
  }

  // ------------------------------------------------------------------ run loop

  /**
   * Execute up to `budget` instructions; returns how many were attempted
   * (retired or trapped). Returns early on WFI with nothing pending or on
   * requestStop().
   */
  run(budget: number): number {
    const start = this.steps;
    const end = start + budget;
    this.stopRequested = false;
    if (this.mem.epoch !== this.epoch) flushTlb(this);
    if (this._waiting) {
      if ((this.readMip() & this.mie) === 0) return 0;
      this._waiting = false;
    }
    while (this.steps < end && !this.stopRequested && !this._waiting) {
      this.exitRequest = false;
      try {
        this.checkInterrupts();
        const qend = Math.min(end, this.steps + POLL_STEPS);
        if (this.debug !== null) this.runDebug(qend);
        else if (this.jit !== null) this.jit.run(qend);
        else {
          if (this.codeEpoch !== this.codeSync.epoch()) flushStoreTlb(this);
          this.interp.run(qend, RUN);
        }
      } catch (e) {
        if (e === TRAP) continue;
        throw this.internalError(e);
      }
    }
    return this.steps - start;
  }

  /** Under a debugger: one instruction at a time, data TLBs bypassed so every access meets the hooks. */
  private runDebug(end: number): void {
    const d = this.debug!;
    flushTlb(this);
    while (this.steps < end && !this.exitRequest) {
      if (d.beforeInstruction()) {
        this.requestStop();
        return;
      }
      this.interp.run(this.steps + 1, STEP);
      // A CSR write or trap may have refilled a data TLB: drop it again.
      flushTlb(this);
    }
  }

  /** Drop every cached translation (the debugger after it changed satp, mstatus or a PTE). */
  flushTlb(): void {
    flushTlb(this);
  }

  /** Report a data access to the debugger (slow paths only; the caller checked debug !== null). */
  debugAccess(lo: number, hi: number, size: number, write: boolean): void {
    if (this.debug!.onDataAccess(BigInt.asUintN(64, (BigInt(hi) << 32n) | BigInt(lo >>> 0)), size, write)) this.requestStop();
  }

  internalError(e: unknown): HartError {
    let insn = 0;
    try {
      const b = this.mem.load(this.pc, 4, this.attrs);
      if (b === MEMTX_OK) insn = this.mem.valLo;
    } catch {
      insn = 0;
    }
    const detail = e instanceof Error ? e.message : String(e);
    return new HartError(this.hartId, this.getPc(), insn, detail);
  }

  /** Take the highest-priority pending and enabled interrupt, if any (trap.ts). */
  checkInterrupts(): void {
    takeInterrupt(this);
  }

  /** Trap entry: sets cause/epc/tval, the new privilege and pc (trap.ts). */
  enterTrap(cause: number, interrupt: boolean, tval: bigint): void {
    enterTrap(this, cause, interrupt, tval);
  }

  /** Raise a synchronous exception: enter the trap and abandon the current instruction. */
  raise(cause: number, tval: bigint): never {
    this.enterTrap(cause, false, tval);
    throw TRAP;
  }

  illegal(insnBits: number): never {
    return this.raise(CAUSE_ILLEGAL_INSTRUCTION, BigInt(insnBits >>> 0));
  }

  /** The fetched encoding of the instruction being executed out of line (for illegal-instruction tval). */
  curRaw = 0;

  /** Illegal instruction with tval = the original encoding (16 bits for compressed), then unwind. */
  illegalInsn(insn: number, ilen: number): never {
    return this.illegal(ilen === 2 ? this.curRaw & 0xffff : insn);
  }

  /** Enter the illegal-instruction trap without unwinding (the interpreter loop returns itself). */
  trapIllegal(bits: number): void {
    this.enterTrap(CAUSE_ILLEGAL_INSTRUCTION, false, BigInt(bits >>> 0));
  }
}
