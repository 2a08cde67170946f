# NHARTS harts increment shared counters ITERS times with LR/SC retry loops
# (lr.w/sc.w and lr.d/sc.d); hart 0 checks the exact totals.
.equ COUNT_W, 0x80100000
.equ COUNT_D, 0x80100008
.equ DONE,    0x80100010
main:
  csrr s0, mhartid
  li s1, COUNT_W
  li s2, COUNT_D
  li s3, ITERS
1:
  lr.w t0, (s1)
  addi t0, t0, 1
  sc.w t1, t0, (s1)
  bnez t1, 1b
2:
  lr.d t0, (s2)
  addi t0, t0, 1
  sc.d t1, t0, (s2)
  bnez t1, 2b
  addi s3, s3, -1
  bnez s3, 1b
  li s4, DONE
  li t0, 1
  amoadd.w zero, t0, (s4)
  bnez s0, park
  li t1, NHARTS
3:
  lw t2, 0(s4)
  bne t2, t1, 3b
  lw t2, 0(s1)
  CHECK t2, NHARTS * ITERS
  ld t2, 0(s2)
  CHECK t2, NHARTS * ITERS
  PASS
park:
  wfi
  j park
