# Single-copy atomicity of aligned 64-bit accesses between harts in workers:
# hart 0 alternately stores two patterns whose halves differ; hart 1 reads the
# word ITERS times and fails (code 1) if it ever sees anything else.
.equ WORD, 0x80200000
.equ DONE, 0x80200040
.equ SEEN, 0x80200080
main:
  csrr s0, mhartid
  li s1, WORD
  li s2, 0x0123456789abcdef
  li s3, 0xfedcba9876543210
  sd s2, 0(s1)
  bnez s0, reader
writer:
  li s4, DONE
1:
  sd s2, 0(s1)
  sd s3, 0(s1)
  ld t0, 0(s4)
  beqz t0, 1b
  PASS
reader:
  li s5, ITERS
  li gp, 1
2:
  ld t0, 0(s1)
  beq t0, s2, 3f
  bne t0, s3, torn
3:
  addi s5, s5, -1
  bnez s5, 2b
  li s4, DONE
  li t0, 1
  sd t0, 0(s4)
4:
  j 4b
torn:
  li t1, SEEN
  sd t0, 0(t1)
  j fail
