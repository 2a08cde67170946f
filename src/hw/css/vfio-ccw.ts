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
 *
 * Layout: the FSM table and return codes (vfio-ccw-fsm.ts), IRB attribution
 * (vfio-ccw-irb.ts), channel program copies (vfio-ccw-cp.ts), the user-space
 * backend (vfio-ccw-backend.ts) and the wired stack (vfio-ccw-passthrough.ts).
 */
import type { Cc } from './bits.js';
import { DEFAULT_CCW_BUDGET } from './channel-program.js';
import type { CssMemory } from './guest-memory.js';
import type { CpArena, HostSubchannel, HostTsch } from './host-subchannel.js';
import type { Irb, Orb } from './schib.js';
import { cpFree, cpUpdateScsw, translateChannelProgram, type ChannelProgramCopy } from './vfio-ccw-cp.js';
import {
  EAGAIN,
  EBUSY,
  EINVAL,
  EIO,
  ENODEV,
  VFIO_CCW_JUMPTABLE,
  VFIO_OK,
  type FsmResult,
  type VfioCcwAction,
  type VfioCcwEvent,
  type VfioCcwState,
  type VfioEventArg,
} from './vfio-ccw-fsm.js';
import { attributeIrb, isFinal, type Attribution, type CapturedIrb, type IrbReport, type OutstandingOps } from './vfio-ccw-irb.js';
import type { CssWorkQueue } from './work-queue.js';

export * from './vfio-ccw-fsm.js';
export type { ChannelProgramCopy } from './vfio-ccw-cp.js';
export { irbFunction, isFinal, type Attribution, type IrbReport } from './vfio-ccw-irb.js';

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
  protected readonly outstanding: OutstandingOps = { start: 0, halt: 0, clear: 0 };

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
    const t = translateChannelProgram(this.guestMemory, this.arena, orb, this.budget, () => ++this.genSeq);
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
    this.queue.push(attributeIrb(this.outstanding, irb));
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

  /** Translate the IRB's CCW address back to the guest's program (reads the cp). */
  protected cpUpdateScsw(cp: ChannelProgramCopy, irb: Irb): void {
    cpUpdateScsw(cp, irb);
  }

  protected cpFree(cp: ChannelProgramCopy): void {
    cpFree(this.arena, cp);
  }
}
