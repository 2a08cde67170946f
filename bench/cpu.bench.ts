/**
 * cpu.mips: guest instructions per second (millions) on a CPU-bound program
 * assembled here with riscv64-unknown-elf-as: a mix of ALU, loads/stores,
 * branches, multiply/divide and compressed code (the assembler compresses
 * wherever it can, as GCC-built firmware does).
 */
import type { Report } from './harness.js';
import { round } from './harness.js';
import { assemble, makeMachine } from '../test/cpu/guest.js';

export const group = 'cpu';

const PROGRAM = `
main:
  la s0, array
  li s1, 0                # outer iteration
outer:
  # fill: a[i] = i * 2654435761 (mul), 256 doublewords
  li t0, 0
  li t1, 256
  li t2, 2654435761
  mv a0, s0
1:mul a1, t0, t2
  sd a1, 0(a0)
  addi a0, a0, 8
  addi t0, t0, 1
  bne t0, t1, 1b
  # checksum with shifts, xors, compares, byte and word loads
  li a2, 0
  mv a0, s0
  li t0, 0
2:ld a1, 0(a0)
  lw a3, 4(a0)
  lbu a4, 1(a0)
  xor a2, a2, a1
  slli a5, a2, 7
  srli a2, a2, 57
  or a2, a2, a5
  add a2, a2, a3
  sub a2, a2, a4
  sltu a5, a3, a4
  add a2, a2, a5
  addi a0, a0, 8
  addi t0, t0, 1
  blt t0, t1, 2b
  # divide / remainder chain
  li t0, 64
  mv a6, a2
3:ori a7, t0, 1
  divu a1, a6, a7
  remu a3, a6, a7
  add a6, a1, a3
  addiw t0, t0, -1
  bnez t0, 3b
  # a call / return
  mv a0, a6
  call leaf
  addi s1, s1, 1
  j outer
leaf:
  andi a0, a0, 0xff
  ret
.data
.align 4
array: .zero 4096
`;

export async function run(report: Report): Promise<void> {
  const m = makeMachine(assemble(PROGRAM));
  const hart = m.hart;
  // Warm up (JIT tiers), then time a fixed number of instructions, best of several rounds.
  hart.run(20_000_000);
  let best = 0;
  let bestCpu = 0;
  for (let r = 0; r < 5; r++) {
    const n = 30_000_000;
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    const done = hart.run(n);
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    const c = process.cpuUsage(c0);
    best = Math.max(best, done / dt / 1e6);
    bestCpu = Math.max(bestCpu, done / ((c.user + c.system) / 1e6) / 1e6);
  }
  report({ name: 'cpu.mips', value: round(best, 1), unit: 'MIPS' });
  // The same run per second of this process's CPU time: meaningful when the machine is loaded.
  report({ name: 'cpu.mips_cpu_time', value: round(bestCpu, 1), unit: 'MIPS' });
}
