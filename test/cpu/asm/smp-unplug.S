# Every hart reads a device register in a loop while the main realm unplugs
# the device. Before the unplug the register reads 0x1234; afterwards the
# address is unassigned: the load fails with an access fault (the memory
# returns all-ones; the trap handler puts all-ones in t0 and skips the load).
# Once a hart has seen the device gone it must never see it again; after GONE
# consecutive failed reads the hart is done. Hart 0 waits for all harts,
# checks each saw the device, then passes.
.equ DEV,  0x10000000
.equ DONE, 0x80100000
.equ SEEN, 0x80100008
main:
  la t0, trap
  csrw mtvec, t0
  csrr s0, mhartid
  li s1, DEV
  li s2, 0x1234
  li s3, -1
  li s4, 0            # reads of the device
  li s5, 0            # consecutive all-ones reads
1:
  lwu t0, 0(s1)
  beq t0, s2, 2f
  li t1, 0xffffffff
  bne t0, t1, fail    # neither the device nor all-ones
  addi s5, s5, 1
  li t1, GONE
  bne s5, t1, 1b
  j 3f
2:
  bnez s5, fail       # the device came back after it was gone
  addi s4, s4, 1
  j 1b
3:
  beqz s4, fail       # never saw the device at all
  li t0, SEEN
  amoadd.d zero, s4, (t0)
  li t0, DONE
  li t1, 1
  amoadd.w zero, t1, (t0)
  bnez s0, park
  li t1, NHARTS
4:
  lw t2, 0(t0)
  bne t2, t1, 4b
  PASS
park:
  wfi
  j park

.align 2
trap:
  csrr t6, mcause
  li t5, 5            # load access fault
  bne t6, t5, unexpected_trap
  li t0, 0xffffffff
  csrr t6, mepc
  addi t6, t6, 4
  csrw mepc, t6
  mret
