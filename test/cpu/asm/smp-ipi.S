# Message passing with IPIs through the CLINT's msip words: hart 0 stores a
# message and raises hart 1's MSIP; hart 1 (asleep in WFI) wakes, clears its
# MSIP, answers message + 1 and raises hart 0's MSIP; ROUNDS round trips.
# Interrupts stay globally disabled (mstatus.MIE = 0): WFI wakes on
# mip & mie, no trap is taken.
.equ CLINT,   0x2000000
.equ MSG,     0x80100000
.equ REPLY,   0x80100008
main:
  csrr s0, mhartid
  li t0, 8            # mie.MSIE
  csrw mie, t0
  li s1, MSG
  li s2, REPLY
  li s3, CLINT
  li s4, ROUNDS
  li s5, 0            # round number
  bnez s0, hart1
hart0:
  addi s5, s5, 1
  li t0, 1000
  add t0, t0, s5
  sd t0, 0(s1)
  fence rw, rw
  li t1, 1
  sw t1, 4(s3)        # msip[1] = 1
1:
  wfi
  csrr t2, mip
  andi t2, t2, 8
  beqz t2, 1b
  sw zero, 0(s3)      # msip[0] = 0
2:
  csrr t2, mip        # the line drops once the CLINT write is seen
  andi t2, t2, 8
  bnez t2, 2b
  ld t2, 0(s2)
  addi t0, t0, 1
  bne t2, t0, fail
  bne s5, s4, hart0
  PASS
hart1:
1:
  wfi
  csrr t2, mip
  andi t2, t2, 8
  beqz t2, 1b
  sw zero, 4(s3)      # msip[1] = 0
2:
  csrr t2, mip
  andi t2, t2, 8
  bnez t2, 2b
  ld t0, 0(s1)
  addi t0, t0, 1
  sd t0, 0(s2)
  fence rw, rw
  li t1, 1
  sw t1, 0(s3)        # msip[0] = 1
  j 1b
