/**
 * Seed 003 (vfio-ccw, "Fix interrupt handling for HALT/CLEAR"): CLEAR
 * SUBCHANNEL, the host interruption for the clear, a START SUBCHANNEL the
 * host accepts, and only then the deferred interrupt work (io_todo) for the
 * clear's IRB. The seed's code takes that IRB as the end of START's channel
 * program: it frees the program while the host channel still has to run it
 * and reports the clear's status as START's completion.
 *
 * Built on the real channel subsystem (src/hw/css): the guest issues I/O
 * instructions through a ChannelSubsystem (ORB and IRB in guest storage,
 * interruptions accepted with TPI) on a pass-through subchannel
 * (VfioCcwPassthrough: user-space backend, the vfio-ccw FSM, the host
 * subchannel with its channel and a device). Every piece of asynchronous work
 * the components post becomes its own explorer task, so the explorer decides
 * when the host channel performs a function ('iothread'), when a host I/O
 * interruption is delivered ('irq') and when io_todo runs ('bh'); the guest
 * is a vCPU. A guest instruction is atomic; the guest yields between them.
 *
 * The guest (one vCPU) runs the seed's window twice: CSCH of the idle
 * subchannel, wait for the clear's interruption, TSCH, SSCH (program A), wait
 * for START's interruption, TSCH; then SSCH (program B), CSCH cancelling it
 * wherever it has got to, the clear's interruption, SSCH (program A again)
 * and its interruption. A refused SSCH is retried as a driver retries.
 *
 * naive (the seed's code path, with the emulated clear of early pass-through,
 * injected from src/explore/policies/vfio-ccw-single-irb.ts):
 * a START accepted between the clear's host interruption and its io_todo has
 * its program freed by the clear's IRB, the host channel fetches the freed
 * program, and the clear's status is presented as START's completion; a
 * START issued before the host consumed the clear's status is refused with
 * cc 2 although the guest's subchannel is idle.
 * shipped: no IRB is ever applied to or presented for a function it does not
 * answer, and every condition code the guest sees is the one the
 * architecture gives for the state of the guest's own subchannel.
 *
 * The checker (`VfioCcwOracle`) lives here, not in the components: it watches
 * the host simulation (which knows which of its operations produced each
 * status, and when a program is freed) and the components' own logs (FSM
 * trace, reports to user space, interrupts presented to the guest).
 */
import { DS_CHANNEL_END, DS_DEVICE_END, FC_CLEAR, FC_START, SC_PRIMARY, SC_SECONDARY, SC_STATUS_PEND, fcName, type Cc, type IoInstResult } from '../../hw/css/bits.js';
import { encodeCcw1 } from '../../hw/css/channel-program.js';
import { ChannelSubsystem } from '../../hw/css/css.js';
import { ArrayGuestMemory } from '../../hw/css/guest-memory.js';
import { decodeIrb, encodeOrb, IRB_SIZE, orb, schidWord, type Irb, type Orb } from '../../hw/css/schib.js';
import { StoreDevice, STORE_CMD_WRITE } from '../../hw/css/store-device.js';
import type { StatusTag } from '../../hw/css/subchannel.js';
import { EAGAIN, EBUSY, VFIO_OK, type Attribution, type IrbReport } from '../../hw/css/vfio-ccw.js';
import { VfioCcwPassthrough } from '../../hw/css/vfio-ccw-passthrough.js';
import type { CssWorkQueue } from '../../hw/css/work-queue.js';
import { SingleIrbParts } from '../policies/vfio-ccw-single-irb.js';
import type { TaskKind } from '../../sync/context.js';
import type { Scenario, ScenarioRun } from '../scenario.js';

// Guest storage layout.
const PROG_A = 0x1000;
const PROG_B = 0x1100;
const DATA_A = 0x2000;
const DATA_B = 0x2100;
const ORB_A = 0x3000;
const ORB_B = 0x3010;
const IRB_ADDR = 0x3100;
const BYTES_A = [0xa1, 0xa2, 0xa3, 0xa4];
const BYTES_B = [0xb1, 0xb2, 0xb3, 0xb4];
const SCHID = schidWord(0, 0);
const ORB_A_VALUE = orb({ cpa: PROG_A, intParm: 0xa });
const ORB_B_VALUE = orb({ cpa: PROG_B, intParm: 0xb });
/** SSCH refusals the guest driver retries before giving up (only a non-architectural layer refuses). */
const SSCH_RETRIES = 8;
/** -EBUSY/-EAGAIN answers user space retries a START after (each retry waits for work below to run). */
const REGION_RETRIES = 16;

type HostOp = { readonly fn: StatusTag['fn']; readonly opId: number };

const opName = (t: StatusTag | null | undefined): string => (t ? `${t.fn}#${t.opId}` : 'nothing');

/**
 * Seed 003's checker, outside the components it checks. Ground truth comes
 * from the host simulation (HostObserver: which host operation each stored
 * status answers; CpArena.onFree: when a program is freed); what the
 * components claimed comes from their logs: the FSM trace (the generation of
 * each request the host accepted, paired in order with the host's accepted
 * operations), the reports to user space and the interrupts presented to the
 * guest. `check()` returns every breach so far.
 */
export class VfioCcwOracle {
  readonly violations: string[] = [];
  private misCount = 0;
  /** Channel programs freed while the host channel could still fetch them. */
  freedWhileInUse = 0;
  private readonly truth = new WeakMap<Irb, StatusTag | null>();
  private readonly accepted: HostOp[] = [];
  private readonly startOfProgram = new Map<number, number>();
  private readonly opOfGen = new Map<number, HostOp>();
  private traceSeen = 0;
  private acceptedPaired = 0;
  private reportsSeen = 0;
  private deliveredSeen = 0;

  constructor(private readonly pt: VfioCcwPassthrough) {
    pt.host.observer = {
      accepted: (fn, opId, o) => {
        this.accepted.push({ fn, opId });
        if (o) this.startOfProgram.set(o.cpa, opId);
      },
      stored: (irb, tag) => this.truth.set(irb, tag),
    };
    pt.arena.onFree = (base, owner) => {
      const op = this.startOfProgram.get(base);
      if (op !== undefined && pt.host.startInUse(op)) {
        this.freedWhileInUse++;
        this.violations.push(`${owner} freed while host start #${op} still uses it`);
      }
    };
  }

  /** The host operation an IRB answers (undefined: not stored by the host's TSCH). */
  truthOf(irb: Irb): StatusTag | null | undefined {
    return this.truth.get(irb);
  }

  /** Whether an attribution names the host operation that produced `truth`. */
  names(a: Attribution, truth: StatusTag | null | undefined): boolean {
    this.pair();
    if (a.fn === 'unsolicited') return truth === null;
    const op = this.opOfGen.get(a.gen);
    return !!truth && !!op && op.fn === truth.fn && op.opId === truth.opId;
  }

  /** Whether a report names the operation its IRB answers. */
  reportCorrect(r: IrbReport): boolean {
    return this.names(r.attribution, this.truthOf(r.irb));
  }

  /** IRBs reported for, or presented as completing, an operation other than the one they answer. */
  get misattributions(): number {
    this.scan();
    return this.misCount;
  }

  /** Every breach so far (empty when none). */
  check(): string[] {
    this.scan();
    const arena = this.pt.arena;
    return [...this.violations, ...arena.useAfterFree.map((u) => `host channel: ${u}`), ...arena.doubleFree.map((d) => `double free of ${d}`)];
  }

  /** Judge the reports and guest interrupts logged since the last scan. */
  private scan(): void {
    const vfio = this.pt.vfio;
    for (; this.reportsSeen < vfio.reports.length; this.reportsSeen++) {
      const r = vfio.reports[this.reportsSeen]!;
      if (this.reportCorrect(r)) continue;
      this.misCount++;
      this.violations.push(`IRB with FC=${fcName(r.irb.scsw.fc)} answering host ${opName(this.truthOf(r.irb))} reported as ${r.attribution.fn} gen ${r.attribution.gen}`);
    }
    const delivered = this.pt.guestInterrupts;
    for (; this.deliveredSeen < delivered.length; this.deliveredSeen++) {
      const d = delivered[this.deliveredSeen]!;
      const t = this.truthOf(d.report.irb);
      if (t && t.fn === d.answered && d.report.attribution.fn === d.answered && this.reportCorrect(d.report)) continue;
      this.misCount++;
      this.violations.push(`guest interrupt #${d.seq} (FC=${d.fc}) taken as ${d.guestFunction} completion but answers host ${opName(t)}`);
    }
  }

  /** Pair each request the FSM trace says the host accepted with the host's accepted operation (same order). */
  private pair(): void {
    const trace = this.pt.vfio.trace;
    for (; this.traceSeen < trace.length; this.traceSeen++) {
      const gen = trace[this.traceSeen]!.gen;
      if (gen === 0) continue;
      const op = this.accepted[this.acceptedPaired++];
      if (op) this.opOfGen.set(gen, op);
    }
  }
}

/**
 * Guest storage with programs A and B and their ORBs, the device, and the
 * pass-through stack with every posted item spawned as a task of its own, so
 * the explorer picks when the host channel performs a function ('iothread'),
 * when a host I/O interruption is delivered ('irq') and when io_todo runs
 * ('bh'). `progress.count` counts the items run: all that a requester who was
 * refused can wait for.
 */
function buildStack(run: ScenarioRun): { mem: ArrayGuestMemory; device: StoreDevice; pt: VfioCcwPassthrough; oracle: VfioCcwOracle; progress: { count: number } } {
  const { sched } = run;
  const mem = new ArrayGuestMemory(0x10000);
  mem.write(PROG_A, encodeCcw1({ cmd: STORE_CMD_WRITE, flags: 0, count: 4, cda: DATA_A }));
  mem.write(PROG_B, encodeCcw1({ cmd: STORE_CMD_WRITE, flags: 0, count: 4, cda: DATA_B }));
  mem.write(DATA_A, new Uint8Array(BYTES_A));
  mem.write(DATA_B, new Uint8Array(BYTES_B));
  mem.write(ORB_A, encodeOrb(ORB_A_VALUE));
  mem.write(ORB_B, encodeOrb(ORB_B_VALUE));
  const device = new StoreDevice();
  const progress = { count: 0 };
  const queue = (kind: TaskKind): CssWorkQueue => ({
    post: (label, work) =>
      sched.spawn(label, kind, async () => {
        work();
        progress.count++;
      }),
  });
  const pt = new VfioCcwPassthrough({
    parts: run.variant === 'naive' ? new SingleIrbParts() : undefined,
    guestMemory: mem,
    device,
    channel: queue('iothread'),
    hostInterrupts: queue('irq'),
    workqueue: queue('bh'),
  });
  return { mem, device, pt, oracle: new VfioCcwOracle(pt), progress };
}

/** The device saw program A twice, and program B's bytes at most once in between (a clear may beat it). */
function checkDeviceData(run: ScenarioRun, device: StoreDevice): void {
  const w = device.written.join(',');
  const a = BYTES_A.join(',');
  run.check(w === `${a},${a}` || w === `${a},${BYTES_B.join(',')},${a}`, `the device saw [${w}]: not program A, (program B,) program A`);
}

export const seed003SubchannelClearStart: Scenario = {
  name: 'seed003-subchannel-clear-start',
  description: 'vfio-ccw: CSCH -> host interrupt -> SSCH accepted -> deferred interrupt work; no IRB for the wrong function',
  variants: ['naive', 'shipped'],
  buggy: ['naive'],
  drives: ['hw/css/css.ts', 'hw/css/vfio-ccw.ts', 'hw/css/vfio-ccw-irb.ts', 'hw/css/vfio-ccw-cp.ts', 'hw/css/vfio-ccw-backend.ts', 'hw/css/store-device.ts', 'hw/css/channel-program.ts'],
  stepsHint: 25,
  maxSteps: 2000,
  setup(run) {
    const { sched, env } = run;
    const { mem, device, pt, oracle, progress } = buildStack(run);
    const css = new ChannelSubsystem(mem);
    css.attach(pt.guest);
    const sch = pt.guest;

    /** Condition codes the guest saw that the architecture would not give (checked at the end of the run). */
    const ccBreaches: string[] = [];
    const startIrb: { a: Irb | null; again: Irb | null } = { a: null, again: null };

    /**
     * Issue one guest instruction. `expected` is the condition code the architecture gives for
     * the guest subchannel's state just before it; any other is recorded.
     */
    const instr = (what: string, expected: Cc, exec: () => IoInstResult): Cc => {
      const before = `FC=${fcName(sch.scsw.fc)}, status ${sch.statusPending ? '' : 'not '}pending`;
      const r = exec();
      if (r.kind === 'exception') throw new Error(`guest ${what}: unexpected ${r.exception} exception`);
      if (r.cc !== expected) ccBreaches.push(`guest ${what} got cc ${r.cc} where the architecture gives cc ${expected} (guest subchannel ${before})`);
      return r.cc;
    };
    // SSCH: cc 3 not operational, cc 1 status pending, cc 2 a function in progress, else cc 0.
    const ssch = (what: string, orbAddr: number): Cc =>
      instr(what, sch.notOperational ? 3 : sch.statusPending ? 1 : sch.scsw.fc !== 0 ? 2 : 0, () => css.ssch(SCHID, orbAddr));
    const tsch = (what: string): { cc: Cc; irb: Irb } => {
      const cc = instr(what, sch.statusPending ? 0 : 1, () => css.tsch(SCHID, IRB_ADDR));
      const buf = new Uint8Array(IRB_SIZE);
      mem.read(IRB_ADDR, buf);
      return { cc, irb: decodeIrb(buf) };
    };
    /** Block until an I/O interruption is pending, accept it (TPI) and store its status (TSCH). */
    const interruption = async (what: string): Promise<Irb> => {
      await env.tasks.waitUntil(`I/O interruption (${what})`, () => css.pendingInterruptions > 0);
      const i = css.tpi();
      run.check(i !== null && i.schno === sch.schno, `TPI found no interruption for ${what}`);
      const t = tsch(`TSCH after the ${what} interruption`);
      run.check(t.cc === 0, `TSCH for ${what}: cc ${t.cc}`);
      return t.irb;
    };

    /** SSCH, retried as a driver retries: after TSCH on cc 1, after the busy function or a while on cc 2. */
    const start = async (what: string, orbAddr: number): Promise<void> => {
      for (let tries = 0; ; tries++) {
        const cc = ssch(`SSCH (${what})`, orbAddr);
        if (cc === 0) return;
        run.check(tries < SSCH_RETRIES && cc !== 3, `SSCH (${what}) never accepted (last cc ${cc})`);
        if (cc === 1) {
          tsch(`TSCH to clear status before retrying SSCH (${what})`);
        } else {
          // Busy: wait for the interruption that ends the function in progress, or, when refused
          // by the layer below, for anything at all to happen there (a blocking wait, so that
          // no schedule spins; if nothing can happen any more, that is a deadlock to report).
          const seen = progress.count;
          await env.tasks.waitUntil(`SSCH (${what}) busy`, () => sch.statusPending || progress.count !== seen);
        }
        await sched.yield(`guest: retry SSCH (${what})`);
      }
    };
    const clear = async (what: string): Promise<void> => {
      instr(`CSCH (${what})`, 0, () => css.csch(SCHID));
      await sched.yield(`guest: CSCH (${what}) issued`);
      const irb = await interruption(`clear (${what})`);
      run.check(irb.scsw.fc === FC_CLEAR && irb.scsw.sc === SC_STATUS_PEND, `the interruption after CSCH (${what}) is not the clear's: FC=${fcName(irb.scsw.fc)} SC=${irb.scsw.sc.toString(16)}`);
      await sched.yield(`guest: clear (${what}) status stored`);
    };

    sched.spawn('vcpu0', 'vcpu', async () => {
      // The seed's window: a clear of the idle subchannel, then a start.
      await clear('idle subchannel');
      await start('program A', ORB_A);
      await sched.yield('guest: SSCH (program A) accepted');
      startIrb.a = await interruption('start A');
      // The same with a start in flight: CSCH cancels program B wherever it is, then program A again.
      await start('program B', ORB_B);
      await sched.yield('guest: SSCH (program B) accepted');
      await clear('cancel program B');
      await start('program A again', ORB_A);
      await sched.yield('guest: SSCH (program A again) accepted');
      startIrb.again = await interruption('start A again');
    });

    return {
      invariant() {
        const v = oracle.check();
        if (v.length > 0) run.check(false, v.join('; '));
      },
      finish() {
        for (const [what, irb] of [['program A', startIrb.a], ['program A again', startIrb.again]] as const) {
          run.check(irb !== null, `START (${what}) never completed in the guest`);
          const sw = irb!.scsw;
          run.check(sw.fc === FC_START, `START (${what}) answered by an interruption with FC=${fcName(sw.fc)}`);
          run.check(
            sw.sc === (SC_PRIMARY | SC_SECONDARY | SC_STATUS_PEND) && sw.dstat === (DS_CHANNEL_END | DS_DEVICE_END) && sw.cstat === 0,
            `START (${what}) did not end normally: SC=${sw.sc.toString(16)} DS=${sw.dstat.toString(16)} CS=${sw.cstat.toString(16)}`,
          );
          run.check(sw.cpa === PROG_A + 8, `START (${what}): CCW address 0x${sw.cpa.toString(16)} is not in the guest's program A`);
        }
        checkDeviceData(run, device);
        const wrong = pt.guestInterrupts.filter((g) => oracle.truthOf(g.report.irb)?.fn !== g.answered || !oracle.reportCorrect(g.report));
        run.check(wrong.length === 0, `guest interrupts answering another function: ${wrong.map((g) => `${g.guestFunction}<-${opName(oracle.truthOf(g.report.irb))}`).join(', ')}`);
        run.check(!sch.statusPending && sch.scsw.fc === 0, 'the guest subchannel is not idle at the end');
        run.check(ccBreaches.length === 0, ccBreaches.join('; '));
      },
    };
  },
};

/**
 * Seed 003 exactly as the thread tells it, one layer down: user space writes
 * vfio-ccw's regions itself, CLEAR from one vCPU thread (CPU 1) and START from
 * another (CPU 2), with no guest subchannel serialising them. The guest-level
 * scenario above cannot reach the kernel half's attribution in the shipped
 * design (the guest's architectural view never lets a START overtake its
 * CLEAR); here START may be accepted between the clear's host interruption
 * and its io_todo, which is the seed's window. -EBUSY to user space is
 * allowed by the interface; misattribution and freeing a program in use are
 * not.
 */
export const seed003VfioRegions: Scenario = {
  name: 'seed003-vfio-regions',
  description: 'vfio-ccw regions written directly: CLEAR (CPU 1) vs START (CPU 2) around fsm_irq and io_todo; no IRB for the wrong function',
  variants: ['naive', 'shipped'],
  buggy: ['naive'],
  drives: ['hw/css/css.ts', 'hw/css/vfio-ccw.ts', 'hw/css/vfio-ccw-irb.ts', 'hw/css/vfio-ccw-cp.ts', 'hw/css/store-device.ts', 'hw/css/channel-program.ts'],
  stepsHint: 25,
  maxSteps: 2000,
  setup(run) {
    const { sched, env } = run;
    const { device, pt, oracle, progress } = buildStack(run);
    const vfio = pt.vfio;
    let clears = 0;
    let startsIssued = 0;
    const gens = { a: 0, again: 0 };

    /** A region write for START, repeated while the FSM answers -EBUSY/-EAGAIN (user space's retry). */
    const start = async (what: string, o: Orb): Promise<number> => {
      for (let tries = 0; ; tries++) {
        const r = vfio.ioRequest(o);
        if (r.ret === VFIO_OK) return vfio.lastGen;
        run.check(tries < REGION_RETRIES && (r.ret === EBUSY || r.ret === EAGAIN), `START (${what}) refused with ${r.ret} after ${tries} retries`);
        const seen = progress.count;
        await env.tasks.waitUntil(`START (${what}) busy`, () => progress.count !== seen);
      }
    };
    const reportFor = (gen: number): IrbReport | undefined => vfio.reports.find((r) => r.attribution.fn === 'start' && r.attribution.gen === gen);
    const clear = (): void => {
      const r = vfio.asyncRequest('clear');
      run.check(r.ret === VFIO_OK, `CLEAR refused with ${r.ret}`);
      clears++;
    };

    sched.spawn('cpu1', 'vcpu', async () => {
      clear();
      await env.tasks.waitUntil('START (program B) issued', () => startsIssued >= 2);
      clear();
    });
    sched.spawn('cpu2', 'vcpu', async () => {
      await env.tasks.waitUntil('first CLEAR written', () => clears >= 1);
      gens.a = await start('program A', ORB_A_VALUE);
      startsIssued++;
      await env.tasks.waitUntil('report for program A', () => reportFor(gens.a) !== undefined);
      await start('program B', ORB_B_VALUE);
      startsIssued++;
      await env.tasks.waitUntil('second CLEAR written', () => clears >= 2);
      gens.again = await start('program A again', ORB_A_VALUE);
      await env.tasks.waitUntil('report for program A again', () => reportFor(gens.again) !== undefined);
    });

    return {
      invariant() {
        const v = oracle.check();
        if (v.length > 0) run.check(false, v.join('; '));
      },
      finish() {
        for (const [what, gen] of [['program A', gens.a], ['program A again', gens.again]] as const) {
          const r = reportFor(gen)!;
          const sw = r.irb.scsw;
          const truth = oracle.truthOf(r.irb);
          run.check(oracle.reportCorrect(r) && truth?.fn === 'start', `START (${what}) reported for host ${opName(truth)}`);
          run.check(sw.fc === FC_START && sw.sc === (SC_PRIMARY | SC_SECONDARY | SC_STATUS_PEND) && sw.dstat === (DS_CHANNEL_END | DS_DEVICE_END) && sw.cstat === 0, `START (${what}) did not end normally`);
          run.check(sw.cpa === PROG_A + 8, `START (${what}): CCW address 0x${sw.cpa.toString(16)} not translated back to program A`);
        }
        const wrong = vfio.reports.filter((r) => !oracle.reportCorrect(r));
        run.check(wrong.length === 0, `IRBs reported for the wrong operation: ${wrong.map((r) => `${r.attribution.fn}<-${oracle.truthOf(r.irb)?.fn ?? 'none'}`).join(', ')}`);
        checkDeviceData(run, device);
        run.check(vfio.state === 'IDLE' && vfio.cp === null, `vfio-ccw ends in ${vfio.state} with ${vfio.cp ? 'a' : 'no'} channel program`);
      },
    };
  },
};
