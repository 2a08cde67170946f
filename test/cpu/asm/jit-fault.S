# Precise exceptions in translated code. A hot loop whose middle load faults on
# its last pass (the address register turns to unmapped space), and a 32-bit
# instruction straddling into an unmapped page under Sv39, reached from a hot
# loop. The handler checks mepc/mtval and records minstret (compared by the test).
.equ PTE_VRWXAD, 0xcf
.equ RESULT, 0x80300000
main:
  la t0, handler
  csrw mtvec, t0
  li s0, 0
  li s1, 1000
  la s2, buf
  li s3, 0x40000000
1:
  addi s0, s0, 3
  addi s1, s1, -1
  bnez s1, 2f
  mv s2, s3                # last pass: unmapped
2:
  xor s4, s0, s1
faulting:
  ld s5, 8(s2)
  add s0, s0, s5
  slli s6, s0, 3
  j 1b

.balign 4
handler:
  csrr t0, mcause
  li t1, 5                 # load access fault
  bne t0, t1, fail
  csrr t0, mepc
  la t1, faulting
  bne t0, t1, fail
  csrr t0, mtval
  li t1, 0x40000008
  bne t0, t1, fail
  li t2, RESULT
  csrr t0, minstret
  sd t0, 0(t2)
  sd s0, 8(t2)
  sd s6, 16(t2)

  # Part 2: Sv39, code page `edge` mapped, the page after it not mapped.
  la t0, handler2
  csrw mtvec, t0
  la t0, root
  # 1 GiB identity for RAM would map everything; use a 4 KiB-level table instead:
  la t1, l1
  srli t2, t1, 12
  slli t2, t2, 10
  ori t2, t2, 1
  sd t2, 16(t0)            # root[2] -> l1 (VA 0x80000000..)
  la t3, l0
  srli t2, t3, 12
  slli t2, t2, 10
  ori t2, t2, 1
  sd t2, 0(t1)             # l1[0] -> l0 (VA 0x80000000..0x801fffff)
  # l0[i] = identity for every page of the first 2 MiB except `hole`
  li t4, 0
  li t5, 512
  li t6, 0x80000000
  la a1, hole
3:
  beq t6, a1, 4f
  srli t2, t6, 12
  slli t2, t2, 10
  ori t2, t2, PTE_VRWXAD
  slli a2, t4, 3
  add a2, a2, t3
  sd t2, 0(a2)
4:
  addi t4, t4, 1
  li a3, 4096
  add t6, t6, a3
  bne t4, t5, 3b
  srli t0, t0, 12
  li t1, 8
  slli t1, t1, 60
  or t0, t0, t1
  csrw satp, t0
  sfence.vma
  li t0, 0x1800
  csrc mstatus, t0
  li t0, 0x800
  csrs mstatus, t0         # MPP = S
  li s0, 0
  li s1, 600
  la t0, s_loop
  csrw mepc, t0
  mret

.balign 4
handler2:
  csrr t0, mcause
  li t1, 12                # instruction page fault
  bne t0, t1, fail
  csrr t0, mepc
  la t1, straddle
  bne t0, t1, fail
  csrr t0, mtval
  la t1, hole
  bne t0, t1, fail
  addi s1, s1, -1
  beqz s1, 5f
  la t0, s_loop            # back to S for another pass
  csrw mepc, t0
  mret
5:
  li t2, RESULT
  csrr t0, minstret
  sd t0, 24(t2)
  sd s0, 32(t2)
  PASS

.balign 4096
.option push
.option norvc
  .skip 4096 - 2 - 36
s_loop:
  addi s0, s0, 1
  addi s0, s0, 2
  xori s0, s0, 5
  addi s0, s0, 1
  addi s0, s0, 2
  xori s0, s0, 5
  addi s0, s0, 1
  addi s0, s0, 2
  addi s0, s0, 1
straddle:
  .word 0x00140413         # addi s0, s0, 1: its upper half is on `hole`
.option pop
  .skip 4096 - 2
.set hole, straddle + 2
.balign 4096
root: .zero 4096
l1: .zero 4096
l0: .zero 4096
buf: .zero 64
