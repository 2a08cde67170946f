/**
 * Subchannel pass-through in the shape of Linux's vfio-ccw: a five-state FSM
 * (NOT_OPER, STANDBY, IDLE, CP_PROCESSING, CP_PENDING) driven by six events
 * (NOT_OPER, IO_REQ, INTERRUPT, ASYNC_REQ, OPEN, CLOSE), a translated copy of
 * the guest's channel program (the "cp") that the host channel executes, an
 * interrupt handler that runs TSCH on the host subchannel, and deferred work
 * ("io_todo") that later decides what the IRB means and reports it to user
 * space. Every edge where real systems interleave is a separate call:
 * ioRequest / asyncRequest (user space), hostInterrupt (host interruption),
 * ioTodo (the workqueue), and the host channel's own queue.
 *
 * Two variants:
 *  - 'naive' reproduces the window of seed 003: io_todo attributes whatever
 *    solicited, final IRB it finds to the current cp, so CLEAR's IRB, handled
 *    after a new START was accepted, frees START's channel program while the
 *    channel still runs it, and is reported as START's completion.
 *  - 'shipped' closes it: every host operation carries a generation, and the
 *    interrupt handler decides, atomically with TSCH, which operation the IRB
 *    answers (from its function control and the operations outstanding at
 *    that moment). io_todo acts only on that operation; a late IRB for a
 *    superseded function is consumed without touching the current cp.
 */
import {
  AC_DEV_ACTIVE,
  AC_SCH_ACTIVE,
  CCW_FLAG_CC,
  CCW_FLAG_CD,
  FC_CLEAR,
  FC_HALT,
  FC_START,
  SC_ALERT,
  SC_INTERMEDIATE,
  SC_PRIMARY,
  SC_SECONDARY,
  fcName,
  type Cc,
} from './bits.js';
import { DEFAULT_CCW_BUDGET, encodeCcw1, fetchCcw, isTic, type Ccw, type CcwDevice } from './channel-program.js';
import type { CssMemory } from './guest-memory.js';
import { CpArena, HostMemory, HostSubchannel, type HostTsch } from './host-subchannel.js';
import { copyScsw, type Irb, type Orb } from './schib.js';
import { Subchannel, type BackendAnswer, type StatusTag, type SubchannelBackend } from './subchannel.js';
import { ManualWorkQueue, type CssWorkQueue } from './work-queue.js';

export type VfioCcwVariant = 'naive' | 'shipped';

export const VFIO_CCW_STATES = ['NOT_OPER', 'STANDBY', 'IDLE', 'CP_PROCESSING', 'CP_PENDING'] as const;
export type VfioCcwState = (typeof VFIO_CCW_STATES)[number];
export const VFIO_CCW_EVENTS = ['NOT_OPER', 'IO_REQ', 'INTERRUPT', 'ASYNC_REQ', 'OPEN', 'CLOSE'] as const;
export type VfioCcwEvent = (typeof VFIO_CCW_EVENTS)[number];
export type VfioCcwAction =
  | 'nop'
  | 'notoper'
  | 'io_error'
  | 'io_request'
  | 'io_retry'
  | 'io_busy'
  | 'async_error'
  | 'async_request'
  | 'async_retry'
  | 'irq'
  | 'disabled_irq'
  | 'open'
  | 'close';

/** The FSM: every state x event pair names its action (facts from Linux's table, not its code). */
export const VFIO_CCW_JUMPTABLE: Readonly<Record<VfioCcwState, Readonly<Record<VfioCcwEvent, VfioCcwAction>>>> = Object.freeze({
  NOT_OPER: { NOT_OPER: 'nop', IO_REQ: 'io_error', INTERRUPT: 'disabled_irq', ASYNC_REQ: 'async_error', OPEN: 'nop', CLOSE: 'nop' },
  STANDBY: { NOT_OPER: 'notoper', IO_REQ: 'io_error', INTERRUPT: 'disabled_irq', ASYNC_REQ: 'async_error', OPEN: 'open', CLOSE: 'notoper' },
  IDLE: { NOT_OPER: 'notoper', IO_REQ: 'io_request', INTERRUPT: 'irq', ASYNC_REQ: 'async_request', OPEN: 'notoper', CLOSE: 'close' },
  CP_PROCESSING: { NOT_OPER: 'notoper', IO_REQ: 'io_retry', INTERRUPT: 'irq', ASYNC_REQ: 'async_retry', OPEN: 'notoper', CLOSE: 'close' },
  CP_PENDING: { NOT_OPER: 'notoper', IO_REQ: 'io_busy', INTERRUPT: 'irq', ASYNC_REQ: 'async_request', OPEN: 'notoper', CLOSE: 'close' },
});

/** Return codes on the user-space interface (negative errno values, as the region writes give them). */
export const VFIO_OK = 0;
export const EIO = -5;
export const EAGAIN = -11;
export const EBUSY = -16;
export const ENODEV = -19;
export const EINVAL = -22;

/** The translated channel program of one start request. */
export interface ChannelProgramCopy {
  readonly gen: number;
  readonly guestCpa: number;
  readonly guestOrb: Orb;
  readonly base: number;
  /** Guest address of each translated CCW, by index. */
  readonly guestAddrs: readonly number[];
  /** Host start operation that runs it (0 until issued). */
  hostOpId: number;
  freed: boolean;
}

/** Which request an IRB is taken to answer. */
export interface Attribution {
  readonly fn: 'start' | 'halt' | 'clear' | 'unsolicited';
  /** Generation of the request (0 when none was outstanding). */
  readonly gen: number;
}

interface CapturedIrb {
  readonly irb: Irb;
  readonly truth: StatusTag | null;
  /** Decided at capture time (shipped only). */
  readonly answers: Attribution | null;
  /** Start generation a final halt/clear IRB ended (shipped only). */
  readonly endedStart: number;
}

/** One IRB reported to user space. */
export interface IrbReport {
  readonly irb: Irb;
  readonly attribution: Attribution;
  /** Ground truth from the host model: the operation that produced the status. */
  readonly truth: StatusTag | null;
  /** Whether the attribution names the operation the IRB really answers. */
  readonly correct: boolean;
}

export interface FsmResult {
  readonly from: VfioCcwState;
  readonly event: VfioCcwEvent;
  readonly action: VfioCcwAction;
  readonly to: VfioCcwState;
  readonly ret: number;
}

export type VfioEventArg =
  | { readonly orb: Orb; readonly stopAfterTranslate?: boolean }
  | { readonly cmd: 'halt' | 'clear' }
  | { readonly tsch: HostTsch }
  | undefined;

export interface VfioCcwOptions {
  variant: VfioCcwVariant;
  host: HostSubchannel;
  arena: CpArena;
  /** Guest storage the guest's channel programs are fetched from. */
  guestMemory: CssMemory;
  /** Where deferred interrupt work (io_todo) is posted. */
  workqueue: CssWorkQueue;
  /** CCWs translated per request at most. */
  budget?: number;
}

export class VfioCcw {
  readonly variant: VfioCcwVariant;
  state: VfioCcwState = 'STANDBY';
  /** The current channel program (Linux's private->cp). */
  cp: ChannelProgramCopy | null = null;
  /** User space's eventfd: IRBs reported through the I/O region. */
  onIoRegion: ((r: IrbReport) => void) | null = null;
  /** Every FSM step taken, in order. */
  readonly trace: FsmResult[] = [];
  readonly reports: IrbReport[] = [];
  /** IRBs applied to (or reported for) an operation other than the one they answer. */
  misattributions = 0;
  /** Channel programs freed while the host channel could still fetch them. */
  freedWhileInUse = 0;
  /** IRBs lost because a newer one overwrote them before io_todo ran (naive's single slot). */
  lostIrbs = 0;
  /** Late IRBs for superseded functions consumed without touching the cp (shipped). */
  staleConsumed = 0;
  readonly violations: string[] = [];
  /** Generation of the last request accepted by ioRequest/asyncRequest. */
  lastGen = 0;

  private readonly host: HostSubchannel;
  private readonly arena: CpArena;
  private readonly guestMemory: CssMemory;
  private readonly workqueue: CssWorkQueue;
  private readonly budget: number;
  private genSeq = 0;
  private slot: CapturedIrb | null = null;
  private readonly queue: CapturedIrb[] = [];
  private workPending = false;
  /** Shipped: the requests the host is working on, by generation (0 = none). */
  private readonly outstanding = { start: 0, halt: 0, clear: 0 };
  /** Host operation id of each generation (to check attributions against ground truth). */
  private readonly hostOpOfGen = new Map<number, { fn: 'start' | 'halt' | 'clear'; opId: number }>();

  constructor(opts: VfioCcwOptions) {
    this.variant = opts.variant;
    this.host = opts.host;
    this.arena = opts.arena;
    this.guestMemory = opts.guestMemory;
    this.workqueue = opts.workqueue;
    this.budget = opts.budget ?? DEFAULT_CCW_BUDGET;
    this.host.handler = () => this.hostInterrupt();
  }

  // ---- entry points (each one an interleaving point) ----

  open(): FsmResult {
    return this.event('OPEN');
  }

  close(): FsmResult {
    return this.event('CLOSE');
  }

  notOper(): FsmResult {
    return this.event('NOT_OPER');
  }

  /** User space writes the I/O region: a start request. */
  ioRequest(orb: Orb): FsmResult {
    return this.event('IO_REQ', { orb });
  }

  /** First half of ioRequest: translate and stay in CP_PROCESSING (the window a concurrent request sees). */
  ioRequestBegin(orb: Orb): FsmResult {
    return this.event('IO_REQ', { orb, stopAfterTranslate: true });
  }

  /** Second half: issue the translated program to the host (CP_PROCESSING -> CP_PENDING or IDLE). */
  ioRequestIssue(): FsmResult {
    const from = this.state;
    let ret = EIO;
    if (from === 'CP_PROCESSING' && this.cp && !this.cp.freed) ret = this.issue(this.cp);
    return this.record({ from, event: 'IO_REQ', action: 'io_request', to: this.state, ret });
  }

  /** User space writes the async region: HALT or CLEAR. */
  asyncRequest(cmd: 'halt' | 'clear'): FsmResult {
    return this.event('ASYNC_REQ', { cmd });
  }

  /**
   * The host I/O interruption: the host's common I/O layer runs TSCH, then
   * the FSM's INTERRUPT event sees the IRB. A withdrawn interruption (status
   * no longer pending) does nothing.
   */
  hostInterrupt(): FsmResult | null {
    const t = this.host.tsch();
    if (t.cc !== 0) return null;
    return this.event('INTERRUPT', { tsch: t });
  }

  /** Whether io_todo is queued and not yet run. */
  get ioWorkPending(): boolean {
    return this.workPending;
  }

  event(ev: VfioCcwEvent, arg?: VfioEventArg): FsmResult {
    const from = this.state;
    const action = VFIO_CCW_JUMPTABLE[from][ev];
    const ret = this.act(action, arg);
    return this.record({ from, event: ev, action, to: this.state, ret });
  }

  private record(r: FsmResult): FsmResult {
    this.trace.push(r);
    return r;
  }

  private act(action: VfioCcwAction, arg: VfioEventArg): number {
    switch (action) {
      case 'nop':
        return VFIO_OK;
      case 'notoper':
        this.state = 'NOT_OPER';
        return VFIO_OK;
      case 'io_error':
      case 'async_error':
        return EIO;
      case 'io_retry':
      case 'async_retry':
        return EAGAIN;
      case 'io_busy':
        return EBUSY;
      case 'open':
        if (this.host.enable() === 0) {
          this.state = 'IDLE';
          return VFIO_OK;
        }
        this.state = 'NOT_OPER';
        return ENODEV;
      case 'close':
        this.host.quiesce();
        if (this.cp) this.cpFree(this.cp, 'close');
        this.cp = null;
        this.outstanding.start = this.outstanding.halt = this.outstanding.clear = 0;
        this.state = 'STANDBY';
        return VFIO_OK;
      case 'disabled_irq':
        // An interruption for a device nobody has open: make it stop.
        this.host.disable();
        return VFIO_OK;
      case 'irq':
        // Only a TSCH that found status (cc 0) carries an IRB; anything else was a spurious interruption.
        if (arg && 'tsch' in arg && arg.tsch.cc === 0) this.irq(arg.tsch);
        return VFIO_OK;
      case 'io_request':
        if (!arg || !('orb' in arg)) return EINVAL;
        return this.ioRequestAction(arg.orb, arg.stopAfterTranslate === true);
      case 'async_request':
        if (!arg || !('cmd' in arg)) return EINVAL;
        return this.asyncAction(arg.cmd);
    }
  }

  // ---- actions ----

  private ioRequestAction(orb: Orb, stop: boolean): number {
    this.state = 'CP_PROCESSING';
    const t = this.translate(orb);
    if (!t) {
      this.state = 'IDLE';
      return EINVAL;
    }
    this.cp = t;
    if (stop) return VFIO_OK;
    return this.issue(t);
  }

  private issue(cp: ChannelProgramCopy): number {
    // The guest's ORB with the copy's address, format 1 (the copy is format 1), our generation as
    // interruption parameter, and no suspend (not passed through).
    const hostOrb: Orb = { ...cp.guestOrb, intParm: cp.gen, format1: true, suspend: false, cpa: cp.base };
    const cc = this.host.ssch(hostOrb);
    if (cc === 0) {
      cp.hostOpId = this.host.startOpId;
      this.hostOpOfGen.set(cp.gen, { fn: 'start', opId: cp.hostOpId });
      this.outstanding.start = cp.gen;
      this.lastGen = cp.gen;
      this.state = 'CP_PENDING';
      return VFIO_OK;
    }
    this.cpFree(cp, 'ssch refused');
    if (this.cp === cp) this.cp = null;
    this.state = 'IDLE';
    return cc === 3 ? ENODEV : EBUSY;
  }

  private asyncAction(cmd: 'halt' | 'clear'): number {
    const cc: Cc = cmd === 'halt' ? this.host.hsch() : this.host.csch();
    if (cc !== 0) return cc === 3 ? ENODEV : EBUSY;
    const gen = ++this.genSeq;
    this.lastGen = gen;
    const s = this.host.sch;
    this.hostOpOfGen.set(gen, { fn: cmd, opId: cmd === 'halt' ? s.ops.halt : s.ops.clear });
    if (cmd === 'clear') {
      this.outstanding.clear = gen;
      this.outstanding.halt = 0;
    } else {
      this.outstanding.halt = gen;
    }
    return VFIO_OK;
  }

  /** fsm_irq: keep the IRB and queue io_todo (under the subchannel lock, atomic with TSCH). */
  private irq(t: HostTsch): void {
    const irb = t.irb;
    let answers: Attribution | null = null;
    let endedStart = 0;
    if (this.variant === 'shipped') {
      const fc = irb.scsw.fc;
      const final = isFinal(irb);
      if (fc & FC_CLEAR) {
        answers = { fn: 'clear', gen: this.outstanding.clear };
        endedStart = this.outstanding.start;
        this.outstanding.clear = this.outstanding.halt = this.outstanding.start = 0;
      } else if (fc & FC_HALT) {
        answers = { fn: 'halt', gen: this.outstanding.halt };
        endedStart = this.outstanding.start;
        this.outstanding.halt = this.outstanding.start = 0;
      } else if (fc & FC_START) {
        answers = { fn: 'start', gen: this.outstanding.start };
        if (final) this.outstanding.start = 0;
      } else {
        answers = { fn: 'unsolicited', gen: 0 };
      }
      this.queue.push({ irb, truth: t.truth, answers, endedStart });
    } else {
      // One slot, as Linux has one IRB buffer: an IRB not yet processed is overwritten.
      if (this.slot) this.lostIrbs++;
      this.slot = { irb, truth: t.truth, answers: null, endedStart: 0 };
    }
    if (!this.workPending) {
      this.workPending = true;
      this.workqueue.post('vfio:io_todo', () => this.ioTodo());
    }
  }

  /** The deferred interrupt work (Linux's vfio_ccw_sch_io_todo). */
  ioTodo(): void {
    this.workPending = false;
    if (this.variant === 'naive') {
      const c = this.slot;
      this.slot = null;
      if (c) this.todoNaive(c);
    } else {
      for (let c = this.queue.shift(); c; c = this.queue.shift()) this.todoShipped(c);
    }
  }

  private todoNaive(c: CapturedIrb): void {
    const irb = c.irb;
    const final = !(irb.scsw.ac & (AC_DEV_ACTIVE | AC_SCH_ACTIVE));
    const solicited = irb.scsw.fc !== 0;
    const cp = this.cp;
    let mis = false;
    if (solicited && cp && !cp.freed) {
      // The seed's code path: a solicited final IRB is taken as the end of the current program.
      mis = !this.endsProgram(c.truth, cp);
      this.cpUpdateScsw(cp, irb);
      if (final && this.state === 'CP_PENDING') {
        this.cpFree(cp, 'final IRB');
        this.cp = null;
      }
    }
    if (final && (this.state === 'CP_PENDING' || this.state === 'CP_PROCESSING')) this.state = 'IDLE';
    const fn = solicitedFn(irb);
    const gen = fn === 'start' ? (cp?.gen ?? 0) : fn === 'halt' ? this.outstanding.halt : fn === 'clear' ? this.outstanding.clear : 0;
    this.report(irb, { fn, gen }, c.truth, mis && cp ? `applied to cp gen ${cp.gen} (host start #${cp.hostOpId})` : null);
  }

  private todoShipped(c: CapturedIrb): void {
    const a = c.answers!;
    const irb = c.irb;
    const final = isFinal(irb);
    const cp = this.cp;
    let applied: ChannelProgramCopy | null = null;
    if (a.fn === 'start') {
      if (cp && cp.gen === a.gen && !cp.freed) {
        applied = cp;
        this.cpUpdateScsw(cp, irb);
        if (final) {
          this.cpFree(cp, 'final IRB');
          this.cp = null;
          if (this.state === 'CP_PENDING') this.state = 'IDLE';
        }
      } else {
        this.staleConsumed++;
      }
    } else if (a.fn === 'halt' || a.fn === 'clear') {
      // The function ended the start it superseded; only that program may go.
      if (cp && c.endedStart !== 0 && cp.gen === c.endedStart) {
        applied = cp;
        this.cpFree(cp, `${a.fn} IRB`);
        this.cp = null;
        if (this.state === 'CP_PENDING') this.state = 'IDLE';
      }
    }
    const mis = applied !== null && !this.endsProgram(c.truth, applied);
    this.report(irb, a, c.truth, mis && applied ? `applied to cp gen ${applied.gen} (host start #${applied.hostOpId})` : null);
  }

  /**
   * Ground truth: does the operation that produced this status end the given
   * program? Its own start does; so does a halt or clear issued after it.
   */
  private endsProgram(truth: StatusTag | null, cp: ChannelProgramCopy): boolean {
    if (!truth || cp.hostOpId === 0) return false;
    return truth.fn === 'start' ? truth.opId === cp.hostOpId : truth.opId > cp.hostOpId;
  }

  private report(irb: Irb, attribution: Attribution, truth: StatusTag | null, cpMisuse: string | null): void {
    const correct = cpMisuse === null && this.attributionMatches(attribution, truth);
    const what = truth ? `${truth.fn}#${truth.opId}` : 'nothing';
    if (cpMisuse !== null) this.violations.push(`IRB with FC=${fcName(irb.scsw.fc)} answering host ${what} ${cpMisuse}`);
    else if (!correct) this.violations.push(`IRB with FC=${fcName(irb.scsw.fc)} answering host ${what} reported as ${attribution.fn} gen ${attribution.gen}`);
    if (!correct) this.misattributions++;
    const r: IrbReport = { irb, attribution, truth, correct };
    this.reports.push(r);
    if (this.onIoRegion) this.onIoRegion(r);
  }

  private attributionMatches(a: Attribution, truth: StatusTag | null): boolean {
    if (a.fn === 'unsolicited') return truth === null;
    if (!truth) return false;
    const op = this.hostOpOfGen.get(a.gen);
    if (!op) return false;
    return op.fn === truth.fn && op.opId === truth.opId;
  }

  // ---- channel program copies ----

  /**
   * cp_init + prefetch: copy the guest's program into the arena as format-1
   * CCWs, following TICs (a TIC to an already copied CCW becomes a TIC inside
   * the copy, so a loop stays a loop and the host channel's budget ends it).
   * Data addresses stay guest addresses (guest RAM is pinned, identity-mapped
   * in the host view). Null when the program cannot be copied within budget
   * or its CCWs are not in guest storage.
   */
  private translate(orb: Orb): ChannelProgramCopy | null {
    const ccws: Ccw[] = [];
    const addrs: number[] = [];
    const index = new Map<number, number>();
    const pendingTargets: number[] = [orb.cpa >>> 0];
    /** Index -> guest address to link by a synthetic TIC (a chain continuing into already copied CCWs). */
    const links: { at: number; target: number }[] = [];
    while (pendingTargets.length > 0) {
      let a = pendingTargets.shift()!;
      if (index.has(a)) continue;
      for (;;) {
        if (ccws.length >= this.budget) return null;
        if (a & 7) return null;
        const ccw = fetchCcw(this.guestMemory, a, orb.format1);
        if (!ccw) return null;
        const c: Ccw = isTic(ccw.cmd) && !orb.format1 ? { cmd: ccw.cmd, flags: 0, count: 0, cda: ccw.cda } : ccw;
        index.set(a, ccws.length);
        ccws.push(c);
        addrs.push(a);
        if (isTic(c.cmd)) {
          pendingTargets.push(c.cda >>> 0);
          break;
        }
        if (!(c.flags & (CCW_FLAG_CC | CCW_FLAG_CD))) break;
        a += 8;
        if (index.has(a)) {
          // Continue into the copy with a TIC of our own; if the CCW there is itself a TIC, go to its
          // target instead, so the copy never holds a TIC to a TIC the guest's program did not have.
          const there = ccws[index.get(a)!]!;
          const target = isTic(there.cmd) ? there.cda >>> 0 : a;
          if (!index.has(target)) pendingTargets.push(target);
          links.push({ at: ccws.length, target });
          ccws.push({ cmd: 0x08, flags: 0, count: 0, cda: 0 });
          addrs.push(a);
          break;
        }
      }
    }
    const gen = ++this.genSeq;
    const base = this.arena.alloc(ccws.length * 8, `cp gen ${gen}`);
    const linkAt = new Map(links.map((l) => [l.at, l.target]));
    for (let i = 0; i < ccws.length; i++) {
      const c = ccws[i]!;
      let out = c;
      if (isTic(c.cmd)) {
        const target = linkAt.get(i) ?? c.cda >>> 0;
        const ti = index.get(target);
        // A TIC whose target could not be copied keeps an address the channel cannot fetch.
        out = { ...c, cda: ti === undefined ? 0x7ffffff8 : base + ti * 8 };
      }
      this.arena.write(base + i * 8, encodeCcw1(out));
    }
    return { gen, guestCpa: orb.cpa >>> 0, guestOrb: orb, base, guestAddrs: addrs, hostOpId: 0, freed: false };
  }

  /** Translate the IRB's CCW address back to the guest's program (reads the cp). */
  private cpUpdateScsw(cp: ChannelProgramCopy, irb: Irb): void {
    if (cp.freed) {
      this.violations.push(`cp gen ${cp.gen} used after it was freed`);
      return;
    }
    const idx = (irb.scsw.cpa - 8 - cp.base) / 8;
    const ga = Number.isInteger(idx) ? cp.guestAddrs[idx] : undefined;
    if (ga !== undefined) irb.scsw.cpa = (ga + 8) >>> 0;
  }

  private cpFree(cp: ChannelProgramCopy, why: string): void {
    if (cp.freed) return;
    if (this.host.startInUse(cp.hostOpId)) {
      this.freedWhileInUse++;
      this.violations.push(`cp gen ${cp.gen} freed (${why}) while host start #${cp.hostOpId} still uses it`);
    }
    cp.freed = true;
    this.arena.free(cp.base);
  }

  /** Every invariant breach seen so far (empty when none): misattribution, freed-in-use, use after free. */
  checkInvariants(): string[] {
    return [...this.violations, ...this.arena.useAfterFree.map((u) => `host channel: ${u}`), ...this.arena.doubleFree.map((d) => `double free of ${d}`)];
  }
}

function isFinal(irb: Irb): boolean {
  const sc = irb.scsw.sc;
  const intermediateOnly = (sc & SC_INTERMEDIATE) !== 0 && (sc & (SC_PRIMARY | SC_SECONDARY | SC_ALERT)) === 0;
  return !intermediateOnly && !(irb.scsw.ac & (AC_DEV_ACTIVE | AC_SCH_ACTIVE));
}

function solicitedFn(irb: Irb): Attribution['fn'] {
  const fc = irb.scsw.fc;
  if (fc & FC_CLEAR) return 'clear';
  if (fc & FC_HALT) return 'halt';
  if (fc & FC_START) return 'start';
  return 'unsolicited';
}

/** An I/O interruption presented to the guest, with what it answered. */
export interface GuestInterruptRecord {
  readonly seq: number;
  /** Function control of the delivered status. */
  readonly fc: string;
  /** The guest function outstanding when it was delivered (what the guest takes it to answer). */
  readonly guestFunction: string;
  /** The host operation that really produced it. */
  readonly answers: string;
  readonly correct: boolean;
}

/**
 * The user-space half (QEMU's part): the guest's subchannel backend, mapping
 * guest instructions to region writes and IRB reports to guest status.
 * naive: CSCH completes in the guest at once (the emulated clear of early
 * pass-through), so the guest may start again while the host's CLEAR IRB is
 * still on its way; every reported IRB is presented as is.
 * shipped: CSCH/HSCH complete only when the IRB answering them arrives, so
 * the guest sees architectural condition codes (SSCH cc 2 while clear is in
 * progress); IRBs for superseded requests are not presented.
 */
export class VfioCcwGuestBackend implements SubchannelBackend {
  sch: Subchannel | null = null;
  readonly delivered: GuestInterruptRecord[] = [];
  private seq = 0;
  private startGen = 0;
  private haltGen = 0;
  private clearGen = 0;
  /**
   * cc 2 given because the layer below refused, not because the guest's own
   * subchannel state said so: a condition code the architecture would not give.
   */
  refusals = 0;
  /** Shipped: a guest HSCH met a start whose final status the host already had. */
  private haltAbsorbed = false;

  constructor(private readonly vfio: VfioCcw) {
    vfio.onIoRegion = (r) => this.onReport(r);
  }

  start(_sch: Subchannel, orb: Orb): BackendAnswer {
    let r = this.vfio.ioRequest(orb);
    for (let tries = 0; r.ret === EAGAIN && tries < 3; tries++) r = this.vfio.ioRequest(orb);
    switch (r.ret) {
      case VFIO_OK:
        this.startGen = this.vfio.lastGen;
        return 0;
      case EINVAL:
        return { programCheck: true, cpa: orb.cpa };
      case ENODEV:
      case EIO:
        return 3;
      default:
        this.refusals++;
        return 2;
    }
  }

  halt(_sch: Subchannel): Cc {
    const r = this.vfio.asyncRequest('halt');
    this.haltAbsorbed = false;
    if (r.ret === VFIO_OK) {
      this.haltGen = this.vfio.lastGen;
      return 0;
    }
    if (r.ret === ENODEV || r.ret === EIO) return 3;
    if (this.vfio.variant === 'shipped' && r.ret === EBUSY) {
      // The host already has the start's final status (not yet reflected to the guest): the
      // guest's subchannel is start-active without status, so HSCH is cc 0, and the start's
      // status will arrive with the halt function indicated.
      this.haltGen = 0;
      this.haltAbsorbed = true;
      return 0;
    }
    this.refusals++;
    return 2;
  }

  clear(sch: Subchannel): Cc {
    const r = this.vfio.asyncRequest('clear');
    if (r.ret === ENODEV || r.ret === EIO) return 3;
    if (r.ret === VFIO_OK) this.clearGen = this.vfio.lastGen;
    if (this.vfio.variant === 'naive' || r.ret !== VFIO_OK) {
      // Emulated clear: done in the guest's view right away.
      const opId = sch.ops.clear;
      sch.finishClear(opId);
      this.clearGen = 0;
    }
    return 0;
  }

  resume(_sch: Subchannel): Cc {
    // Suspend/resume is not passed through.
    return 2;
  }

  private onReport(r: IrbReport): void {
    const sch = this.sch;
    if (!sch) return;
    const fc = sch.scsw.fc;
    const guestFunction = fc & FC_CLEAR ? 'clear' : fc & FC_HALT ? 'halt' : fc & FC_START ? 'start' : 'none';
    let absorbed = false;
    if (this.vfio.variant === 'naive') {
      // Nothing outstanding in the guest's view (its clear was emulated): nothing to present.
      if (guestFunction === 'none') return;
    } else {
      const a = r.attribution;
      absorbed = a.fn === 'start' && a.gen === this.startGen && guestFunction === 'halt' && this.haltAbsorbed;
      const wanted =
        absorbed ||
        (a.fn === 'clear' && a.gen === this.clearGen && guestFunction === 'clear') ||
        (a.fn === 'halt' && a.gen === this.haltGen && guestFunction === 'halt') ||
        (a.fn === 'start' && a.gen === this.startGen && guestFunction === 'start');
      if (!wanted) return;
    }
    const answers = r.truth ? `${r.truth.fn}#${r.truth.opId}` : 'unsolicited';
    const answered = absorbed ? 'start' : guestFunction;
    const correct = r.truth !== null && r.truth.fn === answered && r.correct && r.attribution.fn === answered;
    const fn = guestFunction as StatusTag['fn'];
    const tag: StatusTag = { fn, opId: sch.ops[fn] };
    this.delivered.push({ seq: ++this.seq, fc: fcName(r.irb.scsw.fc), guestFunction, answers, correct });
    const scsw = copyScsw(r.irb.scsw);
    if (absorbed) {
      scsw.fc |= FC_HALT;
      this.haltAbsorbed = false;
    }
    sch.presentIrb({ ...r.irb, scsw }, tag);
  }
}

export interface VfioCcwPassthroughOptions {
  variant: VfioCcwVariant;
  /** Guest storage (channel programs and data). */
  guestMemory: CssMemory;
  /** The real device behind the host subchannel. */
  device: CcwDevice;
  /** Queues for the host channel, host interruptions and the workqueue; ManualWorkQueues by default. */
  channel?: CssWorkQueue;
  hostInterrupts?: CssWorkQueue;
  workqueue?: CssWorkQueue;
  budget?: number;
  /** Guest subchannel number and device number. */
  schno?: number;
  devno?: number;
}

/**
 * The whole pass-through stack for one device: host subchannel, vfio-ccw,
 * the user-space backend and the guest's subchannel (opened and enabled).
 */
export class VfioCcwPassthrough {
  readonly arena = new CpArena();
  readonly host: HostSubchannel;
  readonly vfio: VfioCcw;
  readonly backend: VfioCcwGuestBackend;
  readonly guest: Subchannel;
  readonly channel: CssWorkQueue;
  readonly hostInterrupts: CssWorkQueue;
  readonly workqueue: CssWorkQueue;

  constructor(opts: VfioCcwPassthroughOptions) {
    this.channel = opts.channel ?? new ManualWorkQueue('channel');
    this.hostInterrupts = opts.hostInterrupts ?? new ManualWorkQueue('host-irq');
    this.workqueue = opts.workqueue ?? new ManualWorkQueue('workqueue');
    this.host = new HostSubchannel({
      device: opts.device,
      memory: new HostMemory(opts.guestMemory, this.arena),
      channel: this.channel,
      interrupts: this.hostInterrupts,
      budget: opts.budget,
    });
    this.vfio = new VfioCcw({ variant: opts.variant, host: this.host, arena: this.arena, guestMemory: opts.guestMemory, workqueue: this.workqueue, budget: opts.budget });
    this.backend = new VfioCcwGuestBackend(this.vfio);
    this.guest = new Subchannel(0, opts.schno ?? 0, opts.devno ?? 0x0001, this.backend);
    this.backend.sch = this.guest;
    this.guest.pmcw.enabled = true;
    this.vfio.open();
  }

  /** Interrupts presented to the guest, with the function each really answered. */
  get guestInterrupts(): readonly GuestInterruptRecord[] {
    return this.backend.delivered;
  }

  /** Every invariant breach: vfio's, the arena's, and guest interrupts answering the wrong function. */
  checkInvariants(): string[] {
    const out = this.vfio.checkInvariants();
    for (const d of this.backend.delivered) {
      if (!d.correct) out.push(`guest interrupt #${d.seq} (FC=${d.fc}) taken as ${d.guestFunction} completion but answers host ${d.answers}`);
    }
    return out;
  }
}
