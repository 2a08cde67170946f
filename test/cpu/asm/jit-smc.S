# Self-modifying code on one hart, run long enough for the loops to be translated.
# 1) A hot loop whose `addi` immediate is patched between rounds, with fence.i.
# 2) A loop that rewrites the next instruction it executes on every iteration
#    (no fence.i: tsvmm guarantees the interpreter's semantics, the new bytes run).
# 3) As 1), the immediate patched by an AMO and without fence.i: an AMO is a store to code too.
main:
  li s0, 0
  li s1, 3
  la s2, patch
round:
  li t0, 1000
.option push
.option norvc
loop:
patch:
  addi s0, s0, 1
  addi t0, t0, -1
  bnez t0, loop
.option pop
  lw t1, 0(s2)
  li t2, 0x100000          # immediate += 1
  add t1, t1, t2
  sw t1, 0(s2)
  fence.i
  addi s1, s1, -1
  bnez s1, round
  CHECK s0, 6000           # 1000 * (1 + 2 + 3)

  # 2) every iteration writes `addi s3, s3, k` (k = i & 7) over `slot`, then runs it.
  li s3, 0
  li s4, 0
  la s5, slot
  lw s6, 0(s5)             # the template: addi s3, s3, 0
  li s7, 2000
1:
  andi t1, s4, 7
  slli t1, t1, 20
  or t1, t1, s6
  sw t1, 0(s5)
.option push
.option norvc
slot:
  addi s3, s3, 0
.option pop
  addi s4, s4, 1
  bne s4, s7, 1b
  CHECK s3, 7000           # 250 * (0 + 1 + ... + 7)

  # 3) on a page of its own (2)'s page is only interpreted by now: rewritten too often)
  j part3
.balign 4096
part3:
  li s0, 0
  li s1, 3
  la s2, patch3
  li t2, 0x100000          # immediate += 1
round3:
  li t0, 1000
.balign 4                  # an AMO's word is naturally aligned (padded with c.nop: before norvc)
.option push
.option norvc
patch3:
  addi s0, s0, 1
  addi t0, t0, -1
  bnez t0, patch3
.option pop
  amoadd.w zero, t2, (s2)
  addi s1, s1, -1
  bnez s1, round3
  CHECK s0, 6000           # 1000 * (1 + 2 + 3)
  PASS
