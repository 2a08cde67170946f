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
 * Seed 003's window (CLEAR's IRB handled by io_todo after a new START was
 * accepted) is closed here: every host operation carries a generation, and
 * the interrupt handler decides, atomically with TSCH, which operation the
 * IRB answers (from its function control and the operations outstanding at
 * that moment). io_todo acts only on that operation; a late IRB for a
 * superseded function is consumed without touching the current cp.
 *
 * The seed's design (one IRB slot, io_todo taking any final IRB as the end
 * of the current program) is not an option of this module: the explorer
 * injects it by subclassing the capture/io_todo steps (src/explore/policies).
 * Nothing here checks itself; seed 003's scenario watches the host
 * simulation and these classes' logs from outside.
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
  /** Decided at capture time, atomically with TSCH. */
  readonly answers: Attribution;
  /** Start generation a final halt/clear IRB ended. */
  readonly endedStart: number;
}

/** One IRB reported to user space. */
export interface IrbReport {
  readonly irb: Irb;
  readonly attribution: Attribution;
}

export interface FsmResult {
  readonly from: VfioCcwState;
  readonly event: VfioCcwEvent;
  readonly action: VfioCcwAction;
  readonly to: VfioCcwState;
  readonly ret: number;
  /** Generation of the request this step had the host accept (0: none). */
  readonly gen: number;
}

export type VfioEventArg =
  | { readonly orb: Orb; readonly stopAfterTranslate?: boolean }
  | { readonly cmd: 'halt' | 'clear' }
  | { readonly tsch: HostTsch }
  | undefined;

export interface VfioCcwOptions {
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
  state: VfioCcwState = 'STANDBY';
  /** The current channel program (Linux's private->cp). */
  cp: ChannelProgramCopy | null = null;
  /** User space's eventfd: IRBs reported through the I/O region. */
  onIoRegion: ((r: IrbReport) => void) | null = null;
  /** Every FSM step taken, in order. */
  readonly trace: FsmResult[] = [];
  readonly reports: IrbReport[] = [];
  /** Late IRBs for superseded functions consumed without touching the cp. */
  staleConsumed = 0;
  /** Generation of the last request accepted by ioRequest/asyncRequest. */
  lastGen = 0;

  protected readonly host: HostSubchannel;
  private readonly arena: CpArena;
  private readonly guestMemory: CssMemory;
  private readonly workqueue: CssWorkQueue;
  private readonly budget: number;
  private genSeq = 0;
  private readonly queue: CapturedIrb[] = [];
  private workPending = false;
  /** Generation the current FSM step had the host accept (for the trace). */
  private acceptedGen = 0;
  /** The requests the host is working on, by generation (0 = none). */
  protected readonly outstanding = { start: 0, halt: 0, clear: 0 };

  constructor(opts: VfioCcwOptions) {
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
    this.acceptedGen = 0;
    if (from === 'CP_PROCESSING' && this.cp && !this.cp.freed) ret = this.issue(this.cp);
    return this.record({ from, event: 'IO_REQ', action: 'io_request', to: this.state, ret, gen: this.acceptedGen });
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
    this.acceptedGen = 0;
    const ret = this.act(action, arg);
    return this.record({ from, event: ev, action, to: this.state, ret, gen: this.acceptedGen });
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
        if (this.cp) this.cpFree(this.cp);
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
      this.outstanding.start = cp.gen;
      this.lastGen = this.acceptedGen = cp.gen;
      this.state = 'CP_PENDING';
      return VFIO_OK;
    }
    this.cpFree(cp);
    if (this.cp === cp) this.cp = null;
    this.state = 'IDLE';
    return cc === 3 ? ENODEV : EBUSY;
  }

  private asyncAction(cmd: 'halt' | 'clear'): number {
    const cc: Cc = cmd === 'halt' ? this.host.hsch() : this.host.csch();
    if (cc !== 0) return cc === 3 ? ENODEV : EBUSY;
    const gen = ++this.genSeq;
    this.lastGen = this.acceptedGen = gen;
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
    this.capture(t.irb);
    if (!this.workPending) {
      this.workPending = true;
      this.workqueue.post('vfio:io_todo', () => this.ioTodo());
    }
  }

  /**
   * Decide, atomically with TSCH, which outstanding operation the IRB
   * answers, from its function control: clear if FC has clear, else halt,
   * else start. A final IRB retires that operation (a clear or halt also
   * retires the start it ended). Captured IRBs are queued, never overwritten.
   */
  protected capture(irb: Irb): void {
    const fn = irbFunction(irb);
    let endedStart = 0;
    let gen = 0;
    if (fn === 'clear') {
      gen = this.outstanding.clear;
      endedStart = this.outstanding.start;
      this.outstanding.clear = this.outstanding.halt = this.outstanding.start = 0;
    } else if (fn === 'halt') {
      gen = this.outstanding.halt;
      endedStart = this.outstanding.start;
      this.outstanding.halt = this.outstanding.start = 0;
    } else if (fn === 'start') {
      gen = this.outstanding.start;
      if (isFinal(irb)) this.outstanding.start = 0;
    }
    this.queue.push({ irb, answers: { fn, gen }, endedStart });
  }

  /** The deferred interrupt work (Linux's vfio_ccw_sch_io_todo). */
  ioTodo(): void {
    this.workPending = false;
    this.processCaptured();
  }

  /** io_todo's body: act on every captured IRB for the operation it answers, and report it. */
  protected processCaptured(): void {
    for (let c = this.queue.shift(); c; c = this.queue.shift()) this.todo(c);
  }

  private todo(c: CapturedIrb): void {
    const a = c.answers;
    const irb = c.irb;
    const cp = this.cp;
    if (a.fn === 'start') {
      if (cp && cp.gen === a.gen && !cp.freed) {
        this.cpUpdateScsw(cp, irb);
        if (isFinal(irb)) this.endProgram(cp);
      } else {
        this.staleConsumed++;
      }
    } else if (a.fn === 'halt' || a.fn === 'clear') {
      // The function ended the start it superseded; only that program may go.
      if (cp && c.endedStart !== 0 && cp.gen === c.endedStart) this.endProgram(cp);
    }
    this.report(irb, a);
  }

  /** Free the current program after its end and return to IDLE from CP_PENDING. */
  protected endProgram(cp: ChannelProgramCopy): void {
    this.cpFree(cp);
    if (this.cp === cp) this.cp = null;
    if (this.state === 'CP_PENDING') this.state = 'IDLE';
  }

  /** Report an IRB to user space through the I/O region. */
  protected report(irb: Irb, attribution: Attribution): void {
    const r: IrbReport = { irb, attribution };
    this.reports.push(r);
    if (this.onIoRegion) this.onIoRegion(r);
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
    return { gen, guestCpa: orb.cpa >>> 0, guestOrb: orb, base, guestAddrs: addrs, freed: false };
  }

  /** Translate the IRB's CCW address back to the guest's program (reads the cp). */
  protected cpUpdateScsw(cp: ChannelProgramCopy, irb: Irb): void {
    if (cp.freed) return;
    const idx = (irb.scsw.cpa - 8 - cp.base) / 8;
    const ga = Number.isInteger(idx) ? cp.guestAddrs[idx] : undefined;
    if (ga !== undefined) irb.scsw.cpa = (ga + 8) >>> 0;
  }

  protected cpFree(cp: ChannelProgramCopy): void {
    if (cp.freed) return;
    cp.freed = true;
    this.arena.free(cp.base);
  }
}

/** Whether the IRB ends its function (not intermediate status alone, nothing active). */
export function isFinal(irb: Irb): boolean {
  const sc = irb.scsw.sc;
  const intermediateOnly = (sc & SC_INTERMEDIATE) !== 0 && (sc & (SC_PRIMARY | SC_SECONDARY | SC_ALERT)) === 0;
  return !intermediateOnly && !(irb.scsw.ac & (AC_DEV_ACTIVE | AC_SCH_ACTIVE));
}

/** The function an IRB's function control names (the most drastic one). */
export function irbFunction(irb: Irb): Attribution['fn'] {
  const fc = irb.scsw.fc;
  if (fc & FC_CLEAR) return 'clear';
  if (fc & FC_HALT) return 'halt';
  if (fc & FC_START) return 'start';
  return 'unsolicited';
}

/** An I/O interruption presented to the guest, with the report it came from. */
export interface GuestInterruptRecord {
  readonly seq: number;
  /** Function control of the delivered status. */
  readonly fc: string;
  /** The guest function outstanding when it was delivered. */
  readonly guestFunction: string;
  /** The function the backend presented it as completing ('start' for a start absorbed by a halt). */
  readonly answered: string;
  readonly report: IrbReport;
}

/**
 * The user-space half (QEMU's part): the guest's subchannel backend, mapping
 * guest instructions to region writes and IRB reports to guest status.
 * CSCH/HSCH complete only when the IRB answering them arrives, so the guest
 * sees architectural condition codes (SSCH cc 2 while clear is in progress);
 * IRBs for superseded requests are not presented.
 */
export class VfioCcwGuestBackend implements SubchannelBackend {
  sch: Subchannel | null = null;
  readonly delivered: GuestInterruptRecord[] = [];
  private seq = 0;
  private startGen = 0;
  private haltGen = 0;
  protected clearGen = 0;
  /**
   * cc 2 given because the layer below refused, not because the guest's own
   * subchannel state said so: a condition code the architecture would not give.
   */
  refusals = 0;
  /** A guest HSCH met a start whose final status the host already had. */
  private haltAbsorbed = false;

  constructor(protected readonly vfio: VfioCcw) {
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
    if (r.ret === EBUSY && this.absorbHalt()) {
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

  /** Whether a halt the host refused (its start already ended) completes with the start's status. */
  protected absorbHalt(): boolean {
    return true;
  }

  clear(sch: Subchannel): Cc {
    const r = this.vfio.asyncRequest('clear');
    if (r.ret === ENODEV || r.ret === EIO) return 3;
    if (r.ret === VFIO_OK) this.clearGen = this.vfio.lastGen;
    else this.completeClearNow(sch);
    return 0;
  }

  /** The clear completes in the guest at once (used when the host had nothing to clear). */
  protected completeClearNow(sch: Subchannel): void {
    sch.finishClear(sch.ops.clear);
    this.clearGen = 0;
  }

  resume(_sch: Subchannel): Cc {
    // Suspend/resume is not passed through.
    return 2;
  }

  /**
   * Whether a report answers what the guest has outstanding (`guestFunction`),
   * so it is presented; `absorbed` when it is the start's status a halt absorbed.
   */
  protected wanted(r: IrbReport, guestFunction: string, absorbed: boolean): boolean {
    const a = r.attribution;
    return (
      absorbed ||
      (a.fn === 'clear' && a.gen === this.clearGen && guestFunction === 'clear') ||
      (a.fn === 'halt' && a.gen === this.haltGen && guestFunction === 'halt') ||
      (a.fn === 'start' && a.gen === this.startGen && guestFunction === 'start')
    );
  }

  private onReport(r: IrbReport): void {
    const sch = this.sch;
    if (!sch) return;
    const fc = sch.scsw.fc;
    const guestFunction = fc & FC_CLEAR ? 'clear' : fc & FC_HALT ? 'halt' : fc & FC_START ? 'start' : 'none';
    const a = r.attribution;
    const absorbed = a.fn === 'start' && a.gen === this.startGen && guestFunction === 'halt' && this.haltAbsorbed;
    if (!this.wanted(r, guestFunction, absorbed)) return;
    const answered = absorbed ? 'start' : guestFunction;
    const fn = guestFunction as StatusTag['fn'];
    const tag: StatusTag = { fn, opId: sch.ops[fn] };
    this.delivered.push({ seq: ++this.seq, fc: fcName(r.irb.scsw.fc), guestFunction, answered, report: r });
    const scsw = copyScsw(r.irb.scsw);
    if (absorbed) {
      scsw.fc |= FC_HALT;
      this.haltAbsorbed = false;
    }
    sch.presentIrb({ ...r.irb, scsw }, tag);
  }
}

/** How a pass-through stack builds its two halves (the shipped classes unless the explorer injects others). */
export interface VfioCcwParts {
  vfio(opts: VfioCcwOptions): VfioCcw;
  backend(vfio: VfioCcw): VfioCcwGuestBackend;
}

const SHIPPED_PARTS: VfioCcwParts = {
  vfio: (opts) => new VfioCcw(opts),
  backend: (vfio) => new VfioCcwGuestBackend(vfio),
};

export interface VfioCcwPassthroughOptions {
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
  /** Alternative halves (default: the shipped VfioCcw and VfioCcwGuestBackend). */
  parts?: VfioCcwParts;
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
    const parts = opts.parts ?? SHIPPED_PARTS;
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
    this.vfio = parts.vfio({ host: this.host, arena: this.arena, guestMemory: opts.guestMemory, workqueue: this.workqueue, budget: opts.budget });
    this.backend = parts.backend(this.vfio);
    this.guest = new Subchannel(0, opts.schno ?? 0, opts.devno ?? 0x0001, this.backend);
    this.backend.sch = this.guest;
    this.guest.pmcw.enabled = true;
    this.vfio.open();
  }

  /** Interrupts presented to the guest, with the report each came from. */
  get guestInterrupts(): readonly GuestInterruptRecord[] {
    return this.backend.delivered;
  }
}
