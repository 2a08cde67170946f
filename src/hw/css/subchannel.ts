/**
 * One subchannel as the architecture defines it: PMCW and SCSW, the function,
 * activity and status control rules, and the condition codes of SSCH, HSCH,
 * CSCH, RSCH, TSCH, MSCH and STSCH. What performs the functions is a backend:
 * an emulated channel running programs against a device (EmulatedBackend), or
 * a pass-through layer (vfio-ccw.ts). Functions complete when the backend calls
 * finishStart/finishHalt/finishClear/presentIrb; every completion that makes
 * status pending requests an I/O interruption through `interruptSink`.
 */
import {
  AC_CLEAR_PEND,
  AC_DEV_ACTIVE,
  AC_HALT_PEND,
  AC_RESUME_PEND,
  AC_SCH_ACTIVE,
  AC_START_PEND,
  AC_SUSPENDED,
  CS_PROGRAM_CHECK,
  DS_UNIT_CHECK,
  FC_CLEAR,
  FC_HALT,
  FC_START,
  SC_ALERT,
  SC_INTERMEDIATE,
  SC_PRIMARY,
  SC_SECONDARY,
  SC_STATUS_PEND,
  type Cc,
} from './bits.js';
import { DEFAULT_CCW_BUDGET, runChannelProgram, type CcwDevice, type ProgramOutcome } from './channel-program.js';
import type { CssMemory } from './guest-memory.js';
import { copyScsw, ERW_CONCURRENT_SENSE, newPmcw, newScsw, PMCW_CHARS_S, type Irb, type Orb, type Pmcw, type Scsw } from './schib.js';
import type { CssWorkQueue } from './work-queue.js';

/** What a backend answers when asked to perform a function the subchannel accepted. */
export type BackendAnswer = Cc | { readonly programCheck: true; readonly cpa: number };

export interface SubchannelBackend {
  /** Perform the start function described by `orb`; 0 = accepted (completion comes later). */
  start(sch: Subchannel, orb: Orb): BackendAnswer;
  halt(sch: Subchannel): Cc;
  clear(sch: Subchannel): Cc;
  /** Resume a suspended channel program (RSCH). */
  resume(sch: Subchannel): Cc;
}

/** A status the subchannel owes to some function; `tag` identifies the operation that produced it. */
export interface StatusTag {
  readonly fn: 'start' | 'halt' | 'clear';
  readonly opId: number;
}

export class Subchannel {
  readonly pmcw: Pmcw;
  readonly scsw: Scsw = newScsw();
  /** Model-dependent area of the SCHIB (measurement-block address when used). */
  readonly mda = new Uint8Array(12);
  readonly ecw = new Uint8Array(32);
  erw = 0;
  /** The ORB of the current start function (for resume and diagnostics). */
  currentOrb: Orb | null = null;
  /** Called when status becomes pending on an enabled subchannel. */
  interruptSink: ((sch: Subchannel) => void) | null = null;
  /** Which operation the pending status answers (ground truth for checkers; not architected). */
  statusTag: StatusTag | null = null;
  private opSeq = 0;
  /** Operation ids of the functions currently in progress, by function. */
  readonly ops = { start: 0, halt: 0, clear: 0 };

  constructor(
    readonly ssid: number,
    readonly schno: number,
    devno: number,
    public backend: SubchannelBackend,
  ) {
    this.pmcw = newPmcw(devno, true);
  }

  get notOperational(): boolean {
    return !this.pmcw.dnv || !this.pmcw.enabled;
  }

  get statusPending(): boolean {
    return (this.scsw.sc & SC_STATUS_PEND) !== 0;
  }

  private nextOp(): number {
    return ++this.opSeq;
  }

  // ---- guest-visible instructions (operands already fetched and checked by css.ts) ----

  ssch(o: Orb): Cc {
    const s = this.scsw;
    if (this.notOperational) return 3;
    if (s.sc & SC_STATUS_PEND) return 1;
    if (s.fc !== 0) return 2;
    const saved = copyScsw(s);
    const savedIntParm = this.pmcw.intParm;
    s.fc = FC_START;
    s.ac = AC_START_PEND;
    s.sc = 0;
    s.key = o.key;
    s.suspendCtl = o.suspend;
    s.ccwFormat1 = o.format1;
    s.prefetch = o.prefetch;
    s.initialStatus = o.initialStatus;
    s.addrLimit = o.addrLimit;
    s.suppressSuspendedInt = o.suppressSuspendedInt;
    s.deferredCc = 0;
    s.zeroCc = false;
    s.pathNotOper = false;
    s.dstat = 0;
    s.cstat = 0;
    s.count = 0;
    this.pmcw.intParm = o.intParm;
    this.currentOrb = o;
    this.ops.start = this.nextOp();
    const a = this.backend.start(this, o);
    if (typeof a === 'object') {
      // The start was accepted but the program is rejected before any CCW runs.
      this.finishStart({ cpa: a.cpa, count: 0, dstat: 0, cstat: CS_PROGRAM_CHECK, steps: 0, programCheck: 'ccw-fetch', suspendedAt: null }, this.ops.start);
      return 0;
    }
    if (a !== 0) {
      Object.assign(s, saved);
      this.pmcw.intParm = savedIntParm;
      this.ops.start = 0;
      this.currentOrb = null;
    }
    return a;
  }

  hsch(): Cc {
    const s = this.scsw;
    if (this.notOperational) return 3;
    const sc = s.sc;
    if (sc === SC_STATUS_PEND || sc & (SC_PRIMARY | SC_SECONDARY | SC_ALERT)) return 1;
    if (s.fc & (FC_HALT | FC_CLEAR)) return 2;
    const saved = copyScsw(s);
    // Intermediate status still pending is withdrawn by the halt.
    if (sc & SC_INTERMEDIATE) s.sc = 0;
    s.fc |= FC_HALT;
    s.ac |= AC_HALT_PEND;
    this.ops.halt = this.nextOp();
    const a = this.backend.halt(this);
    if (a !== 0) {
      Object.assign(s, saved);
      this.ops.halt = 0;
    }
    return a;
  }

  csch(): Cc {
    const s = this.scsw;
    if (this.notOperational) return 3;
    const saved = copyScsw(s);
    s.fc = FC_CLEAR;
    s.ac = AC_CLEAR_PEND;
    s.sc = 0;
    s.dstat = 0;
    s.cstat = 0;
    this.statusTag = null;
    this.ops.start = 0;
    this.ops.halt = 0;
    this.ops.clear = this.nextOp();
    const a = this.backend.clear(this);
    if (a !== 0) {
      Object.assign(s, saved);
      this.ops.clear = 0;
      return 3;
    }
    return 0;
  }

  rsch(): Cc {
    const s = this.scsw;
    if (this.notOperational) return 3;
    if (s.sc & SC_STATUS_PEND) return 1;
    if (s.fc !== FC_START || s.ac & AC_RESUME_PEND || !s.suspendCtl) return 2;
    s.ac |= AC_RESUME_PEND;
    const a = this.backend.resume(this);
    if (a !== 0) s.ac &= ~AC_RESUME_PEND;
    return a;
  }

  /**
   * First half of TSCH: the condition code and the IRB to store. The caller
   * stores the IRB and only then calls tschCommit, so a failed store leaves the
   * subchannel untouched (the instruction is nullified by the exception).
   */
  tschPeek(): { cc: Cc; irb: Irb; tag: StatusTag | null } {
    const irb: Irb = { scsw: copyScsw(this.scsw), eswWord0: (this.pmcw.lpum & 0xff) << 16, erw: this.erw, ecw: this.ecw.slice() };
    if (!this.pmcw.dnv) return { cc: 3, irb, tag: null };
    if (!(this.scsw.sc & SC_STATUS_PEND)) return { cc: 1, irb, tag: null };
    return { cc: 0, irb, tag: this.statusTag };
  }

  tschCommit(): void {
    const s = this.scsw;
    if (!this.pmcw.dnv || !(s.sc & SC_STATUS_PEND)) return;
    const intermediateOnly = (s.sc & SC_INTERMEDIATE) !== 0 && (s.sc & (SC_PRIMARY | SC_SECONDARY | SC_ALERT)) === 0;
    if (intermediateOnly) {
      s.sc = 0;
      if (s.ac & AC_SUSPENDED) s.ac &= ~AC_RESUME_PEND;
    } else {
      s.fc = 0;
      s.ac = 0;
      s.sc = 0;
      this.ops.start = 0;
      this.ops.halt = 0;
      this.ops.clear = 0;
      this.currentOrb = null;
    }
    s.deferredCc = 0;
    s.zeroCc = false;
    this.statusTag = null;
    this.erw = 0;
    this.ecw.fill(0);
  }

  /** Forget every function and status (a quiesce that waited for its clear and consumed the status). */
  resetFunctions(): void {
    const s = this.scsw;
    s.fc = 0;
    s.ac = 0;
    s.sc = 0;
    s.dstat = 0;
    s.cstat = 0;
    this.ops.start = 0;
    this.ops.halt = 0;
    this.ops.clear = 0;
    this.statusTag = null;
    this.currentOrb = null;
  }

  /** TSCH in one step (for callers that have nowhere to fail a store). */
  tsch(): { cc: Cc; irb: Irb; tag: StatusTag | null } {
    const r = this.tschPeek();
    if (r.cc === 0) this.tschCommit();
    return r;
  }

  /** MSCH's rules on an already-decoded, reserved-bit-checked PMCW. */
  msch(p: Pmcw, mda: Uint8Array): Cc {
    if (!this.pmcw.dnv) return 3;
    if (this.scsw.sc & SC_STATUS_PEND) return 1;
    if (this.scsw.fc !== 0) return 2;
    const t = this.pmcw;
    t.intParm = p.intParm >>> 0;
    t.isc = p.isc & 7;
    t.enabled = p.enabled;
    t.limitMode = p.limitMode & 3;
    t.measurementMode = p.measurementMode & 3;
    t.multipath = p.multipath;
    t.lpm = p.lpm & 0xff;
    t.mbi = p.mbi & 0xffff;
    t.chars = p.chars & 7;
    this.mda.set(mda.subarray(0, 12));
    return 0;
  }

  /** STSCH: a snapshot (always cc 0 for an installed subchannel; css.ts answers cc 3 for others). */
  stsch(): { pmcw: Pmcw; scsw: Scsw; mda: Uint8Array } {
    return { pmcw: { ...this.pmcw, chpids: this.pmcw.chpids.slice() }, scsw: copyScsw(this.scsw), mda: this.mda.slice() };
  }

  // ---- completions, called by backends ----

  private makePending(sc: number, tag: StatusTag): void {
    this.scsw.sc = sc | SC_STATUS_PEND;
    this.statusTag = tag;
    if (this.pmcw.enabled && this.interruptSink) this.interruptSink(this);
  }

  /** The start function ended (normally, with unusual status, program check or suspension). */
  finishStart(o: ProgramOutcome, opId: number, sense?: Uint8Array): void {
    if (opId !== this.ops.start || !(this.scsw.fc & FC_START) || this.scsw.fc & (FC_HALT | FC_CLEAR)) return;
    const s = this.scsw;
    s.cpa = o.cpa >>> 0;
    s.count = o.count & 0xffff;
    s.dstat = o.dstat & 0xff;
    s.cstat = o.cstat & 0xff;
    if (o.suspendedAt !== null) {
      s.ac = (s.ac & ~(AC_START_PEND | AC_RESUME_PEND | AC_SCH_ACTIVE | AC_DEV_ACTIVE)) | AC_SUSPENDED;
      if (!s.suppressSuspendedInt) this.makePending(SC_INTERMEDIATE, { fn: 'start', opId });
      return;
    }
    s.ac &= ~(AC_START_PEND | AC_RESUME_PEND | AC_SCH_ACTIVE | AC_DEV_ACTIVE | AC_SUSPENDED);
    let sc = SC_PRIMARY | SC_SECONDARY;
    if (s.cstat !== 0 || s.dstat & DS_UNIT_CHECK || o.programCheck) sc |= SC_ALERT;
    if (s.dstat & DS_UNIT_CHECK && sense && sense.length > 0 && this.pmcw.chars & PMCW_CHARS_S) {
      const n = Math.min(sense.length, 32);
      this.ecw.fill(0);
      this.ecw.set(sense.subarray(0, n));
      this.erw = ERW_CONCURRENT_SENSE | ((n & 0x3f) << 16);
    }
    this.makePending(sc, { fn: 'start', opId });
  }

  /** The halt function was performed; `terminatedStart` when it ended a start function. */
  finishHalt(opId: number, terminatedStart: boolean): void {
    if (opId !== this.ops.halt || !(this.scsw.fc & FC_HALT) || this.scsw.fc & FC_CLEAR) return;
    const s = this.scsw;
    s.ac &= ~(AC_HALT_PEND | AC_START_PEND | AC_RESUME_PEND | AC_SCH_ACTIVE | AC_DEV_ACTIVE | AC_SUSPENDED);
    s.dstat = 0;
    s.cstat = 0;
    this.makePending(terminatedStart ? SC_PRIMARY : 0, { fn: 'halt', opId });
  }

  /** The clear function was performed: status pending alone, FC clear. */
  finishClear(opId: number): void {
    if (opId !== this.ops.clear || !(this.scsw.fc & FC_CLEAR)) return;
    const s = this.scsw;
    s.ac = 0;
    s.dstat = 0;
    s.cstat = 0;
    s.count = 0;
    this.makePending(0, { fn: 'clear', opId });
  }

  /**
   * A pass-through layer hands over the status a real subchannel produced:
   * the SCSW's status fields are copied (the way a hypervisor reflects a host
   * IRB), status becomes pending and an interruption is requested.
   */
  presentIrb(irb: Irb, tag: StatusTag): void {
    const s = this.scsw;
    const h = irb.scsw;
    s.fc = h.fc;
    s.ac = h.ac;
    s.cpa = h.cpa;
    s.dstat = h.dstat;
    s.cstat = h.cstat;
    s.count = h.count;
    this.erw = irb.erw;
    this.ecw.set(irb.ecw.subarray(0, 32));
    this.makePending(h.sc & ~SC_STATUS_PEND, tag);
  }
}

/**
 * A channel of our own: start, halt, clear and resume are performed by work
 * posted to `queue`, so the owner decides when the channel "runs". A start
 * runs the whole program in one work item, bounded by the CCW budget.
 */
export class EmulatedBackend implements SubchannelBackend {
  /** Bumped by halt and clear so that already-posted start/resume work becomes a no-op. */
  private epoch = 0;

  constructor(
    private readonly device: CcwDevice,
    private readonly memory: CssMemory,
    private readonly queue: CssWorkQueue,
    private readonly budget = DEFAULT_CCW_BUDGET,
    private readonly label = 'sch',
  ) {}

  private execute(sch: Subchannel, cpa: number, opId: number, resuming: boolean): void {
    const o = sch.currentOrb;
    if (!o) return;
    sch.scsw.ac = (sch.scsw.ac & ~(AC_START_PEND | AC_RESUME_PEND | AC_SUSPENDED)) | AC_SCH_ACTIVE | AC_DEV_ACTIVE;
    const outcome = runChannelProgram(this.memory, this.device, cpa, {
      format1: o.format1,
      suspendCtl: o.suspend,
      ils: o.ils,
      budget: this.budget,
      resuming,
    });
    sch.finishStart(outcome, opId, outcome.dstat & DS_UNIT_CHECK ? this.device.senseBytes() : undefined);
  }

  start(sch: Subchannel, orb: Orb): BackendAnswer {
    const epoch = this.epoch;
    const opId = sch.ops.start;
    this.queue.post(`${this.label}:start#${opId}`, () => {
      if (epoch !== this.epoch || sch.ops.start !== opId || !(sch.scsw.ac & AC_START_PEND)) return;
      this.execute(sch, orb.cpa, opId, (sch.scsw.ac & AC_RESUME_PEND) !== 0);
    });
    return 0;
  }

  resume(sch: Subchannel): Cc {
    const epoch = this.epoch;
    const opId = sch.ops.start;
    this.queue.post(`${this.label}:resume#${opId}`, () => {
      const s = sch.scsw;
      if (epoch !== this.epoch || sch.ops.start !== opId || !(s.ac & AC_RESUME_PEND)) return;
      // Not yet suspended: the pending resume makes the next suspend flag a no-op.
      if (!(s.ac & AC_SUSPENDED)) return;
      this.execute(sch, s.cpa, opId, true);
    });
    return 0;
  }

  halt(sch: Subchannel): Cc {
    this.epoch++;
    const opId = sch.ops.halt;
    this.queue.post(`${this.label}:halt#${opId}`, () => {
      sch.finishHalt(opId, (sch.scsw.fc & FC_START) !== 0);
    });
    return 0;
  }

  /** Make every posted start, resume, halt and clear a no-op. */
  cancelAll(): void {
    this.epoch++;
  }

  clear(sch: Subchannel): Cc {
    this.epoch++;
    const opId = sch.ops.clear;
    this.queue.post(`${this.label}:clear#${opId}`, () => sch.finishClear(opId));
    return 0;
  }
}
