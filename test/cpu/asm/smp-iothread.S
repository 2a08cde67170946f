# Hart realms talk straight to a device living in an I/O-thread realm: each
# hart writes its own register, reads it back, and reads the requester id the
# device saw (its own hart id). Hart 0 waits for all and passes.
.equ REGS, 0x10000000
.equ DONE, 0x80100000
main:
  csrr s0, mhartid
  li s1, REGS
  slli t0, s0, 2
  add s2, s1, t0
  addi t1, s0, 0x51
  sw t1, 0(s2)
  lw t2, 0(s2)
  bne t1, t2, fail
  lw t2, 0x10(s1)
  bne t2, s0, fail
  li t0, DONE
  li t1, 1
  amoadd.w zero, t1, (t0)
  bnez s0, park
  li t1, NHARTS
1:
  lw t2, 0(t0)
  bne t2, t1, 1b
  lw t2, 0(s1)
  CHECK t2, 0x51
  lw t2, 4(s1)
  CHECK t2, 0x52
  PASS
park:
  wfi
  j park
