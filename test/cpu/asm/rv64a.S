# A extension: LR/SC and every AMO in .W and .D, sign extension of .W results.
main:
  la s0, data
  li a0, 0xffffffff80000001
  sd a0, 0(s0)
  lr.w a1, (s0)
  CHECK a1, 0xffffffff80000001
  li a2, 5
  sc.w a3, a2, (s0)
  CHECK a3, 0
  ld a4, 0(s0)
  CHECK a4, 0xffffffff00000005
  sc.w a3, a2, (s0)    # no reservation any more
  CHECK a3, 1
  lr.d a1, (s0)
  li a2, 0x1122334455667788
  sc.d.aqrl a3, a2, (s0)
  CHECK a3, 0
  ld a4, 0(s0)
  CHECK a4, 0x1122334455667788
  # a reservation on another address fails
  lr.d a1, (s0)
  addi s1, s0, 8
  sc.d a3, a2, (s1)
  CHECK a3, 1
  # AMO .W
  li a0, 0x7fffffff
  sw a0, 8(s0)
  addi s1, s0, 8
  li a2, 1
  amoadd.w a3, a2, (s1)
  CHECK a3, 0x7fffffff
  lw a4, 0(s1)
  CHECK a4, 0xffffffff80000000
  amoswap.w a3, zero, (s1)
  CHECK a3, 0xffffffff80000000
  li a2, 0xf0
  sw a2, 0(s1)
  li a2, 0x3c
  amoand.w a3, a2, (s1)
  lw a4, 0(s1)
  CHECK a4, 0x30
  amoor.w a3, a2, (s1)
  lw a4, 0(s1)
  CHECK a4, 0x3c
  amoxor.w a3, a2, (s1)
  lw a4, 0(s1)
  CHECK a4, 0
  li a2, -5
  amomin.w a3, a2, (s1)
  lw a4, 0(s1)
  CHECK a4, -5
  li a2, 3
  amomax.w a3, a2, (s1)
  lw a4, 0(s1)
  CHECK a4, 3
  li a2, -1
  amominu.w a3, a2, (s1)
  lw a4, 0(s1)
  CHECK a4, 3
  amomaxu.w a3, a2, (s1)
  lw a4, 0(s1)
  CHECK a4, -1
  # the upper word is untouched by .W ops
  lw a4, 4(s1)
  CHECK a4, 0
  # AMO .D
  li a0, 0x7fffffffffffffff
  sd a0, 16(s0)
  addi s1, s0, 16
  li a2, 1
  amoadd.d a3, a2, (s1)
  CHECK a3, 0x7fffffffffffffff
  ld a4, 0(s1)
  CHECK a4, 0x8000000000000000
  li a2, 0x100000000
  amomin.d a3, a2, (s1)
  ld a4, 0(s1)
  CHECK a4, 0x8000000000000000
  amominu.d a3, a2, (s1)
  ld a4, 0(s1)
  CHECK a4, 0x100000000
  li a2, 0xffffffff
  amomaxu.d a3, a2, (s1)
  ld a4, 0(s1)
  CHECK a4, 0x100000000
  amomax.d a3, a2, (s1)
  CHECK a3, 0x100000000
  ld a4, 0(s1)
  CHECK a4, 0x100000000
  li a2, 0x0f0f0f0f0f0f0f0f
  amoxor.d a3, a2, (s1)
  ld a4, 0(s1)
  CHECK a4, 0x0f0f0f0e0f0f0f0f
  amoswap.d.aqrl a3, zero, (s1)
  CHECK a3, 0x0f0f0f0e0f0f0f0f
  amoor.d a3, a2, (s1)
  amoand.d a3, zero, (s1)
  CHECK a3, 0x0f0f0f0f0f0f0f0f
  ld a4, 0(s1)
  CHECK a4, 0
  # rd = x0 discards the old value; rd == rs2
  li a2, 7
  amoadd.d a2, a2, (s1)
  CHECK a2, 0
  ld a4, 0(s1)
  CHECK a4, 7
  PASS
.data
.align 4
data: .zero 64
