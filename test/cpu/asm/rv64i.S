# RV64I integer instructions with edge cases.
main:
  # add / sub / overflow wrap
  li a0, 0x7fffffffffffffff
  li a1, 1
  add a2, a0, a1
  CHECK a2, 0x8000000000000000
  sub a3, a2, a1
  CHECK a3, 0x7fffffffffffffff
  li a0, 0xffffffff
  addi a2, a0, 1
  CHECK a2, 0x100000000
  li a0, 0x100000000
  addi a2, a0, -1
  CHECK a2, 0xffffffff
  li a0, 0
  sub a2, a0, a1
  CHECK a2, -1
  # addi with negative immediates and carries across the halves
  li a0, 0x00000000ffffffff
  addi a2, a0, -2048
  CHECK a2, 0xfffff7ff
  li a0, -1
  addi a2, a0, 1
  CHECK a2, 0
  # W ops: sign extension
  li a0, 0x7fffffff
  addiw a2, a0, 1
  CHECK a2, 0xffffffff80000000
  li a0, 0x123456789
  addiw a2, a0, 0
  CHECK a2, 0x23456789
  li a0, 0xffffffff
  addw a2, a0, zero
  CHECK a2, -1
  li a0, 0x80000000
  li a1, 1
  subw a2, a0, a1
  CHECK a2, 0x7fffffff
  # shifts
  li a0, 1
  slli a2, a0, 63
  CHECK a2, 0x8000000000000000
  slli a2, a0, 32
  CHECK a2, 0x100000000
  slli a2, a0, 31
  CHECK a2, 0x80000000
  li a0, 0x8000000000000000
  srli a2, a0, 63
  CHECK a2, 1
  srai a2, a0, 63
  CHECK a2, -1
  srai a2, a0, 32
  CHECK a2, 0xffffffff80000000
  srli a2, a0, 32
  CHECK a2, 0x80000000
  srai a2, a0, 0
  CHECK a2, 0x8000000000000000
  li a1, 65          # shift amount uses the low 6 bits
  li a0, 3
  sll a2, a0, a1
  CHECK a2, 6
  li a0, 0xf000000000000000
  li a1, 68
  sra a2, a0, a1
  CHECK a2, 0xff00000000000000
  srl a2, a0, a1
  CHECK a2, 0x0f00000000000000
  li a0, 0x80000000
  slliw a2, a0, 1
  CHECK a2, 0
  li a0, 0x40000000
  slliw a2, a0, 1
  CHECK a2, 0xffffffff80000000
  li a0, 0xffffffff80000000
  srliw a2, a0, 4
  CHECK a2, 0x08000000
  sraiw a2, a0, 4
  CHECK a2, 0xfffffffff8000000
  li a1, 36          # W shifts use 5 bits
  sllw a2, a0, a1
  CHECK a2, 0
  srlw a2, a0, a1
  CHECK a2, 0x08000000
  sraw a2, a0, a1
  CHECK a2, 0xfffffffff8000000
  li a0, 0x123456789abcdef0
  srliw a2, a0, 0
  CHECK a2, 0xffffffff9abcdef0
  # compare
  li a0, -1
  li a1, 1
  slt a2, a0, a1
  CHECK a2, 1
  sltu a2, a0, a1
  CHECK a2, 0
  slti a2, a0, 0
  CHECK a2, 1
  sltiu a2, a1, -1   # -1 is the largest unsigned
  CHECK a2, 1
  sltiu a2, zero, 1
  CHECK a2, 1
  li a0, 0x100000000
  li a1, 0xffffffff
  slt a2, a1, a0
  CHECK a2, 1
  sltu a2, a0, a1
  CHECK a2, 0
  # logic
  li a0, 0xff00ff00ff00ff00
  xori a2, a0, -1
  CHECK a2, 0x00ff00ff00ff00ff
  ori a2, a0, 0x0ff
  CHECK a2, 0xff00ff00ff00ffff
  andi a2, a0, -256
  CHECK a2, 0xff00ff00ff00ff00
  andi a2, a0, 0x7ff
  CHECK a2, 0x700
  li a1, 0x0ff00ff00ff00ff0
  and a2, a0, a1
  CHECK a2, 0x0f000f000f000f00
  or a2, a0, a1
  CHECK a2, 0xfff0fff0fff0fff0
  xor a2, a0, a1
  CHECK a2, 0xf0f0f0f0f0f0f0f0
  # lui / auipc
  lui a2, 0x80000
  CHECK a2, 0xffffffff80000000
  lui a2, 0x7ffff
  CHECK a2, 0x7ffff000
1:auipc a2, 0
  la a3, 1b
  bne a2, a3, fail
14:auipc a2, 0x80000   # pc - 2^31
  la a3, 14b
  li a4, 0xffffffff80000000
  add a3, a3, a4
  addi gp, gp, 1
  bne a2, a3, fail
  # x0 stays zero
  addi zero, zero, 5
  CHECK zero, 0
  # branches
  li a0, -1
  li a1, 1
  blt a0, a1, 2f
  j fail
2:bltu a0, a1, fail
  bge a1, a0, 3f
  j fail
3:bgeu a0, a1, 4f
  j fail
4:beq a0, a0, 5f
  j fail
5:bne a0, a0, fail
  li a2, 0x100000000
  li a3, 0
  beq a2, a3, fail
  bne a2, a3, 6f
  j fail
6:
  # jal / jalr link values and bit 0 clearing
  jal ra, 7f
8:j 9f
7:la a4, 8b
  bne ra, a4, fail
  la a5, 10f
  addi a5, a5, 1
  jalr ra, 0(a5)
  j fail
10:
  la a5, 11f
  addi a5, a5, 4
  jalr ra, -4(a5)
  j fail
11:
  # jalr with rd == rs1
  la a5, 13f
  jalr a5, 0(a5)
13:
  la a4, 13b
  bne a5, a4, fail
9:
  PASS
