# io.access_us: COUNTS[phase] accesses to each device register, timed by the
# CLINT's mtime (10 MHz, host wall time), printed on the UART as
# "P<phase> <ticks in hex>" (the bench reads CPU time instead: a loaded host
# inflates wall time). Runs unchanged on tsvmm and on qemu-system-riscv64
# -machine virt (M-mode, -bios). The bench substitutes COUNTS.
# Phases: 0 empty loop, 1 UART read (LSR), 2 UART write (SCR), 3 PLIC read
# (priority 1), 4 CLINT read (mtime), 5 ECAM read (00:00.0 vendor), 6 virtio
# notify (slot 7), 7 unassigned read (access fault, handler skips it).
.equ UART, 0x10000000
.equ PLIC, 0x0c000000
.equ MTIME, 0x0200bff8
.equ ECAM, 0x30000000
.equ VIRTIO, 0x10008000
.equ UNASSIGNED, 0x00000100
.equ TEST, 0x100000

.text
.globl _start
_start:
  la t0, trap
  csrw mtvec, t0
  li t0, -1
  csrw pmpaddr0, t0
  li t0, 0x1f
  csrw pmpcfg0, t0
  li s0, 0
phase:
  la t0, counts
  slli t1, s0, 3
  add t0, t0, t1
  ld s1, 0(t0)
  li s2, MTIME
  ld s3, 0(s2)
  li t1, UART
  li t2, PLIC
  li t3, ECAM
  li t4, VIRTIO
  li t5, UNASSIGNED
1:
  beqz s0, 9f
  li t0, 1
  beq s0, t0, 11f
  li t0, 2
  beq s0, t0, 12f
  li t0, 3
  beq s0, t0, 13f
  li t0, 4
  beq s0, t0, 14f
  li t0, 5
  beq s0, t0, 15f
  li t0, 6
  beq s0, t0, 16f
  lw a0, 0(t5)
  j 9f
11: lbu a0, 5(t1)
  j 9f
12: sb zero, 7(t1)
  j 9f
13: lw a0, 4(t2)
  j 9f
14: ld a0, 0(s2)
  j 9f
15: lw a0, 0(t3)
  j 9f
16: sw zero, 0x50(t4)
9:
  addi s1, s1, -1
  bnez s1, 1b
  ld s4, 0(s2)
  sub s4, s4, s3
  # print "P<s0> <s4 hex>\n"
  li a0, 'P'
  call putc
  addi a0, s0, '0'
  call putc
  li a0, ' '
  call putc
  li s5, 60
2:
  srl a0, s4, s5
  andi a0, a0, 15
  li t0, 10
  blt a0, t0, 3f
  addi a0, a0, 'a' - 10
  j 4f
3: addi a0, a0, '0'
4: call putc
  addi s5, s5, -4
  bgez s5, 2b
  li a0, '\n'
  call putc
  addi s0, s0, 1
  li t0, 8
  blt s0, t0, phase
  li t0, TEST
  li t1, 0x5555
  sw t1, 0(t0)
5: j 5b

putc:
  li t0, UART
6: lbu t6, 5(t0)
  andi t6, t6, 0x20
  beqz t6, 6b
  sb a0, 0(t0)
  ret

.align 3
counts:
  .dword COUNTS

.align 2
trap:
  csrr t0, mepc
  addi t0, t0, 4
  csrw mepc, t0
  mret
