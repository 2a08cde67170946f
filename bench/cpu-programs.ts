/**
 * Guest programs of the cpu benchmarks, and the measurement run in a fresh
 * process (bench/cpu-child.ts) so that each figure starts from a cold V8.
 */

/** ALU, loads/stores, branches, multiply/divide and calls; ~55 % compressed. */
export const MIX = `
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

/**
 * A large cold footprint: BLOCKS distinct basic blocks (different code, each a
 * few ALU ops, a load and a branch to the next), the chain run ROUNDS times;
 * then it spins, or (`poweroff`, as the firmware of a virt machine) writes
 * the test device's power-off.
 */
export function footprint(blocks: number, rounds: number, end: 'spin' | 'poweroff' = 'spin'): string {
  const lines = ['main:', '  la s0, data', `  li s1, ${rounds}`, 'round:'];
  for (let b = 0; b < blocks; b++) {
    lines.push(
      `b${b}:`,
      `  addi a${b % 6}, a${(b + 1) % 6}, ${(b * 37) % 2000}`,
      `  xor t${b % 3}, a${b % 6}, t${(b + 1) % 3}`,
      `  ld t3, ${(b % 64) * 8}(s0)`,
      `  add t${(b + 2) % 3}, t${(b + 2) % 3}, t3`,
      `  slli a5, a${(b + 3) % 5}, ${(b % 31) + 1}`,
      `  bne s0, zero, b${b + 1}`,
      `  nop`,
    );
  }
  lines.push(`b${blocks}:`, '  addi s1, s1, -1', '  bnez s1, round');
  if (end === 'poweroff') lines.push('  li t0, 0x100000', '  li t1, 0x5555', '  sw t1, 0(t0)');
  lines.push('1: j 1b', '.data', '.align 4', 'data: .zero 512');
  return lines.join('\n') + '\n';
}
