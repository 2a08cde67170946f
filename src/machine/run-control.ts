/**
 * The machine's run state and its events (QEMU's RunState and the QMP
 * events STOP, RESUME, RESET, SHUTDOWN, POWERDOWN, DEVICE_DELETED,
 * BLOCK_IO_ERROR). The monitors drive `stop`/`cont` and listen to the events.
 *
 * Stopping is exact: harts stop at an instruction boundary — immediately when
 * they run interleaved on the event loop (a monitor command runs between
 * quanta), at their next quantum boundary when they run in worker realms
 * (the coordinator parks them) — and the machine clock stands still while
 * stopped, so timers neither fire nor pile up and the guest sees no jump in
 * time on `cont`.
 */
import type { EventLoop } from './event-loop.js';
import type { SmpCoordinator } from './smp/coordinator.js';

/** QEMU's RunState values that tsvmm reaches. */
export type RunState = 'prelaunch' | 'running' | 'paused' | 'shutdown' | 'internal-error' | 'guest-panicked';

export type ShutdownCause =
  | 'host-qmp-quit'
  | 'host-signal'
  | 'host-ui'
  | 'guest-shutdown'
  | 'guest-reset'
  | 'guest-panic'
  | 'host-qmp-system-reset';

export type MachineEvent =
  | { event: 'STOP' }
  | { event: 'RESUME' }
  | { event: 'RESET'; data: { guest: boolean; reason: ShutdownCause } }
  | { event: 'SHUTDOWN'; data: { guest: boolean; reason: ShutdownCause } }
  | { event: 'POWERDOWN' }
  | { event: 'DEVICE_DELETED'; data: { device?: string; path: string } }
  | {
      event: 'BLOCK_IO_ERROR';
      data: { device: string; 'node-name'?: string; operation: 'read' | 'write'; action: 'report' | 'ignore' | 'stop'; nospace?: boolean; reason: string };
    };

export type MachineEventListener = (e: MachineEvent) => void;

/** Listeners of machine events; a throwing listener does not stop the others. */
export class MachineEvents {
  private readonly listeners = new Set<MachineEventListener>();

  on(fn: MachineEventListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(e: MachineEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch {
        /* a monitor's failure is its own */
      }
    }
  }
}

export class RunStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunStateError';
  }
}

export class RunControl {
  private st: RunState;
  /** A guest or monitor reset that came while stopped in worker-realm mode: the harts restart at this PC on `cont`. */
  pendingHartReset: number | null = null;
  private transition: Promise<void> = Promise.resolve();

  constructor(
    private readonly loop: EventLoop,
    private readonly smp: SmpCoordinator | null,
    readonly events: MachineEvents,
    startPaused: boolean,
  ) {
    this.st = startPaused ? 'prelaunch' : 'running';
    if (startPaused) loop.pause();
  }

  get state(): RunState {
    return this.st;
  }

  get running(): boolean {
    return this.st === 'running';
  }

  /** Whether the worker realms were told to start parked (-S). */
  get startParked(): boolean {
    return this.st !== 'running';
  }

  /** Serialise stop/cont (each may await the hart realms). */
  private serial(fn: () => Promise<void>): Promise<void> {
    const next = this.transition.then(fn, fn);
    this.transition = next.catch(() => {});
    return next;
  }

  /** QEMU's vm_stop: harts park at an instruction boundary, the clock freezes; emits STOP once. */
  stop(to: RunState = 'paused'): Promise<void> {
    return this.serial(async () => {
      if (this.st !== 'running') {
        if (to !== 'paused') this.st = to;
        return;
      }
      this.st = to;
      if (this.smp) await this.smp.pauseAll();
      this.loop.pause();
      this.events.emit({ event: 'STOP' });
    });
  }

  /** QEMU's cont: refused after a guest shutdown or error until a reset. */
  cont(): Promise<void> {
    return this.serial(async () => {
      if (this.st === 'running') return;
      if (this.st === 'shutdown' || this.st === 'internal-error' || this.st === 'guest-panicked') {
        throw new RunStateError('Resetting the Virtual Machine is required');
      }
      this.st = 'running';
      this.loop.resume();
      if (this.smp) {
        const pc = this.pendingHartReset;
        this.pendingHartReset = null;
        if (pc !== null) this.smp.resetHarts(pc);
        else this.smp.resumeAll();
      }
      this.events.emit({ event: 'RESUME' });
    });
  }

  /** After a system reset, a stopped machine in 'shutdown' may run again (QEMU's runstate_needs_reset). */
  noteReset(): void {
    if (this.st === 'shutdown' || this.st === 'guest-panicked') this.st = 'paused';
  }
}
