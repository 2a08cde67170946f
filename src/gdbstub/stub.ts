/**
 * The gdbstub: GDB's remote protocol over one connection at a time (the
 * commands are in session.ts) and run control of the machine (all-stop:
 * when one hart stops, all do); src/cpu/riscv/debug.ts does the per-hart
 * work (breakpoints, watchpoints, single-step).
 *
 * Every hart is a thread (id = hart index + 1). The harts run interleaved on
 * the machine's event loop; the stub holds them through a run gate the
 * machine consults before each quantum. Bad input (see packet.ts) gets a
 * protocol-level answer: a `-` for a bad checksum, `E..` for malformed or
 * impossible requests, an empty reply for unknown packets; a disconnect
 * drops the debugger's breakpoints and lets the guest run on.
 */
import type { PhysMemory } from '../memory/types.js';
import type { Hart } from '../cpu/riscv/hart.js';
import { HartDebug } from '../cpu/riscv/debug.js';
import { RegisterFile } from './registers.js';
import { Session, SIGTRAP, type Action, type GdbSession, type RunControl } from './session.js';

/** What the stub needs of a machine. */
export interface GdbMachine {
  readonly harts: readonly Hart[];
  readonly mem: PhysMemory;
  /** Install the run gate: a hart for which it returns true does not run (and counts as idle). */
  setRunGate(gate: ((hartId: number) => boolean) | null): void;
  /** Wake the machine's loop after the gate opened. */
  kick(): void;
  /** End the run (gdb's `k`). */
  quit(code: number): void;
}

export interface GdbStubOptions {
  /** -S: the harts wait for the debugger's first continue or step. */
  startStopped?: boolean;
  /** Where protocol errors are noted (once per kind per connection). */
  log?: (line: string) => void;
}

export type { GdbSession };

export class GdbStub implements RunControl {
  private readonly regs: RegisterFile[];
  private running: boolean;
  private readonly actions: Action[];
  /** Why the machine last stopped: signal, thread (hart index) and the extra stop fields. */
  private stopSignal = SIGTRAP;
  private stopHart = 0;
  private stopExtra = '';
  private session: Session | null = null;
  private readonly log: (line: string) => void;

  constructor(
    readonly machine: GdbMachine,
    opts: GdbStubOptions = {},
  ) {
    this.log = opts.log ?? (() => {});
    this.regs = machine.harts.map((h) => new RegisterFile(h));
    this.running = !opts.startStopped;
    this.actions = machine.harts.map(() => (this.running ? 'c' : null));
    for (const h of machine.harts) HartDebug.of(h).onStop = (d) => this.hartStopped(d);
    machine.setRunGate((id) => !this.running || this.actions[id] === null);
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Accept a connection: `send` writes bytes to it, `close` ends it. Refused (null) while another is open. */
  connect(send: (bytes: Uint8Array) => void, close: () => void): GdbSession | null {
    if (this.session !== null) return null;
    // Like QEMU: the machine stops when a debugger attaches.
    if (this.running) this.halt(SIGTRAP);
    const s = new Session(this, send, close, this.log);
    this.session = s;
    return s;
  }

  /** A session ended: drop the debugger's state and let the guest run on. */
  detach(s: GdbSession): void {
    if (this.session !== s) return;
    this.session = null;
    for (const h of this.machine.harts) HartDebug.of(h).clear();
    this.resumeAll('c');
  }

  /** The run ended with `code`: tell the debugger (QEMU's W packet) before the socket closes. */
  exited(code: number): void {
    this.session?.sendExit(code);
  }

  /** Stop every hart (the debugger's interrupt, or an attach). */
  halt(signal: number): void {
    if (!this.running) return;
    this.running = false;
    this.stopSignal = signal;
    this.stopExtra = '';
    const firstActive = this.actions.findIndex((a) => a !== null);
    this.stopHart = firstActive >= 0 ? firstActive : 0;
    for (const h of this.machine.harts) h.requestStop();
  }

  /** A hart hit a breakpoint or watchpoint or finished a step (called from inside its run loop). */
  private hartStopped(d: HartDebug): void {
    if (!this.running) return;
    const s = d.stop;
    this.running = false;
    this.stopSignal = SIGTRAP;
    this.stopHart = d.hart.hartId;
    this.stopExtra = s?.kind === 'watch' ? `${s.access}:${s.addr.toString(16)};` : '';
    for (const h of this.machine.harts) h.requestStop();
    // The reply goes out after the hart's run returns.
    setImmediate(() => this.session?.sendStopReply());
  }

  /** Resume with one action per hart (null: stays stopped). */
  resume(actions: Action[]): void {
    for (let i = 0; i < actions.length; i++) {
      this.actions[i] = actions[i]!;
      if (actions[i] !== null) HartDebug.of(this.machine.harts[i]!).resume(actions[i] === 's');
    }
    this.running = true;
    this.machine.kick();
  }

  private resumeAll(a: 'c' | 's'): void {
    this.resume(this.machine.harts.map(() => a));
  }

  /** The stop reply for the current stop. */
  stopReply(): string {
    return `T${this.stopSignal.toString(16).padStart(2, '0')}${this.stopExtra}thread:${(this.stopHart + 1).toString(16)};`;
  }

  get stoppedHart(): number {
    return this.stopHart;
  }

  regFile(i: number): RegisterFile {
    return this.regs[i]!;
  }
}
