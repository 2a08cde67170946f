# NHARTS harts each add 1 to shared counters ITERS times with AMOs (amoadd.w
# and amoadd.d); hart 0 waits for everyone and checks the exact totals.
.equ COUNT_W, 0x80100000
.equ COUNT_D, 0x80100008
.equ DONE,    0x80100010
main:
  csrr s0, mhartid
  li s1, COUNT_W
  li s2, COUNT_D
  li s3, ITERS
  li t0, 1
1:
  amoadd.w zero, t0, (s1)
  amoadd.d zero, t0, (s2)
  addi s3, s3, -1
  bnez s3, 1b
  li s4, DONE
  amoadd.w zero, t0, (s4)
  bnez s0, park
  li t1, NHARTS
2:
  lw t2, 0(s4)
  bne t2, t1, 2b
  lw t2, 0(s1)
  CHECK t2, NHARTS * ITERS
  ld t2, 0(s2)
  CHECK t2, NHARTS * ITERS
  PASS
park:
  wfi
  j park
