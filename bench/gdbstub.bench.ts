/**
 * gdbstub: what debugging costs the hart. The same loop (ALU, loads, stores)
 * runs with nothing armed (the baseline: hart.debug is null, full speed),
 * with a debugger breakpoint armed that never hits (the hart runs one
 * instruction at a time through beforeInstruction), and with a watchpoint
 * armed (every load/store is also decoded before it runs). CPU time, best
 * of several rounds; ratio = armed / baseline.
 */
import type { Report } from './harness.js';
import { round } from './harness.js';
import { assemble, makeMachine } from '../test/cpu/guest.js';
import { HartDebug } from '../src/cpu/riscv/debug.js';

export const group = 'gdbstub';

const PROGRAM = `
main:
  la s0, buf
  li t0, 0
1:andi t1, t0, 255
  slli t1, t1, 3
  add t2, s0, t1
  ld a1, 0(t2)
  add a1, a1, t0
  sd a1, 0(t2)
  addi t0, t0, 1
  j 1b
.data
.align 4
buf: .zero 2048
`;

function mips(setup: (d: HartDebug) => void, n: number): number {
  const m = makeMachine(assemble(PROGRAM));
  const d = HartDebug.of(m.hart);
  setup(d);
  m.hart.run(n / 4);
  let best = 0;
  for (let r = 0; r < 3; r++) {
    const c0 = process.cpuUsage();
    const done = m.hart.run(n);
    const c = process.cpuUsage(c0);
    best = Math.max(best, done / ((c.user + c.system) / 1e6) / 1e6);
  }
  return best;
}

export async function run(report: Report): Promise<void> {
  const base = mips(() => {}, 20_000_000);
  report({ name: 'gdbstub.mips_unarmed', value: round(base, 1), unit: 'MIPS' });
  const bp = mips((d) => d.insertBreak(0x10n, false), 2_000_000);
  report({ name: 'gdbstub.mips_breakpoint_armed', value: round(bp, 2), unit: 'MIPS', baseline: round(base, 1), ratio: round(bp / base, 3) });
  const wp = mips((d) => d.insertWatch(0x10n, 8, 'write'), 1_000_000);
  report({ name: 'gdbstub.mips_watchpoint_armed', value: round(wp, 2), unit: 'MIPS', baseline: round(base, 1), ratio: round(wp / base, 3) });
}
