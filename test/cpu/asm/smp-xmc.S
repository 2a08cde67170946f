# Cross-modifying code between hart workers: hart 1 calls `f` in a hot loop
# (translated) until it returns 2; hart 0 waits until hart 1 has called it
# CALLS times, then rewrites f's `li a0, 1` into `li a0, 2`. Hart 1 executes
# no fence.i: tsvmm invalidates translations on stores from any hart. Hart 0
# first runs f hot itself, so hart 1 may be running the module hart 0
# translated (code-share.ts) when the store comes.
.equ COUNT, 0x80200000
main:
  csrr s0, mhartid
  bnez s0, runner
  li s6, 10000
5:
  call f
  addi s6, s6, -1
  bnez s6, 5b
  li s1, COUNT
  li s2, CALLS
1:
  ld t0, 0(s1)
  bltu t0, s2, 1b
  la t1, f
  lw t2, 0(t1)
  li t3, 0x100000          # immediate 1 -> 2
  add t2, t2, t3
  sw t2, 0(t1)
2:
  j 2b
runner:
  li s1, COUNT
  li s3, 0
  li s4, 2
  li s5, 200000000         # give up (fail) after this many calls
3:
  call f
  addi s3, s3, 1
  sd s3, 0(s1)
  beq a0, s4, 4f
  bne s3, s5, 3b
  li gp, 1
  j fail
4:
  li s2, CALLS
  bltu s3, s2, fail        # it changed before the rewrite?
  PASS
.balign 4096
.option push
.option norvc
f:
  li a0, 1
  ret
.option pop
.balign 4096
