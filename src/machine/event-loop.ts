/**
 * The machine's main loop: harts run in quanta, and between quanta due timers
 * and scheduled bottom halves run; the loop yields to Node's event loop every
 * turn so stdin, sockets and file callbacks are serviced.
 *
 * Two clocks (QEMU_CLOCK_VIRTUAL in its two flavours):
 * - realtime: host monotonic time since the machine was created (QEMU without -icount).
 * - virtual (deterministic, QEMU's -icount shift=N): time advances by
 *   nsPerInsn for every instruction the harts execute, and when every hart
 *   waits in WFI it jumps straight to the next timer deadline. As in QEMU's
 *   round-robin icount, all harts share one instruction count, so the clock
 *   never goes backwards as the loop moves from hart to hart. The same guest,
 *   given the same input at the same instruction counts, then sees the same times.
 *
 * Single-threaded by design (one realm); the harts-in-workers work replaces
 * `runHarts` with a coordinator but keeps the Scheduler API devices see.
 */
import { monotonicNs } from '../host/clock.js';
import { yieldToHost } from '../host/tasks.js';
import type { BottomHalf, Clock, Scheduler, Timer, WorkOwner } from '../sync/work.js';
import { runOnBehalf } from '../sync/work.js';

/** What the loop needs of a hart (src/cpu/riscv's Hart satisfies it). */
export interface RunnableHart {
  /** Execute up to `budget` instructions; returns how many ran (returns early in WFI or on requestStop). */
  run(budget: number): number;
  /** True while the hart sleeps in WFI with no enabled interrupt pending. */
  readonly waiting: boolean;
  /** Make a running `run` return at the next instruction boundary. */
  requestStop(): void;
  /** Virtual-clock ns of the hart's own next timer event (Sstc), or Infinity. Optional. */
  nextTimerDeadline?(): number;
  /** Instructions executed so far by the `run` in progress (lets the virtual clock move inside a quantum). Optional. */
  progress?(): number;
}

export type ClockMode = { kind: 'realtime' } | { kind: 'virtual'; nsPerInsn: number };

export interface EventLoopOptions {
  clock: ClockMode;
  /** Instructions per hart per quantum (default 10_000). */
  quantum?: number;
  /** Host milliseconds of guest work per turn before yielding to Node (default 8). */
  sliceMs?: number;
  /** The same while a device waits on host I/O (hostIoWanted; default 1), and for IO_LINGER_MS after. */
  ioSliceMs?: number;
  /** Host time source in ns (tests inject one); default process.hrtime. */
  hostNowNs?: () => number;
}

const hrNow = monotonicNs;

/**
 * How long turns stay short after a device last wanted host I/O: longer than a polling guest's
 * pause between two looks at its UART (U-Boot's autoboot countdown looks every 10 ms), so that
 * input typed between two looks is there at the second.
 */
const IO_LINGER_MS = 30;

class LoopTimer implements Timer {
  deadline = Infinity;
  armed = false;
  constructor(
    private readonly loop: EventLoop,
    readonly cb: () => void,
    readonly owner: WorkOwner | undefined,
  ) {}

  get pending(): boolean {
    return this.armed;
  }

  mod(deadlineNs: number): void {
    if (!(deadlineNs >= 0)) deadlineNs = 0; // NaN and negatives fire at once
    this.deadline = deadlineNs;
    this.armed = true;
    this.loop.timerChanged(this);
  }

  del(): void {
    if (!this.armed) return;
    this.armed = false;
    this.deadline = Infinity;
    this.loop.timerChanged(this);
  }
}

class LoopBottomHalf implements BottomHalf {
  scheduled = false;
  constructor(
    private readonly loop: EventLoop,
    readonly cb: () => void,
    readonly owner: WorkOwner | undefined,
  ) {}

  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.loop.bhScheduled(this);
  }

  cancel(): void {
    this.scheduled = false;
  }
}

export class EventLoopError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EventLoopError';
  }
}

export class EventLoop implements Scheduler {
  readonly clock: Clock;
  readonly mode: ClockMode;
  readonly quantum: number;
  readonly sliceMs: number;
  readonly ioSliceMs: number;

  private readonly hostNow: () => number;
  private readonly hostStart: number;
  private virtNs = 0;
  /**
   * Instructions retired by all harts (for statistics and the virtual clock). In a typed
   * array: an object field that passes 2^31 (a couple of seconds of a busy guest) changes
   * from a small integer to a double, which changes the loop's map and deoptimises every
   * function optimised against it.
   */
  private readonly retired = new Float64Array(1);
  get instructions(): number {
    return this.retired[0]!;
  }

  private readonly timers: LoopTimer[] = [];
  private nextDeadlineCache = Infinity;
  private deadlineDirty = false;
  private bhQueue: LoopBottomHalf[] = [];
  private readonly harts: RunnableHart[] = [];
  private running: RunnableHart | null = null;

  private stopped = false;
  private ioWanted = false;
  /** Host ns until which turns are ioSliceMs long (hostIoWanted). */
  private ioUntil = -Infinity;
  /** Paused (the monitor's stop): no hart runs and the clock stands still, so nothing becomes due. */
  private pausedClock = -1;
  private pauseHostStart = 0;
  private pausedHostNs = 0;
  private exitCode = 0;
  private wake: (() => void) | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  /**
   * Also called by kick(): with harts in worker realms (src/machine/smp) the
   * main realm sleeps on the SMP doorbell instead of idleWait, and this wakes it.
   */
  kickHook: (() => void) | null = null;
  /** Called when an uncaught error escapes a device callback or a hart. */
  onError: (e: unknown) => void = (e) => {
    throw e;
  };

  constructor(opts: EventLoopOptions) {
    this.mode = opts.clock;
    if (opts.clock.kind === 'virtual' && !(opts.clock.nsPerInsn > 0)) throw new EventLoopError('nsPerInsn must be positive');
    this.quantum = opts.quantum ?? 10_000;
    if (!(this.quantum >= 1)) throw new EventLoopError('quantum must be at least 1 instruction');
    this.sliceMs = opts.sliceMs ?? 8;
    this.ioSliceMs = Math.min(opts.ioSliceMs ?? 1, this.sliceMs);
    this.hostNow = opts.hostNowNs ?? hrNow;
    this.hostStart = this.hostNow();
    const self = this;
    const nsPerInsn = opts.clock.kind === 'virtual' ? opts.clock.nsPerInsn : 0;
    this.clock =
      opts.clock.kind === 'virtual'
        ? {
            now: () => {
              const r = self.running;
              return r && r.progress ? self.virtNs + r.progress() * nsPerInsn : self.virtNs;
            },
          }
        : {
            now: () =>
              // Time spent paused is cut out, so virtual time does not jump on resume.
              self.pausedClock >= 0 ? self.pausedClock : Math.floor(self.hostNow() - self.hostStart - self.pausedHostNs),
          };
  }

  // ---- Scheduler ----

  newTimer(cb: () => void, owner?: WorkOwner): Timer {
    const t = new LoopTimer(this, cb, owner);
    this.timers.push(t);
    return t;
  }

  newBottomHalf(cb: () => void, owner?: WorkOwner): BottomHalf {
    return new LoopBottomHalf(this, cb, owner);
  }

  /** @internal */
  timerChanged(t: LoopTimer): void {
    if (t.armed && t.deadline < this.nextDeadlineCache) this.nextDeadlineCache = t.deadline;
    else this.deadlineDirty = true;
    // A timer armed from outside the loop (an I/O callback) must end an idle wait.
    this.kick();
  }

  /** @internal */
  bhScheduled(bh: LoopBottomHalf): void {
    this.bhQueue.push(bh);
    // Make the running hart return so the bottom half runs promptly.
    this.running?.requestStop();
    this.kick();
  }

  // ---- machine side ----

  addHart(h: RunnableHart): void {
    this.harts.push(h);
  }

  /** The earliest armed timer deadline (ns), or Infinity. */
  nextDeadline(): number {
    if (this.deadlineDirty) {
      let d = Infinity;
      for (const t of this.timers) if (t.armed && t.deadline < d) d = t.deadline;
      this.nextDeadlineCache = d;
      this.deadlineDirty = false;
    }
    return this.nextDeadlineCache;
  }

  /** Run every timer whose deadline has passed; returns how many ran. */
  runTimers(): number {
    const now = this.clock.now();
    if (this.nextDeadline() > now) return 0;
    let ran = 0;
    // A callback may re-arm itself or others; loop until nothing is due.
    for (let guard = 0; guard < 1000; guard++) {
      let due: LoopTimer | null = null;
      for (const t of this.timers) if (t.armed && t.deadline <= now && (!due || t.deadline < due.deadline)) due = t;
      if (!due) break;
      due.armed = false;
      due.deadline = Infinity;
      this.deadlineDirty = true;
      ran++;
      this.invoke(due.cb, due.owner);
    }
    return ran;
  }

  /** Run the bottom halves scheduled so far (ones scheduled meanwhile run next time). */
  runBottomHalves(): number {
    if (this.bhQueue.length === 0) return 0;
    const q = this.bhQueue;
    this.bhQueue = [];
    let ran = 0;
    for (const bh of q) {
      if (!bh.scheduled) continue;
      bh.scheduled = false;
      ran++;
      this.invoke(bh.cb, bh.owner);
    }
    return ran;
  }

  private invoke(cb: () => void, owner?: WorkOwner): void {
    try {
      // A device's timer or bottom half runs with its reentrancy guard engaged (src/dma/guard.ts).
      runOnBehalf(owner, cb);
    } catch (e) {
      this.onError(e);
    }
  }

  /** Wake an idle wait (input arrived, an interrupt line changed). */
  kick(): void {
    this.kickHook?.();
    const w = this.wake;
    if (w) {
      this.wake = null;
      w();
    }
  }

  /** End the run with this exit code; the hart currently running stops at once. */
  requestExit(code: number): void {
    if (this.stopped) return;
    this.stopped = true;
    this.exitCode = code;
    this.running?.requestStop();
    this.kick();
  }

  /**
   * Stop running harts at their next instruction boundary and freeze the
   * clock (QEMU's vm_stop): timers stay armed but none becomes due; bottom
   * halves and host I/O callbacks still run. With harts in worker realms the
   * machine also parks them (SmpCoordinator.pauseAll).
   */
  pause(): void {
    if (this.pausedClock >= 0) return;
    this.pausedClock = this.clock.now();
    this.pauseHostStart = this.hostNow();
    this.running?.requestStop();
    this.kick();
  }

  /** Continue after pause(); the clock goes on from where it stood. */
  resume(): void {
    if (this.pausedClock < 0) return;
    this.pausedHostNs += this.hostNow() - this.pauseHostStart;
    this.pausedClock = -1;
    this.kick();
  }

  /**
   * A device has output for the host or a guest polls it for host input (the console UART):
   * this turn of guest work, and those of the next IO_LINGER_MS, end ioSliceMs after they
   * began rather than sliceMs, so that Node writes the output and delivers the input now.
   * Input and output move only between turns: a guest that spins on an empty receiver
   * (U-Boot's prompt and autoboot countdown) otherwise saw a key up to two turns (16 ms)
   * after it was typed, and what it printed up to a turn late.
   */
  hostIoWanted(): void {
    this.ioWanted = true;
  }

  get isPaused(): boolean {
    return this.pausedClock >= 0;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** The code given to requestExit (0 until then). */
  get exitStatus(): number {
    return this.exitCode;
  }

  /**
   * One round: each hart runs one quantum (round-robin, so -smp N interleaves
   * deterministically), then timers and bottom halves. Returns whether any
   * hart executed instructions.
   */
  runRound(): boolean {
    let any = false;
    if (this.pausedClock >= 0) {
      this.runBottomHalves();
      return false;
    }
    for (let i = 0; i < this.harts.length && !this.stopped; i++) {
      const h = this.harts[i]!;
      let budget = this.quantum;
      if (this.mode.kind === 'virtual') {
        // Don't run past the next deadline: a timer fires at its instruction count.
        const d = this.nextDeadline();
        if (d !== Infinity) {
          const left = Math.ceil((d - this.virtNs) / this.mode.nsPerInsn);
          budget = Math.max(1, Math.min(budget, left));
        }
      }
      this.running = h;
      let n: number;
      try {
        n = h.run(budget);
      } catch (e) {
        this.running = null;
        this.onError(e);
        return false;
      }
      this.running = null;
      if (n > 0) any = true;
      this.retired[0] += n;
      if (this.mode.kind === 'virtual') {
        this.virtNs += n * this.mode.nsPerInsn;
        // Timers due now fire before the next hart runs, at the instruction count they were due.
        this.runTimers();
      }
    }
    this.runTimers();
    this.runBottomHalves();
    return any;
  }

  private allWaiting(): boolean {
    for (const h of this.harts) if (!h.waiting) return false;
    return true;
  }

  private earliestDeadline(): number {
    let d = this.nextDeadline();
    for (const h of this.harts) {
      const hd = h.nextTimerDeadline?.() ?? Infinity;
      if (hd < d) d = hd;
    }
    return d;
  }

  /**
   * Run until requestExit; resolves with the exit code. Each turn does at most
   * sliceMs of guest work, then yields to Node (setImmediate), or sleeps until
   * the next deadline or a kick when every hart is idle.
   */
  async run(): Promise<number> {
    while (!this.stopped) {
      const sliceStart = this.hostNow();
      // The flag, not the clock, is what hostIoWanted sets: it runs on every console byte.
      if (this.ioWanted) this.ioUntil = sliceStart + IO_LINGER_MS * 1e6;
      this.ioWanted = false;
      const ioEnd = sliceStart + this.ioSliceMs * 1e6;
      const sliceEnd = sliceStart < this.ioUntil ? ioEnd : sliceStart + this.sliceMs * 1e6;
      let idle = false;
      while (!this.stopped) {
        if (this.pausedClock >= 0) {
          this.runBottomHalves();
          if (this.bhQueue.length > 0 && this.hostNow() < sliceEnd) continue;
          idle = this.bhQueue.length === 0;
          break;
        }
        const ran = this.runRound();
        if (!ran && this.allWaiting()) {
          // Every hart sleeps in WFI: nothing happens until a timer or input.
          if (this.bhQueue.length > 0) continue;
          const d = this.earliestDeadline();
          if (this.mode.kind === 'virtual' && d !== Infinity) {
            if (d > this.virtNs) this.virtNs = d; // warp, as QEMU's icount sleep=off does
            this.runTimers();
            this.runBottomHalves();
            continue;
          }
          idle = true;
          break;
        }
        if (this.hostNow() >= (this.ioWanted ? ioEnd : sliceEnd)) break;
      }
      if (this.stopped) break;
      if (idle) await this.idleWait();
      else await yieldToHost();
    }
    return this.exitCode;
  }

  private idleWait(): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        if (this.idleTimer) clearTimeout(this.idleTimer);
        this.idleTimer = null;
        this.wake = null;
        resolve();
      };
      this.wake = done;
      const d = this.pausedClock >= 0 ? Infinity : this.earliestDeadline();
      if (this.mode.kind === 'realtime' && d !== Infinity) {
        const ms = Math.max(0, (d - this.clock.now()) / 1e6);
        this.idleTimer = setTimeout(done, Math.min(ms, 2 ** 31 - 1));
      }
      // Otherwise only a kick (input, an exit request) ends the wait.
    });
  }
}
