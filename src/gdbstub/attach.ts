/**
 * Attach a gdbstub to a virt machine (-s, -S, -gdb). The harts must run
 * interleaved on the machine's loop (-accel tcg,thread=single, the default
 * with -gdb): the stub reads and steps them in the realm that owns them.
 */
import type { VirtMachine } from '../machine/virt/virt.js';
import { GdbServer, GdbSpecError, type GdbListenSpec } from './server.js';
import { GdbStub } from './stub.js';

export interface GdbAttachOptions {
  startStopped: boolean;
  log?: (line: string) => void;
}

export function attachGdbStub(machine: VirtMachine, spec: GdbListenSpec, opts: GdbAttachOptions): { stub: GdbStub; server: GdbServer } {
  if (machine.smpCoordinator !== null) {
    throw new GdbSpecError('-gdb needs the harts on the main loop: use -accel tcg,thread=single (the default with -gdb)');
  }
  const stub = new GdbStub(
    {
      harts: machine.harts,
      mem: machine.as,
      setRunGate: (g) => {
        machine.debugGate = g;
      },
      kick: () => machine.loop.kick(),
      quit: (code) => machine.quit(code),
    },
    { startStopped: opts.startStopped, log: opts.log },
  );
  return { stub, server: new GdbServer(stub, spec) };
}

/** End of the run: the debugger hears the exit code, then the socket closes. */
export function detachGdbStub(g: { stub: GdbStub; server: GdbServer }, code: number): void {
  g.stub.exited(code);
  g.server.close();
}
