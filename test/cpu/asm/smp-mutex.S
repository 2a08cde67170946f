# A spinlock in guest code (amoswap.w.aq to take, amoswap.w.rl to release)
# protecting a plain load/add/store of a shared counter: with the lock the
# total is exact. Each hart also records in the critical section that nobody
# else is inside (OWNER must be -1 on entry).
.equ LOCK,    0x80100000
.equ COUNT,   0x80100008
.equ DONE,    0x80100010
.equ OWNER,   0x80100018
.equ BAD,     0x80100020
main:
  csrr s0, mhartid
  li s1, LOCK
  li s2, COUNT
  li s3, ITERS
  li s5, OWNER
  li s6, BAD
  bnez s0, 1f
  li t0, -1
  sw t0, 0(s5)
  fence rw, rw
  li t0, 0x600d
  sw t0, 4(s5)
1:
  lw t0, 4(s5)
  li t1, 0x600d
  bne t0, t1, 1b
lock:
  li t0, 1
2:
  amoswap.w.aq t1, t0, (s1)
  bnez t1, 2b
  # critical section
  lw t2, 0(s5)
  li t3, -1
  beq t2, t3, 3f
  amoadd.w zero, t0, (s6)
3:
  sw s0, 0(s5)
  ld t2, 0(s2)
  addi t2, t2, 1
  sd t2, 0(s2)
  sw t3, 0(s5)
  amoswap.w.rl zero, zero, (s1)
  addi s3, s3, -1
  bnez s3, lock
  li s4, DONE
  li t0, 1
  amoadd.w zero, t0, (s4)
  bnez s0, park
  li t1, NHARTS
4:
  lw t2, 0(s4)
  bne t2, t1, 4b
  ld t2, 0(s2)
  CHECK t2, NHARTS * ITERS
  lw t2, 0(s6)
  CHECK t2, 0
  PASS
park:
  wfi
  j park
