# A CPU-bound parallel workload: the harts meet at a barrier (so a hart whose
# worker started late does not count), then each runs ITERS rounds of a
# register-only xorshift loop (no shared memory traffic), bracketed by writes
# to a MARK device (start: offset 0, end: offset 4) that timestamps them;
# the results go to per-hart RAM slots. Hart 0 waits for all, then passes.
.equ MARK, 0x10000000
.equ DONE, 0x80100000
.equ OUT,  0x80100100
.equ READY, 0x80100040
main:
  csrr s0, mhartid
  li t2, READY
  li t3, 1
  amoadd.w zero, t3, (t2)
  li t3, NHARTS
0:
  lw t4, 0(t2)
  bne t4, t3, 0b
  li s1, MARK
  sw s0, 0(s1)
  li s2, ITERS
  li t0, 0x9e3779b97f4a7c15
  add t0, t0, s0
1:
  slli t1, t0, 13
  xor t0, t0, t1
  srli t1, t0, 7
  xor t0, t0, t1
  slli t1, t0, 17
  xor t0, t0, t1
  addi s2, s2, -1
  bnez s2, 1b
  sw s0, 4(s1)
  li t2, OUT
  slli t3, s0, 3
  add t2, t2, t3
  sd t0, 0(t2)
  li t2, DONE
  li t3, 1
  amoadd.w zero, t3, (t2)
  bnez s0, park
  li t3, NHARTS
2:
  lw t4, 0(t2)
  bne t4, t3, 2b
  PASS
park:
  wfi
  j park
